"""`accord training`: record a proof-of-training transcript and verify one by replay."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from accord.cli.output import JSON_OPTION, console, handle_errors, print_json
from accord.errors import AccordError

NAME = "training"
app = typer.Typer(
    help="Proof of training: record a transcript of a run, verify it by replaying segments.",
    no_args_is_help=True,
)


def _beacon(hex_text: str | None) -> tuple[bytes, bool]:
    if hex_text is None:
        return os.urandom(32), False
    try:
        raw = bytes.fromhex(hex_text)
    except ValueError:
        raise AccordError(
            "--beacon", "is not hex", "pass e.g. a ledger checkpoint root in hex"
        ) from None
    if len(raw) < 16:
        raise AccordError(
            "--beacon", f"has {len(raw)} bytes", "use at least 16 bytes of fresh randomness"
        )
    return raw, True


@app.command()
@handle_errors
def verify(
    transcript_dir: Path = typer.Argument(..., help="Transcript directory handed over by the lab."),
    beacon: str | None = typer.Option(
        None,
        "--beacon",
        help="Hex randomness published after the run (e.g. a ledger root). "
        "Default: fresh local randomness, printed so the result can be reproduced.",
    ),
    expected_head: str | None = typer.Option(
        None, "--expected-head", help="Chain head the ledger recorded."
    ),
    declared_flops: float | None = typer.Option(
        None, "--declared-flops", help="Compute in the declaration."
    ),
    model_sha256: str | None = typer.Option(
        None, "--model-sha256", help="Weights hash of the released model."
    ),
    budget: float = typer.Option(
        0.05, "--budget", help="Fraction of training steps to re-execute."
    ),
    tolerance: float | None = typer.Option(
        None, "--tolerance", help="Relative replay tolerance (default: calibrated)."
    ),
    threads: int | None = typer.Option(
        None, "--threads", help="Replay threads (default: as recorded)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Check a transcript's chain, data, initialisation and compute, then replay segments."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from accord.verify.training.verifier import verify_training

    key, given = _beacon(beacon)
    check = functools.partial(
        verify_training,
        transcript_dir,
        key,
        expected_head=expected_head,
        declared_flops=declared_flops,
        declared_weights_sha256=model_sha256,
        budget=budget,
        tolerance=tolerance,
        threads=threads,
    )
    if as_json:
        finding = check()
        print_json({"beacon": key.hex(), "beacon_given": given, "finding": finding})
        if finding.verdict != "consistent":
            raise typer.Exit(1)  # the documented exit status holds with --json too
        return
    with Progress(
        TextColumn("[bold]{task.description:<16}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=max(total, 1))
            bar.update(tasks[stage], completed=done, total=max(total, 1))

        finding = check(progress=progress)
    _print_report(finding, key, given)
    if finding.verdict != "consistent":
        raise typer.Exit(1)


def _print_report(finding: Any, key: bytes, given: bool) -> None:
    stat = finding.statistic
    colour = {"consistent": "green", "inconsistent": "red"}.get(finding.verdict, "yellow")
    console.print(f"[bold]run[/] {finding.subject}")
    console.print(
        f"[bold]beacon[/] {key.hex()} ({'given' if given else 'fresh local randomness'})",
        highlight=False,
    )
    checks = Table(title="Checks", show_header=True)
    checks.add_column("check")
    checks.add_column("result")
    for name, result in stat.get("checks", {}).items():
        style = "green" if result == "pass" else "red" if result == "fail" else "dim"
        checks.add_row(name, f"[{style}]{result}[/]")
    console.print(checks)
    if stat.get("replays"):
        tol = stat["tolerance_relative"]
        seg = Table(title=f"Replayed segments (tolerance {tol:.3g} relative l2)")
        for col in ("seg", "steps", "chosen", "rel l2", "linf", "cos", "opt", "rng", "ok"):
            seg.add_column(col)
        for r in stat["replays"]:
            seg.add_row(
                str(r["segment"]),
                f"{r['first_step']}-{r['last_step']}",
                r["kind"],
                f"{r['relative']:.3g}",
                f"{r['linf']:.3g}",
                f"{r['cosine_distance']:.3g}",
                f"{r['optimizer_relative']:.3g}",
                "same" if r["rng_equal"] else "[red]differs[/]",
                "[green]yes[/]" if r["pass"] else "[red]no[/]",
            )
        console.print(seg)
    if "compute" in stat:
        c = stat["compute"]
        console.print(
            f"[bold]compute[/] transcript {c['transcript_flops']:.4g} FLOP "
            f"(6·N·D {c['six_n_d']:.4g}); manifest declares {c['manifest_declared_flops']:.4g}"
        )
    if "step_count" in stat:
        sc = stat["step_count"]
        bad = sc["segments_contradicted"]
        console.print(
            f"[bold]step count[/] zero-gradient coordinates confirm the declared steps in "
            f"{sc['segments_confirmed']} of {stat['segments']} segments; "
            + (f"[red]contradicted in segments {bad}[/]" if bad else "none contradicts")
            + f" (cost {sc['cost_fraction']:.2%} of training)"
        )
    if "detection" in stat:
        d = stat["detection"]
        console.print(
            "[bold]detection[/] P(catch | 1 forged segment) "
            f"{d['p_detect_one_forged_segment']:.3f}, | 10 % forged "
            f"{d['p_detect_10pct_forged']:.3f}, | 50 % forged "
            f"{d['p_detect_50pct_forged']:.3f}; 99 % sure to catch >= "
            f"{d['min_forged_fraction_caught_99pct']:.0%} forged"
        )
    if "verifier_cost_fraction" in stat:
        console.print(
            f"[bold]verifier cost[/] {stat['verifier_cost_fraction']:.2%} of training compute"
        )
    console.print(
        f"[bold {colour}]{finding.verdict.upper()}[/] {finding.explanation}", highlight=False
    )
    if finding.error_bound is not None:
        console.print(f"[dim]false-rejection bound: {finding.error_bound:.3g}[/]")


@app.command("record-demo")
@handle_errors
def record_demo(
    out_dir: Path = typer.Argument(..., help="New directory for the transcript."),
    task: str = typer.Option(
        "blobs", "--task", help="blobs (MLP), shapes (CNN) or charlm (transformer)."
    ),
    steps: int = typer.Option(400, "--steps", min=1, max=100_000),
    k: int = typer.Option(20, "--k", min=1, help="Checkpoint every k steps."),
    seed: int = typer.Option(0, "--seed", min=0, help="Init and data-order seed."),
    recipe: str = typer.Option(
        "",
        "--recipe",
        help="fp32, bf16 or fp16: train with a full recipe (AdamW with a weight-decay mask, "
        "warm-up + cosine, 2 micro-batches, clipping; fp16 with a grad scaler) at that "
        "precision. Default: plain constant-rate SGD/AdamW.",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Train a small model on CPU with the recorder attached and write its transcript."""
    from accord.verify.training.runs import (
        RecipeConfig,
        RunConfig,
        record_honest_run,
        record_recipe_run,
    )
    from accord.verify.training.tasks import TASKS
    from accord.verify.training.transcript import load_transcript

    if task not in TASKS:
        raise AccordError("--task", f"unknown task {task!r}", f"use one of {', '.join(TASKS)}")
    if recipe not in ("", "fp32", "bf16", "fp16"):
        raise AccordError("--recipe", f"unknown precision {recipe!r}", "use fp32, bf16 or fp16")
    cfg = RunConfig(task=task, steps=steps, k=k, init_seed=seed, order_seed=seed)
    with console.status(f"training {task} for {steps} steps"):
        if recipe:
            rc = RecipeConfig(
                run=cfg, precision=recipe, grad_scaler=recipe == "fp16", warmup=min(20, steps)
            )
            head = record_recipe_run(out_dir, rc).summary["chain_head"]
        else:
            head = record_honest_run(out_dir, cfg)
    summary = load_transcript(out_dir).ledger_summary()
    if as_json:
        print_json(summary)
        return
    console.print(f"[green]wrote[/] {out_dir} — chain head [bold]{head}[/]", highlight=False)
    console.print(f"verify with: accord training verify {out_dir}", highlight=False)


@app.command("ledger-summary")
@handle_errors
def ledger_summary(
    transcript_dir: Path = typer.Argument(..., help="Transcript directory."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Print the few hashes that go into the ledger (checks the chain first)."""
    from accord.verify.training.transcript import load_transcript

    summary = load_transcript(transcript_dir).ledger_summary()
    if as_json:
        print_json(summary)
        return
    table = Table(title="Ledger summary")
    table.add_column("field")
    table.add_column("value")
    for key, val in summary.items():
        table.add_row(key, str(val))
    console.print(table)


@app.command("attack-demo")
@handle_errors
def attack_demo(
    name: str = typer.Argument(..., help="Attack to build (see --help of the verifier docs)."),
    workdir: Path = typer.Argument(
        ..., help="Directory for the victim run and the forged transcript."
    ),
    steps: int = typer.Option(200, "--steps", min=20, max=20_000),
    as_json: bool = JSON_OPTION,
) -> None:
    """Build a cheating transcript to try the verifier on; print what the lab would declare."""
    from accord.verify.training.attacks import ATTACKS, run_attack
    from accord.verify.training.runs import RunConfig

    if name not in ATTACKS:
        raise AccordError("NAME", f"unknown attack {name!r}", f"use one of {', '.join(ATTACKS)}")
    workdir.mkdir(parents=True, exist_ok=True)
    with console.status(f"building {name}"):
        attack = run_attack(
            name, workdir, RunConfig(task="blobs", steps=steps, k=10, n_samples=512)
        )
    info = {
        "attack": attack.name,
        "transcript": str(attack.transcript),
        "declared_weights_sha256": attack.declared_weights_sha256,
        "attacker_seconds": attack.attacker_seconds,
        "notes": attack.notes,
    }
    if as_json:
        print_json(info)
        return
    console.print(f"[bold]{attack.name}[/] → {attack.transcript}", highlight=False)
    console.print(
        f"verify with: accord training verify {attack.transcript} --model-sha256 "
        f"{attack.declared_weights_sha256}",
        highlight=False,
    )
