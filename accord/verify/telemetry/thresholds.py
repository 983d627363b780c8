"""Training-compute thresholds taken from the rule sets, so the scan cites its clause.

Rules are data (accord/rules/data/rulesets); the scan's threshold should be one of them,
named, rather than a number typed into code. ``--threshold`` accepts either a number or
a rule-set id, whose first ``training_compute`` threshold clause is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from accord.errors import AccordError
from accord.rules import get_rule_set

# California SB 53 "frontier model": more than 10^26 operations (the same figure as
# EO 14110 §4.2(b)(i), on which the 2024 IaaS proposed rule relied).
DEFAULT_RULE_SET = "ca-sb53-2025"


def _conditions(when: Any) -> Iterator[dict[str, Any]]:
    if isinstance(when, dict):
        if when.get("metric") == "training_compute":
            yield when
        for value in when.values():
            yield from _conditions(value)
    elif isinstance(when, list):
        for item in when:
            yield from _conditions(item)


def rule_threshold(rule_set_id: str = DEFAULT_RULE_SET) -> tuple[float, str]:
    """(FLOP, citation) of the first training-compute threshold clause of a rule set."""
    rule_set = get_rule_set(rule_set_id)
    for clause in rule_set.clauses:
        for cond in _conditions(clause.when):
            value = cond.get("gt", cond.get("ge"))
            if isinstance(value, int | float):
                return float(value), f"{rule_set.id} {clause.id} ({clause.citation})"
    raise AccordError(
        "--threshold",
        f"rule set {rule_set_id!r} has no training-compute threshold",
        "give a number, or a rule set such as ca-sb53-2025 or eu-ai-act-2024",
    )


def parse_threshold(text: str) -> tuple[float, str]:
    """A number (``1e25``) or a rule-set id (``eu-ai-act-2024``)."""
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        return rule_threshold(text.strip())
    if not value > 0 or value != value or value == float("inf"):
        raise AccordError("--threshold", f"must be a positive number, got {text}", "e.g. 1e26")
    return value, "given on the command line"
