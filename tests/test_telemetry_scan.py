"""The scan end to end on DuckDB: report, compute arithmetic, runs, verdicts, registry."""

from __future__ import annotations

from pathlib import Path

import ibis
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from accord.compute import from_hardware
from accord.errors import AccordError
from accord.model import Severity, Verdict
from accord.verify.telemetry import pipeline as P
from accord.verify.telemetry.ingest import load_records
from accord.verify.telemetry.ingest.base import Parsed
from accord.verify.telemetry.registry import DeclaredRun, MemoryDeclarations, open_source
from accord.verify.telemetry.scan import AccountRecord, ScanConfig, scan
from accord.verify.telemetry.schema import to_table
from accord.verify.telemetry.screening import sample_list

DATA = Path(__file__).parent / "data" / "telemetry"
WEEK = 7 * 86400


def kyc() -> list[AccountRecord]:
    import csv

    with (DATA / "kyc_accounts.csv").open() as fh:
        return [AccountRecord.model_validate(r) for r in csv.DictReader(fh)]


def merged() -> Parsed:
    a = load_records(DATA / "sacct_sample.txt", tz="Asia/Singapore", country="SG")
    b = load_records(DATA / "k8s_jobs_sample.json", country="AE")
    out = Parsed(pa.concat_tables([a.table, b.table]), a.read + b.read)
    out.rejected.update(a.rejected)
    out.rejected.update(b.rejected)
    return out


def test_report_counts_every_record_with_its_reason() -> None:
    result = scan(merged(), MemoryDeclarations([]), ScanConfig(threshold=5e23))
    rep = result.report
    assert rep.balanced()
    counts = {r.reason: r.count for r in rep.rejected}
    assert counts == {
        "job_step": 2,
        "never_started": 1,
        "no_accelerator": 2,
        "missing_chip": 1,  # bare gres/gpu=8
        "missing_end": 2,  # RUNNING in sacct, active k8s job
        "reversed_clock": 1,
        "unknown_chip": 1,
        "overlapping_duplicate": 1,
    }
    assert rep.unknown_chip_labels == {"quantum9": 1}
    # 15 sacct rows (+1 for the two-type job) and 4 k8s jobs, minus the refusals
    assert rep.accepted == 15 + 4 - sum(counts.values())


def test_entity_compute_is_chips_times_peak_times_utilisation_times_time() -> None:
    result = scan(merged(), MemoryDeclarations([]), ScanConfig(threshold=5e23), kyc=kyc())
    nimbus = next(c for c in result.candidates if "nimbus-a" in c.accounts)
    assert sorted(nimbus.accounts) == ["nimbus-a", "nimbus-b", "nimbus-c"]
    one_week = from_hardware("H100-SXM", 1024, WEEK / 3600).flop
    assert nimbus.flop_lo == pytest.approx(3 * one_week.lo, rel=1e-9)
    assert nimbus.flop_hi == pytest.approx(3 * one_week.hi, rel=1e-9)
    assert nimbus.countries == ["AE", "SG"]
    kinds = {link["kind"] for link in nimbus.links}
    assert {"organisation", "payment", "workload_name"} <= kinds
    finding = next(f for f in result.findings if "nimbus-a" in f.statistic["accounts"])
    assert finding.verdict == Verdict.INCONSISTENT
    assert finding.severity == Severity.HIGH
    assert "no matching training-run declaration" in finding.explanation
    assert len(finding.evidence["records"]) == 64


def test_declaration_covers_the_entity_and_underdeclaration_does_not() -> None:
    start = 1743436800
    covered = DeclaredRun(
        id="d1",
        party="Nimbus Dynamics Limited",
        compute_flop=7e23,
        start=start,
        end=start + 4 * WEEK,
    )
    result = scan(merged(), MemoryDeclarations([covered]), ScanConfig(threshold=5e23), kyc=kyc())
    nimbus = next(f for f in result.findings if "nimbus-a" in f.statistic["accounts"])
    assert nimbus.verdict == Verdict.CONSISTENT
    assert nimbus.statistic["declarations"] == ["d1"]
    small = covered.model_copy(update={"compute_flop": 1e22})
    result = scan(merged(), MemoryDeclarations([small]), ScanConfig(threshold=5e23), kyc=kyc())
    nimbus = next(f for f in result.findings if "nimbus-a" in f.statistic["accounts"])
    assert nimbus.verdict == Verdict.INCONSISTENT
    assert "Declared only" in nimbus.explanation
    other_period = covered.model_copy(update={"start": start - 40 * WEEK, "end": start - 30 * WEEK})
    result = scan(
        merged(), MemoryDeclarations([other_period]), ScanConfig(threshold=5e23), kyc=kyc()
    )
    nimbus = next(f for f in result.findings if "nimbus-a" in f.statistic["accounts"])
    assert nimbus.verdict == Verdict.INCONSISTENT


def test_without_customer_records_accounts_link_by_workload_name_only() -> None:
    result = scan(merged(), MemoryDeclarations([]), ScanConfig(threshold=5e23))
    nimbus = next(c for c in result.candidates if "nimbus-a" in c.accounts)
    # nimbus-c runs under Kubernetes with a restart suffix of the same workload name
    assert sorted(nimbus.accounts) == ["nimbus-a", "nimbus-b", "nimbus-c"]
    assert {link["kind"] for link in nimbus.links} == {"workload_name"}


def test_threshold_between_bounds_is_inconclusive() -> None:
    result = scan(merged(), MemoryDeclarations([]), ScanConfig(threshold=8e23), kyc=kyc())
    nimbus = next(f for f in result.findings if "nimbus-a" in f.statistic["accounts"])
    assert nimbus.statistic["flop_lo"] < 8e23 <= nimbus.statistic["flop_hi"]
    assert nimbus.verdict == Verdict.INCONCLUSIVE
    assert "only the upper bound" in nimbus.explanation
    assert not scan(merged(), MemoryDeclarations([]), ScanConfig(threshold=1e25)).findings


def test_restricted_party_customer_raises_severity() -> None:
    records = kyc()
    records[0] = records[0].model_copy(update={"org": "华为技术有限公司"})
    result = scan(
        merged(),
        MemoryDeclarations([]),
        ScanConfig(threshold=5e23),
        kyc=records,
        screening_list=sample_list(),
    )
    hits = {h["entry"] for h in result.screening}
    assert "Huawei Technologies Co., Ltd." in hits
    nimbus = next(f for f in result.findings if "nimbus-a" in f.statistic["accounts"])
    assert nimbus.severity == Severity.CRITICAL
    assert nimbus.statistic["restricted_party_hits"]


def test_runs_chain_restarts_within_the_gap_and_split_beyond_it() -> None:
    base = 1_700_000_000
    jobs = [
        {"account": "a", "job_id": str(i), "job_name": name, "chip": "H100", "chip_count": 8.0,
         "start": base + s, "end": base + e}
        for i, (name, s, e) in enumerate(
            [
                ("llm-7b", 0, 3600),
                ("llm-7b-restart-1", 3600 + 600, 7200),
                ("llm-7b_resume2", 7200 + 1200, 10800),
                ("llm-7b-restart-3", 10800 + 10 * 3600, 10800 + 11 * 3600),
                ("other", 0, 3600),
            ]
        )
    ]  # fmt: skip
    con = ibis.duckdb.connect()
    chips = P.chip_table([("H100", "H100-SXM", 989.4e12)])
    costed = P.job_compute(P.validate(ibis.memtable(to_table(jobs)), chips), 0.3, 0.5)
    runs = con.execute(P.runs(costed, 2 * 3600)).sort_values(["stem", "start"])
    assert list(runs["stem"]) == ["llm-7b", "llm-7b", "other"]
    assert list(runs["jobs"]) == [3, 1, 1]
    wide = con.execute(P.runs(costed, 12 * 3600))
    assert sorted(wide["jobs"]) == [1, 4]


def test_parquet_records_give_the_same_answer(tmp_path: Path) -> None:
    parsed = merged()
    path = tmp_path / "records.parquet"
    pq.write_table(parsed.table, path)
    cfg = ScanConfig(threshold=5e23)
    from_file = scan(path, MemoryDeclarations([]), cfg)
    in_memory = scan(parsed, MemoryDeclarations([]), cfg)
    assert [f.statistic["flop_lo"] for f in from_file.findings] == [
        f.statistic["flop_lo"] for f in in_memory.findings
    ]
    assert from_file.report.read == parsed.table.num_rows
    assert from_file.report.balanced()


def test_registry_file_and_bad_config() -> None:
    source = open_source(str(DATA / "declarations.json"))
    assert [d.id for d in source.training_runs()] == ["decl-lab-y-1"]
    with pytest.raises(AccordError, match="--threshold"):
        scan(merged(), source, ScanConfig(threshold=0))
    with pytest.raises(AccordError, match="--util"):
        scan(merged(), source, ScanConfig(utilisation=(0.6, 0.2)))


def test_thresholds_come_from_the_rule_sets() -> None:
    from accord.verify.telemetry.thresholds import parse_threshold, rule_threshold

    value, source = rule_threshold()
    assert value == 1e26 and "ca-sb53-2025" in source
    assert ScanConfig().threshold == value
    eu, cite = parse_threshold("eu-ai-act-2024")
    assert eu == 1e25 and "Art. 51(2)" in cite
    assert parse_threshold("3e24") == (3e24, "given on the command line")
    with pytest.raises(AccordError):
        parse_threshold("us-bis-2023-10")  # chip rules: no training-compute threshold
    with pytest.raises(AccordError):
        parse_threshold("-1")


def test_window_totals_are_exact_at_day_boundaries() -> None:
    import random

    from accord.verify.telemetry.windows import Cumulative

    rng = random.Random(11)
    rows = []
    for i in range(300):
        start = rng.randint(0, 40 * 86400)
        rows.append(
            {"account": f"a{i % 3}", "job_id": str(i), "chip": "H100", "chip_count": 1.0,
             "start": start, "end": start + rng.randint(60, 9 * 86400)}
        )  # fmt: skip
    con = ibis.duckdb.connect()
    costed = con.create_table(
        "c", P.job_compute(P.validate(ibis.memtable(to_table(rows)), _chips()), 0.3, 0.5)
    )
    t0 = min(r["start"] for r in rows)
    cum = Cumulative(P.execute(con, P.day_rates(costed, t0, ["a0", "a1", "a2"])), t0)
    peak = 989.4e12  # H100-SXM dense bf16, as the catalog resolves "H100"

    def brute(lo_day: int, days: int) -> float:
        a, b = t0 + lo_day * 86400, t0 + (lo_day + days) * 86400
        return sum(
            max(0, min(r["end"], b) - max(r["start"], a)) * peak * 0.5
            for r in rows
            if r["account"] in ("a0", "a2")
        )

    window = cum.busiest(["a0", "a2"], 10)
    best = max(brute(k, 10) for k in range(cum.days - 10))
    assert window.flop_hi == pytest.approx(best, rel=1e-9)
    assert window.flop_hi == pytest.approx(brute(int((window.start - t0) // 86400), 10))


def _chips() -> ibis.Table:
    from accord.verify.telemetry.chips import ChipResolver

    return ibis.memtable(
        P.chip_arrow([(p.label, p.chip_id, p.peak_flops) for p in ChipResolver().table(["H100"])])
    )


def test_a_run_split_into_small_jobs_is_a_window_referral_not_a_violation() -> None:
    n = 12_000
    rows = [
        {"account": "quiet", "job_id": str(i), "job_name": f"job{i}x", "chip": "H100",
         "chip_count": 1.0, "start": i * 60, "end": i * 60 + 300}
        for i in range(n)
    ]  # fmt: skip
    # each job 300 s x 989.4e12 x 0.5 = 1.48e17 FLOP, below 1e-4 of the threshold;
    # together 1.78e21 at the upper bound
    threshold = 1.6e21
    result = scan(Parsed(to_table(rows), n), MemoryDeclarations([]), ScanConfig(threshold))
    assert result.large_runs == 0
    [finding] = result.findings
    assert finding.statistic["basis"] == "window"
    assert finding.verdict == Verdict.INCONCLUSIVE and finding.severity == Severity.LOW
    assert finding.statistic["flop_hi"] >= threshold > finding.statistic["large_run_flop_hi"]
    off = scan(
        Parsed(to_table(rows), n),
        MemoryDeclarations([]),
        ScanConfig(threshold, window_days=0),
    )
    assert off.findings == []
