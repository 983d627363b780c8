"""Our dependency-free statistics against scipy's reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.verify.provenance import stats

scipy_stats = pytest.importorskip("scipy.stats")


@given(st.floats(0.01, 400), st.integers(1, 60))
def test_chi2_even_matches_scipy(x: float, half_dof: int) -> None:
    assert stats.chi2_sf_even(x, 2 * half_dof) == pytest.approx(
        scipy_stats.chi2.sf(x, 2 * half_dof), rel=1e-7, abs=1e-300
    )


@given(st.floats(-30, 30), st.integers(1, 200))
def test_student_t_matches_scipy(t: float, dof: int) -> None:
    assert stats.student_t_sf(t, dof) == pytest.approx(
        scipy_stats.t.sf(t, dof), rel=1e-6, abs=1e-14
    )


@settings(max_examples=50)
@given(st.lists(st.integers(0, 5), min_size=5, max_size=40), st.randoms())
def test_spearman_matches_scipy_with_ties(xs: list[int], rnd: object) -> None:
    ys = list(range(len(xs)))
    rnd.shuffle(ys)  # type: ignore[attr-defined]
    if len(set(xs)) < 2:
        return
    assert stats.spearman(xs, ys) == pytest.approx(scipy_stats.spearmanr(xs, ys)[0], abs=1e-9)


def test_holm_and_bh_match_statsmodels_definitions() -> None:
    p = [0.01, 0.04, 0.03, 0.2]
    assert stats.holm(p) == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert stats.benjamini_hochberg(p) == pytest.approx([0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.2])


@given(st.integers(0, 30), st.integers(1, 30), st.floats(0.05, 0.95))
def test_binomial_tail_matches_scipy(k: int, n: int, p: float) -> None:
    assert stats.binomial_sf(k, n, p) == pytest.approx(
        scipy_stats.binom.sf(k - 1, n, p), rel=1e-9, abs=1e-15
    )


def test_fisher_is_uniform_under_the_null() -> None:
    rng = np.random.default_rng(1)
    combined = [stats.fisher_combine(rng.uniform(size=5).tolist()) for _ in range(2000)]
    assert scipy_stats.kstest(combined, "uniform").pvalue > 0.01


def test_spearman_null_pvalue_is_calibrated_for_random_permutations() -> None:
    rng = np.random.default_rng(2)
    n = 64
    ps = [
        stats.spearman_pvalue_greater(stats.spearman(np.arange(n), rng.permutation(n)), n)
        for _ in range(2000)
    ]
    assert abs(np.mean(np.array(ps) < 0.05) - 0.05) < 0.02
    assert abs(np.mean(np.array(ps) < 0.01) - 0.01) < 0.008


def test_auc() -> None:
    assert stats.roc_auc([3, 4], [1, 2]) == 1.0
    assert stats.roc_auc([1], [1]) == 0.5


def _sequential_greedy(sim: np.ndarray) -> np.ndarray:
    n, m = sim.shape
    out = np.full(n, -1)
    used = np.zeros(m, dtype=bool)
    for flat in np.argsort(-sim, axis=None, kind="stable"):
        i, j = divmod(int(flat), m)
        if out[i] < 0 and not used[j]:
            out[i], used[j] = j, True
    return out


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 30), st.integers(0, 20), st.integers(0, 2**32 - 1))
def test_vectorised_greedy_equals_sequential_greedy(n: int, extra: int, seed: int) -> None:
    from accord.verify.provenance.matching import match_rows

    sim = np.random.default_rng(seed).normal(size=(n, n + extra))
    assert (match_rows(sim, exact=False) == _sequential_greedy(sim)).all()


def test_exact_matching_beats_or_ties_greedy() -> None:
    from accord.verify.provenance.matching import match_rows

    sim = np.random.default_rng(7).normal(size=(40, 50))
    rows = np.arange(40)
    exact, greedy = match_rows(sim, exact=True), match_rows(sim, exact=False)
    assert len(set(exact.tolist())) == 40 and len(set(greedy.tolist())) == 40
    assert sim[rows, exact].sum() >= sim[rows, greedy].sum() - 1e-9
