"""Counting optimizer steps from zero-gradient coordinates, against real PyTorch training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

pytest.importorskip("torch")
pytest.importorskip("safetensors")

from accord.errors import IntegrityError
from accord.verify.training.attacks import undeclared_extra_steps
from accord.verify.training.manifest import OptimizerSpec
from accord.verify.training.runs import RunConfig, fresh, record_honest_run
from accord.verify.training.stepcount import (
    FlatState,
    StepCount,
    count_steps,
    lands_on,
    scale,
    zero_gradient_walk,
)
from accord.verify.training.tasks import build_model
from accord.verify.training.transcript import load_transcript

SGD = RunConfig(task="blobs", steps=120, k=10, n_samples=512)
ADAMW = RunConfig(task="charlm", steps=60, k=10, n_samples=256)


def _counts(root: Path) -> list[StepCount]:
    tr = load_transcript(root)
    m = tr.manifest
    model = build_model(m.model.arch, dict(m.model.kwargs), m.model.init_seed)
    names = [n for n, _ in model.named_parameters()]
    states = (FlatState.of(tr.checkpoint_tensors(j), names) for j in range(m.n_segments + 1))
    declared = [b - a for a, b in (m.segment_bounds(j) for j in range(m.n_segments))]
    counts, flops = count_steps(m.optimizer, states, declared)
    training = m.steps * m.batch_size * m.training_flops_per_sample
    assert 0 < flops < 0.05 * training  # far cheaper than replaying anything
    return counts


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
def test_walk_follows_pytorch_with_zero_gradients(optimizer: str) -> None:
    """The float64 walk lands where torch's own optimizer does when every gradient is zero."""
    import torch

    cfg = SGD if optimizer == "sgd" else ADAMW
    model, opt = fresh(cfg)
    x, y = _batch(cfg)
    for _ in range(3):  # non-zero optimizer state to start from
        opt.zero_grad()
        torch.nn.functional.cross_entropy(
            model(x).reshape(-1, model(x).shape[-1]), y.reshape(-1)
        ).backward()
        opt.step()
    names = [n for n, _ in model.named_parameters()]
    start = FlatState.of(_tensors(model, opt), names)
    walk = zero_gradient_walk(cfg.optimizer_spec(), start, np.arange(start.weights.size))
    for s in range(1, 13):
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        opt.step()
        ours = next(walk)
        theirs = FlatState.of(_tensors(model, opt), names).weights
        assert np.all(lands_on(ours, theirs, scale(start.weights, theirs), s)), s


def _batch(cfg: RunConfig) -> tuple[object, object]:
    import torch

    from accord.verify.training.tasks import make_dataset

    data = make_dataset(cfg.task, cfg.data_seed, cfg.n_samples)
    return torch.from_numpy(data.x[:16]), torch.from_numpy(data.y[:16])


def _tensors(model: object, opt: object) -> dict[str, object]:
    from accord.verify.training.checkpoint import take_snapshot

    return take_snapshot(0, model, opt).tensors


@pytest.mark.parametrize("cfg", [SGD, ADAMW], ids=["sgd", "adamw"])
def test_honest_runs_confirm_their_declared_counts(tmp_path: Path, cfg: RunConfig) -> None:
    for seed in range(3):
        c = RunConfig(**{**cfg.__dict__, "init_seed": seed, "order_seed": seed})
        record_honest_run(tmp_path / str(seed), c)
        counts = _counts(tmp_path / str(seed))
        assert not [x for x in counts if x.contradicts]
        assert sum(x.confirming > 0 for x in counts) >= len(counts) // 2
        if cfg is ADAMW:
            assert all(x.counter_delta == x.declared for x in counts)


@pytest.mark.parametrize("extra", [1, 3])
def test_hidden_steps_are_counted_exactly(tmp_path: Path, extra: int) -> None:
    att = undeclared_extra_steps(tmp_path, SGD, extra_per_segment=extra, seed=4)
    (hidden,) = att.notes["hidden_segments"]
    bad = [x for x in _counts(att.transcript) if x.contradicts]
    assert [x.segment for x in bad] == [hidden]
    assert bad[0].counted == SGD.k + extra
    assert bad[0].witnesses >= 3
    assert f"moved as {SGD.k + extra} optimizer steps" in bad[0].describe()


def test_adam_step_counter_gives_hidden_steps_away(tmp_path: Path) -> None:
    att = undeclared_extra_steps(tmp_path, ADAMW, extra_per_segment=2, seed=1)
    (hidden,) = att.notes["hidden_segments"]
    bad = [x for x in _counts(att.transcript) if x.contradicts]
    assert [x.segment for x in bad] == [hidden]
    assert bad[0].counter_delta == ADAMW.k + 2


def test_a_lab_that_rewrites_the_evidence_passes_the_count(tmp_path: Path) -> None:
    """The count is a tripwire: covered tracks leave only replay (tested in the attack suite)."""
    att = undeclared_extra_steps(tmp_path, SGD, extra_per_segment=5, seed=2, evade_step_count=True)
    assert not [x for x in _counts(att.transcript) if x.contradicts]


def test_missing_parameter_is_an_integrity_error() -> None:
    import torch

    with pytest.raises(IntegrityError, match=r"no tensor for parameter fc1\.weight"):
        FlatState.of({"model/fc2.weight": torch.zeros(2)}, ["fc1.weight"], "ckpt/3.safetensors")


finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=32)


@settings(max_examples=60, deadline=None)
@given(
    w0=arrays(np.float32, 12, elements=finite_or_not),
    w1=arrays(np.float32, 12, elements=finite_or_not),
    b=arrays(np.float32, 12, elements=finite_or_not),
    steps=st.integers(1, 6),
    name=st.sampled_from(["sgd", "adamw"]),
)
def test_arbitrary_checkpoint_values_never_crash_the_count(
    w0: np.ndarray, w1: np.ndarray, b: np.ndarray, steps: int, name: str
) -> None:
    """Checkpoints are the lab's bytes: NaN, infinities and huge values give a count, not a
    traceback, and a contradiction needs several coordinates to agree."""
    import warnings

    import torch

    spec = OptimizerSpec(name=name, lr=0.05, momentum=0.9, weight_decay=1e-2)  # type: ignore[arg-type]
    key = "opt/0/momentum_buffer" if name == "sgd" else "opt/0/exp_avg"

    def state(w: np.ndarray) -> FlatState:
        return FlatState.of(
            {"model/w": torch.from_numpy(w.copy()), key: torch.from_numpy(b.copy())}, ["w"]
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        counts, _ = count_steps(spec, [state(w0), state(w1), state(w0)], [steps, steps])
    assert len(counts) == 2
    for c in counts:
        assert c.confirming >= 0 and c.witnesses >= 0
        if c.contradicts:
            assert c.witnesses >= 3


def test_misshapen_or_non_numeric_tensors_are_integrity_errors() -> None:
    import torch

    with pytest.raises(IntegrityError, match=r"shape \(3,\), the model \(2,\)"):
        FlatState.of({"model/w": torch.zeros(3)}, ["w"], "c", shapes={"w": (2,)})
    with pytest.raises(IntegrityError, match="not floating point"):
        FlatState.of({"model/w": torch.zeros(2, dtype=torch.complex64)}, ["w"], "c")
    odd = {"model/w": torch.zeros(2), "opt/0/step": torch.zeros(1, dtype=torch.complex64)}
    assert FlatState.of(odd, ["w"], "c").counter() is None


def test_a_non_finite_adam_counter_is_no_count() -> None:
    import torch

    state = FlatState.of(
        {"model/w": torch.ones(2), "opt/0/step": torch.tensor(float("nan"))}, ["w"]
    )
    assert state.counter() is None
    spec = OptimizerSpec(name="adamw", lr=1e-3, weight_decay=0.01)
    counts, _ = count_steps(spec, [state, state], [3])
    assert counts[0].counter_delta is None
