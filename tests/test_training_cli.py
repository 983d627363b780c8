"""`accord training` end to end through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("safetensors")

from typer.testing import CliRunner

from accord.cli.main import app

runner = CliRunner()
BEACON = "00112233445566778899aabbccddeeff"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "demo"
    res = runner.invoke(app, ["training", "record-demo", str(out), "--steps", "60", "--k", "10"])
    assert res.exit_code == 0, res.output
    return out


def test_verify_honest_demo(demo: Path) -> None:
    res = runner.invoke(app, ["training", "verify", str(demo), "--beacon", BEACON])
    assert res.exit_code == 0, res.output
    assert "CONSISTENT" in res.output and "verifier cost" in res.output


def test_verify_json_and_ledger_summary(demo: Path) -> None:
    res = runner.invoke(app, ["training", "verify", str(demo), "--beacon", BEACON, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["finding"]["verdict"] == "consistent"
    assert out["beacon"] == BEACON
    res = runner.invoke(app, ["training", "ledger-summary", str(demo), "--json"])
    summary = json.loads(res.output)
    assert summary["chain_head"] == out["finding"]["evidence"]["chain_head"]


def test_corrupted_transcript_gets_a_verdict_not_a_traceback(demo: Path, tmp_path: Path) -> None:
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(demo, bad)
    (bad / "ckpt" / "step_00000020.safetensors").write_bytes(b"\x00" * 4)
    res = runner.invoke(app, ["training", "verify", str(bad), "--beacon", BEACON])
    assert res.exit_code == 1
    assert "INCONSISTENT" in res.output and "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)


def test_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    res = runner.invoke(app, ["training", "verify", str(tmp_path / "none")])
    assert res.exit_code == 2 and "not a directory" in res.output
    res = runner.invoke(app, ["training", "verify", str(tmp_path), "--beacon", "zz"])
    assert res.exit_code == 2 and "--beacon" in res.output
    res = runner.invoke(app, ["training", "record-demo", str(tmp_path / "x"), "--task", "cifar"])
    assert res.exit_code == 2 and "unknown task" in res.output
    res = runner.invoke(app, ["training", "attack-demo", "nope", str(tmp_path / "w")])
    assert res.exit_code == 2 and "unknown attack" in res.output


def _attack(name: str, workdir: Path) -> dict[str, str]:
    """Build an attack transcript through the CLI; what the cheating lab would declare."""
    res = runner.invoke(
        app, ["training", "attack-demo", name, str(workdir), "--steps", "100", "--json"]
    )
    assert res.exit_code == 0, res.output
    info: dict[str, str] = json.loads(res.output)
    return info


def test_attack_demo_is_caught_by_cli(tmp_path: Path) -> None:
    info = _attack("short_run_claimed_long", tmp_path)
    res = runner.invoke(
        app,
        [
            "training",
            "verify",
            info["transcript"],
            "--beacon",
            BEACON,
            "--model-sha256",
            info["declared_weights_sha256"],
        ],
    )
    assert res.exit_code == 1 and "INCONSISTENT" in res.output


def test_hidden_steps_are_counted_in_the_report(tmp_path: Path) -> None:
    """The step count names the segment and the number of steps the lab really took."""
    info = _attack("undeclared_extra_steps_hidden", tmp_path)
    res = runner.invoke(
        app,
        ["training", "verify", info["transcript"], "--beacon", BEACON, "--json"],
    )
    assert res.exit_code == 1, res.output
    finding = json.loads(res.output)["finding"]
    assert finding["statistic"]["failed_check"] == "step_count"
    assert "moved as 20 optimizer steps move them, 10 declared" in finding["explanation"]
    assert finding["statistic"]["step_count"]["cost_fraction"] < 0.02
    res = runner.invoke(app, ["training", "verify", info["transcript"], "--beacon", BEACON])
    assert "step count" in res.output and "contradicted in segments" in res.output


def test_record_and_verify_a_bf16_recipe_demo(tmp_path: Path) -> None:
    out = tmp_path / "recipe"
    args = ["training", "record-demo", str(out), "--steps", "30", "--k", "10", "--recipe", "bf16"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["training", "verify", str(out), "--beacon", BEACON, "--json"])
    assert res.exit_code == 0, res.output
    finding = json.loads(res.output)["finding"]
    assert finding["verdict"] == "consistent"
    assert finding["statistic"]["precision"] == "bf16"


def test_record_demo_unknown_recipe_is_one_line(tmp_path: Path) -> None:
    res = runner.invoke(app, ["training", "record-demo", str(tmp_path / "x"), "--recipe", "fp8"])
    assert res.exit_code == 2
    assert "--recipe" in res.output and "Traceback" not in res.output
