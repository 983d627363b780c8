"""Injection evaluation: hide split runs in a trace, scan, count what was found.

Recall is over injected *undeclared* runs above the threshold: a run counts as found when
a flagged entity holds the accounts that carried at least half of its compute. Precision
is over flagged entities: one is a true positive when it contains an undeclared injected
run, a false positive otherwise (background organisations, declared runs, runs below the
threshold). Both are reported twice: for every flag (referrals for review) and for
``inconsistent`` verdicts only (the ones resting on documentary links alone).

The traces used here are SYNTHETIC (see ``synthetic.py``): they carry the customer
identifiers (organisation, card, address, region) that public traces lack. The evaluation
on a real trace, with its own injections, is ``trace_eval.py``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from accord.model import Verdict
from accord.verify.telemetry.ingest.base import Parsed
from accord.verify.telemetry.registry import MemoryDeclarations
from accord.verify.telemetry.scan import ScanConfig, ScanResult, scan
from accord.verify.telemetry.schema import to_table
from accord.verify.telemetry.synthetic import (
    HELIOS_LIKE,
    Injected,
    TraceProfile,
    background,
    inject,
)


@dataclass
class Scores:
    flagged: int = 0
    true_positive: int = 0
    false_positive: int = 0
    found: int = 0
    positives: int = 0

    @property
    def precision(self) -> float | None:
        return self.true_positive / self.flagged if self.flagged else None

    @property
    def recall(self) -> float | None:
        return self.found / self.positives if self.positives else None


@dataclass
class EvalResult:
    synthetic: bool
    trace: str
    jobs: int
    threshold: float
    any_flag: Scores
    inconsistent_only: Scores
    recall_by_evidence: dict[str, tuple[int, int]]
    false_positive_kinds: Counter[str]
    scan: ScanResult
    injected: list[Injected] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        def pack(s: Scores) -> dict[str, Any]:
            return {
                "flagged": s.flagged,
                "true_positive": s.true_positive,
                "false_positive": s.false_positive,
                "found": s.found,
                "positives": s.positives,
                "precision": s.precision,
                "recall": s.recall,
            }

        return {
            "synthetic": self.synthetic,
            "trace": self.trace,
            "jobs": self.jobs,
            "threshold": self.threshold,
            "any_flag": pack(self.any_flag),
            "inconsistent_only": pack(self.inconsistent_only),
            "recall_by_evidence": {
                k: {"found": f, "of": n} for k, (f, n) in self.recall_by_evidence.items()
            },
            "false_positive_kinds": dict(self.false_positive_kinds),
            "scan_seconds": sum(self.scan.timings_s.values()),
        }


def _score(
    result: ScanResult, injected: Sequence[Injected], verdicts: set[Verdict]
) -> tuple[Scores, dict[str, tuple[int, int]], Counter[str]]:
    owner: dict[str, Injected] = {a: inj for inj in injected for a in inj.accounts}
    share: dict[tuple[str, str], float] = defaultdict(float)
    for inj in injected:
        total = sum((int(j["end"]) - int(j["start"])) for j in inj.jobs)  # type: ignore[call-overload]
        for j in inj.jobs:
            share[(inj.id, str(j["account"]))] += (int(j["end"]) - int(j["start"])) / total  # type: ignore[call-overload]
    scores = Scores(positives=sum(1 for i in injected if i.kind == "undeclared"))
    found: set[str] = set()
    fp_kinds: Counter[str] = Counter()
    for f in result.findings:
        if f.verdict not in verdicts:
            continue
        scores.flagged += 1
        members = list(f.statistic["accounts"])
        actors = {owner[m].id: owner[m] for m in members if m in owner}
        undeclared = [a for a in actors.values() if a.kind == "undeclared"]
        if undeclared:
            scores.true_positive += 1
            for a in undeclared:
                if sum(share[(a.id, m)] for m in members) >= 0.5:
                    found.add(a.id)
        else:
            scores.false_positive += 1
            kinds = {a.kind for a in actors.values()} or {"background"}
            for k in kinds:
                fp_kinds[k] += 1
    scores.found = len(found)
    by_evidence: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for inj in injected:
        if inj.kind != "undeclared":
            continue
        key = "+".join(inj.evidence) + (" (evasive gaps)" if inj.evasive_gaps else "")
        by_evidence[key][1] += 1
        if inj.id in found:
            by_evidence[key][0] += 1
    return scores, {k: (v[0], v[1]) for k, v in sorted(by_evidence.items())}, fp_kinds


def evaluate_on(
    trace: pa.Table,
    injected: Sequence[Injected],
    config: ScanConfig,
    *,
    label: str,
    synthetic: bool,
) -> EvalResult:
    """Add the injected jobs to ``trace``, scan, and score against the ground truth."""
    rows = [j for inj in injected for j in inj.jobs]
    combined = pa.concat_tables([trace, to_table(rows)])
    declarations = MemoryDeclarations(i.declaration for i in injected if i.declaration)
    result = scan(Parsed(combined, combined.num_rows), declarations, config)
    any_scores, by_ev, fp_kinds = _score(
        result, injected, {Verdict.INCONSISTENT, Verdict.INCONCLUSIVE}
    )
    strict, _, _ = _score(result, injected, {Verdict.INCONSISTENT})
    return EvalResult(
        synthetic=synthetic,
        trace=label,
        jobs=combined.num_rows,
        threshold=config.threshold,
        any_flag=any_scores,
        inconsistent_only=strict,
        recall_by_evidence=by_ev,
        false_positive_kinds=fp_kinds,
        scan=result,
        injected=list(injected),
    )


def synthetic_evaluation(
    *,
    seed: int = 0,
    days: float = 30,
    undeclared: int = 20,
    declared: int = 5,
    subthreshold: int = 10,
    threshold: float = 1e22,
    profile: TraceProfile = HELIOS_LIKE,
    config: ScanConfig | None = None,
    n_jobs: int | None = None,
) -> EvalResult:
    """The whole experiment on a SYNTHETIC trace (see module docstring)."""
    cfg = config or ScanConfig(threshold=threshold)
    cfg.threshold = threshold
    table, _pop = background(profile, days=days, seed=seed, n_jobs=n_jobs)
    rng = np.random.default_rng(seed + 10_000)
    injected: list[Injected] = []
    number = 0
    for kind, count in (
        ("undeclared", undeclared),
        ("declared", declared),
        ("subthreshold", subthreshold),
    ):
        for _ in range(count):
            injected.append(
                inject(kind, number, threshold=threshold, profile=profile, days=days, rng=rng)
            )
            number += 1
    return evaluate_on(table, injected, cfg, label=profile.name, synthetic=True)
