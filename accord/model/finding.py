"""The Finding: what every verifier returns.

A verifier never accuses without a calibrated error rate, so a Finding carries the
statistic, its p-value or error bound, and digests of the evidence it rests on, so that the
inspector and the inspected party can recompute the same answer.

``explanation`` is the English sentence a person reads; ``message`` optionally names the
same sentence by a stable id and its parameters, so that a reader in another language can
show it translated while the English text stays the one that was signed.
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


MessageParam = str | int | float


class Message(BaseModel):
    """The explanation as a catalogue entry: a stable id and the values it is formatted with.

    Parameters are plain JSON scalars (dates as ISO strings, countries as ISO 3166-1 codes)
    so the record stays self-contained; how each is shown in a language is the renderer's
    business, not the record's.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(
        pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$",
        max_length=100,
        description="Dotted message id, e.g. 'registry.balance.unaccounted'.",
    )
    params: dict[str, MessageParam] = Field(
        default_factory=dict, description="Values for the message's named placeholders."
    )


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
    message: Message | None = Field(
        default=None,
        exclude_if=lambda m: m is None,
        description="The explanation as a message id and parameters, for translation. "
        "Omitted when absent, so findings without one serialize as before.",
    )
