"""Parsers for every supported source, on hand-written format samples (tests/data/telemetry)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.errors import AccordError
from accord.verify.telemetry.chips import ChipResolver
from accord.verify.telemetry.ingest import detect_format, load_records
from accord.verify.telemetry.ingest.kubernetes import parse_k8s_jobs
from accord.verify.telemetry.ingest.philly import parse_philly
from accord.verify.telemetry.ingest.slurm import parse_sacct, parse_tres
from accord.verify.telemetry.schema import COLUMNS

DATA = Path(__file__).parent / "data" / "telemetry"


def rows(parsed):  # type: ignore[no-untyped-def]
    return parsed.table.to_pylist()


def test_formats_are_detected_from_content() -> None:
    assert detect_format(DATA / "sacct_sample.txt") == "slurm"
    assert detect_format(DATA / "k8s_jobs_sample.json") == "k8s"
    assert detect_format(DATA / "philly_cluster_job_log_sample.json") == "philly"
    assert detect_format(DATA / "pai_task_table.csv") == "pai"
    assert detect_format(DATA / "helios_cluster_log.csv") == "helios"
    with pytest.raises(AccordError, match="cannot tell"):
        detect_format(DATA / "README.md")


def test_sacct_reads_typed_gres_and_refuses_steps_pending_and_cpu_jobs() -> None:
    parsed = load_records(DATA / "sacct_sample.txt", tz="Asia/Singapore", country="SG")
    assert parsed.read == 14
    assert parsed.rejected == Counter({"job_step": 2, "never_started": 1, "no_accelerator": 1})
    got = rows(parsed)
    # every line is either a row or a refusal; 5011 has two GPU types -> two rows
    assert len(got) + sum(parsed.rejected.values()) == parsed.read + 1
    first = got[0]
    assert first["account"] == "nimbus-a" and first["chip"] == "h100"
    assert first["chip_count"] == 1024
    assert first["end"] - first["start"] == 7 * 86400
    # 2025-04-01T00:00 in Singapore (UTC+8) is 2025-03-31T16:00 UTC
    assert first["start"] == int(datetime(2025, 3, 31, 16, tzinfo=UTC).timestamp())
    untyped = next(r for r in got if r["job_id"] == "5009")
    assert untyped["chip"] is None and untyped["chip_count"] == 8
    running = next(r for r in got if r["job_id"] == "5006")
    assert running["end"] is None
    mixed = sorted(r["job_id"] for r in got if r["job_id"].startswith("5011"))
    assert mixed == ["5011#a100", "5011#h100"]
    assert set(got[0]) == set(COLUMNS)


def test_tres_parsing_handles_typed_bare_and_other_accelerators() -> None:
    assert parse_tres("cpu=8,gres/gpu:a100=4,gres/gpu=4") == ([("a100", 4.0)], 4.0)
    assert parse_tres("cpu=8,gres/gpu=2") == ([], 2.0)
    assert parse_tres("cpu=8,mem=1G") == ([], None)


def test_kubernetes_jobs_list_and_watch_stream_agree() -> None:
    text = (DATA / "k8s_jobs_sample.json").read_text()
    parsed = parse_k8s_jobs(text)
    assert parsed.read == 4
    assert parsed.rejected == Counter({"no_accelerator": 1})
    got = {r["job_name"]: r for r in rows(parsed)}
    big = got["orion-pretrain-restart-2"]
    assert big["chip_count"] == 8 * 128
    assert big["account"] == "nimbus-c" and big["payment"] == "card-7731"
    assert big["facility"] == "me-central-1"
    assert got["ascend-ft"]["chip"] == "Ascend910" and got["ascend-ft"]["account"] == "tenant-blue"
    assert got["still-running"]["end"] is None
    items = json.loads(text)["items"]
    stream = "\n".join(
        json.dumps({"type": t, "object": obj}) for obj in items for t in ("ADDED", "MODIFIED")
    )
    again = parse_k8s_jobs(stream)
    assert again.read == 4
    assert again.table.equals(parsed.table)


def test_philly_attempts_become_records_of_one_workload() -> None:
    parsed = parse_philly((DATA / "philly_cluster_job_log_sample.json").read_text())
    assert parsed.read == 4  # 2 attempts + 1 job without attempts + 1 attempt
    assert parsed.rejected == Counter({"never_started": 1})
    got = rows(parsed)
    assert [r["chip_count"] for r in got] == [8.0, 8.0, 1.0]
    assert got[0]["job_name"] == got[1]["job_name"] == "application_1506638472019_10238"
    assert got[0]["chip"] == "PHILLY-UNSPECIFIED"
    assert got[2]["end"] is None
    assert got[0]["facility"] == "philly/6214e9"


def test_pai_tasks_get_fractional_gpus_and_users_from_job_table() -> None:
    parsed = load_records(DATA / "pai_task_table.csv")
    assert parsed.read == 7
    assert parsed.rejected == Counter({"no_accelerator": 1, "unparseable": 1})
    got = {r["job_id"]: r for r in rows(parsed)}
    assert got["jobA01/worker"]["chip_count"] == pytest.approx(2.0)  # 4 instances x 50 %
    assert got["jobB02/tensorflow"]["chip_count"] == pytest.approx(0.5)
    assert got["jobA01/worker"]["account"] == "userAAAA"
    assert got["jobE05/worker"]["end"] is None


def test_helios_log_rows() -> None:
    parsed = load_records(DATA / "helios_cluster_log.csv", tz="Asia/Shanghai")
    assert parsed.read == 4
    assert parsed.rejected == Counter({"no_accelerator": 1, "bad_value": 1})
    got = rows(parsed)
    assert [r["chip_count"] for r in got] == [1.0, 16.0]
    assert got[0]["end"] - got[0]["start"] == 36000


def test_chip_labels_from_schedulers_resolve_to_catalog_peaks() -> None:
    resolver = ChipResolver({"PHILLY-UNSPECIFIED": "V100"})
    cases = {
        "h100": "H100-SXM",
        "nvidia_h100_80gb_hbm3": "H100-SXM",
        "NVIDIA-A100-SXM4-80GB": "A100-SXM-80GB",
        "H100 PCIe": "H100-PCIE",
        "Ascend910": "ASCEND-910",
        "V100M32": "V100-SXM2",
        "T4": "T4",
        "PHILLY-UNSPECIFIED": "V100-SXM2",
    }
    for label, chip in cases.items():
        peak = resolver.resolve(label)
        assert peak is not None and peak.chip_id == chip, label
    assert resolver.resolve("MISC") is None
    assert resolver.resolve("quantum9") is None
    assert resolver.assumptions() == ["trace label 'PHILLY-UNSPECIFIED' taken to be V100"]
    with pytest.raises(AccordError, match="not in the catalog"):
        ChipResolver({"MISC": "NoSuchChip"})


def test_missing_file_and_unknown_format_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(AccordError, match="no such file"):
        load_records(tmp_path / "nope.txt")
    with pytest.raises(AccordError, match="unknown format"):
        load_records(DATA / "sacct_sample.txt", "xml")
    bad = tmp_path / "bad.json"
    bad.write_text("[{", encoding="utf-8")
    with pytest.raises(AccordError, match="not valid JSON"):
        load_records(bad, "philly")


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=400))
def test_sacct_parser_never_crashes_on_garbage(text: str) -> None:
    header = "JobID|JobName|User|Account|State|Start|End|AllocTRES\n"
    parsed = parse_sacct(header + text)
    assert parsed.table.num_rows + sum(parsed.rejected.values()) >= parsed.read


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
        max_leaves=20,
    )
)
def test_json_parsers_refuse_or_read_any_json(value: object) -> None:
    text = json.dumps(value)
    for parse in (parse_k8s_jobs, parse_philly):
        try:
            parsed = parse(text)
        except AccordError:
            continue
        assert parsed.table.num_rows <= max(parsed.read, 0) + parsed.table.num_rows
        assert parsed.read >= 0
