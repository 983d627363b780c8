"""`accord rules`: the rule sets Accord knows, their dates and citations."""

from __future__ import annotations

import typer

from accord.cli.output import JSON_OPTION, console, handle_errors, print_json
from accord.cli.output import table as new_table
from accord.rules import all_rule_sets, get_rule_set

NAME = "rules"
app = typer.Typer(help="Rule sets as versioned data: list them and show their clauses.")


@app.command("list")
@handle_errors
def list_rules(as_json: bool = JSON_OPTION) -> None:
    """List every rule set with its family, dates and citation."""
    sets = all_rule_sets()
    if as_json:
        print_json([rs.model_dump(mode="json", exclude={"clauses"}) for rs in sets])
        return
    table = new_table(
        "id", "family", "effective", "compliance", "ends", "citation",
        title="Rule sets", ids=("id", "effective"),
    )  # fmt: skip
    for rs in sets:
        table.add_row(
            rs.id,
            rs.family + (" [dim](opt-in)[/]" if not rs.default else ""),
            rs.effective.isoformat(),
            rs.compliance.isoformat() if rs.compliance else "",
            rs.ends.isoformat() if rs.ends else "",
            rs.citation,
        )
    console.print(table)


@app.command("show")
@handle_errors
def show(
    rule_set: str = typer.Argument(..., help="Rule-set id."), as_json: bool = JSON_OPTION
) -> None:
    """Show a rule set (with inherited clauses resolved)."""
    rs = get_rule_set(rule_set)
    if as_json:
        print_json(rs)
        return
    console.print(f"[bold]{rs.title}[/]\n{rs.citation} — {rs.url}")
    console.print(
        f"effective {rs.effective}" + (f", compliance {rs.compliance}" if rs.compliance else "")
    )
    console.print(rs.summary)
    table = new_table("id", "kind", "applies to", "title", "citation", title="Clauses", ids=("id",))
    for c in rs.clauses:
        table.add_row(c.id, c.kind, ", ".join(c.applies_to), c.title, c.citation)
    console.print(table)
    for n in rs.notes:
        console.print(f"[dim]note[/] {n}")
    for n in rs.changelog:
        console.print(f"[dim]data-file change[/] {n}")
