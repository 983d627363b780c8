"""The sequence-level distillation test on real tiny models trained with torch.

One pool of byte-level GPTs trained on the same public text in the *same batch order* (only the
initialisation differs: the null that gave earlier designs false positives), a student trained
only on text the parent sampled, and an independent model trained exactly like the controls.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from accord.errors import AccordError  # noqa: E402
from accord.verify.provenance import derive  # noqa: E402
from accord.verify.provenance.api import BLACKBOX_ALPHA  # noqa: E402
from accord.verify.provenance.blackbox import default_prompts  # noqa: E402
from accord.verify.provenance.corpus import stdlib_text  # noqa: E402
from accord.verify.provenance.sequence import (  # noqa: E402
    Samples,
    SequencePool,
    pooled_sequence_test,
    prepare_pool,
    run_sequence_test,
    sample,
    sequence_test,
    statistic,
)
from accord.verify.provenance.tinygpt import TinyConfig, TinyGPT, train  # noqa: E402

CFG = TinyConfig(d_model=32, n_layer=2, n_head=2, d_ff=128, ctx=32)
STEPS = 150  # base models: the quick zoo's budget
STUDENT_STEPS = 400  # long enough for the student to learn the teacher's text


@pytest.fixture(scope="module")
def models() -> dict[str, Any]:
    torch.set_num_threads(1)
    docs = stdlib_text("docs", 600_000)
    out: dict[str, Any] = {}
    for i in range(7):
        torch.manual_seed(i)
        m = TinyGPT(CFG)
        train(m, docs, STEPS, seed=0, batch=16)  # one shared data order for every model
        out[f"m{i}"] = m
    out["student"] = derive.distil_sequences(out["m0"], docs, 80_000, STUDENT_STEPS, seed=99)
    return out


@pytest.fixture(scope="module")
def pool(models: dict[str, Any]) -> SequencePool:
    """Parent m0 and controls m1..m5; m6 is an independent twin trained like them."""
    controls = [(f"m{i}", models[f"m{i}"]) for i in range(1, 6)]
    return prepare_pool(("m0", models["m0"]), controls, default_prompts(128))


def test_student_of_sampled_text_is_caught_and_independent_twin_is_not(
    models: dict[str, Any], pool: SequencePool
) -> None:
    # Only what a text API returns is used: the prompts and the bytes written after them.
    api = sample("api", models["student"], pool.prompts, seed=5)
    student = pooled_sequence_test(pool, Samples("api", api.prompts, tuple(api.texts)))
    twin = pooled_sequence_test(pool, sample("m6", models["m6"], pool.prompts, seed=5))
    assert student.p_value < BLACKBOX_ALPHA, student
    assert student.statistic > max(student.null)
    # m6 shares the parent's data and data order and is independent: not accused
    assert twin.p_value > 0.05, twin
    assert twin.details["p_rank_among_independent_pairs"] > 0.05


def test_statistic_centres_each_position_on_the_consensus(
    models: dict[str, Any], pool: SequencePool
) -> None:
    """Text a control wrote leans towards that control, not towards the parent."""
    text = pool.texts["m1"]
    assert statistic(text, "m1", ["m2", "m3"]) > statistic(text, "m0", ["m2", "m3"])
    assert np.isfinite(list(text.cross.values())).all()


def test_bad_pools_are_refused(models: dict[str, Any], pool: SequencePool) -> None:
    controls = [(f"m{i}", models[f"m{i}"]) for i in range(1, 5)]
    short = sample("s", models["m6"], pool.prompts[:4], length=2)
    with pytest.raises(AccordError, match="at least 5"):
        run_sequence_test(short, ("m0", models["m0"]), controls)
    with pytest.raises(AccordError, match="is a pool model's"):
        pooled_sequence_test(pool, sample("m1", models["m6"], pool.prompts, length=2))
    with pytest.raises(AccordError, match="other prompts"):
        pooled_sequence_test(pool, short)
    with pytest.raises(AccordError, match="no generated text"):
        pooled_sequence_test(pool, Samples("s", pool.prompts, (b"",) * len(pool.prompts)))
    with pytest.raises(AccordError, match="no scored text"):
        sequence_test({}, "s", "m0", ["m1", "m2", "m3", "m4", "m5"])


def test_a_damaged_independent_model_is_outside_the_null_and_accuses_nobody(
    models: dict[str, Any], pool: SequencePool
) -> None:
    """An independent model with a quarter of every MLP zeroed writes noisier text than any
    pool model: the result is marked outside the null's support (alone it can then decide
    nothing), while this student of the parent's text stays within the pool's kind."""
    masked = derive.clone(models["m6"])
    with torch.no_grad():
        for block in masked.block_list():
            k = int(block.mlp.fc_in.weight.shape[0] * 0.75)
            block.mlp.fc_in.weight[k:] = 0.0
            block.mlp.fc_in.bias[k:] = 0.0
            block.mlp.fc_out.weight[:, k:] = 0.0
    damaged = pooled_sequence_test(pool, sample("masked", masked, pool.prompts, seed=5))
    assert damaged.details["outside_support"] is True and damaged.details["support_p"] < 0.01
    assert damaged.details["suspect_text_loglik_per_byte"] < min(
        damaged.details["pool_text_loglik_per_byte"]
    )
    student = pooled_sequence_test(pool, sample("api", models["student"], pool.prompts, seed=5))
    assert student.details["outside_support"] is False and student.p_value < BLACKBOX_ALPHA


def test_a_rejection_resting_on_text_outside_support_is_only_a_referral() -> None:
    """The black-box verdict rule: the sequence test alone, on text its null does not cover,
    refers (inconclusive); with another test rejecting, or within support, it decides."""
    from accord.verify.provenance.api import referred_only

    outside, inside = {"outside_support": True}, {"outside_support": False}
    assert referred_only([0.5, 0.2, 1e-6], outside, 1e-3)
    assert not referred_only([0.5, 0.2, 1e-6], inside, 1e-3)
    assert not referred_only([1e-5, 0.2, 1e-6], outside, 1e-3)  # agreement rejects too
    assert not referred_only([0.5, 0.2, 0.3], outside, 1e-3)  # nothing rejects
    assert not referred_only([0.5, 0.2], outside, 1e-3)  # no sequence test run
