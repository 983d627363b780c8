"""Parsing CLI values ourselves, so every bad value gets the same one-line error."""

from __future__ import annotations

import math
from datetime import date

from accord.errors import AccordError


def number(text: str, field: str, *, positive: bool = True) -> float:
    try:
        value = float(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise AccordError(field, f"{text!r} is not a number", "write e.g. 405e9 or 5000") from None
    if not math.isfinite(value):
        raise AccordError(field, f"{text!r} is not a finite number")
    if positive and value <= 0:
        raise AccordError(field, f"must be positive, got {text}", "give a number above 0")
    return value


def whole(text: str, field: str) -> int:
    value = number(text, field)
    if value != int(value):
        raise AccordError(field, f"must be a whole number, got {text}")
    return int(value)


def iso_date(text: str | None, field: str = "--date") -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise AccordError(field, f"{text!r} is not a date", "use YYYY-MM-DD") from None


def today() -> date:
    return date.today()


def yaml_error(where: str, exc: Exception) -> AccordError:
    """One line for a YAML file that does not parse: where (line, column) and what.

    PyYAML's own message spans several lines ("while parsing ...", a caret drawing); cut at
    its first line it stops mid-sentence and loses the position, so it is rebuilt here.
    """
    import yaml

    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        problem = exc.problem or "is not valid YAML"
        if exc.context and exc.context_mark is not None:
            ctx = exc.context_mark
            start = f"line {ctx.line + 1}, column {ctx.column + 1}"
            problem += f" ({exc.context} that starts at {start})"
        elif exc.context:
            problem += f" ({exc.context})"
        return AccordError(
            where,
            f"not valid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}",
            "fix the file at that line (indent with spaces; quote text holding ': ')",
        )
    if isinstance(exc, UnicodeDecodeError):
        return AccordError(where, f"is not UTF-8 text (byte {exc.start})", "save it as UTF-8")
    first = " ".join(str(exc).split())
    return AccordError(where, f"not valid YAML: {first}")
