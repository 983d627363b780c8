"""What :func:`accord.rules.classify` returns: a decision and everything it rests on."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from accord.rules.logic import Test, Tri
from accord.rules.metrics import Derivation


class RuleSetRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    title: str
    citation: str
    url: str
    effective: date
    compliance: date | None = None


class ClauseOutcome(BaseModel):
    """One clause as evaluated: does it apply, why, and is it binding yet."""

    model_config = ConfigDict(frozen=True)

    rule_set: str
    clause: str
    kind: str
    title: str
    citation: str
    outcome: Tri
    binding: bool = True
    effect: str = ""
    detail: str = ""
    lifts: list[str] = Field(default_factory=list)
    tests: list[Test] = Field(default_factory=list)


class Verdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    item_kind: str
    subject: str
    on: date | None
    status: str = Field(
        description="controlled | not_controlled | license_required | no_license_required | "
        "thresholds_crossed | below_thresholds | undetermined"
    )
    headline: str
    classes: list[str] = Field(default_factory=list)
    possible_classes: list[str] = Field(default_factory=list)
    license_required: Tri | None = None
    rule_sets: list[RuleSetRef]
    numbers: list[Derivation] = Field(default_factory=list)
    unknowns: list[str] = Field(default_factory=list)
    clauses: list[ClauseOutcome] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    parts: list[Verdict] = Field(
        default_factory=list, description="Per-chip verdicts inside a server, cluster or shipment."
    )

    def applying(self) -> list[ClauseOutcome]:
        return [c for c in self.clauses if c.outcome is not Tri.FALSE]

    def summary(self) -> dict[str, Any]:
        return {"subject": self.subject, "status": self.status, "headline": self.headline}
