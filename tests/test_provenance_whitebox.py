"""White-box tests on synthetic weights: exact calibration under independence, power, invariance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from provenance_helpers import permuted, random_tinygpt, save

from accord.errors import AccordError
from accord.model.finding import Verdict
from accord.verify.provenance.api import compare_weights as run_weight_test
from accord.verify.provenance.checkpoint import Checkpoint
from accord.verify.provenance.layout import ModelWeights
from accord.verify.provenance.whitebox import constrained_test, huref_similarity, robust_test


def weights(path: Path) -> ModelWeights:
    return ModelWeights(Checkpoint(path))


def test_independent_random_models_give_uniform_p_values(tmp_path: Path) -> None:
    """The exact null: independently drawn weights. Both tests should be (near) uniform."""
    rng = np.random.default_rng(0)
    robust, constrained = [], []
    for k in range(40):
        a = weights(save(tmp_path, f"a{k}", random_tinygpt(rng)))
        b = weights(save(tmp_path, f"b{k}", random_tinygpt(rng)))
        robust.append(robust_test(a, b).p_value)
        constrained.append(constrained_test(a, b).p_value)
    for ps in (robust, constrained):
        assert min(ps) > 1e-3
        assert np.mean(np.array(ps) < 0.1) <= 0.25
        assert 0.3 < np.median(ps) < 0.7


@pytest.mark.parametrize("exact", [True, False])
def test_noisy_permuted_copy_is_caught_only_by_the_robust_test(tmp_path: Path, exact: bool) -> None:
    rng = np.random.default_rng(1)
    base = random_tinygpt(rng)
    noisy = {
        k: v + 0.5 * v.std() * rng.normal(size=v.shape).astype(np.float32) for k, v in base.items()
    }
    child = permuted(noisy, rng)
    a, b = weights(save(tmp_path, "base", base)), weights(save(tmp_path, "child", child))
    assert robust_test(a, b, exact).p_value < 1e-15
    assert constrained_test(a, b, exact).p_value > 1e-3
    # without the permutation the exact test sees it too
    c = weights(save(tmp_path, "noisy", noisy))
    assert constrained_test(a, c, exact).p_value < 1e-20


def test_extra_and_missing_blocks_and_units(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    base = random_tinygpt(rng, layers=3)
    child = {k: v for k, v in base.items() if not k.startswith("blocks.1.")}
    child = {k.replace("blocks.2.", "blocks.1."): v for k, v in child.items()}
    keep = np.sort(rng.choice(96, 64, replace=False))
    child["blocks.0.mlp.fc_in.weight"] = child["blocks.0.mlp.fc_in.weight"][keep]
    child["blocks.0.mlp.fc_out.weight"] = child["blocks.0.mlp.fc_out.weight"][:, keep]
    a, b = weights(save(tmp_path, "base", base)), weights(save(tmp_path, "child", child))
    result = robust_test(a, b)
    assert result.p_value < 1e-10
    assert [(x.parent_block, x.suspect_block) for x in result.blocks] == [(0, 0), (2, 1)]
    assert any("block counts differ" in n for n in result.notes)


def test_huref_invariant_survives_permutation(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    base = random_tinygpt(rng)
    a = weights(save(tmp_path, "a", base))
    assert huref_similarity(a, weights(save(tmp_path, "p", permuted(base, rng)))) == pytest.approx(
        1.0, abs=1e-4
    )
    assert abs(huref_similarity(a, weights(save(tmp_path, "o", random_tinygpt(rng))))) < 0.3


def test_finding_reports_statistic_p_value_and_limits(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    base = random_tinygpt(rng)
    p_path, s_path = save(tmp_path, "parent", base), save(tmp_path, "suspect", permuted(base, rng))
    finding = run_weight_test(s_path, p_path)
    assert finding.verdict is Verdict.INCONSISTENT
    assert finding.p_value is not None and finding.p_value < 1e-15
    assert "does not show" in finding.explanation and "distillation" in finding.explanation
    assert {t["method"] for t in finding.statistic["tests"]} == {"robust", "constrained"}
    assert set(finding.evidence) == {"suspect:suspect.safetensors", "parent:parent.safetensors"}
    other = save(tmp_path, "other", random_tinygpt(rng))
    assert run_weight_test(other, p_path).verdict is Verdict.CONSISTENT


def test_mismatched_architectures_are_explained(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    a = save(tmp_path, "a", random_tinygpt(rng, d=32))
    b = save(tmp_path, "b", random_tinygpt(rng, d=48))
    with pytest.raises(AccordError, match="residual width"):
        run_weight_test(b, a, method="constrained")
    # the robust test aligns what it can and says so
    finding = run_weight_test(b, a, method="robust")
    assert "residual widths differ" in " ".join(finding.statistic["tests"][0]["notes"])
    gated = {"model.embed_tokens.weight": np.ones((8, 4), np.float32)}
    with pytest.raises(AccordError, match="unrecognised architecture"):
        run_weight_test(save(tmp_path, "g", gated), a)
    narrow = random_tinygpt(rng, d_ff=8)
    too_narrow = run_weight_test(save(tmp_path, "n", narrow), a)
    assert too_narrow.verdict is Verdict.INCONCLUSIVE
    assert "at least 32" in " ".join(too_narrow.statistic["tests"][0]["notes"])
    broken = random_tinygpt(rng)
    broken["blocks.0.mlp.fc_in.weight"] = broken["blocks.0.mlp.fc_in.weight"][:, :5]
    with pytest.raises(AccordError, match="does not fit"):
        run_weight_test(save(tmp_path, "x", broken), a)


def test_relabelled_vocabulary_is_undone_and_named(tmp_path: Path) -> None:
    """Token ids permuted (embedding and head rows together) on top of a permuted, noisy copy."""
    rng = np.random.default_rng(8)
    base = random_tinygpt(rng, vocab=300)
    noisy = {
        k: v + 0.2 * v.std() * rng.normal(size=v.shape).astype(np.float32) for k, v in base.items()
    }
    child = permuted(noisy, rng)
    sigma = rng.permutation(300)
    child["tok_emb.weight"] = child["tok_emb.weight"][sigma]
    child["lm_head.weight"] = child["lm_head.weight"][sigma]
    a, b = save(tmp_path, "base", base), save(tmp_path, "child", child)
    finding = run_weight_test(b, a, method="robust")
    assert finding.p_value is not None and finding.p_value < 1e-15
    assert "relabelled" in " ".join(finding.statistic["tests"][0]["notes"])
    # an independent model is not "relabelled" into a match
    other = save(tmp_path, "other", random_tinygpt(rng, vocab=300))
    assert (run_weight_test(other, a, method="robust").p_value or 0) > 1e-3
