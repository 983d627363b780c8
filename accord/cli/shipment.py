"""`accord shipment check`: does this export need a license, under which clause?"""

from __future__ import annotations

import typer

from accord.cli import _render
from accord.cli._parse import iso_date, today, whole
from accord.cli.output import JSON_OPTION, handle_errors, print_json
from accord.errors import AccordError
from accord.hardware import get_chip
from accord.rules import ChipCount, ShipmentItem, classify
from accord.rules.countries import normalise_country

NAME = "shipment"
app = typer.Typer(help="Export licensing: check a shipment of chips against the rules of a date.")


@app.command("check")
@handle_errors
def check(
    chip: list[str] = typer.Option(..., "--chip", help="Chip id or alias; repeat for several."),
    count: list[str] = typer.Option(..., "--count", help="How many of each --chip, in order."),
    to: str = typer.Option(..., "--to", help="Destination country, ISO 3166-1 alpha-2 (e.g. MY)."),
    date: str | None = typer.Option(None, "--date", help="Shipment date YYYY-MM-DD (today)."),
    end_user: str | None = typer.Option(None, "--end-user", help="End user's name."),
    end_user_hq: str | None = typer.Option(
        None, "--end-user-hq", help="Country of the end user's (ultimate parent's) headquarters."
    ),
    veu: str | None = typer.Option(
        None, "--validated-end-user", help="End user's validated end-user status: UVEU or NVEU."
    ),
    rules: str | None = typer.Option(None, "--rules", help="A rule-set id instead of the date's."),
    show_all: bool = typer.Option(False, "--all", help="Also list clauses that do not apply."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Decide whether a shipment needs a license, and which exceptions may apply."""
    if len(chip) != len(count):
        raise AccordError(
            "--count", f"{len(chip)} --chip but {len(count)} --count", "give one --count per --chip"
        )
    items = [
        ChipCount(chip=_resolve(c), count=whole(n, "--count"))
        for c, n in zip(chip, count, strict=True)
    ]
    when = iso_date(date) or today()
    status = veu.upper() if veu else None
    if status not in (None, "UVEU", "NVEU"):
        raise AccordError("--validated-end-user", f"unknown status {veu!r}", "use UVEU or NVEU")
    shipment = ShipmentItem(
        items=items,
        destination=normalise_country(to, "--to"),
        end_user=end_user,
        end_user_hq=normalise_country(end_user_hq, "--end-user-hq") if end_user_hq else None,
        validated_end_user=status,  # type: ignore[arg-type]
        date=when,
    )
    verdict = classify(shipment, rules_at=rules if rules else when)
    if as_json:
        print_json(verdict)
        return
    _render.verdict(verdict, show_all=show_all)


def _resolve(name: str) -> str:
    try:
        return get_chip(name).id
    except AccordError as err:
        raise type(err)("--chip", err.problem, err.fix) from None
