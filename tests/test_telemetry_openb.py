"""The telemetry scan on the real Alibaba 2023 GPU trace ("openb") with injected runs.

Skips when the trace is not beside the repository (``../shared/data/clustertraces/``, or
``ACCORD_OPENB_TRACE``). Accounts are assigned to the pods at random (the trace has no user
column) and pods that name no GPU model are costed as V100; see ``trace_eval``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.compute as pc
import pytest
from cli_process import ROOT, accord

from accord.model import Severity, Verdict
from accord.verify.telemetry.chips import ChipResolver
from accord.verify.telemetry.ingest import load_records
from accord.verify.telemetry.ingest.base import Parsed
from accord.verify.telemetry.ingest.openb import UNSPECIFIED
from accord.verify.telemetry.registry import MemoryDeclarations
from accord.verify.telemetry.scan import ScanConfig, scan
from accord.verify.telemetry.trace_eval import CHIP_ASSUMPTION, openb_background, run_once

TRACE = Path(
    os.environ.get(
        "ACCORD_OPENB_TRACE",
        ROOT.parent / "shared/data/clustertraces/alibaba_gpu_v2023_openb_pod_list_default.csv",
    )
)
needs_trace = pytest.mark.skipif(not TRACE.exists(), reason=f"openb trace not at {TRACE}")


@pytest.fixture(scope="module")
def background() -> Parsed:
    return openb_background(TRACE, seed=0)


@needs_trace
def test_openb_pods_are_read_with_shares_serving_and_every_refusal_counted() -> None:
    parsed = load_records(TRACE)  # format detected from the header
    assert parsed.read == 8152
    assert dict(parsed.rejected) == {"never_started": 861, "no_accelerator": 1088}
    table = parsed.table
    assert table.num_rows == 8152 - 861 - 1088
    first = {k: v[0] for k, v in table.slice(0, 2).to_pydict().items()}
    assert first["job_id"] == "openb-pod-0000" and first["chip_count"] == 1.0
    second = table.slice(1, 1).to_pylist()[0]
    assert second["chip_count"] == pytest.approx(0.46)  # 1 GPU x gpu_milli 460
    assert set(table.column("chip").to_pylist()) == {UNSPECIFIED}  # gpu_spec always empty
    serving = pc.sum(pc.equal(table.column("workload"), "serving")).as_py()
    assert serving == 3539  # QoS LS on at most one GPU
    notes = " ".join(parsed.assumptions)
    assert "G2 4,392" in notes and "no user column" in notes and "gpu_spec empty" in notes


def test_openb_node_models_resolve_to_catalogue_chips() -> None:
    resolver = ChipResolver()
    assert resolver.resolve("P100").chip_id == "P100-PCIE"  # type: ignore[union-attr]
    assert resolver.resolve("A10").chip_id == "A10"  # type: ignore[union-attr]
    assert resolver.resolve("V100M16").chip_id == "V100-SXM2"  # type: ignore[union-attr]
    # a pod that accepts either V100 memory size ran on one chip either way
    assert resolver.resolve("V100M16|V100M32").chip_id == "V100-SXM2"  # type: ignore[union-attr]
    # ... but not when the models differ, nor on the anonymised models
    assert resolver.resolve("V100M16|T4") is None
    assert resolver.resolve("G2") is None
    assert resolver.resolve(UNSPECIFIED) is None


@needs_trace
def test_nothing_assessed_exits_non_zero_instead_of_a_clean_result() -> None:
    wrong = accord("telemetry", "scan", str(TRACE), "--format", "pai", "--registry",
                   str(ROOT / "tests/data/telemetry/declarations.json"), "--no-screen")  # fmt: skip
    assert wrong.returncode == 2
    assert "Nothing was assessed" in wrong.stderr and "--format" in wrong.stderr
    assert "No entity's compute reaches the threshold" not in wrong.stdout
    # the trace as published: no user column, so every GPU pod lacks an account
    bare = accord("telemetry", "scan", str(TRACE), "--json", "--registry",
                  str(ROOT / "tests/data/telemetry/declarations.json"), "--no-screen")  # fmt: skip
    assert bare.returncode == 2
    data = json.loads(bare.stdout)
    assert data["assessed"] is False
    assert data["findings"][0]["verdict"] == "inconclusive"
    assert "account" in bare.stderr


def test_unknown_chips_only_give_an_inconclusive_finding() -> None:
    rows = [
        {"account": "a", "job_id": str(i), "chip": "quantum9", "chip_count": 8.0,
         "start": 0, "end": 86400 * 30}
        for i in range(3)
    ]  # fmt: skip
    from accord.verify.telemetry.schema import to_table

    result = scan(Parsed(to_table(rows), 3), MemoryDeclarations([]), ScanConfig(threshold=1e20))
    assert not result.assessed
    [finding] = result.findings
    assert finding.verdict == Verdict.INCONCLUSIVE
    assert "--chip-map" in finding.explanation and "quantum9" in finding.explanation


@needs_trace
def test_small_jobs_are_flagged_by_window_totals_with_referral_wording(
    background: Parsed,
) -> None:
    run = run_once(
        background, seed=0, threshold=1e21,
        actors=["small_jobs", "small_jobs_card", "under_small"],
    )  # fmt: skip
    got = {o.kind: o for o in run.outcomes}
    assert got["small_jobs"].flagged
    assert got["small_jobs_card"].flagged and got["small_jobs_card"].accounts_linked == 20
    assert not got["under_small"].flagged
    window = [f for f in run.scan.flagged if f.statistic.get("basis") == "window"]
    assert len(window) == 2
    for f in window:
        assert f.verdict == Verdict.INCONCLUSIVE and f.severity == Severity.LOW
        assert "not a violation" in f.explanation and "weaker evidence" in f.explanation
    # measured on this background: no background account or entity crosses by its total
    assert run.background_flags == []


@needs_trace
def test_serving_pods_do_not_count_as_training(background: Parsed) -> None:
    threshold = 1e20
    table = background.table
    serving = pc.fill_null(pc.equal(table.column("workload"), "serving"), False)
    longest = pc.max(
        pc.multiply(
            pc.subtract(table.column("end"), table.column("start")).cast("float64"),
            table.column("chip_count"),
        ).filter(serving)
    ).as_py()
    # the test matters: one serving pod alone would cross the threshold as training
    assert longest * 125e12 * 0.3 > threshold
    cfg = ScanConfig(threshold=threshold, chip_map=dict(CHIP_ASSUMPTION))
    full = scan(background, MemoryDeclarations([]), cfg)
    # the same pods with the serving ones given no running time: same accounts and
    # identifiers (so the same links), no serving compute at all
    ends = pc.if_else(serving, table.column("start"), table.column("end"))
    idle = table.set_column(table.schema.get_field_index("end"), "end", ends)
    without = scan(Parsed(idle, background.read), MemoryDeclarations([]), cfg)

    def verdicts(result: object) -> set[tuple[str, str, float]]:
        return {
            (f.subject, f.verdict.value, round(f.statistic["flop_lo"], -15))
            for f in result.findings  # type: ignore[attr-defined]
        }

    assert verdicts(full) == verdicts(without)
    noted = [f for f in full.findings if f.statistic["serving"]["jobs"]]
    assert noted and all("left out of training compute" in f.explanation for f in noted)


@needs_trace
def test_a_run_handed_through_six_accounts_once_each_is_linked(background: Parsed) -> None:
    run = run_once(background, seed=0, threshold=1e21, actors=["handoff_once_6", "declared"])
    got = {o.kind: o for o in run.outcomes}
    assert got["handoff_once_6"].flagged
    assert got["handoff_once_6"].accounts_linked == 6
    assert not got["declared"].flagged
    links = [
        lk
        for f in run.scan.flagged
        for lk in f.statistic["links"]
        if lk["kind"] == "timing_handoff"
    ]
    assert links and all("chain of 5 hand-offs" in lk["detail"] for lk in links)
    assert all(f.verdict == Verdict.INCONCLUSIVE for f in run.scan.flagged)  # weak links only
