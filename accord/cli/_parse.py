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
