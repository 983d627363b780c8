"""The ingest report: every record is accounted for, accepted or rejected with a reason.

Compute oversight fails quietly if odd records vanish: a run whose clocks were reversed,
or whose chip type is unknown, is exactly what an evader would like dropped. So each
stage counts what it refused and why, with a few examples to look at.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

# Reasons, with the sentence a reader sees.
REASONS: dict[str, str] = {
    "unparseable": "line could not be parsed in the declared format",
    "job_step": "Slurm job step (its allocation is counted on the parent job line)",
    "no_accelerator": "job allocated no accelerators (CPU-only); no accelerator compute",
    "never_started": "job never started (pending or cancelled before start)",
    "missing_account": "no account / user field",
    "missing_job_id": "no job id",
    "missing_chip": "no accelerator type recorded",
    "missing_chip_count": "no accelerator count recorded",
    "missing_start": "no start time",
    "missing_end": "no end time (job still running or record truncated)",
    "bad_value": "a field could not be read as its type",
    "nonpositive_chip_count": "accelerator count is zero or negative",
    "reversed_clock": "end time is before start time",
    "overlapping_duplicate": "same job id recorded again over an overlapping time span",
    "unknown_chip": "accelerator type not in the catalog, so no peak FLOP/s",
}
# Accepted-but-odd conditions: kept and counted.
WARNINGS: dict[str, str] = {
    "zero_duration": "start equals end (contributes no compute)",
    "missing_country": "no country; geography-based checks skip it",
    "missing_job_name": "no job name; run assembly falls back to account and shape only",
}


class ReasonCount(BaseModel):
    reason: str
    meaning: str
    count: int
    examples: list[str] = Field(default_factory=list)
    chip_hours: float | None = None


class IngestReport(BaseModel):
    """Counts by stage. ``read == accepted + sum(rejected)`` always holds.

    ``lines`` counts what the source files held (lines, JSON objects, trace attempts);
    ``read`` counts records in the schema. They differ when one line yields several
    records (a Slurm job holding two GPU types becomes one record per type).
    """

    lines: int = 0
    read: int = 0
    accepted: int = 0
    accepted_chip_hours: float = 0.0
    rejected: list[ReasonCount] = Field(default_factory=list)
    warnings: list[ReasonCount] = Field(default_factory=list)
    unknown_chip_labels: dict[str, int] = Field(default_factory=dict)
    assumptions: list[str] = Field(default_factory=list)

    @property
    def rejected_total(self) -> int:
        return sum(r.count for r in self.rejected)

    def add_rejected(
        self, reason: str, count: int, examples: list[str] | None = None, **extra: float
    ) -> None:
        if count <= 0:
            return
        for item in self.rejected:
            if item.reason == reason:
                item.count += count
                item.examples = (item.examples + (examples or []))[:3]
                return
        self.rejected.append(
            ReasonCount(
                reason=reason,
                meaning=REASONS.get(reason, reason),
                count=count,
                examples=(examples or [])[:3],
                chip_hours=extra.get("chip_hours"),
            )
        )

    def add_warning(self, reason: str, count: int) -> None:
        if count > 0:
            self.warnings.append(
                ReasonCount(reason=reason, meaning=WARNINGS.get(reason, reason), count=count)
            )

    def unassessed_share(self) -> float:
        """Share of chip-hours (where known) in records refused after parsing."""
        refused = sum(r.chip_hours or 0.0 for r in self.rejected)
        total = refused + self.accepted_chip_hours
        return refused / total if total > 0 else 0.0

    def balanced(self) -> bool:
        return self.read == self.accepted + self.rejected_total
