"""`accord locate`: where can the target be, given landmarks and signed RTTs?

A top-level command (registered like `accord demo`) because it is the whole job of the
location verifier: read the tables, bound the region, judge the claim, draw the map.
"""

from __future__ import annotations

from pathlib import Path

import typer

from accord.cli.output import JSON_OPTION, console, exit_for, handle_errors, print_json
from accord.errors import AccordError


def register(app: typer.Typer) -> None:
    @app.command("locate")
    @handle_errors
    def locate_command(
        landmarks: Path = typer.Option(
            ..., "--landmarks", help="CSV with id,lat,lon[,name,country]."
        ),
        rtts: Path = typer.Option(..., "--rtts", help="CSV with landmark_id,rtt_ms[,target]."),
        claim: str | None = typer.Option(
            None, "--claim", help="Country the target is declared to be in (ISO code or name)."
        ),
        declared_lat: float | None = typer.Option(
            None, "--declared-lat", help="Latitude of the declared facility."
        ),
        declared_lon: float | None = typer.Option(
            None, "--declared-lon", help="Longitude of the declared facility."
        ),
        restricted: list[str] = typer.Option(
            [], "--restricted", help="Country to test the target against (repeatable)."
        ),
        calibration: Path | None = typer.Option(
            None,
            "--calibration",
            help=(
                "CSV with landmark_id,peer_id,rtt_ms between landmarks: checks every "
                "landmark's listed position (mislocated ones are dropped and named) and fits "
                "the CBG bestlines. Without it no accusation is drawn."
            ),
        ),
        target: str | None = typer.Option(
            None, "--target", help="Which target's rows to use when the RTT file holds several."
        ),
        speed: str = typer.Option(
            "fibre",
            "--speed",
            help="Fastest signal assumed: fibre (2/3 c) or vacuum (c, against free-space links).",
        ),
        margin_km: float = typer.Option(
            25.0, "--margin-km", help="Allowance for the coarse 1:110m borders, in km."
        ),
        cbg_alpha: float = typer.Option(
            0.05,
            "--cbg-alpha",
            help="Widen CBG radii so held-out landmarks are missed at most this often.",
        ),
        raw_cbg: bool = typer.Option(
            False, "--raw-cbg", help="Use the raw CBG bestlines (no conformal widening)."
        ),
        no_cbg: bool = typer.Option(
            False,
            "--no-cbg",
            help="Use --calibration only to check the landmarks (no CBG bestlines; faster).",
        ),
        map_path: Path | None = typer.Option(None, "--map", help="Write the map to this PNG."),
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Bound where a chip or cluster is from signed round-trip times to landmarks."""
        from accord.verify.location.geodesy import Propagation
        from accord.verify.location.inputs import (
            parse_landmarks,
            parse_peer_rtts,
            parse_rtts,
            read_text,
            select_target,
        )
        from accord.verify.location.locate import locate

        if (declared_lat is None) != (declared_lon is None):
            raise AccordError(
                "--declared-lat/--declared-lon", "only one was given", "give both or neither"
            )
        try:
            propagation = Propagation(speed.lower())
        except ValueError:
            raise AccordError(
                "--speed", f"unknown speed {speed!r}", "use fibre or vacuum"
            ) from None
        lms = parse_landmarks(read_text(landmarks, "--landmarks"), str(landmarks))
        samples = select_target(parse_rtts(read_text(rtts, "--rtts"), str(rtts)), target, str(rtts))
        peers = None
        if calibration is not None:
            peers = parse_peer_rtts(read_text(calibration, "--calibration"), str(calibration))
        declared = None
        if declared_lat is not None and declared_lon is not None:
            declared = (declared_lat, declared_lon)
        report = locate(
            lms,
            samples,
            claim=claim,
            declared=declared,
            restricted=restricted,
            calibration=peers,
            propagation=propagation,
            border_margin_km=margin_km,
            target=target or (samples[0].target or "target"),
            cbg_alpha=None if raw_cbg else cbg_alpha,
            cbg=not no_cbg,
        )
        written = None
        if map_path is not None:
            from accord.verify.location.plot import render_map

            written = str(render_map(report, map_path, claim=claim))
        if as_json:
            data = report.model_dump(mode="json")
            data["map"] = written
            print_json(data)
        else:
            _print_report(report, written)
        # Exit 1 when a claim (--claim, the declared site, --restricted) is not shown to hold.
        # The landmark check is a report on the evidence, not a claim: an unchecked set of
        # landmarks already turns any accusation into "inconclusive" (exit 1) by itself.
        exit_for([f.verdict for f in report.findings if f.subject != "landmarks"])


def _print_report(report: object, written: str | None) -> None:
    from rich.table import Table

    from accord.verify.location.locate import LocationReport

    assert isinstance(report, LocationReport)
    region = report.physical_region
    console.print(
        f"[bold]{report.target}[/]: {len(report.constraints)} landmarks, "
        f"{report.propagation} bound ({report.km_per_ms_rtt:.1f} km per ms RTT)"
    )
    check = report.landmark_check
    if not check.checked:
        console.print(
            "landmarks: positions [yellow]not checked[/] (no --calibration): "
            "accusations are reported as inconclusive"
        )
    elif check.dropped:
        named = ", ".join(
            f"{d.landmark_id}{f' ({d.name})' if d.name else ''}" for d in check.dropped
        )
        console.print(
            f"landmarks: [bold yellow]dropped {len(check.dropped)}[/] whose RTTs to other "
            f"landmarks beat light for their listed positions: {named}"
        )
    else:
        console.print(f"landmarks: all {check.pairs_checked} landmark pairs physically consistent")
    if region.empty:
        console.print(
            "physical region: [bold red]empty[/], no verdict; conflicting discs: "
            + ("; ".join(report.conflicting_landmarks) or "not isolated")
        )
    else:
        console.print(
            f"physical region: ~{region.area_km2:,.0f} km² (resolution {region.resolution_km:g} km)"
        )
    if report.cbg_region is not None and report.calibration is not None:
        cal = report.calibration
        size = (
            "empty (the bestlines contradict each other; verdicts use the physical region)"
            if report.cbg_region.empty
            else f"~{report.cbg_region.area_km2:,.0f} km²"
        )
        console.print(
            f"CBG region: {size}; bestlines for "
            f"{cal.landmarks_with_bestline} landmarks, leave-one-out misses "
            f"{cal.constraint_misses}/{cal.constraint_tests} constraints, "
            f"{cal.region_misses}/{cal.region_tests} regions raw, "
            f"{cal.misses_at_slack}/{cal.region_tests} with RTTs +{cal.slack_ms:.2f} ms"
        )
    # The Finding's verdict is about the declaration (a restricted country "consistent" means
    # the target cannot be there); people read the answer to the question asked instead.
    table = Table(title="Findings")
    for col in ("subject", "answer", "explanation"):
        table.add_column(col, overflow="fold")
    for f in report.findings:
        colour = {"consistent": "green", "inconsistent": "red"}.get(f.verdict.value, "yellow")
        answer = str(f.statistic.get("answer", f.verdict.value))
        table.add_row(f.subject, f"[{colour}]{answer}[/]", f.explanation)
    console.print(table)
    if written:
        console.print(f"map written to {written}")
