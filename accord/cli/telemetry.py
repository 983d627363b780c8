"""`accord telemetry`: compute-provider oversight — undeclared large runs, linked accounts,
restricted-party screening."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from accord.cli._parse import number, whole
from accord.cli.output import (
    JSON_OPTION,
    console,
    err_console,
    exit_for,
    handle_errors,
    print_json,
)
from accord.cli.output import table as new_table
from accord.errors import AccordError

NAME = "telemetry"
app = typer.Typer(
    help="Cluster telemetry: find undeclared large training runs split across linked "
    "accounts, and screen customers against restricted-party lists."
)

STAGES = ("ingest", "validate", "cost", "runs", "link", "judge")
# Every record refused: the same status as bad input, since the fix is in the input.
EXIT_NOTHING_ASSESSED = 2
# Refused chip-hours above this share of all chip-hours earn a warning above the findings.
UNASSESSED_WARNING = 0.1


def _util(text: str) -> tuple[float, float]:
    parts = text.split("-")
    if len(parts) != 2:
        raise AccordError("--util", f"{text!r} is not a range", "write e.g. 0.3-0.5")
    lo, hi = number(parts[0], "--util"), number(parts[1], "--util")
    if not 0 < lo <= hi <= 1:
        raise AccordError("--util", f"need 0 < low <= high <= 1, got {text}")
    return lo, hi


JAVA_FIX = (
    "install Java 17 or later (Debian: apt-get install default-jre-headless) or use --engine duckdb"
)


def _check_java() -> None:
    """PySpark starts a JVM; without one it fails deep inside with a Java-gateway traceback.
    Say so before scanning (JAVA_HOME first, as Spark itself looks there first)."""
    import os
    import shutil

    home = os.environ.get("JAVA_HOME")
    if home:
        if not (Path(home) / "bin" / "java").is_file():
            raise AccordError(
                "--engine", f"pyspark needs Java, but JAVA_HOME={home} has no bin/java", JAVA_FIX
            )
        return
    if shutil.which("java") is None:
        raise AccordError("--engine", "pyspark needs Java, and no java is on PATH", JAVA_FIX)


def _chip_map(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        label, sep, chip = item.partition("=")
        if not sep or not label.strip() or not chip.strip():
            raise AccordError("--chip-map", f"{item!r} is not LABEL=CHIP", "e.g. MISC=V100")
        out[label.strip()] = chip.strip()
    return out


def _kyc(path: Path | None) -> list[Any]:
    from accord.verify.telemetry.scan import AccountRecord

    if path is None:
        return []
    if not path.exists():
        raise AccordError("--accounts", f"{path} does not exist", "give a CSV of customer records")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or "account" not in reader.fieldnames:
            raise AccordError(
                "--accounts", "needs an 'account' column", "columns: account,org,payment,ip,country"
            )
        return [
            AccountRecord.model_validate(
                {k: (v or None) for k, v in row.items() if k in AccountRecord.model_fields}
            )
            for row in reader
            if row.get("account")
        ]


def _records(
    paths: list[Path], fmt: str, tz: str, facility: str | None, country: str | None
) -> Any:
    import pyarrow as pa

    from accord.verify.telemetry.ingest import load_records
    from accord.verify.telemetry.ingest.base import Parsed

    if len(paths) == 1 and paths[0].suffix.lower() == ".parquet" and fmt in ("auto", "records"):
        if not paths[0].exists():
            raise AccordError(str(paths[0]), "no such file", "give the path of a records file")
        return paths[0]
    parts = [load_records(p, fmt, tz=tz, facility=facility, country=country) for p in paths]
    if len(parts) == 1:
        return parts[0]
    merged = Parsed(pa.concat_tables([p.table for p in parts]), sum(p.read for p in parts))
    for p in parts:
        merged.rejected.update(p.rejected)
        for reason, examples in p.examples.items():
            merged.examples.setdefault(reason, []).extend(examples)
        merged.assumptions.extend(p.assumptions)
    return merged


@app.command("scan")
@handle_errors
def scan_cmd(
    records: list[Path] = typer.Argument(
        ..., help="Job records: sacct output, k8s JSON, traces, Parquet."
    ),
    registry: str = typer.Option(
        ..., "--registry", help="Declared training runs: a JSON file or SQLite database."
    ),
    fmt: str = typer.Option(
        "auto", "--format", help="auto, records, slurm, k8s, philly, pai, helios or openb."
    ),
    threshold: str = typer.Option(
        "ca-sb53-2025",
        "--threshold",
        help="Training-compute threshold: FLOP (1e25) or a rule-set id (eu-ai-act-2024).",
    ),
    util: str = typer.Option("0.3-0.5", "--util", help="Utilisation range of peak, e.g. 0.3-0.5."),
    gap_hours: str = typer.Option(
        "24", "--gap-hours", help="Longest pause between jobs of one checkpoint-restart run."
    ),
    window_days: str = typer.Option(
        "180",
        "--window-days",
        help="Also compare training compute totals over windows of this many days (0: off).",
    ),
    engine: str = typer.Option("duckdb", "--engine", help="duckdb (default) or pyspark."),
    threads: str | None = typer.Option(None, "--threads", help="Engine threads / Spark cores."),
    chip_map: list[str] = typer.Option(
        [], "--chip-map", help="Map a trace's chip label to a catalog chip, e.g. MISC=V100."
    ),
    accounts: Path | None = typer.Option(
        None, "--accounts", help="Customer records CSV: account,org,payment,ip,country."
    ),
    screening_list: Path | None = typer.Option(
        None,
        "--list",
        help="The Consolidated Screening List as published by trade.gov (CSV or JSON). "
        "Without it: a 10-entry SAMPLE, never a clearance.",
    ),
    no_screen: bool = typer.Option(False, "--no-screen", help="Skip restricted-party screening."),
    tz: str = typer.Option("UTC", "--tz", help="Time zone of wall-clock times in the records."),
    facility: str | None = typer.Option(None, "--facility", help="Facility of these records."),
    country: str | None = typer.Option(None, "--country", help="Country of these records."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Scan job records for entities whose compute crosses a threshold without a declaration.

    Exits 0 when every entity at or above the threshold is declared, 1 otherwise.
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from accord.verify.telemetry.registry import open_source
    from accord.verify.telemetry.scan import ScanConfig, scan
    from accord.verify.telemetry.screening import load_list, sample_list
    from accord.verify.telemetry.thresholds import parse_threshold

    flop, flop_source = parse_threshold(threshold)
    cfg = ScanConfig(
        threshold=flop,
        threshold_source=flop_source,
        utilisation=_util(util),
        restart_gap_s=int(number(gap_hours, "--gap-hours", positive=False) * 3600),
        window_days=number(window_days, "--window-days", positive=False),
        engine=engine,
        threads=whole(threads, "--threads") if threads else None,
        chip_map=_chip_map(chip_map),
    )
    cfg.check()
    if engine == "pyspark":
        _check_java()
    source = open_source(registry)
    kyc = _kyc(accounts)
    screen = None if no_screen else (load_list(screening_list) if screening_list else sample_list())
    data = _records(records, fmt, tz, facility, country)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=as_json,
    ) as progress:
        task = progress.add_task("scanning", total=len(STAGES))

        def on_stage(name: str) -> None:
            done = STAGES.index(name) if name in STAGES else 0
            progress.update(task, completed=done, description=name)

        try:
            result = scan(data, source, cfg, kyc=kyc, screening_list=screen, on_stage=on_stage)
        except Exception as exc:  # the JVM failed to start after all (wrong version, no memory)
            if engine == "pyspark" and "JAVA_GATEWAY" in str(exc):
                raise AccordError("--engine", "pyspark could not start Java", JAVA_FIX) from None
            raise
        progress.update(task, completed=len(STAGES), description="done")
    if as_json:
        print_json(
            {
                "engine": result.engine,
                "threshold": result.threshold,
                "threshold_source": result.threshold_source,
                "utilisation": result.utilisation,
                "registry": result.registry,
                "ingest": result.report.model_dump() | {"balanced": result.report.balanced()},
                "accounts": result.accounts,
                "entities": result.entities,
                "runs": result.runs,
                "large_runs": result.large_runs,
                "findings": result.findings,
                "screening": result.screening,
                "screened_against": screen.provenance().as_dict() if screen else None,
                "timings_s": result.timings_s,
                "assessed": result.assessed,
            }
        )
    else:
        _print_report(result)
        if screen is None:
            console.print("Restricted-party screening skipped (--no-screen).")
        else:
            console.print(
                f"Organisations screened against {escape(screen.provenance().describe())}.",
                soft_wrap=True,
            )
            if screen.sample:
                _warn_sample(len(screen))
    if not result.assessed:
        # Nothing assessed is not a clean bill: say so on stderr and exit non-zero.
        err_console.print(
            f"[bold red]error[/] {escape(result.findings[0].explanation)}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_NOTHING_ASSESSED)
    # The registry's declarations are the claim: any entity not shown to be covered fails it.
    exit_for([f.verdict for f in result.findings])


def _print_report(result: Any) -> None:
    rep = result.report
    console.print(
        f"[bold]Ingest[/] {rep.lines:,} source lines -> {rep.read:,} records, accepted "
        f"{rep.accepted:,}, "
        f"rejected {rep.rejected_total:,} ({result.engine}; registry: {result.registry})"
    )
    if rep.rejected or rep.warnings:
        table = new_table(
            "reason", "count", "chip-hours", "meaning", "example",
            title="Records refused or odd (nothing is dropped silently)",
            ids=("reason", "count", "chip-hours"), right=("count", "chip-hours"),
        )  # fmt: skip
        for r in rep.rejected:
            hours = f"{r.chip_hours:,.0f}" if r.chip_hours else ""
            table.add_row(r.reason, f"{r.count:,}", hours, r.meaning, (r.examples or [""])[0][:60])
        for w in rep.warnings:
            table.add_row(f"(kept) {w.reason}", f"{w.count:,}", "", w.meaning, "")
        console.print(table)
    if rep.unknown_chip_labels:
        labels = ", ".join(f"{k} x{v}" for k, v in sorted(rep.unknown_chip_labels.items()))
        console.print(f"Unknown chip labels: {labels} — map them with --chip-map LABEL=CHIP")
    for note in rep.assumptions:
        console.print(f"[dim]assumption:[/] {note}")
    console.print(
        f"{result.accounts:,} accounts -> {result.entities:,} entities; {result.runs:,} runs "
        f"({result.large_runs:,} large); threshold {result.threshold:.3g} FLOP "
        f"({result.threshold_source})"
    )
    if not result.assessed:
        console.print("[bold red]Nothing was assessed: every record was refused.[/]")
        return
    share = rep.unassessed_share()
    if share > UNASSESSED_WARNING:
        console.print(
            f"[bold yellow]WARNING[/] {share:.0%} of chip-hours were refused and not assessed; "
            "findings below cover only the rest."
        )
    entity_findings = [f for f in result.findings if f.subject.startswith("entity:")]
    if not entity_findings:
        console.print("[green]No entity's compute reaches the threshold.[/]")
    else:
        table = new_table(
            "verdict", "entity", "accounts", "countries", "basis", "FLOP (low-high)", "declared",
            title="Entities at or above the threshold", ids=("verdict", "entity"),
        )  # fmt: skip
        for f in entity_findings:
            s = f.statistic
            colour = {"inconsistent": "red", "inconclusive": "yellow"}.get(f.verdict.value, "green")
            table.add_row(
                f"[{colour}]{f.verdict.value}[/]",
                f.subject.removeprefix("entity:"),
                str(len(s["accounts"])),
                ",".join(s["countries"]) or "?",
                "window total" if s.get("basis") == "window" else "large runs",
                f"{s['flop_lo']:.3g} - {s['flop_hi']:.3g}",
                f"{s['declared_flop']:.3g}" if s["declared_flop"] else "none",
            )
        console.print(table)
        for f in result.flagged:
            console.print(f"[bold]{escape(f.subject)}[/] {escape(f.explanation)}", soft_wrap=True)
    if result.screening:
        table = new_table(
            "customer organisation", "listed entity", "score", "list", "FR notice",
            title="Restricted-party screening hits", ids=("score", "FR notice"),
        )  # fmt: skip
        for h in result.screening:
            table.add_row(
                h["account_org"], h["entry"], f"{h['score']:.2f}", h["list"],
                h["federal_register_notice"],
            )  # fmt: skip
        console.print(table)


@app.command("screen")
@handle_errors
def screen_cmd(
    name: str = typer.Argument(..., help="Customer or organisation name, any script."),
    screening_list: Path | None = typer.Option(
        None,
        "--list",
        help="The Consolidated Screening List as published by trade.gov (CSV or JSON). "
        "Without it: a 10-entry SAMPLE, never a clearance.",
    ),
    min_score: str = typer.Option("0.85", "--min-score", help="Report matches at or above this."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Screen one name against a restricted-party list, with scores and reasons."""
    from accord.verify.telemetry.screening import load_list, sample_list

    threshold = number(min_score, "--min-score")
    if threshold > 1:
        raise AccordError("--min-score", "must be at most 1", "e.g. 0.85")
    listing = load_list(screening_list) if screening_list else sample_list()
    hits = listing.screen(name, threshold)
    origin = listing.provenance()
    if as_json:
        print_json(
            {
                "query": name,
                "list": listing.where,
                "screened_against": origin.as_dict(),
                "clearance": listing.is_clearance(hits),
                "hits": [h.as_dict() for h in hits],
            }
        )
        return
    console.print(f"Screened against {escape(origin.describe())}.", soft_wrap=True)
    if listing.sample:
        _warn_sample(len(listing))
    if not hits:
        if listing.sample:
            console.print(
                f"No entry of the sample scores {threshold:g} or more for {escape(repr(name))}: "
                "this is [bold]not a clearance[/].",
                soft_wrap=True,
            )
        else:
            console.print(
                f"No entry scores {threshold:g} or more for {escape(repr(name))} on the list "
                f"as of {origin.as_of or 'an unknown date'}; a listing after that date is not "
                "covered.",
                soft_wrap=True,
            )
        return
    table = new_table(
        "listed entity", "matched name", "score", "list", "FR notice",
        title=f"Screening {name!r} against {len(listing):,} entries", ids=("score", "FR notice"),
    )  # fmt: skip
    for h in hits:
        table.add_row(
            h.entry_name, h.matched_name, f"{h.score:.2f}", h.source, h.federal_register_notice
        )
    console.print(table)
    for h in hits:
        console.print(f"[bold]{escape(h.entry_name)}[/]: {escape('; '.join(h.reasons))}")


def _warn_sample(entries: int) -> None:
    console.print(
        f"[bold yellow]SAMPLE LIST[/]: {entries} Entity List entries shipped for tests and demos, "
        "not the thousands on the Consolidated Screening List. Give the current list with "
        "--list FILE (CSV or JSON from trade.gov).",
        soft_wrap=True,
    )


@app.command("evaluate")
@handle_errors
def evaluate_cmd(
    seed: str = typer.Option("0", "--seed", help="Random seed of the synthetic trace."),
    days: str = typer.Option("30", "--days", help="Days of synthetic background."),
    threshold: str = typer.Option("1e22", "--threshold", help="Threshold scaled to the trace."),
    undeclared: str = typer.Option("20", "--undeclared", help="Undeclared split runs to inject."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Inject split runs into a SYNTHETIC Helios-like trace and measure recall and precision."""
    from accord.verify.telemetry.evaluate import synthetic_evaluation

    result = synthetic_evaluation(
        seed=int(number(seed, "--seed", positive=False)),
        days=number(days, "--days"),
        threshold=number(threshold, "--threshold"),
        undeclared=whole(undeclared, "--undeclared"),
    )
    summary = result.summary()
    if as_json:
        print_json(summary)
        return
    console.print(
        "[bold yellow]SYNTHETIC trace[/] (generated, not real telemetry): "
        f"{summary['jobs']:,} jobs, threshold {summary['threshold']:.3g} FLOP"
    )
    table = Table(title="Detection of injected split runs")
    for col in ("verdicts counted", "flagged", "TP", "FP", "precision", "recall"):
        table.add_column(col)
    for label, key in (
        ("inconsistent + inconclusive", "any_flag"),
        ("inconsistent", "inconsistent_only"),
    ):
        s = summary[key]
        table.add_row(
            label, str(s["flagged"]), str(s["true_positive"]), str(s["false_positive"]),
            _pct(s["precision"]), f"{_pct(s['recall'])} ({s['found']}/{s['positives']})",
        )  # fmt: skip
    console.print(table)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"
