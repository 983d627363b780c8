"""`accord provenance` as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from provenance_helpers import tiny_zoo
from typer.testing import CliRunner

from accord.cli.main import app

runner = CliRunner()


def test_cli_test_json_and_report() -> None:
    zoo: Any = tiny_zoo()
    child, parent = str(zoo.path("seed0-finetune_permuted")), str(zoo.path("seed0"))
    result = runner.invoke(app, ["provenance", "test", child, parent, "--json"])
    assert result.exit_code == 1, result.output  # derived: independence does not hold
    data = json.loads(result.output)
    assert data["verdict"] == "inconsistent" and data["p_value"] < 1e-10
    controls = [a for i in range(1, 6) for a in ("--control", str(zoo.path(f"seed{i}")))]
    args = ["provenance", "test", child, parent, "--blackbox", "--prompts", "64", *controls]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "p-value" in result.output and "does not show" in result.output
    assert "black-box tests" in result.output
    rows = [line.split("│")[1].strip() for line in result.output.splitlines() if "│" in line]
    assert {"agreement", "distillation", "sequence"} <= set(rows)


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{")
    result = runner.invoke(app, ["provenance", "test", str(bad), str(bad), "--json"])
    assert result.exit_code == 2
    assert json.loads(result.stdout.splitlines()[0])["error"]["field"].endswith("cut.safetensors")
    result = runner.invoke(app, ["provenance", "test", str(tmp_path / "x.onnx"), str(bad)])
    assert result.exit_code == 2


def test_cli_zoo_builds_a_demo(tmp_path: Path) -> None:
    out = tmp_path / "zoo"
    args = [
        "provenance",
        "zoo",
        str(out),
        "--seeds",
        "2",
        "--steps",
        "3",
        "--d-model",
        "32",
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    models = json.loads(result.output)["models"]
    assert {m["kind"] for m in models} >= {"base", "permuted", "distilled_soft", "merged"}
    assert all(Path(m["file"]).exists() for m in models)
