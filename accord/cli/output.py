"""Output helpers shared by every command: JSON for scripts, rich tables for people,
and one-line errors (never a traceback) for bad input."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console

from accord.errors import AccordError

console = Console()
err_console = Console(stderr=True)

JSON_OPTION = typer.Option(False, "--json", help="Print machine-readable JSON instead of tables.")

P = ParamSpec("P")
R = TypeVar("R")

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


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn :class:`AccordError` into a one-line message and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except AccordError as err:
            raise fail(err, bool(kwargs.get("as_json", False))) from None

    return wrapper
