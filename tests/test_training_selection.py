"""Segment selection: beacon-keyed draws, detection probabilities, anomaly ranking."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.errors import AccordError
from accord.verify.training.selection import (
    anomalous_updates,
    min_forged_fraction,
    miss_probability,
    plan_counts,
    random_segments,
    top_updates,
)

HEAD = "ab" * 32


def test_same_beacon_same_segments_other_beacon_other_segments() -> None:
    a = random_segments(b"beacon-1", HEAD, 100, 5, set())
    assert a == random_segments(b"beacon-1", HEAD, 100, 5, set())
    assert a != random_segments(b"beacon-2", HEAD, 100, 5, set())
    assert a != random_segments(b"beacon-1", "cd" * 32, 100, 5, set())
    assert len(set(a)) == 5 and all(0 <= j < 100 for j in a)


def test_draws_exclude_chosen_and_are_roughly_uniform() -> None:
    counts = [0] * 20
    for i in range(2000):
        for j in random_segments(f"b{i}".encode(), HEAD, 20, 2, {0, 1}):
            assert j not in (0, 1)
            counts[j] += 1
    expected = 2000 * 2 / 18
    assert counts[0] == counts[1] == 0
    # each of the 18 segments within 20 % of its expected count
    assert all(abs(c - expected) < 0.2 * expected for c in counts[2:])


def test_empty_beacon_is_refused() -> None:
    with pytest.raises(AccordError):
        random_segments(b"", HEAD, 10, 2, set())


@given(st.integers(1, 9), st.data())
def test_miss_probability_matches_enumeration(n: int, data: st.DataObject) -> None:
    draws = data.draw(st.integers(0, n))
    forged = data.draw(st.integers(0, n))
    bad = set(range(forged))
    subsets = list(itertools.combinations(range(n), draws))
    missed = sum(1 for s in subsets if not bad & set(s)) / len(subsets)
    assert math.isclose(miss_probability(n, draws, forged), missed, abs_tol=1e-12)


def test_min_forged_fraction_meets_target() -> None:
    f = min_forged_fraction(100, 3)
    forged = round(f * 100)
    assert 1 - miss_probability(100, 3, forged) >= 0.99
    assert 1 - miss_probability(100, 3, forged - 1) < 0.99


def test_budget_split() -> None:
    plan = plan_counts(100, 0.05)
    assert plan.top + plan.anomalous + plan.random == 5 and plan.random >= 2
    with pytest.raises(AccordError):
        plan_counts(100, 0.0)


def test_anomaly_ranking_finds_a_late_doubled_segment_that_top_q_misses() -> None:
    norms = [1.0 / (1 + 0.1 * j) for j in range(100)]
    norms[83] *= 2.0
    assert 83 not in top_updates(norms, 1)
    assert 83 in anomalous_updates(norms, 2, set())
