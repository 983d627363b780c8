"""Statutory clocks for reporting safety incidents, as data (``data/incident_clocks.yaml``).

A clock applies to an incident when the deployment declared the clock's rule-set family,
the rule set was in force on the day the incident was detected, and the incident is at
least as severe as the clock requires (and, for imminent-risk clocks, the deployer said
so). A clock without a fixed period ("without undue delay") is listed but never overdue:
the registry would otherwise accuse a deployer on a deadline the law does not set.
"""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from accord.rules.library import get_rule_set

DATA = Path(__file__).parent / "data" / "incident_clocks.yaml"
SEVERITIES = ("low", "serious", "critical")


class Clock(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    rule_set: str
    family: str
    clause: str
    citation: str
    text: str
    min_severity: Literal["low", "serious", "critical"]
    imminent_risk: bool
    hours: int | None = Field(ge=1)
    authority: str
    source: str
    retrieved: dt.date
    note: str = ""

    def applies(self, families: list[str], severity: str, imminent: bool, on: dt.date) -> bool:
        if self.family not in families or (self.imminent_risk and not imminent):
            return False
        if SEVERITIES.index(severity) < SEVERITIES.index(self.min_severity):
            return False
        return get_rule_set(self.rule_set).effective <= on

    def due(self, detected: dt.datetime) -> dt.datetime | None:
        return None if self.hours is None else detected + dt.timedelta(hours=self.hours)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    retrieved: dt.date
    clocks: list[Clock]


@cache
def clocks() -> tuple[Clock, ...]:
    """Every clock, each checked to name a rule set that exists."""
    data = _File.model_validate(yaml.safe_load(DATA.read_text(encoding="utf-8")))
    for clock in data.clocks:
        get_rule_set(clock.rule_set)  # raises on an unknown id
    return tuple(data.clocks)


def applicable(
    families: list[str], severity: str, imminent: bool, detected: dt.datetime
) -> list[Clock]:
    return [c for c in clocks() if c.applies(families, severity, imminent, detected.date())]
