"""Findings that one declaration raises on its own: rule verdicts and compute checks.

Each is a :class:`accord.model.Finding` with a stable ``key`` (so re-running never files
the same finding twice) and the leaf indexes it rests on. Verdicts follow the Finding
contract: ``inconsistent`` only where the numbers make it certain (a party's own figures
past a cap, compute beyond what the declared chips can physically do), with error bound
0; where a question is warranted but no calibrated error rate exists, ``inconclusive``.

Explanations come from :mod:`accord.registry.messages`: the finding records the message id
and values beside the English sentence, so the dashboard can show it in Chinese.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Required, TypedDict, Unpack

from accord.compute import Interval, from_architecture, from_hardware
from accord.errors import AccordError
from accord.model.declaration import (
    FINDING_TYPE,
    Body,
    ClusterBody,
    ModelReleaseBody,
    TrainingRunBody,
    TransferBody,
    canonical_json,
)
from accord.model.finding import Finding, Message, Severity, Verdict
from accord.registry.book import Book
from accord.registry.messages import english, message
from accord.rules import ClusterItem, ModelItem, ShipmentItem, classify, get_rule_set
from accord.rules.items import ChipCount
from accord.rules.verdict import Verdict as RuleVerdict

AGREEMENT = "agreement-illustrative-v1"
PROHIBITING_CLAUSES = {"A-3 training cap"}


class FindingFields(TypedDict, total=False):
    """The keyword arguments of :class:`Finding`, so that ``NewFinding.of`` stays type-checked."""

    subject: Required[str]
    verifier: Required[str]
    verdict: Required[Verdict]
    severity: Severity
    statistic: dict[str, Any]
    p_value: float | None
    error_bound: float | None
    evidence: dict[str, str]
    explanation: str
    message: Message | None


@dataclass(frozen=True)
class NewFinding:
    key: str
    finding: Finding
    refs: tuple[int, ...]

    @classmethod
    def of(cls, key: str, refs: tuple[int, ...], **fields: Unpack[FindingFields]) -> NewFinding:
        """Key and leaf refs first, then the Finding's fields flat, without a nested call.

        With a ``message`` and no ``explanation``, the explanation is the message's English.
        """
        msg = fields.get("message")
        if msg is not None and "explanation" not in fields:
            fields["explanation"] = english(msg)
        return cls(key, Finding(**fields), refs)

    def leaf(self) -> bytes:
        return canonical_json(
            {
                "type": FINDING_TYPE,
                "key": self.key,
                "refs": list(self.refs),
                "finding": self.finding.model_dump(mode="json"),
            },
            "finding",
        )


def _clauses(verdict: RuleVerdict) -> list[dict[str, Any]]:
    return [
        {"rule_set": c.rule_set, "clause": c.clause, "citation": c.citation, "outcome": c.outcome}
        for c in verdict.applying()
    ]


def _crossed(verdict: RuleVerdict) -> list[str]:
    return [c.clause for c in verdict.applying() if c.outcome == "true"]


def declaration_findings(book: Book, leaf: int, party: str, body: Body) -> list[NewFinding]:
    """Findings for one accepted declaration (``book`` already holds it)."""
    try:
        if isinstance(body, TransferBody) and body.role == "shipment":
            return _transfer(leaf, body)
        if isinstance(body, ClusterBody):
            return _cluster(book, leaf, party, body)
        if isinstance(body, TrainingRunBody) and body.compute_flop is not None:
            return _training(book, leaf, party, body)
        if isinstance(body, ModelReleaseBody):
            return _release(leaf, party, body)
    except AccordError as err:
        return [rules_error(leaf, body, err.message)]
    return []


def rules_error(leaf: int, body: Body, problem: str) -> NewFinding:
    """The rules could not be applied to this declaration: said, never guessed."""
    return NewFinding.of(
        f"rules-error:{leaf}",
        (leaf,),
        subject=f"leaf:{leaf}",
        verifier="registry.rules",
        verdict=Verdict.INCONCLUSIVE,
        severity=Severity.LOW,
        message=message("registry.rules.unclassified", item=type(body).__name__, problem=problem),
    )


def _transfer(leaf: int, body: TransferBody) -> list[NewFinding]:
    if body.from_country == body.to_country:
        return []
    item = ShipmentItem(
        items=[ChipCount(chip=line.chip_id, count=line.count) for line in body.chips],
        destination=body.to_country,
        end_user=body.end_user,
        end_user_hq=body.end_user_hq,
        date=body.date,
    )
    verdict = classify(item)
    stats = {"status": verdict.status, "clauses": _clauses(verdict), "rules_on": str(body.date)}
    if verdict.status == "license_required" and body.license_ref:
        outcome, severity, bound = Verdict.CONSISTENT, Severity.INFO, 0.0
        text = message(
            "registry.transfer.licensed", headline=verdict.headline, licence=body.license_ref
        )
    elif verdict.status == "license_required":
        outcome, severity, bound = Verdict.INCONCLUSIVE, Severity.HIGH, None
        text = message("registry.transfer.unlicensed", headline=verdict.headline)
    elif verdict.status == "undetermined":
        outcome, severity, bound = Verdict.INCONCLUSIVE, Severity.LOW, None
        stats["unknowns"] = verdict.unknowns
        text = message("registry.transfer.undetermined", headline=verdict.headline)
    else:
        return []
    return [
        NewFinding.of(
            f"license:{body.transfer_id}:{body.from_facility}:{body.to_facility}",
            (leaf,),
            subject=f"transfer:{body.transfer_id}",
            verifier="registry.rules.transfer",
            verdict=outcome,
            severity=severity,
            statistic=stats,
            error_bound=bound,
            message=text,
        )
    ]


def _cluster(book: Book, leaf: int, party: str, body: ClusterBody) -> list[NewFinding]:
    facility = book.facilities[body.facility_id]
    item = ClusterItem(
        name=body.cluster_id,
        country=facility.country,
        chips=[ChipCount(chip=line.chip_id, count=line.count) for line in body.chips],
    )
    verdict = classify(item, rules_at=body.as_of, extra_rules=[get_rule_set(AGREEMENT)])
    return [
        NewFinding.of(
            f"cluster:{party}:{body.cluster_id}:{body.as_of}",
            (leaf,),
            subject=f"cluster:{body.cluster_id}",
            verifier="registry.rules.cluster",
            verdict=Verdict.CONSISTENT,
            severity=Severity.INFO,
            statistic={
                "status": verdict.status,
                "classes": verdict.classes,
                "crossed": _crossed(verdict),
                "clauses": _clauses(verdict),
            },
            error_bound=0.0,
            message=message("registry.cluster.declared", headline=verdict.headline),
        )
    ]


def _training(book: Book, leaf: int, party: str, body: TrainingRunBody) -> list[NewFinding]:
    compute = body.compute_flop
    assert compute is not None
    run = book.runs[(party, body.run_id)]
    out: list[NewFinding] = []
    subject = f"run:{body.run_id}"
    if body.chip_hours:
        hours = body.chip_hours / body.chip_count
        hw = from_hardware(body.chip, body.chip_count, hours)
        # Every chip at its fastest dense peak (FP8 where published): the only figure that
        # proves over-declaration; the BF16 peak would accuse an honest FP8 run.
        ceiling = hw.reportable.hi if hw.reportable is not None else hw.flop.hi / 0.5
        stats: dict[str, Any] = {
            "declared_flop": compute,
            "hardware_interval": [hw.flop.lo, hw.flop.hi],
            "physical_ceiling_flop": ceiling,
            "derivation": hw.derivation,
        }
        if compute > ceiling:
            out.append(
                NewFinding.of(
                    f"compute-ceiling:{party}:{body.run_id}:{leaf}",
                    (run.reports[0][4], leaf),
                    subject=subject,
                    verifier="registry.compute",
                    verdict=Verdict.INCONSISTENT,
                    severity=Severity.HIGH,
                    statistic=stats,
                    error_bound=0.0,
                    message=message("registry.compute.ceiling"),
                )
            )
        elif body.phase == "completion" and compute < hw.flop.lo:
            out.append(
                NewFinding.of(
                    f"compute-low:{party}:{body.run_id}",
                    (leaf,),
                    subject=subject,
                    verifier="registry.compute",
                    verdict=Verdict.INCONCLUSIVE,
                    severity=Severity.MEDIUM,
                    statistic=stats,
                    message=message("registry.compute.low"),
                )
            )
    if body.phase == "completion" and body.params and body.tokens:
        arch = from_architecture(body.params, body.tokens, active_params=body.active_params)
        if not arch.flop.widen(1.5).contains(compute):
            out.append(
                NewFinding.of(
                    f"compute-arch:{party}:{body.run_id}",
                    (leaf,),
                    subject=subject,
                    verifier="registry.compute",
                    verdict=Verdict.INCONCLUSIVE,
                    severity=Severity.MEDIUM,
                    statistic={
                        "declared_flop": compute,
                        "architecture_interval": [arch.flop.lo, arch.flop.hi],
                        "derivation": arch.derivation,
                    },
                    message=message("registry.compute.architecture"),
                )
            )
    verdict = classify(
        ModelItem(name=body.run_id, training_compute=Interval.point(compute)),
        rules_at=[get_rule_set(AGREEMENT)],
    )
    for clause in _crossed(verdict):
        prohibited = clause in PROHIBITING_CLAUSES
        out.append(
            NewFinding.of(
                f"cap:{party}:{body.run_id}:{clause}",
                (leaf,),
                subject=subject,
                verifier="registry.rules.agreement",
                verdict=Verdict.INCONSISTENT if prohibited else Verdict.CONSISTENT,
                severity=Severity.CRITICAL if prohibited else Severity.INFO,
                statistic={
                    "declared_flop": compute,
                    "party": party,
                    "clause": clause,
                    "clauses": _clauses(verdict),
                },
                error_bound=0.0,
                message=message(
                    "registry.cap.prohibited" if prohibited else "registry.cap.declared",
                    party=party,
                    clause=clause,
                ),
            )
        )
    return out


def _release(leaf: int, party: str, body: ModelReleaseBody) -> list[NewFinding]:
    item = ModelItem(
        name=body.model_name,
        training_compute=Interval.point(body.training_compute_flop),
        open_weights=body.open_weights,
    )
    verdict = classify(item, rules_at=body.date, extra_rules=[get_rule_set(AGREEMENT)])
    crossed = _crossed(verdict)
    prohibited = bool(PROHIBITING_CLAUSES & set(crossed)) and not body.inspection_ref
    return [
        NewFinding.of(
            f"release:{party}:{body.model_name}",
            (leaf,),
            subject=f"model:{body.model_name}",
            verifier="registry.rules.model",
            verdict=Verdict.INCONSISTENT if prohibited else Verdict.CONSISTENT,
            severity=Severity.CRITICAL if prohibited else Severity.INFO,
            statistic={
                "status": verdict.status,
                "crossed": crossed,
                "clauses": _clauses(verdict),
            },
            error_bound=0.0,
            message=message(
                "registry.release.uninspected" if prohibited else "registry.release.checked",
                headline=verdict.headline,
            ),
        )
    ]
