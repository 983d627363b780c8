"""Three-valued evaluation of rule conditions.

A rule clause is data: a small condition tree over named metrics. Metrics can be unknown
(a die area nobody published, an end user's headquarters not given) or uncertain (training
compute known only within an interval). Kleene's three-valued logic keeps that honest: a
clause is TRUE, FALSE or UNKNOWN, and UNKNOWN propagates only where the missing fact could
change the outcome.

Condition grammar (YAML/JSON)::

    {all: [C, ...]}      {any: [C, ...]}      {not: C}
    {metric: NAME, ge: 4800, lt: 9600}        # numeric comparisons, bounds combine with AND
    {metric: NAME, in: [A, B]}                # membership; a set-valued metric intersects
    {metric: NAME, eq: VALUE}                 # equality (booleans, strings)
    {metric: released, le: 2026-01-15}        # a date metric ("2024-11") against a date
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from accord.compute.interval import Interval
from accord.errors import AccordError
from accord.rules.vocabulary import METRICS

NUMERIC_OPS = ("gt", "ge", "lt", "le")
_OP_TEXT = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤", "eq": "=", "in": "in"}


class Tri(StrEnum):
    TRUE = "true"
    FALSE = "false"
    UNKNOWN = "unknown"

    @staticmethod
    def of(value: bool) -> Tri:
        return Tri.TRUE if value else Tri.FALSE


def tri_and(values: list[Tri]) -> Tri:
    if Tri.FALSE in values:
        return Tri.FALSE
    return Tri.UNKNOWN if Tri.UNKNOWN in values else Tri.TRUE


def tri_or(values: list[Tri]) -> Tri:
    if Tri.TRUE in values:
        return Tri.TRUE
    return Tri.UNKNOWN if Tri.UNKNOWN in values else Tri.FALSE


def tri_not(value: Tri) -> Tri:
    return {Tri.TRUE: Tri.FALSE, Tri.FALSE: Tri.TRUE, Tri.UNKNOWN: Tri.UNKNOWN}[value]


class Classes(BaseModel):
    """A set whose membership is partly unknown: ``definite`` holds, ``possible`` might."""

    model_config = ConfigDict(frozen=True)

    definite: frozenset[str] = frozenset()
    possible: frozenset[str] = frozenset()

    def __str__(self) -> str:
        shown = sorted(self.definite) + [f"{p}?" for p in sorted(self.possible)]
        return "{" + ", ".join(shown) + "}"


MetricValue = Interval | float | int | str | bool | frozenset[str] | Classes | None


class Test(BaseModel):
    """One atomic comparison as it was evaluated — the 'numbers it used' of a verdict."""

    model_config = ConfigDict(frozen=True)

    metric: str
    op: str
    threshold: Any
    value: Any
    outcome: Tri

    def describe(self) -> str:
        shown = "unknown" if self.value is None else _show(self.value)
        return f"{self.metric} {_OP_TEXT.get(self.op, self.op)} {_show(self.threshold)}: {shown}"


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:.3g}"
    if isinstance(value, frozenset | set | list | tuple):
        return "{" + ", ".join(sorted(str(v) for v in value)) + "}"
    return str(value)


_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def date_bounds(text: str) -> tuple[date, date] | None:
    """The first and last day a partial date ("2024", "2024-11", "2024-11-13") can mean."""
    m = _PARTIAL_DATE.match(text.strip())
    if not m:
        return None
    year = int(m.group(1))
    if m.group(3):
        day = date(year, int(m.group(2)), int(m.group(3)))
        return day, day
    if m.group(2):
        month = int(m.group(2))
        return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    return date(year, 1, 1), date(year, 12, 31)


def _compare_date(value: MetricValue, op: str, threshold: date) -> Tri:
    """A partial date is an interval of days: "2024-11" is before 2024-12-01 for certain."""
    if value is None:
        return Tri.UNKNOWN
    bounds = date_bounds(str(value))
    if bounds is None:
        return Tri.UNKNOWN  # "2023-Q3" and other free text: not comparable, so not known
    lo, hi = (float(d.toordinal()) for d in bounds)
    return _compare(Interval(lo=lo, hi=hi), op, float(threshold.toordinal()))


def _compare(value: MetricValue, op: str, threshold: float) -> Tri:
    if value is None:
        return Tri.UNKNOWN
    if isinstance(value, Interval):
        lo, hi = value.lo, value.hi
    elif isinstance(value, int | float) and not isinstance(value, bool):
        lo = hi = float(value)
    else:
        raise AccordError("rule condition", f"{op} needs a number, got {value!r}")
    if op == "gt":
        return Tri.TRUE if lo > threshold else Tri.FALSE if hi <= threshold else Tri.UNKNOWN
    if op == "ge":
        return Tri.TRUE if lo >= threshold else Tri.FALSE if hi < threshold else Tri.UNKNOWN
    if op == "lt":
        return Tri.TRUE if hi < threshold else Tri.FALSE if lo >= threshold else Tri.UNKNOWN
    # le
    return Tri.TRUE if hi <= threshold else Tri.FALSE if lo > threshold else Tri.UNKNOWN


def _membership(value: MetricValue, options: list[Any]) -> Tri:
    if value is None:
        return Tri.UNKNOWN
    wanted = {str(o) for o in options}
    if isinstance(value, Classes):
        if value.definite & wanted:
            return Tri.TRUE
        return Tri.UNKNOWN if value.possible & wanted else Tri.FALSE
    if isinstance(value, frozenset):
        return Tri.of(bool(value & wanted))
    return Tri.of(str(value) in wanted)


def evaluate(
    condition: Mapping[str, Any], metrics: Mapping[str, MetricValue], trace: list[Test]
) -> Tri:
    """Evaluate ``condition`` against ``metrics``, appending each atomic test to ``trace``."""
    if "all" in condition:
        return tri_and([evaluate(c, metrics, trace) for c in condition["all"]])
    if "any" in condition:
        return tri_or([evaluate(c, metrics, trace) for c in condition["any"]])
    if "not" in condition:
        return tri_not(evaluate(condition["not"], metrics, trace))
    name = condition.get("metric")
    if not isinstance(name, str):
        raise AccordError("rule condition", f"no metric or combinator in {dict(condition)!r}")
    value = metrics.get(name)
    results: list[Tri] = []
    for op in (*NUMERIC_OPS, "in", "eq"):
        if op not in condition:
            continue
        threshold = condition[op]
        if op in NUMERIC_OPS and isinstance(threshold, date):
            outcome = _compare_date(value, op, threshold)
        elif op in NUMERIC_OPS:
            outcome = _compare(value, op, float(threshold))
        elif op == "in":
            outcome = _membership(value, list(threshold))
        else:
            outcome = Tri.UNKNOWN if value is None else Tri.of(value == threshold)
        trace.append(
            Test(metric=name, op=op, threshold=threshold, value=_plain(value), outcome=outcome)
        )
        results.append(outcome)
    if not results:
        raise AccordError("rule condition", f"metric {name!r} has no comparison")
    return tri_and(results)


def _plain(value: MetricValue) -> Any:
    if isinstance(value, frozenset):
        return sorted(value)
    if isinstance(value, Interval | Classes):
        return str(value)
    return value


def validate_condition(condition: Any, where: str) -> None:
    """Reject a malformed condition tree when a rule file is loaded, not when it is used."""
    if not isinstance(condition, Mapping):
        raise AccordError(where, f"condition must be a mapping, got {type(condition).__name__}")
    keys = set(condition)
    if keys & {"all", "any"}:
        (key,) = keys & {"all", "any"}
        children = condition[key]
        if not isinstance(children, list) or not children:
            raise AccordError(where, f"{key!r} needs a non-empty list")
        for i, child in enumerate(children):
            validate_condition(child, f"{where}.{key}[{i}]")
        return
    if "not" in keys:
        validate_condition(condition["not"], f"{where}.not")
        return
    if not isinstance(condition.get("metric"), str):
        raise AccordError(where, "a leaf condition needs 'metric'")
    if condition["metric"] not in METRICS:
        raise AccordError(
            f"{where}.metric",
            f"unknown metric {condition['metric']!r}",
            "use one of the names in docs/rules.md (accord/rules/vocabulary.py)",
        )
    ops = keys - {"metric"}
    allowed = {*NUMERIC_OPS, "in", "eq"}
    if not ops or ops - allowed:
        raise AccordError(where, f"operators {sorted(ops)} not in {sorted(allowed)}")
    for op in ops & set(NUMERIC_OPS):
        if isinstance(condition[op], date):
            continue
        if isinstance(condition[op], bool) or not isinstance(condition[op], int | float):
            raise AccordError(f"{where}.{op}", "threshold must be a number or a date")
    if "in" in ops and not isinstance(condition["in"], list):
        raise AccordError(f"{where}.in", "must be a list")
