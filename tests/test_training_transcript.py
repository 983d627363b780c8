"""Transcript format, recorder and integrity checks: real training, real files, real hashes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("safetensors")

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.errors import IntegrityError, NotFoundError
from accord.model.finding import Verdict
from accord.verify.training.hashing import merkle_root, sha256_hex
from accord.verify.training.manifest import parse_manifest
from accord.verify.training.runs import RunConfig, record_honest_run
from accord.verify.training.transcript import (
    ledger_summary_bytes,
    load_transcript,
)
from accord.verify.training.verifier import verify_training

CFG = RunConfig(task="blobs", steps=60, k=10, n_samples=512)


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("honest") / "run"
    head = record_honest_run(out, CFG, run_id="test-run")
    return out, head


def _copy(src: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(src, dst)
    return dst


def test_recorder_writes_a_consistent_chain(honest: tuple[Path, str]) -> None:
    out, head = honest
    tr = load_transcript(out, expected_head=head)
    m = tr.manifest
    assert m.steps == 60 and m.k == 10 and len(m.checkpoints) == 7
    assert [c.step for c in m.checkpoints] == [0, 10, 20, 30, 40, 50, 60]
    assert tr.chain_head == head
    summary = json.loads(ledger_summary_bytes(tr.ledger_summary()))
    assert summary["chain_head"] == head
    assert summary["final_weights_sha256"] == m.checkpoints[-1].weights_sha256
    assert m.declared_training_flops == 60 * 32 * m.training_flops_per_sample


def test_honest_run_is_consistent_and_replays_exactly(honest: tuple[Path, str]) -> None:
    out, head = honest
    f = verify_training(out, b"beacon-1", expected_head=head, budget=0.5)
    assert f.verdict == Verdict.CONSISTENT, f.explanation
    assert f.statistic["max_relative_distance"] == 0.0  # deterministic CPU replay is exact
    assert 0 < f.statistic["verifier_cost_fraction"] <= 1
    assert f.evidence["chain_head"] == head


def test_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        verify_training(tmp_path / "nope", b"b")


def _tamper_cases() -> list[str]:
    return [
        "bad_json",
        "missing_checkpoint",
        "flipped_checkpoint_byte",
        "bad_safetensors_header",
        "truncated_indices",
        "reordered_batch",
        "edited_chain",
        "truncated_chain",
        "manifest_steps",
    ]


@pytest.mark.parametrize("case", _tamper_cases())
def test_corrupted_transcripts_give_a_verdict_not_a_traceback(
    honest: tuple[Path, str], tmp_path: Path, case: str
) -> None:
    d = _copy(honest[0], tmp_path)
    ck = d / "ckpt" / "step_00000030.safetensors"
    if case == "bad_json":
        (d / "manifest.json").write_text("{not json")
    elif case == "missing_checkpoint":
        ck.unlink()
    elif case == "flipped_checkpoint_byte":
        raw = bytearray(ck.read_bytes())
        raw[-5] ^= 0xFF
        ck.write_bytes(bytes(raw))
    elif case == "bad_safetensors_header":
        raw = ck.read_bytes()
        ck.write_bytes((10**9).to_bytes(8, "little") + raw[8:])
    elif case == "truncated_indices":
        raw = (d / "indices.bin").read_bytes()
        (d / "indices.bin").write_bytes(raw[:-8])
    elif case == "reordered_batch":
        import numpy as np

        idx = np.fromfile(d / "indices.bin", dtype="<i8").reshape(60, 32)
        idx[[3, 4]] = idx[[4, 3]]
        idx.tofile(d / "indices.bin")
    elif case == "edited_chain":
        lines = (d / "chain.jsonl").read_text().splitlines()
        rec = json.loads(lines[2])
        rec["record"]["root"] = "0" * 64
        lines[2] = json.dumps(rec)
        (d / "chain.jsonl").write_text("\n".join(lines) + "\n")
    elif case == "truncated_chain":
        lines = (d / "chain.jsonl").read_text().splitlines()
        (d / "chain.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    elif case == "manifest_steps":
        man = json.loads((d / "manifest.json").read_text())
        man["declared_training_flops"] *= 10
        (d / "manifest.json").write_text(json.dumps(man))
    f = verify_training(d, b"beacon", budget=1.0)
    assert f.verdict == Verdict.INCONSISTENT
    assert f.statistic["failed_check"] == "integrity", f.explanation
    assert f.explanation


def test_ledger_head_mismatch_is_caught(honest: tuple[Path, str]) -> None:
    f = verify_training(honest[0], b"b", expected_head="ab" * 32)
    assert f.verdict == Verdict.INCONSISTENT and "ledger" in f.statistic["problem"]


def test_merkle_root_matches_rfc6962_shape() -> None:
    a, b, c = (sha256_hex(x.encode()) for x in "abc")
    leaves = [bytes.fromhex(h) for h in (a, b, c)]
    import hashlib

    la, lb, lc = (hashlib.sha256(b"\x00" + x).digest() for x in leaves)
    ab = hashlib.sha256(b"\x01" + la + lb).digest()
    assert merkle_root(leaves) == hashlib.sha256(b"\x01" + ab + lc).hexdigest()


@pytest.fixture(scope="module")
def manifest_bytes(honest: tuple[Path, str]) -> bytes:
    return (honest[0] / "manifest.json").read_bytes()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_manifest_parser_fuzz(manifest_bytes: bytes, data: st.DataObject) -> None:
    """Random mutations of a real manifest parse or raise IntegrityError — nothing else."""
    choice = data.draw(st.integers(0, 3))
    if choice == 0:
        raw = data.draw(st.binary(max_size=300))
    elif choice == 1:
        pos = data.draw(st.integers(0, len(manifest_bytes) - 1))
        raw = (
            manifest_bytes[:pos]
            + data.draw(st.binary(min_size=1, max_size=4))
            + manifest_bytes[pos + 1 :]
        )
    elif choice == 2:
        raw = manifest_bytes[: data.draw(st.integers(0, len(manifest_bytes)))]
    else:
        obj = json.loads(manifest_bytes)
        key = data.draw(st.sampled_from(sorted(obj)))
        obj[key] = data.draw(
            st.one_of(
                st.none(),
                st.integers(),
                st.floats(),
                st.text(max_size=5),
                st.lists(st.integers(), max_size=3),
            )
        )
        raw = json.dumps(obj).encode()
    try:
        parse_manifest(raw)
    except IntegrityError as err:
        assert err.field.startswith("manifest.json")


@settings(max_examples=60, deadline=None)
@given(raw=st.binary(max_size=400))
def test_checkpoint_parser_fuzz(raw: bytes) -> None:
    """Arbitrary bytes as a checkpoint: parsed or IntegrityError, never another exception."""
    from accord.verify.training.checkpoint import load_checkpoint_bytes

    try:
        load_checkpoint_bytes(raw, "ckpt/x.safetensors")
    except IntegrityError as err:
        assert err.field == "ckpt/x.safetensors"


@settings(max_examples=60, deadline=None)
@given(raw=st.binary(max_size=400))
def test_chain_parser_fuzz(raw: bytes) -> None:
    from accord.verify.training.transcript import parse_chain

    try:
        parse_chain(raw)
    except IntegrityError as err:
        assert err.field.startswith("chain.jsonl")


def test_hostile_model_size_is_refused(manifest_bytes: bytes) -> None:
    obj = json.loads(manifest_bytes)
    obj["model"]["kwargs"]["hidden"] = 10**9
    with pytest.raises(IntegrityError, match="kwargs"):
        parse_manifest(json.dumps(obj).encode())
