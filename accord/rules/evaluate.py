"""The one evaluator: ``classify(item, rules_at=...)`` for chips, servers, clusters,
shipments and models.

Rules are data; this module only walks them. Every verdict lists the clauses it rests on,
the numbers it used (with their arithmetic) and what is unknown, so that two parties who
disagree can see exactly where.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from functools import lru_cache
from typing import Any

from pydantic import TypeAdapter, ValidationError

from accord.compute.interval import Interval
from accord.errors import AccordError
from accord.hardware.catalog import Catalog, ChipSpec, default_catalog
from accord.rules.items import ChipItem, ClusterItem, Item, ModelItem, ServerItem, ShipmentItem
from accord.rules.library import RuleSelector, all_rule_sets, select
from accord.rules.logic import Classes, MetricValue, Test, Tri, evaluate
from accord.rules.metrics import (
    Derivation,
    PartyFacts,
    aggregate_metrics,
    chip_metrics,
    model_metrics,
    resolve_chips,
    shipment_place_metrics,
)
from accord.rules.schema import ItemKind, RuleSet
from accord.rules.verdict import ClauseOutcome, RuleSetRef, Verdict

_ITEM = TypeAdapter[Item](Item)


def parse_item(data: Mapping[str, Any]) -> Item:
    """Validate an item given as a mapping (from YAML, JSON or an HTTP body)."""
    try:
        return _ITEM.validate_python(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "item"
        raise AccordError(loc, first["msg"], "see docs/rules.md for the item fields") from None


def classify(
    item: Item | Mapping[str, Any],
    rules_at: RuleSelector = None,
    *,
    extra_rules: Sequence[RuleSet] = (),
    catalog: Catalog | None = None,
) -> Verdict:
    """Classify ``item`` under the rules in force on a date, or under named rule sets.

    ``rules_at`` is a date (every rule family in force that day), a rule-set id, a
    :class:`RuleSet`, or a list of those. A shipment without ``rules_at`` uses its own date.
    ``extra_rules`` adds opt-in rule sets such as an agreement's caps.
    """
    parsed: Item = parse_item(item) if isinstance(item, Mapping) else item
    cat = catalog or default_catalog()
    on = rules_at if isinstance(rules_at, date) else None
    if isinstance(parsed, ShipmentItem) and rules_at is None:
        if parsed.date is None:
            raise AccordError("date", "a shipment needs a date", "give --date YYYY-MM-DD")
        on = parsed.date
    rule_sets = select(rules_at if rules_at is not None else on, on, _families(parsed.kind))
    if on is None and isinstance(parsed, ShipmentItem):
        on = parsed.date  # named rule sets: the shipment's date still decides what binds
    skipped = [rs for rs in extra_rules if on is not None and not rs.in_force(on)]
    rule_sets = [*rule_sets, *(rs for rs in extra_rules if rs not in skipped)]
    ctx = _Context(rule_sets=rule_sets, on=on, catalog=cat)
    ctx.preamble = [
        f"{rs.id} is not in force on {on} (effective {rs.effective}); not applied."
        for rs in skipped
    ]
    if isinstance(parsed, ChipItem):
        ctx.party = PartyFacts(
            party=parsed.party,
            designer_attests=parsed.designer_attests,
            packager_attests=parsed.packager_attests,
        )
        return ctx.chip(cat.get(parsed.chip))
    if isinstance(parsed, ServerItem | ClusterItem):
        return ctx.aggregate(parsed)
    if isinstance(parsed, ShipmentItem):
        return ctx.shipment(parsed)
    return ctx.model(parsed)


@lru_cache(maxsize=8)
def _families(kind: ItemKind) -> tuple[str, ...]:
    """Rule families with something to say about this kind of item (at any date)."""
    related: dict[str, set[str]] = {
        "chip": {"chip"},
        "server": {"chip", "server"},
        "cluster": {"chip", "server", "cluster"},
        "shipment": {"chip", "server", "shipment"},
        "model": {"model"},
    }
    kinds = related[kind]
    return tuple(
        sorted(
            {
                rs.family
                for rs in all_rule_sets()
                if any(set(c.applies_to) & kinds for c in rs.clauses)
            }
        )
    )


def _refs(rule_sets: Iterable[RuleSet]) -> list[RuleSetRef]:
    return [
        RuleSetRef(
            id=rs.id,
            title=rs.title,
            citation=rs.citation,
            url=rs.url,
            effective=rs.effective,
            compliance=rs.compliance,
        )
        for rs in rule_sets
    ]


class _Context:
    def __init__(self, rule_sets: list[RuleSet], on: date | None, catalog: Catalog) -> None:
        self.rule_sets = rule_sets
        self.on = on
        self.catalog = catalog
        self._chip_cache: dict[str, Verdict] = {}
        self.preamble: list[str] = []
        self.party = PartyFacts()

    # -- clause walking -------------------------------------------------------------------

    def _binding(self, from_: date | None) -> tuple[bool, str]:
        if from_ is not None and self.on is not None and self.on < from_:
            return False, f"in force, but compliance is required only from {from_.isoformat()}"
        return True, ""

    def run(
        self, kind: ItemKind, metrics: Mapping[str, MetricValue], kinds: Iterable[str]
    ) -> list[ClauseOutcome]:
        wanted = set(kinds)
        out: list[ClauseOutcome] = []
        for rs in self.rule_sets:
            settled_groups: set[str] = set()
            for clause in rs.clauses:
                if kind not in clause.applies_to or clause.kind not in wanted:
                    continue
                if clause.group is not None and clause.group in settled_groups:
                    continue
                trace: list[Test] = []
                outcome = evaluate(clause.when, metrics, trace) if clause.when else Tri.TRUE
                if outcome is Tri.TRUE and clause.group is not None:
                    settled_groups.add(clause.group)
                binding, why = self._binding(clause.binding_from)
                detail = why
                if clause.quota is not None and outcome is not Tri.FALSE:
                    detail = _quota_detail(clause.quota.metric, clause.quota.limit, metrics, why)
                if clause.share_cap is not None and outcome is not Tri.FALSE:
                    cap = clause.share_cap
                    detail = (
                        f"volume cap: {cap.capped} at most {cap.share:.0%} of {cap.relative_to}; "
                        "one shipment cannot show the totals (a registry of declared transfers "
                        f"can). {detail}"
                    ).strip()
                out.append(
                    ClauseOutcome(
                        rule_set=rs.id,
                        clause=clause.id,
                        kind=clause.kind,
                        title=clause.title,
                        citation=clause.citation,
                        outcome=outcome,
                        binding=binding,
                        effect=clause.effect
                        + (
                            f" Review policy: {clause.review_policy}."
                            if clause.review_policy
                            else ""
                        )
                        + (f" Conditions: {clause.conditions}" if clause.conditions else ""),
                        detail=detail,
                        lifts=clause.lifts,
                        tests=trace,
                    )
                )
        return out

    def verdict(
        self,
        clauses: list[ClauseOutcome],
        numbers: list[Derivation],
        **fields: Any,
    ) -> Verdict:
        """A verdict with the fields every item kind shares filled in from this context."""
        return Verdict(
            on=self.on,
            rule_sets=_refs(self.rule_sets),
            numbers=numbers,
            unknowns=_unknowns(clauses, numbers),
            clauses=clauses,
            notes=self.preamble + _notes(self.rule_sets, clauses),
            **fields,
        )

    # -- items ----------------------------------------------------------------------------

    def chip(self, spec: ChipSpec) -> Verdict:
        if spec.id in self._chip_cache:
            return self._chip_cache[spec.id]
        if spec.variants:
            verdict = self._family(spec)
            self._chip_cache[spec.id] = verdict
            return verdict
        metrics, numbers = chip_metrics(spec, self.catalog, self.party)
        clauses = self.run("chip", metrics, {"classification", "note"})
        classes, possible = _classes(clauses)
        if classes:
            status, headline = "controlled", f"{spec.id}: {', '.join(classes)}"
        elif possible:
            status = "undetermined"
            headline = f"{spec.id}: possibly {', '.join(possible)} (a needed figure is unknown)"
        else:
            status = "not_controlled"
            headline = f"{spec.id}: not in any controlled class of the rules applied"
        verdict = self.verdict(
            clauses,
            numbers,
            item_kind="chip",
            subject=spec.id,
            status=status,
            headline=f"{headline} — {_rs_names(self.rule_sets)}",
            classes=classes,
            possible_classes=possible,
        )
        self._chip_cache[spec.id] = verdict
        return verdict

    def _family(self, spec: ChipSpec) -> Verdict:
        """A name that covers several binned variants: classified as whichever it may be.

        A class holds only if it holds for every variant; one that holds for some, or may
        hold for any, is possible. The numbers show each variant's TPP, so the range is seen.
        """
        parts = [self.chip(self.catalog.get(v)) for v in spec.variants]
        definite = set(parts[0].classes).intersection(*(p.classes for p in parts[1:]))
        possible = {c for p in parts for c in (*p.classes, *p.possible_classes)} - definite
        classes, maybe = sorted(definite), sorted(possible)
        tpps = {
            p.subject: n.value
            for p in parts
            for n in p.numbers
            if n.metric == "tpp" and isinstance(n.value, float)
        }
        known = sorted(tpps.values())
        span = (
            f"TPP {known[0]:,.0f} to {known[-1]:,.0f} over {len(tpps)} of {len(parts)} variants"
            if known
            else "TPP unknown for every variant"
        )
        numbers = [
            Derivation(
                metric="tpp",
                value=f"{known[0]:,.0f}-{known[-1]:,.0f}" if known else None,
                derivation=f"variant not given: {span} ("
                + "; ".join(f"{k} {v:,.0f}" for k, v in tpps.items())
                + ")",
            )
        ]
        which = "; the variant decides" if maybe else ""
        if classes and not maybe:
            status, head = "controlled", f"{spec.id}: {', '.join(classes)} (every variant)"
        elif classes or maybe:
            status = "undetermined"
            head = (
                f"{spec.id}: "
                + (f"{', '.join(classes)} and " if classes else "")
                + f"possibly {', '.join(maybe)} (variant not given: {span}{which})"
            )
        else:
            status, head = "not_controlled", f"{spec.id}: no variant is in a controlled class"
        clauses = [c for p in parts for c in p.clauses if c.kind == "note"]
        return self.verdict(
            list({c.clause: c for c in clauses}.values()),
            numbers,
            item_kind="chip",
            subject=spec.id,
            status=status,
            headline=f"{head} — {_rs_names(self.rule_sets)}",
            classes=classes,
            possible_classes=maybe,
            parts=parts,
        )

    def _contents(
        self, lines: list[tuple[ChipSpec, int]], prefix: str
    ) -> tuple[dict[str, MetricValue], list[Derivation], list[Verdict]]:
        parts = [self.chip(spec) for spec, _ in lines]
        metrics, numbers = aggregate_metrics(lines, self.catalog, prefix)
        metrics["classes"] = Classes(
            definite=frozenset(c for p in parts for c in p.classes),
            possible=frozenset(c for p in parts for c in p.possible_classes),
        )
        metrics["datacenter"] = _any_flag(spec.datacenter for spec, _ in lines)
        return metrics, numbers, parts

    def aggregate(self, item: ServerItem | ClusterItem) -> Verdict:
        lines = resolve_chips(item.chips, self.catalog)
        kind: ItemKind = item.kind
        metrics, numbers, parts = self._contents(lines, kind)
        clauses = self.run(kind, metrics, {"classification", "threshold", "quota", "note"})
        chip_classes = metrics["classes"]
        assert isinstance(chip_classes, Classes)
        own, own_possible = _classes(clauses)
        classes = sorted(set(own) | chip_classes.definite)
        possible = sorted((set(own_possible) | chip_classes.possible) - set(classes))
        crossed, maybe, pending = _thresholds(clauses)
        total = metrics[f"{kind}_tpp"]
        h100e = metrics[f"{kind}_h100_equivalents"]
        if isinstance(total, float) and isinstance(h100e, float):
            size = f"TPP {total:,.0f} ({h100e:,.0f} H100-equivalents)"
        elif isinstance(total, Interval) and isinstance(h100e, Interval):
            size = (
                f"TPP {total.lo:,.0f} to {total.hi:,.0f} ({h100e.lo:,.0f} to {h100e.hi:,.0f} "
                "H100-equivalents; a chip's variant is not given)"
            )
        else:
            size = "aggregate TPP unknown"
        bits = [f"{item.name}: {metrics[f'{kind}_chip_count']:,} chips, {size}"]
        if classes:
            bits.append(f"classes {', '.join(classes)}")
        if crossed:
            bits.append(f"crosses {', '.join(c.clause for c in crossed)}")
        if maybe:
            bits.append(f"may cross {', '.join(c.clause for c in maybe)}")
        if pending:
            bits.append(_pending_text(pending))
        status = (
            "thresholds_crossed"
            if crossed
            else "undetermined"
            if maybe or (possible and not classes)
            else "controlled"
            if classes
            else "below_thresholds"
        )
        return self.verdict(
            clauses,
            numbers,
            item_kind=kind,
            subject=item.name,
            status=status,
            headline="; ".join(bits),
            classes=classes,
            possible_classes=possible,
            parts=parts,
        )

    def shipment(self, item: ShipmentItem) -> Verdict:
        lines = resolve_chips(item.items, self.catalog)
        metrics, numbers, parts = self._contents(lines, "shipment")
        group_sets = list(dict.fromkeys(g for rs in self.rule_sets for g in rs.country_groups))
        metrics.update(shipment_place_metrics(item, group_sets))
        clauses = self.run("shipment", metrics, {"license", "exception", "quota", "note"})
        required, why = _license_decision(clauses)
        dest = metrics["destination"]
        what = ", ".join(f"{count:,} x {spec.id}" for spec, count in lines)
        if required is Tri.TRUE:
            status, headline = "license_required", f"License required: {what} to {dest} — {why}"
        elif required is Tri.FALSE:
            status, headline = "no_license_required", f"No license required: {what} to {dest}"
            if why:
                headline += f" — {why}"
        else:
            status = "undetermined"
            headline = f"Undetermined: {what} to {dest} — {why}"
        return self.verdict(
            clauses,
            numbers,
            item_kind="shipment",
            subject=f"{what} to {dest}" + (f" for {item.end_user}" if item.end_user else ""),
            status=status,
            headline=headline,
            classes=sorted({c for p in parts for c in p.classes}),
            possible_classes=sorted({c for p in parts for c in p.possible_classes}),
            license_required=required,
            parts=parts,
        )

    def model(self, item: ModelItem) -> Verdict:
        metrics = model_metrics(item)
        all_clauses = self.run("model", metrics, {"threshold", "note"})
        guidance_sets = {rs.id for rs in self.rule_sets if rs.guidance}
        # A guidance line that needs a fact this item does not have (the modifier line
        # without an original model) does not apply; it is not an unknown to chase.
        all_clauses = [
            c
            for c in all_clauses
            if not (
                c.rule_set in guidance_sets
                and c.outcome is Tri.UNKNOWN
                and all(t.value is None for t in c.tests)
            )
        ]
        clauses = [c for c in all_clauses if c.rule_set not in guidance_sets]
        crossed, maybe, pending = _thresholds(clauses)
        compute = f"{item.name}: training compute {item.training_compute} FLOP"
        if item.base_compute is not None:
            compute = (
                f"{item.name}: cumulative training compute {metrics['training_compute']} FLOP "
                f"(original model {item.base_compute} + this modification "
                f"{item.training_compute})"
            )
        if crossed:
            status = "thresholds_crossed"
            headline = f"{compute}; crosses {', '.join(c.clause for c in crossed)}"
            if maybe:
                headline += f"; may cross {', '.join(c.clause for c in maybe)}"
        elif maybe:
            status = "undetermined"
            headline = f"{compute}; may cross {', '.join(c.clause for c in maybe)}"
        else:
            status, headline = "below_thresholds", f"{compute}; below every threshold applied"
        if pending:
            headline += f"; {_pending_text(pending)}"
        guide = _guidance_text([c for c in all_clauses if c.rule_set in guidance_sets])
        if guide:
            headline += f"; {guide}"
        numbers = [
            Derivation(
                metric="training_compute",
                value=item.training_compute.mid,
                derivation=f"declared or estimated: {item.training_compute} FLOP"
                + (
                    f"; with the original model, cumulative {metrics['training_compute']} FLOP"
                    if item.base_compute is not None
                    else ""
                ),
            )
        ]
        share = metrics.get("modification_share")
        if isinstance(share, Interval) and item.base_compute is not None:
            numbers.append(
                Derivation(
                    metric="modification_share",
                    value=share.mid,
                    derivation=f"{item.training_compute} / original {item.base_compute} = "
                    f"[{share.lo:.3g}, {share.hi:.3g}] of the original model's compute",
                )
            )
        return self.verdict(
            all_clauses,
            numbers,
            item_kind="model",
            subject=item.name,
            status=status,
            headline=headline,
        )


def _guidance_text(clauses: list[ClauseOutcome]) -> str:
    """Where a run falls against non-binding guidance lines, never as a crossed obligation."""
    sides = []
    for c in clauses:
        if c.kind != "threshold":
            continue
        side = {Tri.TRUE: "above", Tri.FALSE: "below", Tri.UNKNOWN: "on either side of"}[c.outcome]
        if c.outcome is Tri.UNKNOWN and not any(t.value is not None for t in c.tests):
            continue  # e.g. no original model given: the modifier line does not apply
        sides.append(f"{side} '{c.clause}'")
    return f"indicative, non-binding guidance: {', '.join(sides)}" if sides else ""


def _classes(clauses: list[ClauseOutcome]) -> tuple[list[str], list[str]]:
    """Definite and possible classes; a class not yet binding is only noted (see _notes)."""
    binding = [c for c in clauses if c.kind == "classification" and c.binding]
    chosen = [c.clause for c in binding if c.outcome is Tri.TRUE]
    possible = [c.clause for c in binding if c.outcome is Tri.UNKNOWN]
    return chosen, [p for p in possible if p not in chosen]


def _thresholds(
    clauses: list[ClauseOutcome],
) -> tuple[list[ClauseOutcome], list[ClauseOutcome], list[ClauseOutcome]]:
    """Crossed (binding), may cross (binding, unknown) and crossed-but-not-yet-binding."""
    ths = [c for c in clauses if c.kind == "threshold"]
    crossed = [c for c in ths if c.binding and c.outcome is Tri.TRUE]
    maybe = [c for c in ths if c.binding and c.outcome is Tri.UNKNOWN]
    pending = [c for c in ths if not c.binding and c.outcome is not Tri.FALSE]
    return crossed, maybe, pending


def _pending_text(pending: list[ClauseOutcome]) -> str:
    return "not yet binding: " + ", ".join(f"{c.clause} ({c.detail})" for c in pending)


def _any_flag(flags: Iterable[bool | None]) -> bool | None:
    values = list(flags)
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


def _license_decision(clauses: list[ClauseOutcome]) -> tuple[Tri, str]:
    """Combine license requirements and the exceptions that may lift them."""
    binding = [c for c in clauses if c.binding]
    exceptions = [c for c in binding if c.kind == "exception" and c.outcome is not Tri.FALSE]
    lifted_by: dict[str, list[ClauseOutcome]] = {}
    for exc in exceptions:
        for target in exc.lifts:
            lifted_by.setdefault(target, []).append(exc)
    states: list[Tri] = []
    reasons: list[str] = []
    for lic in (c for c in binding if c.kind == "license" and c.outcome is not Tri.FALSE):
        lifters = lifted_by.get(lic.clause, [])
        if any(e.outcome is Tri.TRUE for e in lifters):
            names = ", ".join(e.clause for e in lifters if e.outcome is Tri.TRUE)
            states.append(Tri.FALSE)
            reasons.append(
                f"{lic.clause} lifted by license exception {names} (its conditions apply)"
            )
        elif lic.outcome is Tri.TRUE and not lifters:
            states.append(Tri.TRUE)
            reasons.append(f"{lic.clause} ({lic.citation})")
        else:
            states.append(Tri.UNKNOWN)
            missing = sorted(
                {t.metric.removesuffix("_groups") for t in lic.tests if t.outcome is Tri.UNKNOWN}
            )
            extra = (
                f"; exception {', '.join(e.clause for e in lifters)} may apply" if lifters else ""
            )
            reasons.append(f"{lic.clause} depends on {', '.join(missing) or 'an exception'}{extra}")
    if Tri.TRUE in states:
        return Tri.TRUE, "; ".join(r for r, s in zip(reasons, states, strict=True) if s is Tri.TRUE)
    if Tri.UNKNOWN in states:
        return Tri.UNKNOWN, "; ".join(reasons)
    pending = [
        c for c in clauses if not c.binding and c.kind == "license" and c.outcome is Tri.TRUE
    ]
    tail = [f"{c.clause} will require a license ({c.detail})" for c in pending]
    return Tri.FALSE, "; ".join(reasons + tail)


def _quota_detail(metric: str, limit: float, metrics: Mapping[str, MetricValue], why: str) -> str:
    value = metrics.get(metric)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return f"{metric} unknown; cap {limit:,.0f}. {why}".strip()
    share = 100.0 * float(value) / limit
    over = " — this shipment alone exceeds the cap" if value > limit else ""
    return (
        f"{metric} {value:,.0f} is {share:.2f} % of the cap of {limit:,.0f}{over}; earlier "
        f"shipments in the period are not counted here. {why}"
    ).strip()


def _unknowns(clauses: list[ClauseOutcome], numbers: list[Derivation]) -> list[str]:
    found: dict[str, str] = {}
    for n in numbers:
        if n.value is None:
            found[n.metric] = n.derivation
    # Only a clause left undecided depends on its missing facts; one that a known fact
    # settled (e.g. "no attestation" makes a transistor test moot) does not.
    for c in (c for c in clauses if c.outcome is Tri.UNKNOWN):
        for t in c.tests:
            # "end_user_hq_groups" is unknown exactly when "end_user_hq" is: report one.
            name = t.metric.removesuffix("_groups")
            if t.outcome is Tri.UNKNOWN and t.value is None and name not in found:
                found[name] = f"not given; {c.clause} depends on it"
    return [f"{k}: {v}" for k, v in found.items()]


def _notes(rule_sets: list[RuleSet], clauses: list[ClauseOutcome]) -> list[str]:
    notes = [
        f"{c.clause}: {c.effect}".strip()
        for c in clauses
        if c.kind == "note" and c.outcome is not Tri.FALSE
    ]
    relevant = {c.rule_set for c in clauses}
    for rs in rule_sets:
        if rs.id not in relevant:
            continue
        notes.extend(rs.notes)
        if rs.illustrative:
            notes.append(f"{rs.id} is illustrative, not a law or treaty in force.")
        if rs.guidance:
            notes.append(f"{rs.id} is non-binding guidance: its lines are indicative only.")
    notes.extend(
        f"{c.clause} ({c.rule_set}): {c.detail}"
        for c in clauses
        if not c.binding and c.outcome is not Tri.FALSE
    )
    return list(dict.fromkeys(notes))


def _rs_names(rule_sets: list[RuleSet]) -> str:
    return ", ".join(rs.id for rs in rule_sets)
