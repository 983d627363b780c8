"""The Finding: what every verifier returns.

A verifier never accuses without a calibrated error rate, so a Finding carries the
statistic, its p-value or error bound, and digests of the evidence it rests on, so that the
inspector and the inspected party can recompute the same answer.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Verdict(StrEnum):
    CONSISTENT = "consistent"
    INCONSISTENT = "inconsistent"
    INCONCLUSIVE = "inconclusive"


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Finding(BaseModel):
    """Outcome of checking one declaration against independent evidence."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: str = Field(description="What was checked: a declaration id, model, chip or account.")
    verifier: str = Field(description="Dotted name of the verifier, e.g. 'verify.training'.")
    verdict: Verdict
    severity: Severity = Severity.INFO
    statistic: dict[str, Any] = Field(default_factory=dict)
    p_value: float | None = Field(default=None, ge=0.0, le=1.0)
    error_bound: float | None = Field(
        default=None, description="False-accusation probability or error rate, when no p-value."
    )
    evidence: dict[str, str] = Field(
        default_factory=dict, description="Name -> hex SHA-256 digest of each evidence item."
    )
    explanation: str = ""
