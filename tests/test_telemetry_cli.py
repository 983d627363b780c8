"""`accord telemetry` as a user runs it: a real process, JSON and tables, clear errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from cli_process import ROOT, accord

DATA = ROOT / "tests" / "data" / "telemetry"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return accord("telemetry", *args)


def test_scan_json_reports_every_record_and_the_split_run() -> None:
    out = run(
        "scan", str(DATA / "sacct_sample.txt"), str(DATA / "k8s_jobs_sample.json"),
        "--registry", str(DATA / "declarations.json"), "--accounts", str(DATA / "kyc_accounts.csv"),
        "--threshold", "5e23", "--tz", "Asia/Singapore", "--json",
    )  # fmt: skip
    assert out.returncode == 1, out.stderr  # an undeclared run: the declarations do not hold
    data = json.loads(out.stdout)
    assert data["ingest"]["balanced"] is True
    reasons = {r["reason"] for r in data["ingest"]["rejected"]}
    assert {"reversed_clock", "overlapping_duplicate", "unknown_chip", "missing_end"} <= reasons
    flagged = [f for f in data["findings"] if f["verdict"] == "inconsistent"]
    assert len(flagged) == 1
    assert sorted(flagged[0]["statistic"]["accounts"]) == ["nimbus-a", "nimbus-b", "nimbus-c"]


def test_scan_table_output_and_chip_map() -> None:
    out = run(
        "scan", str(DATA / "philly_cluster_job_log_sample.json"), "--registry",
        str(DATA / "declarations.json"), "--threshold", "1e18",
        "--chip-map", "PHILLY-UNSPECIFIED=V100",
    )  # fmt: skip
    assert out.returncode == 1, out.stderr  # entities above 1e18 FLOP that nobody declared
    assert "taken to be V100" in out.stdout
    assert "Entities at or above the threshold" in out.stdout
    assert "never_started" in out.stdout


def test_screen_chinese_name() -> None:
    out = run("screen", "华为技术有限公司", "--json")
    assert out.returncode == 0, out.stderr
    hits = json.loads(out.stdout)["hits"]
    assert hits[0]["entry"] == "Huawei Technologies Co., Ltd."
    assert hits[0]["federal_register_notice"] == "84 FR 22961"
    assert json.loads(out.stdout)["screened_against"]["sample"] is True
    table = run("screen", "Tencent Holdings")
    assert table.returncode == 0 and "No entry" in table.stdout
    # The bundled sample is named, dated and never passed off as a clearance.
    assert "SAMPLE" in table.stdout and "not a clearance" in table.stdout
    assert "compiled 2026-11-26" in table.stdout


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    cases = [
        ("scan", str(DATA / "sacct_sample.txt"), "--registry", str(tmp_path / "none.db")),
        ("scan", str(DATA / "sacct_sample.txt"), "--registry", str(DATA / "declarations.json"),
         "--util", "0.9-0.1"),
        ("scan", str(DATA / "sacct_sample.txt"), "--registry", str(DATA / "declarations.json"),
         "--chip-map", "nonsense"),
        ("scan", str(tmp_path / "missing.txt"), "--registry", str(DATA / "declarations.json")),
        ("screen", "x", "--min-score", "3"),
    ]  # fmt: skip
    for args in cases:
        out = run(*args)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr
        assert out.stderr.strip().startswith("error")


def test_evaluate_labels_results_synthetic() -> None:
    out = run("evaluate", "--days", "3", "--undeclared", "3", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["synthetic"] is True
    assert data["any_flag"]["positives"] == 3
