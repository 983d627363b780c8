"""What a recorded inspection means for the accountancy: the findings it raises in turn.

A verifier's finding is about one declaration; the agreement cares about what follows from
it. Three consequences are drawn, each only from an ``inconsistent`` verdict (an
``inconclusive`` one never becomes an accusation elsewhere):

* a **location** check placing a facility's responders outside its declared country puts
  the chips the book holds there in question: a finding on the facility's balance;
* a **provenance** check finding that a release derives from another declared model, which
  it did not declare as its parent, flags the release under every rule set whose clauses
  cover the parent's weights (the release inherits what the parent is subject to);
* a **telemetry** check finding a customer's run above the threshold with no matching
  training-run declaration becomes a finding against the provider when its own compute
  reports do not list that run (its export contradicts its reports), and a finding naming
  the customer that the provider's records attribute the accounts to. That attribution is
  one party's word about another, so the customer's finding is ``inconclusive``: a question
  the customer must answer, never a violation on the provider's say-so.

Each consequence cites the inspection's finding and the declarations it rests on, and has a
key derived from the inspection's, so drawing them again (after a restart, or a second
recording pass) files nothing twice.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from accord.compute import Interval
from accord.model.declaration import PARTY_PATTERN
from accord.model.finding import Finding, Message, Severity, Verdict
from accord.registry.accountancy import balance_at
from accord.registry.book import Book
from accord.registry.findings import AGREEMENT, NewFinding
from accord.registry.messages import message
from accord.registry.verifiers import Case

CONTROL_KINDS = frozenset({"threshold", "license"})
"""Rule clauses that bind a model (not exceptions, notes or classifications)."""


@dataclass(frozen=True)
class _Source:
    """The recorded inspection finding a consequence rests on."""

    case: Case
    finding: Finding
    leaf: int

    def draw(
        self,
        suffix: str,
        subject: str,
        verifier: str,
        statistic: dict[str, Any],
        msg: Message,
        verdict: Verdict = Verdict.INCONSISTENT,
    ) -> NewFinding:
        case = self.case
        refs: tuple[int, ...] = (self.leaf, case.declaration)
        refs += (case.reference,) if case.reference is not None else ()
        return NewFinding.of(
            f"inspection:{case.inspection_id}:{suffix}",
            refs,
            subject=subject,
            verifier=verifier,
            verdict=verdict,
            severity=Severity.HIGH,
            statistic={**statistic, "inspection_finding": self.leaf},
            p_value=self.finding.p_value,
            error_bound=self.finding.error_bound,
            message=msg,
        )


def consequences(book: Book, case: Case, finding: Finding, leaf: int) -> list[NewFinding]:
    """The findings an inspection's recorded finding (log entry ``leaf``) raises."""
    if finding.verdict != Verdict.INCONSISTENT:
        return []
    src = _Source(case, finding, leaf)
    if case.verifier == "location":
        return _location(book, src)
    if case.verifier == "provenance":
        return _provenance(src)
    if case.verifier == "telemetry":
        return _telemetry(src)
    return []


def _location(book: Book, src: _Source) -> list[NewFinding]:
    case = src.case
    fid, country = str(case.body.get("facility_id")), str(case.body.get("country"))
    when = book.today or dt.date.today()
    held = balance_at(book, fid, when) if fid in book.facilities else {}
    total = sum(held.values())
    region = src.finding.statistic.get("region")
    stat = {"facility_id": fid, "party": case.party, "country": country, "as_of": str(when),
            "book": held, "book_total": total, "region": region}  # fmt: skip
    msg = message("registry.inspection.location_balance", count=total, facility=fid,
                  country=country, leaf=str(src.leaf))  # fmt: skip
    return [src.draw("balance", f"facility:{fid}", "registry.accountancy.location", stat, msg)]


def _controls(parent: Mapping[str, Any], on: dt.date) -> list[dict[str, str]]:
    """The clauses that bind the parent model's weights on ``on``, from its declaration."""
    from accord.rules import ModelItem, classify, get_rule_set

    compute = parent.get("training_compute_flop")
    if not isinstance(compute, int | float) or compute <= 0:
        return []
    item = ModelItem(
        name=str(parent.get("model_name")),
        training_compute=Interval.point(float(compute)),
        open_weights=bool(parent.get("open_weights")),
    )
    verdict = classify(item, rules_at=on, extra_rules=[get_rule_set(AGREEMENT)])
    return [
        {"rule_set": c.rule_set, "clause": c.clause, "citation": c.citation}
        for c in verdict.applying()
        if c.outcome == "true"
        and c.kind in CONTROL_KINDS
        and c.binding
        and not get_rule_set(c.rule_set).guidance  # indicative lines bind nobody
    ]


def _provenance(src: _Source) -> list[NewFinding]:
    case = src.case
    parent = case.reference_body or {}
    try:
        on = dt.date.fromisoformat(str(case.body.get("date")))
    except ValueError:
        return []
    controls = _controls(parent, on)
    if not controls:
        return []
    model, parent_name = str(case.body.get("model_name")), str(parent.get("model_name"))
    origin = case.body.get("origin")
    claim = (
        "trained from scratch"
        if origin == "scratch"
        else f"derived from {case.body.get('parent_model')}"
        if origin == "derived"
        else "without an origin"
    )
    stat = {
        "model": model,
        "party": case.party,
        "declared_origin": claim,
        "parent_model": parent_name,
        "parent_declaration": case.reference,
        "parent_training_compute_flop": parent.get("training_compute_flop"),
        "rule_sets": sorted({c["rule_set"] for c in controls}),
        "clauses": controls,
        "p_value": src.finding.p_value,
    }
    msg = message(
        "registry.inspection.derived_controls",
        model=model,
        party=case.party,
        parent=parent_name,
        leaf=str(src.leaf),
        clauses=", ".join(f"{c['rule_set']} {c['clause']}" for c in controls),
        claim=claim,
    )
    return [src.draw("controls", f"model:{case.party}:{model}", "registry.rules.provenance",
                     stat, msg)]  # fmt: skip


def _telemetry(src: _Source) -> list[NewFinding]:
    case, leaf = src.case, str(src.leaf)
    fid = str(case.body.get("facility_id"))
    out: list[NewFinding] = []
    unreported: list[dict[str, Any]] = []
    for entity in src.finding.statistic.get("entities") or []:
        if not isinstance(entity, Mapping) or entity.get("verdict") != Verdict.INCONSISTENT:
            continue
        stat = entity.get("statistic") or {}
        accounts = sorted(str(a) for a in stat.get("accounts") or [])
        flop = float(stat.get("flop_lo") or 0.0)
        named = [str(c) for c in entity.get("customers") or []]
        run = {
            "facility_id": fid,
            "provider": case.party,
            "entity": entity.get("subject"),
            "accounts": accounts,
            "flop_lo": flop,
            "flop_hi": stat.get("flop_hi"),
            "first": stat.get("first"),
            "last": stat.get("last"),
            "reported_by_provider": bool(entity.get("reported_by_provider")),
            # a name that cannot be a party id names no party: kept as the provider wrote it
            "unnamed_customers": [c[:64] for c in named if not re.match(PARTY_PATTERN, c)],
        }
        for customer in (c for c in named if re.match(PARTY_PATTERN, c)):
            msg = message("registry.inspection.undeclared_run", customer=customer,
                          flop=f"{flop:.3g}", facility=fid, provider=case.party,
                          accounts=len(accounts), leaf=leaf)  # fmt: skip
            # who ran it rests on the provider's customer records alone: one party's word
            # never makes another party's confident violation
            out.append(src.draw(
                f"customer:{customer}:{accounts[0] if accounts else ''}", f"party:{customer}",
                "registry.accountancy.telemetry",
                {**run, "customer": customer, "attributed_by": case.party}, msg,
                verdict=Verdict.INCONCLUSIVE,
            ))  # fmt: skip
        if not entity.get("reported_by_provider"):
            unreported.append(run)
    if unreported:
        largest = max(float(u["flop_lo"]) for u in unreported)
        msg = message("registry.inspection.unreported_run", provider=case.party, facility=fid,
                      runs=len(unreported), flop=f"{largest:.3g}", leaf=leaf)  # fmt: skip
        stat = {"facility_id": fid, "provider": case.party, "runs": unreported}
        out.append(src.draw("provider", f"party:{case.party}", "registry.accountancy.telemetry",
                            stat, msg))  # fmt: skip
    return out
