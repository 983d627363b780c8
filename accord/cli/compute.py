"""`accord compute`: training-compute estimates with intervals, and the thresholds crossed."""

from __future__ import annotations

import typer

from accord.cli import _render
from accord.cli._parse import iso_date, number, today, whole
from accord.cli.output import JSON_OPTION, console, exit_for, handle_errors, print_json
from accord.cli.output import table as new_table
from accord.compute import Estimate, cross_check, from_architecture, from_hardware
from accord.compute.interval import Interval
from accord.errors import AccordError
from accord.rules import ModelItem, classify

NAME = "compute"
app = typer.Typer(help="Training compute: estimate from architecture or hardware, cross-check.")


@app.command("estimate")
@handle_errors
def estimate(
    params: str | None = typer.Option(None, "--params", help="Total parameters, e.g. 405e9."),
    tokens: str | None = typer.Option(None, "--tokens", help="Training tokens, e.g. 15.6e12."),
    active_params: str | None = typer.Option(
        None, "--active-params", help="Active parameters per token (mixture-of-experts)."
    ),
    chip: str | None = typer.Option(None, "--chip", help="Accelerator, for the hardware route."),
    count: str | None = typer.Option(None, "--count", help="Number of chips."),
    hours: str | None = typer.Option(None, "--hours", help="Wall-clock hours of training."),
    chip_hours: str | None = typer.Option(
        None, "--chip-hours", help="Total chip-hours instead of --count and --hours."
    ),
    util: str = typer.Option("0.3-0.5", "--util", help="Utilisation range of peak, e.g. 0.3-0.5."),
    precision: str | None = typer.Option(None, "--precision", help="Peak precision (bf16...)."),
    declared: str | None = typer.Option(None, "--declared", help="Declared FLOP to cross-check."),
    date: str | None = typer.Option(None, "--date", help="Thresholds in force on this date."),
    base_compute: str | None = typer.Option(
        None,
        "--base-compute",
        help="For a fine-tune: the original model's training FLOP (the estimate is then the "
        "fine-tune's own compute).",
    ),
    open_weights: bool | None = typer.Option(
        None, "--open-weights/--closed-weights", help="Whether weights are published."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Estimate training compute and list the regulatory thresholds it crosses.

    Exits 1 when the cross-check does not hold (a declared figure or two routes disagree).
    """
    estimates: list[Estimate] = []
    if params is not None or tokens is not None:
        if params is None or tokens is None:
            raise AccordError(
                "--params/--tokens", "give both", "e.g. --params 405e9 --tokens 15.6e12"
            )
        estimates.append(
            from_architecture(
                number(params, "--params"),
                number(tokens, "--tokens"),
                active_params=number(active_params, "--active-params") if active_params else None,
            )
        )
    if chip is not None:
        lo_hi = _util(util)
        if chip_hours is not None:
            n, h = 1, number(chip_hours, "--chip-hours")
        elif count is not None and hours is not None:
            n, h = whole(count, "--count"), number(hours, "--hours")
        else:
            raise AccordError("--chip", "needs --count and --hours, or --chip-hours")
        estimates.append(from_hardware(chip, n, h, utilisation=lo_hi, precision=precision))
    if not estimates:
        raise AccordError(
            "estimate", "nothing to estimate", "give --params and --tokens, or --chip with hours"
        )
    declared_flop = number(declared, "--declared") if declared else None
    finding = cross_check("training run", estimates, declared_flop)
    best = _combined(estimates, declared_flop, trusted=finding.verdict == "consistent")
    base = Interval.point(number(base_compute, "--base-compute")) if base_compute else None
    verdict = classify(
        ModelItem(
            name="fine-tune" if base else "training run",
            training_compute=best,
            base_compute=base,
            open_weights=open_weights,
        ),
        rules_at=iso_date(date) or today(),
    )
    if as_json:
        print_json({"estimates": estimates, "cross_check": finding, "thresholds": verdict})
        exit_for([finding.verdict])
        return
    table = new_table(
        "method", "low", "central", "high", "how",
        title="Training compute estimates (FLOP)", ids=("method", "low", "central", "high"),
    )  # fmt: skip
    for e in estimates:
        central = f"{e.flop.central:.3g}" if e.flop.central is not None else "—"
        table.add_row(e.method, f"{e.flop.lo:.3g}", central, f"{e.flop.hi:.3g}", e.derivation)
    console.print(table)
    for e in estimates:
        for warning in e.warnings:
            console.print(f"[bold yellow]warning ({e.method}):[/] {warning}")
    style = {"consistent": "green", "inconclusive": "yellow"}.get(finding.verdict, "bold red")
    console.print(f"[{style}]cross-check: {finding.verdict}[/] — {finding.explanation}")
    _render.verdict(verdict)
    exit_for([finding.verdict])


def _util(text: str) -> tuple[float, float]:
    parts = text.split("-")
    if len(parts) != 2:
        raise AccordError("--util", f"{text!r} is not a range", "write e.g. 0.3-0.5")
    lo, hi = number(parts[0], "--util"), number(parts[1], "--util")
    if not lo <= hi <= 1:
        raise AccordError("--util", f"need low <= high <= 1, got {text}")
    return lo, hi


def _combined(estimates: list[Estimate], declared: float | None, *, trusted: bool) -> Interval:
    """The interval used for thresholds.

    A declared figure the estimates confirm is used as is; one they contradict is not
    trusted, so the thresholds see the hull of the declaration and the estimates.
    """
    if declared is not None and trusted:
        return Interval.point(declared)
    lo = min(e.flop.lo for e in estimates)
    hi = max(e.flop.hi for e in estimates)
    if declared is not None:
        lo, hi = min(lo, declared), max(hi, declared)
    centrals = [e.flop.central for e in estimates if e.flop.central is not None]
    central = centrals[0] if centrals and lo <= centrals[0] <= hi else None
    return Interval(lo=lo, hi=hi, central=central)
