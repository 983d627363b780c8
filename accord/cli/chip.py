"""`accord chip`: look up accelerators and classify them under a rule version."""

from __future__ import annotations

import typer

from accord.cli import _render
from accord.cli._parse import iso_date, today
from accord.cli.output import JSON_OPTION, console, handle_errors, print_json
from accord.cli.output import table as new_table
from accord.errors import AccordError
from accord.hardware import default_catalog, get_chip, h100_equivalents, performance_density, tpp
from accord.rules import ChipItem, classify

NAME = "chip"
app = typer.Typer(help="Accelerator catalog: specs, TPP, performance density, export class.")


@app.command("list")
@handle_errors
def list_chips(as_json: bool = JSON_OPTION) -> None:
    """List every chip in the catalog with its TPP and performance density."""
    rows = []
    for chip in default_catalog():
        t = tpp(chip)
        rows.append(
            {
                "id": chip.id,
                "name": chip.name,
                "vendor": chip.vendor,
                "released": chip.released,
                "tpp": t.value,
                # A name sold in variants has a range instead of one TPP.
                "tpp_range": [t.lo, t.hi] if t.lo is not None else None,
                "performance_density": performance_density(chip).value,
            }
        )
    if as_json:
        print_json(rows)
        return
    table = new_table(
        "id", "name", "vendor", "released", "TPP", "density",
        title="Accelerators", ids=("id", "released", "TPP", "density"), right=("TPP", "density"),
    )  # fmt: skip
    for r in rows:
        v, d, span = r["tpp"], r["performance_density"], r["tpp_range"]
        shown = (
            f"{v:,.0f}"
            if isinstance(v, float)
            else f"{span[0]:,.0f}-{span[1]:,.0f}"
            if isinstance(span, list)
            else "unknown"
        )
        table.add_row(
            str(r["id"]),
            str(r["name"]),
            str(r["vendor"]),
            str(r["released"] or "?"),
            shown,
            f"{d:.2f}" if isinstance(d, float) else "unknown",
        )
    console.print(table)


@app.command("show")
@handle_errors
def show(
    name: str = typer.Argument(..., help="Chip id, name or alias, e.g. H100-SXM."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show a chip's published figures, sources and derived TPP / density."""
    chip = get_chip(name)
    derived = {m.name: m for m in (tpp(chip), performance_density(chip), h100_equivalents(chip))}
    if as_json:
        print_json(
            {
                "chip": chip.model_dump(mode="json"),
                "derived": {k: m.model_dump() for k, m in derived.items()},
            }
        )
        return
    console.print(f"[bold]{chip.name}[/] ({chip.id}) — {chip.vendor}, released {chip.released}")
    table = new_table("field", "value", ids=("field",), show_header=False)
    for key in (
        "architecture",
        "datacenter",
        "die_area_mm2",
        "die_count",
        "process",
        "memory_gb",
        "memory_type",
        "memory_bandwidth_gbs",
        "interconnect_bandwidth_gbs",
        "tdp_w",
    ):
        value = getattr(chip, key)
        table.add_row(key, "not public" if value is None else str(value))
    for prec, tops in chip.dense_tops.items():
        table.add_row(f"dense {prec} TOPS", "not public" if tops is None else f"{tops:g}")
    for m in derived.values():
        table.add_row(m.name, m.derivation)
    console.print(table)
    for s in chip.sources:
        console.print(f"[dim]source[/] {s.title or s.url} — {s.url} ({', '.join(s.fields)})")
    if chip.notes:
        console.print(f"[dim]note[/] {chip.notes}")


@app.command("classify")
@handle_errors
def classify_chip(
    name: str = typer.Argument(..., help="Chip id, name or alias."),
    date: str | None = typer.Option(None, "--date", help="Rules in force on YYYY-MM-DD."),
    rules: str | None = typer.Option(None, "--rules", help="A rule-set id instead of a date."),
    show_all: bool = typer.Option(False, "--all", help="Also list clauses that do not apply."),
    as_party: str = typer.Option(
        "exporter",
        "--as",
        help="Who classifies: exporter, front_end_fabricator (foundry) or osat (packager).",
    ),
    designer_attests: bool = typer.Option(
        False,
        "--designer-attests",
        help="An approved or authorized IC designer attests the IC is not 3A090.a.",
    ),
    packager_attests: bool = typer.Option(
        False,
        "--packager-attests",
        help="The packager attests the packaged IC's transistor count is below the threshold.",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Classify a chip (e.g. 3A090.a) under the rules of a date or a named rule set."""
    chip = get_chip(name)
    parties = ("exporter", "front_end_fabricator", "osat")
    party = as_party.strip().lower().replace("-", "_")
    if party == "foundry":
        party = "front_end_fabricator"
    if party not in parties:
        raise AccordError("--as", f"unknown party {as_party!r}", f"use one of {', '.join(parties)}")
    selector = rules if rules else iso_date(date) or today()
    item = ChipItem(
        chip=chip.id,
        party=party,  # type: ignore[arg-type]
        designer_attests=designer_attests,
        packager_attests=packager_attests,
    )
    verdict = classify(item, rules_at=selector)
    if as_json:
        print_json(verdict)
        return
    _render.verdict(verdict, show_all=show_all)
