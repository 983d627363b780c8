"""Dead, zeroed, padded and constant MLP units must carry no evidence of derivation.

Structured pruning that keeps shapes, zero-padding a width and dead ReLU units all leave rows
that tie with every unit; a matcher that breaks ties by index lines them up across two
unrelated models. Each case below is an *independent* pair, so any p < 1e-3 is a false
accusation, and the derived cases check that the fix did not cost the power.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from provenance_helpers import permuted, random_tinygpt, save

from accord.model.finding import Verdict
from accord.verify.provenance.api import compare_weights
from accord.verify.provenance.checkpoint import Checkpoint
from accord.verify.provenance.layout import ModelWeights
from accord.verify.provenance.whitebox import constrained_test, robust_test

Tensors = dict[str, np.ndarray]
FF = 128


def _blocks(t: Tensors) -> int:
    i = 0
    while f"blocks.{i}.mlp.fc_in.weight" in t:
        i += 1
    return i


def mask_units(
    t: Tensors, units: np.ndarray, fill: Callable[[int], np.ndarray] | None = None
) -> Tensors:
    """Zero (or overwrite) the given hidden units in place, keeping every shape."""
    out = {k: v.copy() for k, v in t.items()}
    for i in range(_blocks(t)):
        w_in, w_out = out[f"blocks.{i}.mlp.fc_in.weight"], out[f"blocks.{i}.mlp.fc_out.weight"]
        w_in[units] = 0.0 if fill is None else fill(w_in.shape[1])
        w_out[:, units] = 0.0
    return out


def pad_units(t: Tensors, extra: int) -> Tensors:
    """Zero-pad every MLP to a wider width (function unchanged)."""
    out = dict(t)
    for i in range(_blocks(t)):
        w_in, w_out = t[f"blocks.{i}.mlp.fc_in.weight"], t[f"blocks.{i}.mlp.fc_out.weight"]
        out[f"blocks.{i}.mlp.fc_in.weight"] = np.concatenate(
            [w_in, np.zeros((extra, w_in.shape[1]), np.float32)]
        )
        out[f"blocks.{i}.mlp.fc_out.weight"] = np.concatenate(
            [w_out, np.zeros((w_out.shape[0], extra), np.float32)], axis=1
        )
    return out


def dead_relu(t: Tensors) -> Tensors:
    """Dead-ReLU look-alikes behind a non-trivial norm gain: constant input rows (which the
    gain turns into one shared direction), zero output weights. Both models get the same gain,
    the harshest case: their dead units then point the same way."""
    out = mask_units(t, TAIL, lambda d: np.full(d, 0.05, np.float32))
    gain = np.random.default_rng(0).uniform(0.5, 1.5, size=t["ln_f.weight"].shape[0])
    for i in range(_blocks(t)):
        out[f"blocks.{i}.ln2.weight"] = gain.astype(np.float32)
    return out


def shared_row(t: Tensors) -> Tensors:
    """The tail units all copy one fixed row (plus tiny noise), with live output weights."""
    out = {k: v.copy() for k, v in t.items()}
    row = np.random.default_rng(1).normal(size=t["ln_f.weight"].shape[0]).astype(np.float32)
    noise = np.random.default_rng(abs(int(t["tok_emb.weight"][0, 0] * 1e6)))
    for i in range(_blocks(t)):
        w_in = out[f"blocks.{i}.mlp.fc_in.weight"]
        w_in[TAIL] = row + 1e-4 * noise.normal(size=(len(TAIL), row.size)).astype(np.float32)
    return out


TAIL = np.arange(FF * 3 // 4, FF)  # the last quarter, as width padding or tail pruning leaves
RANDOM_SAME = np.random.default_rng(99).choice(FF, FF // 3, replace=False)

MASKS: dict[str, Callable[[Tensors], Tensors]] = {
    "tail_zeroed": lambda t: mask_units(t, TAIL),
    "same_random_third_zeroed": lambda t: mask_units(t, RANDOM_SAME),
    "half_zeroed": lambda t: mask_units(t, np.arange(FF // 2)),
    "constant_input_rows": lambda t: mask_units(t, TAIL, lambda d: np.full(d, 0.3, np.float32)),
    "float_dust": lambda t: mask_units(
        t, TAIL, lambda d: np.full(d, 1e-9, np.float32) + np.float32(1e-12) * np.arange(d)
    ),
    "zero_padded": lambda t: pad_units(t, FF // 2),
    "dead_relu_behind_gain": lambda t: dead_relu(t),
    "copies_of_one_row": lambda t: shared_row(t),
}


def weights(path: Path) -> ModelWeights:
    return ModelWeights(Checkpoint(path))


@pytest.mark.parametrize("mask", sorted(MASKS))
@pytest.mark.parametrize("both_sides", [True, False])
def test_dead_units_do_not_make_independent_models_look_derived(
    tmp_path: Path, mask: str, both_sides: bool
) -> None:
    rng = np.random.default_rng(zlib.crc32(mask.encode()) + both_sides)
    robust, constrained = [], []
    for k in range(6):
        a = MASKS[mask](random_tinygpt(rng, d_ff=FF))
        b = random_tinygpt(rng, d_ff=FF)
        b = MASKS[mask](b) if both_sides else b
        pa, pb = save(tmp_path, f"a{k}", a), save(tmp_path, f"b{k}", b)
        robust.append(robust_test(weights(pa), weights(pb)).p_value)
        if a["blocks.0.mlp.fc_in.weight"].shape == b["blocks.0.mlp.fc_in.weight"].shape:
            constrained.append(constrained_test(weights(pa), weights(pb)).p_value)
        finding = compare_weights(pb, pa)
        assert finding.verdict is not Verdict.INCONSISTENT, (mask, k, finding.p_value)
    assert min(robust) > 1e-3, robust
    assert 0.15 < float(np.median(robust)) < 0.85, robust
    assert not constrained or min(constrained) > 1e-3, constrained


def test_masked_parent_against_unmasked_independent_model(tmp_path: Path) -> None:
    """The reported case: a real-looking model against a masked random one, either way round."""
    rng = np.random.default_rng(5)
    for k in range(6):
        plain = random_tinygpt(rng, d_ff=FF)
        masked = mask_units(random_tinygpt(rng, d_ff=FF), TAIL)
        pp, pm = save(tmp_path, f"plain{k}", plain), save(tmp_path, f"masked{k}", masked)
        for s, p in ((pp, pm), (pm, pp)):
            f = compare_weights(s, p)
            assert f.p_value is not None and f.p_value > 1e-3, (k, f.p_value)


def test_masked_and_padded_derived_copies_are_still_caught(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    base = random_tinygpt(rng, d_ff=FF)
    noisy = {
        k: v + 0.3 * v.std() * rng.normal(size=v.shape).astype(np.float32) for k, v in base.items()
    }
    parent = save(tmp_path, "parent", base)
    children = {
        "pruned_in_place": mask_units(noisy, RANDOM_SAME),
        "pruned_then_permuted": permuted(mask_units(noisy, RANDOM_SAME), rng),
        "padded_then_permuted": permuted(pad_units(noisy, FF // 2), rng),
    }
    for name, tensors in children.items():
        f = compare_weights(save(tmp_path, name, tensors), parent)
        assert f.verdict is Verdict.INCONSISTENT, name
        assert f.p_value is not None and f.p_value < 1e-12, (name, f.p_value)
    # the parent's own dead units do not hide it either (the parent pruned, the child a copy)
    pruned_parent = save(tmp_path, "pruned_parent", mask_units(base, TAIL))
    f = compare_weights(save(tmp_path, "copy", permuted(noisy, rng)), pruned_parent)
    assert f.p_value is not None and f.p_value < 1e-12


def test_models_with_almost_no_live_units_are_inconclusive(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    dead = np.arange(10, FF)  # 10 live units per block, fewer than the 32 needed
    a = save(tmp_path, "a", mask_units(random_tinygpt(rng, d_ff=FF), dead))
    b = save(tmp_path, "b", mask_units(random_tinygpt(rng, d_ff=FF), dead))
    f = compare_weights(b, a)
    assert f.verdict is Verdict.INCONCLUSIVE
    assert "live" in f.explanation
    tests = f.statistic["tests"]
    assert isinstance(tests, list) and not any(t["conclusive"] for t in tests)
