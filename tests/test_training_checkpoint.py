"""The recorder's own checkpoint writer and batch hashing against their reference definitions.

The recorder lays snapshots out as the safetensors data section and hashes batch leaves in
one numpy pass; both must give exactly what the straightforward definitions give, since the
verifier recomputes them that way.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from safetensors.torch import load, save  # noqa: E402

from accord.verify.training.checkpoint import (  # noqa: E402
    MODEL_PREFIX,
    Snapshotter,
    collect_state,
    take_snapshot,
    weights_digest,
)
from accord.verify.training.hashing import (  # noqa: E402
    batch_leaf,
    batch_leaf_nodes,
    batches_root,
    merkle_level,
    merkle_root,
    merkle_root_of_nodes,
    shared_height,
)
from accord.verify.training.loop import batch_schedule, deterministic, train_step  # noqa: E402
from accord.verify.training.runs import RunConfig, fresh, recorder_for  # noqa: E402
from accord.verify.training.tasks import make_dataset  # noqa: E402
from accord.verify.training.transcript import load_transcript  # noqa: E402


@pytest.mark.parametrize("task", ["blobs", "charlm"])
def test_snapshot_file_is_what_safetensors_writes(task: str) -> None:
    """SGD (momentum appears after step 1) and AdamW (three buffers per parameter)."""
    cfg = RunConfig(task=task, steps=3, k=1, n_samples=256, batch_size=16)
    model, opt = fresh(cfg)
    data = make_dataset(task, cfg.data_seed, cfg.n_samples)
    snaps = Snapshotter()
    with deterministic(1):
        for step, idx in enumerate(batch_schedule(cfg.n_samples, 16, 3, 0)):
            live = {name: t.clone() for name, t in collect_state(model, opt)}
            snap = snaps.take(step, model, opt)
            train_step(model, opt, data, idx)  # moves the live state on; the copy must not
            raw = snap.to_bytes()
            assert raw == save(live, metadata={"step": str(step)})
            loaded = load(raw)
            assert set(loaded) == set(live)
            assert all(torch.equal(loaded[n], live[n]) for n in live)
            weights = {n[len(MODEL_PREFIX) :]: t.numpy() for n, t in live.items() if "model/" in n}
            assert snap.weights_sha256() == weights_digest(weights)
            assert weights_digest(snap.weights()) == weights_digest(weights)
            snap.release()


def test_mixed_dtypes_and_scalars_match_safetensors() -> None:
    class Holder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            for i, dt in enumerate([torch.float64, torch.int64, torch.float16, torch.bool]):
                self.register_buffer(f"b{i}", torch.ones(3, 2, dtype=dt))
            self.register_buffer("scalar", torch.tensor(2.5))
            self.w = torch.nn.Parameter(torch.arange(6.0).reshape(2, 3))

    model = Holder()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    live = {name: t.clone() for name, t in collect_state(model, opt)}
    snap = take_snapshot(7, model, opt)
    assert snap.to_bytes() == save(live, metadata={"step": "7"})
    assert list(snap.tensors) == list(live)
    for name, t in snap.tensors.items():
        assert t.dtype == live[name].dtype and torch.equal(t, live[name])
    weights = {n[len(MODEL_PREFIX) :]: t.numpy() for n, t in live.items() if "model/" in n}
    assert len(weights) == 6
    assert snap.weights_sha256() == weights_digest(weights)


def test_reused_buffers_hold_each_snapshot_s_own_state() -> None:
    cfg = RunConfig(task="blobs", steps=4, k=1, n_samples=256, batch_size=16)
    model, opt = fresh(cfg)
    snaps = Snapshotter()
    first = snaps.take(0, model, opt)
    before = first.to_bytes()
    first.release()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    second = snaps.take(1, model, opt)
    assert second.raw is first.raw  # the released buffer came back
    assert second.to_bytes() != before
    live = {name: t.clone() for name, t in collect_state(model, opt)}
    assert second.to_bytes() == save(live, metadata={"step": "1"})


@settings(max_examples=60, deadline=None)
@given(
    first=st.integers(0, 2**40),
    n=st.integers(0, 40),
    width=st.integers(1, 9),
    seed=st.integers(0, 2**32 - 1),
)
def test_batch_leaf_nodes_match_the_leaf_definition(
    first: int, n: int, width: int, seed: int
) -> None:
    rows = np.random.default_rng(seed).integers(-(2**62), 2**62, size=(n, width), dtype=np.int64)
    nodes = batch_leaf_nodes(first, rows)
    leaves = [batch_leaf(first + i, rows[i]) for i in range(n)]
    assert len(nodes) == n
    assert batches_root(first, rows) == merkle_root(leaves)


def test_recorder_accounts_every_part_of_its_cost(tmp_path: Path) -> None:
    """A final partial segment is written, and each part of the recorder's cost is counted."""
    cfg = RunConfig(task="blobs", steps=25, k=10, n_samples=256)
    model, opt = fresh(cfg)
    data = make_dataset(cfg.task, cfg.data_seed, cfg.n_samples)
    with deterministic(1):
        rec = recorder_for(tmp_path / "run", cfg, model, opt, data, "cost")
        for idx in batch_schedule(cfg.n_samples, cfg.batch_size, cfg.steps, 0):
            rec.record_batch(idx)
            train_step(model, opt, data, idx)
            rec.after_step()
        head = rec.finish()
    assert all(v > 0 for v in rec.cost.values()), rec.cost
    assert rec.overhead_seconds() == sum(rec.cost.values())
    tr = load_transcript(tmp_path / "run", expected_head=head)
    assert [c.step for c in tr.manifest.checkpoints] == [0, 10, 20, 25]
    for j in range(len(tr.manifest.checkpoints)):
        tr.checkpoint_tensors(j)  # file and weights hashes check out


@settings(max_examples=80, deadline=None)
@given(k=st.integers(1, 70), steps=st.integers(1, 300))
def test_run_root_from_segment_levels_is_the_root_over_all_leaves(k: int, steps: int) -> None:
    """The recorder builds the run's batch root from level shared_height(k) of each segment."""
    rows = np.arange(steps * 2, dtype=np.int64).reshape(steps, 2)
    shared: list[bytes] = []
    for first in range(0, steps, k):
        seg = merkle_level(batch_leaf_nodes(first, rows[first : first + k]), shared_height(k))
        assert merkle_root_of_nodes(seg) == batches_root(first, rows[first : first + k])
        shared.extend(seg)
    leaves = [batch_leaf(s, rows[s]) for s in range(steps)]
    assert merkle_root_of_nodes(shared) == merkle_root(leaves)
    assert 2 ** shared_height(k) <= k and k % 2 ** shared_height(k) == 0
