"""End-to-end on a real (tiny) trained zoo: derivations, weight tests, black-box tests."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from provenance_helpers import tiny_zoo

from accord.errors import AccordError
from accord.model.finding import Verdict
from accord.verify.provenance import derive
from accord.verify.provenance.api import compare_outputs, compare_weights
from accord.verify.provenance.blackbox import (
    agreement_test,
    attribute_parent,
    default_prompts,
    distillation_test,
    query,
)
from accord.verify.provenance.safetensors_io import write_safetensors
from accord.verify.provenance.tinygpt import load_model
from accord.verify.provenance.zoo import WEIGHT_DERIVED


@pytest.fixture(scope="module")
def zoo() -> Any:
    return tiny_zoo()


def test_permutation_and_rescaling_preserve_the_function(zoo: Any) -> None:
    parent = load_model(zoo.path("seed0"))
    x = torch.randint(0, 256, (4, 32))
    with torch.no_grad():
        ref = parent(x)
        for child in (derive.permute(parent, 1), derive.rescale(parent, 2)):
            torch.testing.assert_close(child(x), ref, rtol=1e-4, atol=1e-4)
        # and the saved, permuted zoo member too
        torch.testing.assert_close(
            load_model(zoo.path("seed0-permuted"))(x), ref, rtol=1e-4, atol=1e-4
        )


def test_vocabulary_relabelling_preserves_the_function(zoo: Any) -> None:
    parent = load_model(zoo.path("seed0"))
    child, sigma = derive.relabel_vocab(parent, 5)
    x = torch.randint(0, 256, (4, 32))
    with torch.no_grad():
        torch.testing.assert_close(child(x), parent(sigma[x])[..., sigma], rtol=1e-5, atol=1e-5)


def test_relabelled_children_are_caught_and_the_relabelling_is_named(zoo: Any) -> None:
    for kind in ("relabelled", "relabelled_permuted"):
        finding = compare_weights(zoo.path(f"seed0-{kind}"), zoo.path("seed0"), method="robust")
        assert finding.p_value is not None and finding.p_value < 1e-10, kind
        notes = " ".join(finding.statistic["tests"][0]["notes"])
        assert "relabelled" in notes, notes
        assert finding.statistic["huref_invariant_cosine"] > 0.5, kind


def test_every_weight_derived_child_is_caught(zoo: Any) -> None:
    for entry in zoo.derived():
        if entry.kind not in WEIGHT_DERIVED:
            continue
        finding = compare_weights(zoo.path(entry.name), zoo.path("seed0"))
        assert finding.verdict is Verdict.INCONSISTENT, entry.name
        assert finding.p_value is not None and finding.p_value < 1e-10, entry.name


def test_independent_seeds_are_not_accused(zoo: Any) -> None:
    bases = [e.name for e in zoo.bases()]
    for a, b in combinations(bases, 2):
        finding = compare_weights(zoo.path(b), zoo.path(a))
        assert finding.p_value is not None and finding.p_value > 1e-3, (a, b)


def test_weight_tests_are_blind_to_distillation_as_documented(zoo: Any) -> None:
    finding = compare_weights(zoo.path("seed0-distilled_soft"), zoo.path("seed0"))
    assert finding.p_value is not None and finding.p_value > 0.01
    assert "distillation" in finding.explanation


@pytest.fixture(scope="module")
def responses(zoo: Any) -> dict[str, Any]:
    prompts = default_prompts(128)
    return {e.name: query(e.name, load_model(zoo.path(e.name)), prompts) for e in zoo.entries}


def test_blackbox_catches_distillation_and_copies(responses: dict[str, Any]) -> None:
    controls = [responses[f"seed{i}"] for i in range(1, 6)]
    parent = responses["seed0"]
    distil = distillation_test(responses["seed0-distilled_soft"], parent, controls)
    assert distil.p_value < 0.01
    assert agreement_test(responses["seed0-distilled_soft"], parent, controls).p_value < 0.01
    for kind in ("permuted", "quant8", "prune50"):
        assert agreement_test(responses[f"seed0-{kind}"], parent, controls).p_value < 1e-4


def test_blackbox_independent_pairs_are_not_accused(responses: dict[str, Any]) -> None:
    bases = [f"seed{i}" for i in range(6)]
    for a, b in combinations(bases, 2):
        controls = [responses[c] for c in bases if c not in (a, b)]
        assert agreement_test(responses[b], responses[a], controls).p_value > 1e-3
        assert distillation_test(responses[b], responses[a], controls).p_value > 1e-3


def test_attribution_names_the_true_parent(responses: dict[str, Any]) -> None:
    candidates = [responses["seed0"], responses["seed1"]]
    controls = [responses[f"seed{i}"] for i in range(2, 6)]
    adjusted = attribute_parent(responses["seed0-quant8"], candidates, controls)
    assert adjusted["seed0"] < 1e-4 < adjusted["seed1"]


def test_compare_outputs_finding_and_its_errors(zoo: Any, tmp_path: Path) -> None:
    controls = [zoo.path(f"seed{i}") for i in range(1, 6)]
    finding = compare_outputs(zoo.path("seed0-prune50"), zoo.path("seed0"), controls, n_prompts=96)
    assert finding.verdict is Verdict.INCONSISTENT
    assert set(finding.statistic["holm_adjusted"]) == {"agreement", "distillation", "sequence"}
    assert finding.statistic["sequence"]["p_value"] < 0.05  # a pruned copy writes like its parent
    assert "control" in finding.explanation and len(finding.evidence) == 7
    with pytest.raises(AccordError, match="at least 3"):
        compare_outputs(zoo.path("seed1"), zoo.path("seed0"), controls[:2])
    fewer = compare_outputs(
        zoo.path("seed0-prune50"), zoo.path("seed0"), controls[:3], n_prompts=64
    )
    assert "skipped" in fewer.statistic["sequence"] and "at least 5" in fewer.explanation
    plain = tmp_path / "plain.safetensors"
    write_safetensors(plain, {"w": np.ones((2, 2), np.float32)})
    with pytest.raises(AccordError, match="black-box queries need"):
        compare_outputs(plain, zoo.path("seed0"), controls)
