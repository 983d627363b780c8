"""Rich rendering of verdicts and estimates for people (``--json`` bypasses this)."""

from __future__ import annotations

from accord.cli.output import console
from accord.cli.output import table as new_table
from accord.rules.logic import Tri
from accord.rules.verdict import Verdict

_STYLE = {Tri.TRUE: "bold red", Tri.UNKNOWN: "yellow", Tri.FALSE: "green"}
_WORD = {Tri.TRUE: "applies", Tri.UNKNOWN: "unknown", Tri.FALSE: "does not apply"}


def verdict(v: Verdict, *, show_all: bool = False) -> None:
    colour = {
        "controlled": "red",
        "license_required": "red",
        "thresholds_crossed": "red",
        "undetermined": "yellow",
    }.get(v.status, "green")
    console.print(f"[bold {colour}]{v.headline}[/]")
    on = f" on {v.on.isoformat()}" if v.on else ""
    console.print(f"[dim]Rules{on}: " + "; ".join(f"{r.id} ({r.citation})" for r in v.rule_sets))
    if v.numbers:
        nums = new_table(
            "metric", "value", "how", title="Numbers used", title_justify="left",
            ids=("metric", "value"), right=("value",),
        )  # fmt: skip
        for n in v.numbers:
            value = "unknown" if n.value is None else _fmt(n.value)
            nums.add_row(n.metric, value, n.derivation)
        console.print(nums)
    shown = v.clauses if show_all else v.applying()
    if shown:
        table = new_table(
            "clause", "outcome", "tests", "citation", title="Clauses", title_justify="left",
            min_widths={"clause": max(len(c.clause) for c in shown)},
        )  # fmt: skip
        for c in shown:
            outcome = f"[{_STYLE[c.outcome]}]{_WORD[c.outcome]}[/]"
            if not c.binding:
                outcome += " [dim](not yet binding)[/]"
            tests_text = "\n".join(t.describe() for t in c.tests)
            table.add_row(f"{c.clause}\n[dim]{c.title}[/]", outcome, tests_text, c.citation)
        console.print(table)
    for u in v.unknowns:
        console.print(f"[yellow]unknown[/] {u}")
    for note in v.notes:
        console.print(f"[dim]note[/] {note}")


def _fmt(value: float | str) -> str:
    if isinstance(value, str):
        return value
    if abs(value) >= 1e7:
        return f"{value:.3g}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")
