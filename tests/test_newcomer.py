"""A newcomer's dead ends, played as real processes: each documented bad input gives one
line naming the problem and the fix, exit status 2, no traceback, and nothing written."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TELEMETRY = ROOT / "tests" / "data" / "telemetry"


def accord(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "accord.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=(os.environ | {"PYTHONPATH": str(ROOT), "COLUMNS": "80"}) | (env or {}),
        timeout=300,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 2, one non-empty line on stderr, nothing else; returns that line."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    assert result.stdout.strip() == "", result.stdout
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_serve_on_an_impossible_port_writes_nothing(tmp_path: Path) -> None:
    one_line_error(
        accord("serve", "--port", "99999", "--var", "v", cwd=tmp_path),
        "--port: 99999 is not a TCP port",
        "1-65535",
    )
    assert not (tmp_path / "v").exists()


def test_serve_on_a_busy_port_says_so_before_announcing_anything(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        result = accord("serve", "--port", port, "--var", "v", "--demo", cwd=tmp_path)
    one_line_error(result, f"{port} is already in use", "choose another, e.g. --port")
    assert "http://" not in result.stdout
    assert not (tmp_path / "v").exists()


def test_malformed_yaml_says_line_column_and_what(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("name: x\nchips:\n  - chip: H100\n     count: 5\n")
    line = one_line_error(
        accord("cluster", "classify", "bad.yaml", cwd=tmp_path),
        "bad.yaml: not valid YAML at line 4, column 11",
        "mapping values are not allowed here",
    )
    assert line.rstrip().endswith(")")  # the fix is whole, not cut mid-sentence
    (tmp_path / "cut.yaml").write_text('name: "x\n')
    one_line_error(
        accord("cluster", "classify", "cut.yaml", cwd=tmp_path),
        "line 2, column 1",
        "quoted scalar that starts at line 1, column 7",
    )
    cluster = str(ROOT / "examples" / "cluster.yaml")
    one_line_error(
        accord("cluster", "classify", cluster, "--agreement", "cut.yaml", cwd=tmp_path),
        "cut.yaml: not valid YAML at line 2, column 1",
    )


def test_pyspark_without_java_names_the_package_to_install(tmp_path: Path) -> None:
    pytest.importorskip("pyspark")
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    # No java anywhere on PATH; the interpreter is called by its full path.
    env |= {"PATH": str(tmp_path / "empty"), "PYTHONPATH": str(ROOT), "COLUMNS": "80"}
    result = subprocess.run(
        [sys.executable, "-m", "accord.cli.main", "telemetry", "scan",
         str(TELEMETRY / "sacct_sample.txt"), "--registry", str(TELEMETRY / "declarations.json"),
         "--engine", "pyspark"],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300, check=False,
    )  # fmt: skip
    one_line_error(result, "pyspark needs Java", "default-jre-headless", "--engine duckdb")


def test_sample_screening_list_is_never_a_clearance(tmp_path: Path) -> None:
    result = accord("telemetry", "screen", "Tencent Holdings", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "SAMPLE of 10 Entity List entries" in text and "not a clearance" in text
    one_line_error(
        accord("telemetry", "screen", "x", "--list", "nope.csv", cwd=tmp_path),
        "nope.csv: no such file",
        "Consolidated Screening List",
    )


@pytest.mark.parametrize("columns", ["80", "100"])
def test_tables_never_cut_an_identifier(tmp_path: Path, columns: str) -> None:
    from accord.rules import all_rule_sets

    result = accord("rules", "list", cwd=tmp_path, env={"COLUMNS": columns})
    assert result.returncode == 0 and "…" not in result.stdout
    cells = {cell.strip() for line in result.stdout.splitlines() for cell in line.split("│")}
    for rule_set in all_rule_sets():
        assert rule_set.id in cells, rule_set.id


def test_a_failed_check_is_1_and_bad_input_is_2(tmp_path: Path) -> None:
    declared = accord(
        "compute", "estimate", "--params", "405e9", "--tokens", "15.6e12",
        "--declared", "1e25", "--date", "2025-09-01", cwd=tmp_path,
    )  # fmt: skip
    assert declared.returncode == 1 and "inconsistent" in declared.stdout
    honest = accord(
        "compute", "estimate", "--params", "405e9", "--tokens", "15.6e12",
        "--declared", "3.8e25", "--date", "2025-09-01", cwd=tmp_path,
    )  # fmt: skip
    assert honest.returncode == 0, honest.stdout
    one_line_error(
        accord("log", "verify", "missing.json", "--key", "x+00000000+AAAA", cwd=tmp_path),
        "--key",
    )
