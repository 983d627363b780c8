"""The scan: records in, findings out — undeclared compute above a threshold, by entity.

Stages (each reported to an optional callback, which the CLI turns into a progress bar):

1. *ingest* — parsers have already turned files into the schema; here the engine reads
   them and resolves chip labels against the catalog;
2. *validate* — every record gets a reason or none (see ``report.py``);
3. *cost* — chips x peak FLOP/s x utilisation interval x seconds, per job;
4. *runs* — checkpoint–restart chains; large runs feed the behavioural links;
5. *link* — union-find over accounts (``linking.py``);
6. *judge* — entity totals against the threshold and the declarations in the registry.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from accord.compute.estimate import DEFAULT_UTILISATION
from accord.errors import AccordError
from accord.model import Finding, Severity, Verdict
from accord.verify.telemetry import pipeline as P
from accord.verify.telemetry.chips import ChipResolver
from accord.verify.telemetry.engine import backend_name, connect
from accord.verify.telemetry.ingest.base import Parsed
from accord.verify.telemetry.linking import (
    Entities,
    LinkConfig,
    RunSpan,
    build_entities,
    handoff_chain_links,
    handoff_links,
    identifier_links,
    naming_links,
    workload_links,
)
from accord.verify.telemetry.registry import DeclarationSource, DeclaredRun
from accord.verify.telemetry.report import IngestReport
from accord.verify.telemetry.screening.csl import ScreenHit, ScreeningList
from accord.verify.telemetry.screening.names import normalise_org
from accord.verify.telemetry.thresholds import rule_threshold
from accord.verify.telemetry.windows import Cumulative, WindowTotal

VERIFIER = "verify.telemetry"
# 10^26 operations: California SB 53's frontier-model threshold, read from the rule set
# (the same figure as EO 14110 §4.2(b)(i), on which the 2024 IaaS proposed rule relied).
DEFAULT_THRESHOLD, DEFAULT_THRESHOLD_SOURCE = rule_threshold()
DEFAULT_RESTART_GAP_S = 24 * 3600


@dataclass
class ScanConfig:
    threshold: float = DEFAULT_THRESHOLD
    threshold_source: str = DEFAULT_THRESHOLD_SOURCE
    utilisation: tuple[float, float] = DEFAULT_UTILISATION
    restart_gap_s: int = DEFAULT_RESTART_GAP_S
    # Only runs of at least this fraction of the threshold count towards an entity's
    # training compute and feed behavioural links (names, timing): an organisation's
    # thousands of small jobs are not one training run.
    large_run_fraction: float = 1e-4
    # Timing links are tested only between runs of at least this fraction of the threshold:
    # hand-offs of small jobs are everywhere in a busy cluster and cannot add up to a
    # threshold-scale run without very many accounts.
    handoff_run_fraction: float = 1e-3
    # A declaration covers an entity when it declares at least this share of the lower bound.
    declared_tolerance: float = 0.5
    # Training compute totals over windows of this many days (all jobs, however small) are
    # compared with the threshold too: a run split into many small jobs never forms a
    # large run. 0 turns the window test off. 180 days covers the training time of the
    # largest published runs (months, not years) without summing a customer's whole history.
    window_days: float = 180.0
    engine: str = "duckdb"
    threads: int | None = None
    chip_map: dict[str, str] = field(default_factory=dict)
    links: LinkConfig = field(default_factory=LinkConfig)
    screen_min_score: float = 0.85

    def check(self) -> None:
        if not self.threshold > 0:
            raise AccordError("--threshold", "must be positive", "e.g. 1e26")
        lo, hi = self.utilisation
        if not 0 < lo <= hi <= 1:
            raise AccordError("--util", f"need 0 < low <= high <= 1, got {lo}-{hi}")
        if self.restart_gap_s < 0:
            raise AccordError("--gap-hours", "must not be negative")
        if not self.window_days >= 0:
            raise AccordError("--window-days", "must not be negative", "e.g. 180, or 0 for off")


class AccountRecord(BaseModel):
    """Customer identifiers from a KYC export (one line per account)."""

    account: str
    org: str | None = None
    payment: str | None = None
    ip: str | None = None
    country: str | None = None


class EntitySummary(BaseModel):
    entity: str
    accounts: list[str]
    flop_lo: float
    flop_hi: float
    chip_hours: float
    jobs: int
    countries: list[str]
    facilities: list[str]
    first: int
    last: int
    links: list[dict[str, str]] = Field(default_factory=list)
    # what crosses: "runs" (large runs) or "window" (the window total of all training jobs)
    basis: str = "runs"
    window: dict[str, float] = Field(default_factory=dict)
    serving: dict[str, float] = Field(default_factory=dict)
    strongest_subentity_flop_lo: float = 0.0
    declared_flop: float = 0.0
    declarations: list[str] = Field(default_factory=list)
    restricted_party_hits: list[dict[str, Any]] = Field(default_factory=list)


class ScanResult(BaseModel):
    engine: str
    threshold: float
    threshold_source: str = ""
    utilisation: tuple[float, float]
    report: IngestReport
    accounts: int
    entities: int
    runs: int
    large_runs: int
    candidates: list[EntitySummary]
    findings: list[Finding]
    screening: list[dict[str, Any]] = Field(default_factory=list)
    timings_s: dict[str, float] = Field(default_factory=dict)
    registry: str = ""

    @property
    def flagged(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict != Verdict.CONSISTENT]

    @property
    def assessed(self) -> bool:
        """False when every record was refused: no statement about anyone can be made."""
        return self.report.accepted > 0


Stage = Callable[[str], None]


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _jobs_table(con: Any, records: Parsed | Path) -> Any:
    if isinstance(records, Path):
        return con.read_parquet(str(records))
    return P.from_arrow(con, records.table, "jobs")


def scan(
    records: Parsed | Path,
    declarations: DeclarationSource,
    config: ScanConfig | None = None,
    *,
    kyc: Iterable[AccountRecord] = (),
    screening_list: ScreeningList | None = None,
    on_stage: Stage | None = None,
    con: Any = None,
) -> ScanResult:
    """Run the whole scan; ``records`` is parsed input or a Parquet file in the schema."""
    cfg = config or ScanConfig()
    cfg.check()
    stage = on_stage or (lambda _name: None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[name] = round(now - clock, 3)
        clock = now

    stage("ingest")
    con = con if con is not None else connect(cfg.engine, threads=cfg.threads)
    jobs = _jobs_table(con, records)
    resolver = ChipResolver(cfg.chip_map)
    found = P.execute(con, jobs.select(label=jobs.chip.strip()).distinct())["label"].tolist()
    labels = [label for label in found if isinstance(label, str)]
    peaks = [(p.label, p.chip_id, p.peak_flops) for p in resolver.table(labels)]
    chips = P.from_arrow(con, P.chip_arrow(peaks), "chips")
    lap("ingest")

    stage("validate")
    validated = P.materialise(con, P.validate(jobs, chips), "validated")
    report = _report(con, validated, records, resolver)
    lap("validate")

    stage("cost")
    lo_u, hi_u = cfg.utilisation
    costed = P.materialise(con, P.job_compute(validated, lo_u, hi_u), "costed")
    totals = P.execute(con, P.account_totals(costed))
    details = P.execute(con, P.account_details(costed))
    lap("cost")
    if report.accepted == 0:
        stage("runs")  # nothing to chain or link: say so instead of "nothing crosses"
        return _nothing_assessed(report, records, declarations, cfg, con, timings)

    stage("runs")
    run_table = P.materialise(con, P.runs(costed, cfg.restart_gap_s), "runs")
    run_count = int(P.execute(con, run_table.count()))
    large_cut = cfg.threshold * cfg.large_run_fraction
    large = P.execute(con, run_table.filter(run_table.flop_hi >= large_cut))
    large_totals = _run_totals(large)
    large_hi = [float(v) for v in large["flop_hi"]]
    handoff_cut = cfg.threshold * cfg.handoff_run_fraction
    spans = [
        RunSpan(
            str(r.account),
            str(r.chip_id),
            float(r.chip_count),
            str(r.stem),
            int(r.start),
            int(r.end),
        )
        for r in large.itertuples(index=False)
    ]
    lap("runs")

    stage("link")
    kyc_list = list(kyc)
    attr_rows: list[tuple[str, str | None, str | None, str | None]] = sorted(
        {
            (str(r.account), _s(r.org), _s(r.payment), _s(r.ip))
            for r in details.itertuples(index=False)
        },
        key=str,
    )
    attr_rows += [(k.account, k.org, k.payment, k.ip) for k in kyc_list]
    accounts = sorted(set(totals["account"].astype(str)))
    handoff_spans = [sp for sp, hi in zip(spans, large_hi, strict=True) if hi >= handoff_cut]
    links = [
        *identifier_links(attr_rows, cfg.links),
        *naming_links(accounts, cfg.links),
        *workload_links(spans, cfg.links),
        *handoff_links(handoff_spans, cfg.links),
        *handoff_chain_links(handoff_spans, cfg.links),
    ]
    entities = build_entities(accounts, links)
    cumulative = _cumulative(con, costed, totals, entities, cfg)
    lap("link")

    stage("judge")
    per_account = {str(r.account): r for r in totals.itertuples(index=False)}
    per_account_large = large_totals
    countries: dict[str, set[str]] = {}
    facilities: dict[str, set[str]] = {}
    for r in details.itertuples(index=False):
        if _s(r.country):
            countries.setdefault(str(r.account), set()).add(str(r.country))
        if _s(r.facility):
            facilities.setdefault(str(r.account), set()).add(str(r.facility))
    for k in kyc_list:
        if k.country:
            countries.setdefault(k.account, set()).add(k.country)
    orgs: dict[str, set[str]] = {}
    for account, org, _pay, _ip in attr_rows:
        if org:
            orgs.setdefault(account, set()).add(org)
    declared = declarations.training_runs()
    screening = _screen_orgs(orgs, screening_list, cfg.screen_min_score)
    candidates, findings = _judge(
        entities,
        per_account,
        per_account_large,
        countries,
        facilities,
        orgs,
        declared,
        screening,
        spans,
        cfg,
        cumulative,
        evidence={
            "records": _records_digest(records),
            "registry": _digest([d.model_dump() for d in declared]),
        },
    )
    lap("judge")
    return ScanResult(
        engine=backend_name(con),
        threshold=cfg.threshold,
        threshold_source=cfg.threshold_source,
        utilisation=cfg.utilisation,
        report=report,
        accounts=len(accounts),
        entities=len(entities.full),
        runs=run_count,
        large_runs=len(spans),
        candidates=candidates,
        findings=findings,
        screening=[
            h.as_dict() | {"account_org": org} for org, hits in screening.items() for h in hits
        ],
        timings_s=timings,
        registry=declarations.describe(),
    )


def _cumulative(
    con: Any, costed: Any, totals: Any, entities: Entities, cfg: ScanConfig
) -> Cumulative | None:
    """Day-boundary compute series for the accounts of entities whose training total could
    reach the threshold (a window total never exceeds the total)."""
    if cfg.window_days <= 0 or not len(totals):
        return None
    train_hi = {str(r.account): float(r.train_flop_hi) for r in totals.itertuples(index=False)}
    wanted = sorted(
        {
            m
            for members in entities.full.values()
            if sum(train_hi.get(m, 0.0) for m in members) >= cfg.threshold
            for m in members
        }
    )
    if not wanted:
        return None
    t0 = int(totals["first"].min())
    return Cumulative(P.execute(con, P.day_rates(costed, t0, wanted)), t0)


def _nothing_assessed(
    report: IngestReport,
    records: Parsed | Path,
    declarations: DeclarationSource,
    cfg: ScanConfig,
    con: Any,
    timings: dict[str, float],
) -> ScanResult:
    """Every record refused: an inconclusive finding naming why, never a clean result."""
    refused = {r.reason: r.count for r in report.rejected}
    top = ", ".join(f"{k} {v:,}" for k, v in sorted(refused.items(), key=lambda kv: -kv[1])[:3])
    labels = ", ".join(sorted(report.unknown_chip_labels)[:5])
    hint = []
    if "unknown_chip" in refused:
        hint.append(f"map the chip labels ({labels}) with --chip-map LABEL=CHIP")
    if "unparseable" in refused or not refused:
        hint.append("check --format")
    if "missing_account" in refused:
        hint.append("give each record an account (openb traces: add an 'account' column)")
    text = (
        f"Nothing was assessed: {report.read:,} record(s) read, none accepted"
        + (f" (refused: {top})" if top else "")
        + ". No statement about any customer's compute can be made from these records"
        + (f"; {'; '.join(hint)}." if hint else ".")
    )
    finding = Finding(
        subject="scan:records",
        verifier=VERIFIER,
        verdict=Verdict.INCONCLUSIVE,
        severity=Severity.MEDIUM,
        statistic={"read": report.read, "accepted": 0, "refused": refused},
        evidence={"records": _records_digest(records)},
        explanation=text,
    )
    return ScanResult(
        engine=backend_name(con),
        threshold=cfg.threshold,
        threshold_source=cfg.threshold_source,
        utilisation=cfg.utilisation,
        report=report,
        accounts=0,
        entities=0,
        runs=0,
        large_runs=0,
        candidates=[],
        findings=[finding],
        timings_s=timings,
        registry=declarations.describe(),
    )


@dataclass
class _RunTotal:
    runs: int = 0
    flop_lo: float = 0.0
    flop_hi: float = 0.0


def _run_totals(large: Any) -> dict[str, _RunTotal]:
    """Training compute per account: the sum over its large runs."""
    out: dict[str, _RunTotal] = {}
    for r in large.itertuples(index=False):
        t = out.setdefault(str(r.account), _RunTotal())
        t.runs += 1
        t.flop_lo += float(r.flop_lo)
        t.flop_hi += float(r.flop_hi)
    return out


def _s(value: Any) -> str | None:
    """Text, or None for the engines' several spellings of null (None, NaN, pandas NA)."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value)
    return None if text in ("", "<NA>") else text


def _records_digest(records: Parsed | Path) -> str:
    if isinstance(records, Path):
        return _file_digest(records)
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, records.table.schema) as writer:
        writer.write_table(records.table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def _report(
    con: Any, validated: Any, records: Parsed | Path, resolver: ChipResolver
) -> IngestReport:
    report = IngestReport()
    outcomes = P.execute(con, P.outcome_counts(validated))
    engine_rows = int(outcomes["count"].sum()) if len(outcomes) else 0
    if isinstance(records, Parsed):
        report.lines = records.read
        report.read = sum(records.rejected.values()) + engine_rows
        for reason, count in sorted(records.rejected.items()):
            report.add_rejected(reason, count, records.examples.get(reason, []))
        report.assumptions.extend(records.assumptions)
    else:
        report.lines = report.read = engine_rows
    rows = list(outcomes.itertuples(index=False))
    accepted = [r for r in rows if _s(r.reason) is None]
    report.accepted = sum(int(r.count) for r in accepted)
    # rounded: engines sum in different orders, and the report must not differ by engine
    report.accepted_chip_hours = round(sum(float(r.chip_hours) for r in accepted), 3)
    by_reason: dict[str, list[Any]] = {}
    for r in rows:
        why = _s(r.reason)
        if why is not None:
            by_reason.setdefault(why, []).append(r)
    for reason in sorted(by_reason):
        group = by_reason[reason]
        report.add_rejected(
            reason,
            sum(int(r.count) for r in group),
            sorted(str(r.example) for r in group)[:1],
            chip_hours=sum(float(r.chip_hours) for r in group),
        )
        if reason == "unknown_chip":
            report.unknown_chip_labels = {
                str(_s(r.label)): int(r.count) for r in sorted(group, key=lambda r: str(r.label))
            }
    for name in ("zero_duration", "missing_country", "missing_job_name"):
        report.add_warning(name, sum(int(getattr(r, name)) for r in accepted))
    report.assumptions.extend(resolver.assumptions())
    return report


def _screen_orgs(
    orgs: dict[str, set[str]], screening_list: ScreeningList | None, min_score: float
) -> dict[str, list[ScreenHit]]:
    if screening_list is None:
        return {}
    names = sorted({o for values in orgs.values() for o in values})
    out: dict[str, list[ScreenHit]] = {}
    for name in names:
        hits = screening_list.screen(name, min_score)
        if hits:
            out[name] = hits
    return out


def _party_keys(members: Sequence[str], orgs: dict[str, set[str]]) -> set[str]:
    keys = {normalise_org(m).key for m in members}
    for m in members:
        keys |= {normalise_org(o).key for o in orgs.get(m, set())}
    return {k for k in keys if k}


def _matching(
    declared: Sequence[DeclaredRun], members: Sequence[str], keys: set[str], first: int, last: int
) -> list[DeclaredRun]:
    inside = set(members)
    out = []
    for d in declared:
        party_hit = normalise_org(d.party).key in keys or bool(inside & set(d.accounts))
        if party_hit and d.overlaps(first, last):
            out.append(d)
    return out


def _judge(
    entities: Entities,
    per_account: dict[str, Any],
    per_account_large: dict[str, Any],
    countries: dict[str, set[str]],
    facilities: dict[str, set[str]],
    orgs: dict[str, set[str]],
    declared: Sequence[DeclaredRun],
    screening: dict[str, list[ScreenHit]],
    spans: Sequence[RunSpan],
    cfg: ScanConfig,
    cumulative: Cumulative | None,
    evidence: dict[str, str],
) -> tuple[list[EntitySummary], list[Finding]]:
    t = cfg.threshold
    strong_lo: dict[str, float] = {}
    for members in entities.strong.values():
        lo = sum(float(per_account_large[m].flop_lo) for m in members if m in per_account_large)
        for m in members:
            strong_lo[m] = lo
    candidates: list[EntitySummary] = []
    findings: list[Finding] = []
    for root, members in sorted(entities.full.items()):
        big = [per_account_large[m] for m in members if m in per_account_large]
        hi = sum(float(r.flop_hi) for r in big)
        rows = [per_account[m] for m in members if m in per_account]
        train_hi = sum(float(r.train_flop_hi) for r in rows)
        window: WindowTotal | None = None
        if cumulative is not None and train_hi >= t:
            window = cumulative.busiest(members, cfg.window_days)
        if hi < t and (window is None or window.flop_hi < t):
            continue
        lo = sum(float(r.flop_lo) for r in big)
        first = min(int(r.first) for r in rows)
        last = max(int(r.last) for r in rows)
        keys = _party_keys(members, orgs)
        matches = _matching(declared, members, keys, first, last)
        declared_flop = sum(d.compute_flop for d in matches)
        hits = [
            h.as_dict() | {"account_org": org}
            for m in members
            for org in sorted(orgs.get(m, set()))
            for h in screening.get(org, [])
        ]
        links = entities.links_within(members)
        summary = EntitySummary(
            entity=root,
            accounts=members,
            flop_lo=lo,
            flop_hi=hi,
            chip_hours=sum(float(r.chip_hours) for r in rows),
            jobs=sum(int(r.jobs) for r in rows),
            countries=sorted({c for m in members for c in countries.get(m, set())}),
            facilities=sorted({f for m in members for f in facilities.get(m, set())}),
            first=first,
            last=last,
            links=[{"a": lk.a, "b": lk.b, "kind": lk.kind, "detail": lk.detail} for lk in links],
            basis="runs" if hi >= t else "window",
            window=_window_dict(window, cumulative),
            serving={
                "jobs": float(sum(int(r.serving_jobs) for r in rows)),
                "chip_hours": sum(float(r.serving_chip_hours) for r in rows),
                "flop_hi": sum(float(r.serving_flop_hi) for r in rows),
            },
            strongest_subentity_flop_lo=max((strong_lo.get(m, 0.0) for m in members), default=0.0),
            declared_flop=declared_flop,
            declarations=[d.id for d in matches],
            restricted_party_hits=hits,
        )
        candidates.append(summary)
        findings.append(_finding(summary, spans, cfg, evidence))
    return candidates, findings


def _window_dict(window: WindowTotal | None, cumulative: Cumulative | None) -> dict[str, float]:
    if window is None or cumulative is None:
        return {}
    return {
        "days": float(window.days),
        "flop_lo": window.flop_lo,
        "flop_hi": window.flop_hi,
        "start": float(window.start),
        "end": float(window.end),
        "day_from": float((window.start - cumulative.t0) // 86400),
    }


def _entity_fields(s: EntitySummary, cfg: ScanConfig) -> dict[str, Any]:
    """What every entity finding states about the entity and the scan, whatever its basis."""
    return {
        "threshold": cfg.threshold,
        "threshold_source": cfg.threshold_source,
        "utilisation": list(cfg.utilisation),
        "accounts": s.accounts,
        "countries": s.countries,
        "facilities": s.facilities,
        "chip_hours": s.chip_hours,
        "jobs": s.jobs,
        "first": s.first,
        "last": s.last,
        "links": s.links,
        "declared_flop": s.declared_flop,
        "declarations": s.declarations,
        "restricted_party_hits": s.restricted_party_hits,
        "serving": s.serving,
    }


def _finding(
    s: EntitySummary, spans: Sequence[RunSpan], cfg: ScanConfig, evidence: dict[str, str]
) -> Finding:
    if s.basis == "window":
        return _window_finding(s, cfg, evidence)
    t = cfg.threshold
    lo_u, hi_u = cfg.utilisation
    covered = s.declared_flop > 0 and s.declared_flop >= cfg.declared_tolerance * s.flop_lo
    weak_kinds = sorted(
        {lk["kind"] for lk in s.links}
        - {"payment", "organisation", "address_block", "workload_name"}
    )
    members = set(s.accounts)
    top = sorted((r for r in spans if r.account in members), key=lambda r: r.start)[:20]
    statistic: dict[str, Any] = {
        "flop_lo": s.flop_lo,
        "flop_hi": s.flop_hi,
        **_entity_fields(s, cfg),
        "strong_subentity_flop_lo": s.strongest_subentity_flop_lo,
        "basis": s.basis,
        "window": s.window,
        "large_runs": [
            {
                "account": r.account,
                "chip": r.chip_id,
                "count": r.chip_count,
                "name": r.stem,
                "start": r.start,
                "end": r.end,
            }
            for r in top
        ],
    }
    span = f"{len(s.accounts)} account(s) in {len(s.countries) or 'unknown'} country(ies)"
    compute = f"[{s.flop_lo:.3g}, {s.flop_hi:.3g}] FLOP at {lo_u:.0%}-{hi_u:.0%} utilisation"
    if covered:
        verdict, severity = Verdict.CONSISTENT, Severity.INFO
        text = (
            f"Entity {s.entity} ({span}) used {compute}; declarations {s.declarations} cover "
            f"{s.declared_flop:.3g} FLOP."
        )
    else:
        crosses = s.flop_lo >= t
        strong = s.strongest_subentity_flop_lo >= t
        under = (
            f" Declared only {s.declared_flop:.3g} FLOP ({s.declarations})."
            if s.declared_flop
            else ""
        )
        if crosses and strong:
            verdict, severity = Verdict.INCONSISTENT, Severity.HIGH
            why = (
                "the lower bound crosses the threshold within one account, or within accounts "
                "tied by documentary links alone (payment, organisation, address block, "
                "workload name)"
            )
        else:
            verdict, severity = Verdict.INCONCLUSIVE, Severity.MEDIUM
            reasons = []
            if not crosses:
                reasons.append("only the upper bound crosses the threshold")
            if crosses and not strong:
                reasons.append(f"crossing depends on weak links ({', '.join(weak_kinds)})")
            why = "; ".join(reasons) + " — refer for review, not a violation"
        if s.restricted_party_hits:
            severity = Severity.CRITICAL if verdict == Verdict.INCONSISTENT else Severity.HIGH
        text = (
            f"Entity {s.entity} ({span}) used {compute} against a threshold of {t:.3g} with no "
            f"matching training-run declaration.{under} Verdict rests on: {why}. Assumes "
            f"utilisation of allocated accelerators of at least {lo_u:.0%}; allocated-but-idle "
            "accelerators would make the lower bound an overestimate."
        )
        if s.restricted_party_hits:
            text += f" {len(s.restricted_party_hits)} restricted-party screening hit(s)."
    text += _serving_note(s)
    return Finding(
        subject=f"entity:{s.entity}",
        verifier=VERIFIER,
        verdict=verdict,
        severity=severity,
        statistic=statistic,
        evidence={**evidence, "entity": _digest(statistic)},
        explanation=text,
    )


def _serving_note(s: EntitySummary) -> str:
    jobs = int(s.serving.get("jobs", 0))
    if not jobs:
        return ""
    return (
        f" {jobs:,} serving job(s) ({s.serving['chip_hours']:,.0f} chip-hours, at most "
        f"{s.serving['flop_hi']:.3g} FLOP), marked latency-sensitive by the source, are "
        "left out of training compute."
    )


def _window_finding(s: EntitySummary, cfg: ScanConfig, evidence: dict[str, str]) -> Finding:
    """A window total crossing with no large run behind it: a referral, in weaker words."""
    t = cfg.threshold
    lo_u, hi_u = cfg.utilisation
    w = s.window
    covered = s.declared_flop > 0 and s.declared_flop >= cfg.declared_tolerance * w["flop_lo"]
    who = "one account" if len(s.accounts) == 1 else f"{len(s.accounts)} linked accounts"
    compute = f"[{w['flop_lo']:.3g}, {w['flop_hi']:.3g}] FLOP at {lo_u:.0%}-{hi_u:.0%} utilisation"
    day_from, days = w["day_from"], w["days"]
    where = (
        f"the busiest {days:g}-day window (days {day_from:g}-{day_from + days:g} of the records)"
    )
    statistic: dict[str, Any] = {
        "flop_lo": w["flop_lo"],
        "flop_hi": w["flop_hi"],
        "large_run_flop_lo": s.flop_lo,
        "large_run_flop_hi": s.flop_hi,
        **_entity_fields(s, cfg),
        "basis": "window",
        "window": w,
        "large_runs": [],
    }
    if covered:
        verdict, severity = Verdict.CONSISTENT, Severity.INFO
        text = (
            f"Entity {s.entity} ({who}) used {compute} in {where}; declarations "
            f"{s.declarations} cover {s.declared_flop:.3g} FLOP."
        )
    else:
        verdict = Verdict.INCONCLUSIVE
        severity = Severity.HIGH if s.restricted_party_hits else Severity.LOW
        under = (
            f" Declared only {s.declared_flop:.3g} FLOP ({s.declarations})."
            if s.declared_flop
            else ""
        )
        text = (
            f"Entity {s.entity} ({who}, {s.jobs:,} jobs) used {compute} of training-class "
            f"compute in {where}, against a threshold of {t:.3g}, with no matching "
            f"training-run declaration.{under} No single run of it reaches the threshold "
            f"(large runs: at most {s.flop_hi:.3g} FLOP): this is a total, weaker evidence "
            "than a run. It fits one run split into small jobs, and equally many unrelated "
            "workloads of one customer (experiments, fine-tuning, evaluation) — refer for "
            "review, not a violation. Assumes utilisation of at least "
            f"{lo_u:.0%}."
        )
        if s.restricted_party_hits:
            text += f" {len(s.restricted_party_hits)} restricted-party screening hit(s)."
    text += _serving_note(s)
    return Finding(
        subject=f"entity:{s.entity}",
        verifier=VERIFIER,
        verdict=verdict,
        severity=severity,
        statistic=statistic,
        evidence={**evidence, "entity": _digest(statistic)},
        explanation=text,
    )
