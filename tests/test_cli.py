"""The `accord` command as a user runs it: a real process, JSON and tables, clear errors."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cli_process import accord


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return accord(*args, timeout=120)


ISSUE_COMMANDS = [
    ["chip", "show", "H100-SXM"],
    ["chip", "classify", "H20", "--date", "2024-01-01"],
    [
        "shipment",
        "check",
        "--chip",
        "H100-SXM",
        "--count",
        "5000",
        "--to",
        "MY",
        "--date",
        "2025-03-01",
    ],
    ["compute", "estimate", "--params", "405e9", "--tokens", "15.6e12"],
    ["cluster", "classify", "examples/cluster.yaml"],
]


@pytest.mark.parametrize("args", ISSUE_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_issue_commands_work_as_tables_and_json(args: list[str]) -> None:
    people = run(*args)
    assert people.returncode == 0, people.stderr
    assert people.stdout.strip()
    machine = run(*args, "--json")
    assert machine.returncode == 0, machine.stderr
    json.loads(machine.stdout)


def test_json_answers_are_the_published_ones() -> None:
    h20 = json.loads(run("chip", "classify", "H20", "--date", "2024-01-01", "--json").stdout)
    assert h20["status"] == "not_controlled" and h20["classes"] == []
    est = json.loads(
        run("compute", "estimate", "--params", "405e9", "--tokens", "15.6e12", "--json").stdout
    )
    assert est["estimates"][0]["flop"]["central"] == pytest.approx(3.79e25, rel=0.01)
    ship = json.loads(
        run(
            "shipment",
            "check",
            "--chip",
            "H100",
            "--count",
            "10",
            "--to",
            "CN",
            "--date",
            "2024-02-01",
            "--json",
        ).stdout
    )
    assert ship["status"] == "license_required"


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["chip", "show", "H10"], "chip"),
        (["shipment", "check", "--chip", "H10", "--count", "5", "--to", "MY"], "--chip"),
        (["shipment", "check", "--chip", "H100", "--count", "-5", "--to", "MY"], "--count"),
        (["shipment", "check", "--chip", "H100", "--count", "abc", "--to", "MY"], "--count"),
        (["shipment", "check", "--chip", "H100", "--count", "5", "--to", "XY"], "--to"),
        (["chip", "classify", "H100", "--date", "2020-01-01"], "date"),
        (["chip", "classify", "H100", "--date", "yesterday"], "--date"),
        (["cluster", "classify", "no-such-file.yaml"], "no-such-file.yaml"),
        (["compute", "estimate", "--params", "1e9"], "--params/--tokens"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], field: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith(f"error {field}:"), result.stderr


def test_unknown_chip_error_suggests_and_json_error_is_parseable() -> None:
    result = run("chip", "show", "H10", "--json")
    assert result.returncode == 2
    payload = json.loads(result.stdout)
    assert payload["error"]["field"] == "chip"
    assert "H100-SXM" in payload["error"]["fix"]


def test_bad_cluster_file_names_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("name: x\nchips:\n  - {chip: H100, count: -3}\n")
    result = run("cluster", "classify", str(bad))
    assert result.returncode == 2
    assert "chips.0.count" in result.stderr


def test_demo_runs() -> None:
    result = run("demo", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    rows = {row["chip"]: row for row in data["chips"]}
    assert rows["H20"]["class Nov 2023"] == "not controlled"
    assert rows["A800-SXM-80GB"]["class Oct 2022"] == "not controlled"
    assert rows["A800-SXM-80GB"]["class Nov 2023"] == "3A090.a"


def test_version_and_bare_command() -> None:
    assert run("--version").stdout.strip() == "0.1.0"
    bare = run()
    assert bare.returncode == 0 and "Usage" in bare.stdout
