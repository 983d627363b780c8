"""The shape of a rule-set file: versioned legal rules as data.

Each file is one version of one instrument (an export-control rule, a statute, an
agreement). Versions chain with ``inherits``: a new version states only what it adds,
replaces (same clause id) or removes, as the Federal Register amends the EAR.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from accord.rules.logic import validate_condition

ItemKind = Literal["chip", "server", "cluster", "shipment", "model"]
ClauseKind = Literal["classification", "license", "exception", "threshold", "quota", "note"]


class Quota(BaseModel):
    """A numeric allowance such as a per-country TPP cap (reported as a share used)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str
    limit: float = Field(gt=0)
    period: str
    scope: str


class ShareCap(BaseModel):
    """A cap on one flow as a share of another (H200: China + Macau <= 50 % of US shipments).

    One shipment says nothing about the totals, so the evaluator only reports the cap; a
    registry that holds declared transfers can check it (docs/rules.md).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    share: float = Field(gt=0, le=1)
    capped: str = Field(description="What is capped, in words.")
    capped_destinations: list[str] = Field(min_length=1)
    relative_to: str = Field(description="What the share is of, in words.")
    relative_to_destinations: list[str] = Field(min_length=1)
    same_product: bool = Field(description="Counted per product (chip model), not in total.")


class Clause(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    kind: ClauseKind
    title: str
    citation: str
    applies_to: list[ItemKind] = Field(min_length=1)
    when: dict[str, Any] | None = None
    effect: str = ""
    group: str | None = Field(
        default=None,
        description="Classification clauses of one group are exclusive: the first that holds wins.",
    )
    review_policy: str | None = None
    lifts: list[str] = Field(default_factory=list)
    conditions: str | None = None
    quota: Quota | None = None
    share_cap: ShareCap | None = None
    binding_from: date | None = None
    url: str | None = None

    @model_validator(mode="after")
    def _check(self) -> Clause:
        if self.when is not None:
            validate_condition(self.when, f"clause {self.id}.when")
        if self.kind == "exception" and not self.lifts:
            raise ValueError(f"exception clause {self.id} must name the clauses it lifts")
        if self.kind == "quota" and self.quota is None:
            raise ValueError(f"quota clause {self.id} needs a quota")
        if self.kind in ("classification", "license", "exception", "threshold") and not self.when:
            raise ValueError(f"{self.kind} clause {self.id} needs a 'when' condition")
        return self


class RuleSet(BaseModel):
    """One version of one instrument, with the dates that decide when it governs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    family: str
    title: str
    jurisdiction: str
    authority: str
    citation: str
    url: str
    published: date
    effective: date
    compliance: date | None = None
    ends: date | None = None
    ends_reason: str | None = None
    retrieved: date
    inherits: str | None = None
    remove: list[str] = Field(default_factory=list)
    country_groups: list[str] = Field(default_factory=list)
    default: bool = Field(
        default=True, description="Included when rules are chosen by date (agreements: opt-in)."
    )
    illustrative: bool = False
    guidance: bool = Field(
        default=False,
        description="Non-binding guidance (e.g. Commission guidelines): its lines are reported "
        "as indicative and never counted as obligations crossed.",
    )
    summary: str = ""
    notes: list[str] = Field(
        default_factory=list,
        description="Caveats a verdict's reader needs (copied into every verdict using this set).",
    )
    changelog: list[str] = Field(
        default_factory=list,
        description="Corrections to this data file, dated; shown by `accord rules show`, "
        "never in verdicts (they are about the file, not the law).",
    )
    clauses: list[Clause] = Field(default_factory=list)

    @model_validator(mode="after")
    def _dates(self) -> RuleSet:
        if self.effective < self.published.replace(year=self.published.year - 1):
            raise ValueError("effective date implausibly far before publication")
        if self.ends is not None and self.ends <= self.effective:
            raise ValueError("ends must be after effective")
        ids = [c.id for c in self.clauses]
        if len(ids) != len(set(ids)):
            raise ValueError(f"duplicate clause ids in {self.id}")
        return self

    def in_force(self, on: date) -> bool:
        return self.effective <= on and (self.ends is None or on < self.ends)


class GroupSet(BaseModel):
    """A dated snapshot of named country groups (EAR Supplement No. 1 to part 740, tiers)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    title: str
    source: str
    url: str
    as_of: date
    groups: dict[str, list[str]]
    notes: list[str] = Field(default_factory=list)
