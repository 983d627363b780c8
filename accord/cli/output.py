"""Output helpers shared by every command: JSON for scripts, rich tables for people,
and one-line errors (never a traceback) for bad input.

Every command follows one exit-status rule so scripts can trust it: 0 the command ran and
what it checked holds, 1 what it checked does not hold (or could not be shown to hold),
2 bad input. Commands that only answer a question (classify a chip, list rules) exit 0.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from accord.errors import AccordError, IntegrityError

console = Console()
err_console = Console(stderr=True)

JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON instead of tables.")

P = ParamSpec("P")
R = TypeVar("R")

EXIT_HOLDS = 0
EXIT_DOES_NOT_HOLD = 1
EXIT_BAD_INPUT = 2


def to_jsonable(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    return obj


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False) + "\n")


def fail(err: AccordError, as_json: bool = False) -> typer.Exit:
    """Report bad input on one line and return the Exit to raise."""
    if as_json:
        sys.stdout.write(json.dumps({"error": err.to_dict()}, ensure_ascii=False) + "\n")
    err_console.print(f"[bold red]error[/] {err.message}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_BAD_INPUT)


def does_not_hold(err: IntegrityError, as_json: bool = False) -> typer.Exit:
    """Report evidence that failed its check on one line and return the Exit (status 1)."""
    if as_json:
        body = {"valid": False, "error": err.to_dict()}
        sys.stdout.write(json.dumps(body, ensure_ascii=False) + "\n")
    err_console.print(f"[bold red]does not hold[/] {err.message}", highlight=False, soft_wrap=True)
    return typer.Exit(EXIT_DOES_NOT_HOLD)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn :class:`AccordError` into a one-line message and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except AccordError as err:
            raise fail(err, bool(kwargs.get("as_json", False))) from None

    return wrapper


def handle_verdict(func: Callable[P, R]) -> Callable[P, R]:
    """For commands that check evidence: a failed check (:class:`IntegrityError`) is the
    answer "does not hold" (exit 1), not bad input; other errors are bad input (exit 2).

    Only commands whose job is the check use this: elsewhere an IntegrityError means a file
    the user handed over is unusable, which is bad input.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        as_json = bool(kwargs.get("as_json", False))
        try:
            return func(*args, **kwargs)
        except IntegrityError as err:
            raise does_not_hold(err, as_json) from None
        except AccordError as err:
            raise fail(err, as_json) from None

    return wrapper


def exit_for(verdicts: list[str]) -> None:
    """Exit 1 unless every verdict is ``consistent`` (inconclusive is not shown to hold)."""
    if any(str(v) != "consistent" for v in verdicts):
        raise typer.Exit(EXIT_DOES_NOT_HOLD)


def table(
    *columns: str,
    title: str | None = None,
    ids: tuple[str, ...] = (),
    right: tuple[str, ...] = (),
    min_widths: dict[str, int] | None = None,
    **options: Any,
) -> Table:
    """A table that never cuts text: identifiers people type next (rule-set ids, chip ids,
    clause ids, file paths) keep their whole width and never wrap; every other column
    wraps, and a word too long for its column folds onto the next line instead of ending
    in an ellipsis. Rich's default would print ``us-bis-20…`` at 80-100 columns.
    ``min_widths`` keeps a column at least that wide (an id on the first line of a cell
    whose later lines may wrap)."""
    out = Table(title=title, **options)
    for col in columns:
        out.add_column(
            col,
            justify="right" if col in right else "left",
            no_wrap=col in ids,
            overflow="fold",
            min_width=(min_widths or {}).get(col),
        )
    return out
