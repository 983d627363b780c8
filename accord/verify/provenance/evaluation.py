"""Measure the provenance tests on a zoo: false positives on independent pairs, power on derived.

Every pair of independently seeded base models is a null pair; every (parent, child) is a
positive pair. For black-box tests the controls of a pair are all the other base models that
are independent of both members, so no model is its own control.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from itertools import combinations
from typing import Any

from accord.verify.provenance.blackbox import (
    Responses,
    agreement_test,
    default_prompts,
    distillation_test,
    query,
)
from accord.verify.provenance.checkpoint import Checkpoint
from accord.verify.provenance.layout import ModelWeights
from accord.verify.provenance.stats import holm, roc_auc
from accord.verify.provenance.whitebox import constrained_test, huref_similarity, robust_test
from accord.verify.provenance.zoo import WEIGHT_DERIVED, Zoo

TESTS = (
    "weights_robust",
    "weights_constrained",
    "weights",
    "bb_agreement",
    "bb_agreement_greedy",
    "bb_distillation",
    "blackbox",
    "all",
)


def _pair_pvalues(
    zoo: Zoo,
    suspect: str,
    parent: str,
    controls: list[str],
    responses: dict[str, Responses],
) -> dict[str, float]:
    with Checkpoint(zoo.path(suspect)) as cs, Checkpoint(zoo.path(parent)) as cp:
        s, p = ModelWeights(cs), ModelWeights(cp)
        t0 = time.perf_counter()
        robust = robust_test(p, s).p_value
        constrained = constrained_test(p, s).p_value
        weight_seconds = time.perf_counter() - t0
        ics = huref_similarity(p, s)
    ctrl = [responses[c] for c in controls]
    t0 = time.perf_counter()
    agree = agreement_test(responses[suspect], responses[parent], ctrl).p_value
    greedy = agreement_test(responses[suspect], responses[parent], ctrl, "greedy").p_value
    distil = distillation_test(responses[suspect], responses[parent], ctrl).p_value
    bb_seconds = time.perf_counter() - t0
    weights = min(holm([robust, constrained]))
    blackbox = min(holm([agree, distil]))
    return {
        "weights_robust": robust,
        "weights_constrained": constrained,
        "weights": weights,
        "bb_agreement": agree,
        "bb_agreement_greedy": greedy,
        "bb_distillation": distil,
        "blackbox": blackbox,
        "all": min(holm([robust, constrained, agree, distil])),
        "huref_ics": ics,
        "weight_seconds": weight_seconds,
        "blackbox_seconds": bb_seconds,
    }


def evaluate(
    zoo: Zoo, n_prompts: int = 256, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """All null and derived pairs of a zoo, with p-values from every test."""
    say = progress or (lambda _m: None)
    prompts = default_prompts(n_prompts)
    from accord.verify.provenance.tinygpt import load_model

    t0 = time.perf_counter()
    responses = {e.name: query(e.name, load_model(zoo.path(e.name)), prompts) for e in zoo.entries}
    query_seconds = (time.perf_counter() - t0) / max(1, len(zoo.entries))
    bases = [e.name for e in zoo.bases()]
    pairs: list[dict[str, Any]] = []
    for a, b in combinations(bases, 2):
        controls = [c for c in bases if c not in (a, b)]
        row = {"suspect": b, "parent": a, "kind": "independent", "derived": False}
        row.update(_pair_pvalues(zoo, b, a, controls, responses))
        pairs.append(row)
        say(f"null {a} {b}: robust {row['weights_robust']:.3g} bb {row['blackbox']:.3g}")
    for e in zoo.derived():
        assert e.parent is not None
        controls = [c for c in bases if c != e.parent]
        row = {"suspect": e.name, "parent": e.parent, "kind": e.kind, "derived": True}
        row.update(_pair_pvalues(zoo, e.name, e.parent, controls, responses))
        pairs.append(row)
        say(f"{e.name}: robust {row['weights_robust']:.3g} bb {row['blackbox']:.3g}")
    return {
        "pairs": pairs,
        "summary": summarise(pairs),
        "query_seconds_per_model": query_seconds,
        "prompts": n_prompts,
    }


def _score(p: float) -> float:
    return -math.log10(max(p, 1e-300))


def summarise(pairs: list[dict[str, Any]], alpha: float = 0.01) -> dict[str, Any]:
    null = [r for r in pairs if not r["derived"]]
    weight_derived = [r for r in pairs if r["derived"] and r["kind"] in WEIGHT_DERIVED]
    distilled = [r for r in pairs if r["derived"] and r["kind"] not in WEIGHT_DERIVED]
    out: dict[str, Any] = {
        "null_pairs": len(null),
        "weight_derived_pairs": len(weight_derived),
        "distilled_pairs": len(distilled),
        "alpha": alpha,
        "tests": {},
    }
    for test in TESTS:
        null_p = [r[test] for r in null]
        entry: dict[str, Any] = {
            "false_positives": sum(p < alpha for p in null_p),
            "false_positives_at_0.001": sum(p < 0.001 for p in null_p),
            "min_null_p": min(null_p) if null_p else None,
            "null_ks_uniform_p": _ks_uniform(null_p),
        }
        for label, group in (("weight_derived", weight_derived), ("distilled", distilled)):
            ps = [r[test] for r in group]
            entry[f"tpr_{label}"] = (sum(p < alpha for p in ps), len(ps))
            entry[f"auc_{label}"] = roc_auc([_score(p) for p in ps], [_score(p) for p in null_p])
        out["tests"][test] = entry
    kinds = sorted({r["kind"] for r in pairs if r["derived"]})
    out["by_kind"] = {
        k: {t: max(r[t] for r in pairs if r["kind"] == k) for t in TESTS} for k in kinds
    }
    return out


def _ks_uniform(ps: list[float]) -> float | None:
    """KS test of null p-values against Uniform(0, 1) (scipy when installed)."""
    if len(ps) < 5:
        return None
    try:
        from scipy.stats import kstest
    except ImportError:
        return None
    return float(kstest(ps, "uniform").pvalue)
