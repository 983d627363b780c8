"""The lab's own model code and data shards, handed over, hashed and run in a sandbox.

The model module is written here as a lab would write one (with its own custom autograd
function), its data as shard files; the run is recorded with a full recipe and verified in a
real subprocess. Crashes, timeouts, memory hogs and network access in the lab's code are
each reported, never raised.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from accord.model.finding import Verdict
from accord.verify.training.handover import build_from_code, import_module_file, write_shards
from accord.verify.training.loop import batch_schedule, batch_tensors, deterministic, loss_of
from accord.verify.training.manifest import ModelSpec, TaskSpec
from accord.verify.training.recipe import StepParts, declared_step
from accord.verify.training.recorder import TranscriptRecorder
from accord.verify.training.runs import RecipeConfig, RunConfig, recipe_parts
from accord.verify.training.tasks import make_dataset
from accord.verify.training.verifier import verify_training

LAB_MODEL = '''
import torch
from torch import nn


class ScaledTanh(torch.autograd.Function):
    """The lab's own activation with a hand-written backward."""

    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return 1.5 * y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return 1.5 * (1 - y * y) * grad


class Net(nn.Module):
    def __init__(self, in_dim, hidden, out_dim):
        super().__init__()
        self.a = nn.Linear(in_dim, hidden)
        self.norm = nn.LayerNorm(hidden)
        self.b = nn.Linear(hidden, out_dim)

    def forward(self, x):
        return self.b(self.norm(ScaledTanh.apply(self.a(x))))


def build_model(in_dim, hidden, out_dim):
    CRASH_HERE
    return Net(in_dim, hidden, out_dim)
'''
KWARGS: dict[str, int | float] = {"in_dim": 16, "hidden": 32, "out_dim": 4}


def _record(tmp: Path, crash: str = "pass", steps: int = 30) -> tuple[Path, str]:
    code = tmp / "lab_net.py"
    code.write_text(LAB_MODEL.replace("CRASH_HERE", crash))
    blobs = make_dataset("blobs", 3, 200)
    shards = write_shards(blobs.x, blobs.y, tmp / "lab_data", per_shard=64)  # 4 shards
    run = RunConfig(task="blobs", n_samples=200, steps=steps, k=10, batch_size=20)
    cfg = RecipeConfig(run=run, precision="bf16")
    model = build_from_code(import_module_file(code), "build_model", KWARGS, seed=7)
    opt, sched, scaler = recipe_parts(cfg, model)
    out = tmp / "run"
    schedule = batch_schedule(200, 20, steps, 5)
    with deterministic(1):
        rec = TranscriptRecorder(
            out,
            model,
            opt,
            task=TaskSpec(name="shards", seed=0, n_samples=200),
            model_spec=ModelSpec(arch="module", kwargs=KWARGS, init_seed=7),
            batch_size=20,
            k=10,
            scheduler=sched,
            micro_batches=2,
            clip_grad_norm=1.0,
            precision="bf16",
            model_code=code,
            shard_files=shards,
        )
        assert rec.recipe is not None
        parts = StepParts(model, opt, rec.recipe, sched, scaler)
        for idx in schedule:
            rec.record_batch(idx)
            x, y = batch_tensors(rec.data, idx)
            declared_step(parts, x, y, loss_of)
            rec.after_step()
        head = rec.finish()
    return out, head


def _verify(path: Path, head: str, **kw: Any) -> Any:
    return verify_training(path, b"beacon", expected_head=head, budget=1.0, **kw)


def test_lab_code_and_shards_verify_in_a_sandbox(tmp_path: Path) -> None:
    out, head = _record(tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["code"]["file"] == "code/lab_net.py"
    assert [s["samples"] for s in manifest["shards"]] == [64, 64, 64, 8]
    assert manifest["recipe"]["custom_autograd"] == ["ScaledTanh"]
    finding = _verify(out, head)
    assert finding.verdict is Verdict.CONSISTENT, finding.explanation
    assert finding.statistic["sandbox"]["network"].startswith(("none", "socket"))
    assert all(r["relative"] == 0.0 for r in finding.statistic["replays"])


def test_altered_code_or_shard_is_refused(tmp_path: Path) -> None:
    out, head = _record(tmp_path)
    shutil.copytree(out, tmp_path / "code_edit")
    with (tmp_path / "code_edit/code/lab_net.py").open("a") as f:
        f.write("\n# edited\n")
    finding = _verify(tmp_path / "code_edit", head)
    assert finding.verdict is Verdict.INCONSISTENT
    assert "code/lab_net.py" in finding.explanation
    shard = out / "data/shard_00001.safetensors"
    raw = bytearray(shard.read_bytes())
    raw[-1] ^= 1
    shard.write_bytes(bytes(raw))
    finding = _verify(out, head)
    assert finding.verdict is Verdict.INCONSISTENT
    assert finding.statistic["failed_check"] == "data"
    assert "shard_00001" in finding.explanation


@pytest.mark.parametrize(
    ("crash", "expect"),
    [
        ("raise RuntimeError('lab bug')", "lab bug"),
        ("import socket; socket.create_connection(('example.org', 80))", "network access"),
        ("bytearray(8 * 1024**3)", "MemoryError"),
    ],
)
def test_a_crash_in_lab_code_is_reported_not_raised(
    tmp_path: Path, crash: str, expect: str
) -> None:
    out, _head = _record(tmp_path, steps=10)
    # The lab's code is swapped after recording, with the manifest and chain still matching
    # it, as if the lab had handed over code that fails on the inspector's machine.
    code = out / "code/lab_net.py"
    code.write_text(code.read_text().replace("    pass\n", f"    {crash}\n", 1))
    _rehash_code(out)
    finding = _verify(out, None, sandbox_memory=2 * 1024**3)
    assert finding.verdict is Verdict.INCONCLUSIVE, finding.explanation
    assert expect in finding.explanation


def test_a_hanging_lab_code_times_out(tmp_path: Path) -> None:
    out, _ = _record(tmp_path, steps=10)
    code = out / "code/lab_net.py"
    code.write_text(code.read_text().replace("    pass\n", "    while True: pass\n", 1))
    _rehash_code(out)
    finding = _verify(out, None, sandbox_time_s=15)
    assert finding.verdict is Verdict.INCONCLUSIVE
    assert "timed out" in finding.explanation or "signal" in finding.explanation


def _rehash_code(out: Path) -> None:
    """Re-commit the manifest to the edited code (the chain then no longer matches the old
    head, so these runs are verified without an expected head)."""
    import hashlib

    from accord.verify.training.hashing import sha256_hex
    from accord.verify.training.recorder import write_chain

    m = json.loads((out / "manifest.json").read_text())
    m["code"]["sha256"] = hashlib.sha256((out / m["code"]["file"]).read_bytes()).hexdigest()
    raw = json.dumps(m, indent=2).encode()
    (out / "manifest.json").write_bytes(raw)
    lines = [json.loads(line) for line in (out / "chain.jsonl").read_text().splitlines()]
    records = [line["record"] for line in lines]
    records[-2] = {"kind": "manifest", "sha256": sha256_hex(raw)}
    write_chain(out, m["run_id"], records)


def test_lab_code_runs_in_another_process(tmp_path: Path) -> None:
    out, _ = _record(tmp_path, steps=10)
    marker = tmp_path / "pid.txt"
    code = out / "code/lab_net.py"
    hook = f"    import os; open({str(marker)!r}, 'w').write(str(os.getpid()))\n"
    code.write_text(code.read_text().replace("    pass\n", hook, 1))
    _rehash_code(out)
    finding = _verify(out, None)
    assert finding.verdict is Verdict.CONSISTENT, finding.explanation
    assert int(marker.read_text()) != os.getpid()
