"""Soundness of the physical region and the CBG bestlines, as properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from accord.verify.location.calibration import (
    calibrate,
    clopper_pearson_upper,
    fit_bestline,
)
from accord.verify.location.geodesy import Propagation, destination, distance_km
from accord.verify.location.geography import country_at
from accord.verify.location.inputs import Landmark, RttSample
from accord.verify.location.locate import locate
from accord.verify.location.region import Caps, Relation, sample_region
from accord.verify.location.synthetic import synthetic_mesh

FIBRE = Propagation.FIBRE.km_per_ms_rtt


def _scenario(seed: int, n: int, spread_km: float) -> tuple[float, float, list[Landmark]]:
    rng = np.random.default_rng(seed)
    lat, lon = float(rng.uniform(-60, 70)), float(rng.uniform(-180, 180))
    pts = np.array(
        [
            destination(lat, lon, [b], d)[0]
            for b, d in zip(rng.uniform(0, 360, n), rng.uniform(50, spread_km, n), strict=False)
        ]
    )
    lms = [Landmark(f"L{i}", float(p[0]), float(p[1])) for i, p in enumerate(pts)]
    return lat, lon, lms


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(seed=0, n=5, spread=201.0, stretch=1.0, added_ms=0.0)  # RTTs exactly on the bound
@given(
    st.integers(0, 2**31),
    st.integers(1, 12),
    st.floats(200.0, 8000.0),
    st.floats(1.0, 3.0),
    st.floats(0.0, 50.0),
)
def test_truth_is_always_inside_the_physical_region_whatever_delay_is_added(
    seed: int, n: int, spread: float, stretch: float, added_ms: float
) -> None:
    lat, lon, lms = _scenario(seed, n, spread)
    d = distance_km(lat, lon, [x.lat for x in lms], [x.lon for x in lms])
    rtts = [
        RttSample(x.id, float(di / FIBRE * stretch + added_ms))
        for x, di in zip(lms, d, strict=False)
    ]
    code = country_at(lat, lon)
    report = locate(lms, rtts, claim=code, declared=(lat, lon))
    assert report.declared is not None and report.declared.inside_physical
    assert not report.physical.empty
    assert report.declared.max_distance_km >= 0.0
    if code is not None:
        assert report.claim is not None and report.claim.relation != Relation.EXCLUDED.value


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**31), st.floats(0.0, 40.0))
def test_added_delay_never_turns_possible_into_excluded(seed: int, added: float) -> None:
    lat, lon, lms = _scenario(seed, 6, 3000.0)
    d = distance_km(lat, lon, [x.lat for x in lms], [x.lon for x in lms])
    honest = [RttSample(x.id, float(di / FIBRE * 1.4 + 1.0)) for x, di in zip(lms, d, strict=False)]
    slower = [RttSample(s.landmark_id, s.rtt_ms + added) for s in honest]
    countries = ["CN", "US", "DE", "BR", "IN", "SG", "ZA"]
    a = locate(lms, honest, restricted=countries)
    b = locate(lms, slower, restricted=countries)
    for before, after in zip(a.countries, b.countries, strict=False):
        if before.relation != Relation.EXCLUDED.value:
            assert after.relation != Relation.EXCLUDED.value
    assert b.physical.area_km2 >= a.physical.area_km2 * 0.95


def test_thin_overlap_is_not_excluded_by_the_lattice() -> None:
    # two caps that touch only in a sliver far thinner than the lattice spacing
    a = (10.0, 20.0)
    gap = float(distance_km(10.0, 20.0, 10.0, 40.0))
    caps = Caps(
        np.array([a[0], 10.0]), np.array([a[1], 40.0]), np.array([gap / 2 + 0.01, gap / 2 + 0.01])
    )
    region = sample_region(caps, target_samples=400)
    assert not region.empty  # a lattice of ~100 km spacing still proves it non-empty
    far = Caps(
        np.array([10.0, 10.0]), np.array([20.0, 40.0]), np.array([gap / 2 - 60.0, gap / 2 - 60.0])
    )
    assert sample_region(far, target_samples=400).empty


def test_region_inside_a_country_is_confirmed_and_others_excluded() -> None:
    # landmarks around Madrid with tight RTTs: the region sits inside Spain
    lat, lon = 40.42, -3.70
    lms = [
        Landmark(f"M{i}", *map(float, destination(lat, lon, [b], 120.0)[0]))
        for i, b in enumerate(range(0, 360, 60))
    ]
    rtts = [RttSample(x.id, 130.0 / FIBRE) for x in lms]
    report = locate(lms, rtts, claim="ES", restricted=["PT", "FR", "CN"])
    assert report.claim is not None and report.claim.relation == Relation.INSIDE.value
    assert all(c.relation == Relation.EXCLUDED.value for c in report.countries)


def test_disc_states_are_excluded_but_never_confirmed() -> None:
    lms = [Landmark("sg", 1.30, 103.85)]
    report = locate(lms, [RttSample("sg", 0.05)], claim="SG", restricted=["SG"])
    assert report.claim is not None
    assert report.claim.relation == Relation.POSSIBLE.value
    far = locate([Landmark("ber", 52.5, 13.4)], [RttSample("ber", 2.0)], claim="SG")
    assert far.claim is not None and far.claim.relation == Relation.EXCLUDED.value
    assert "not drawn at 1:110m" in far.findings[-1].explanation


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31), st.integers(3, 60))
def test_bestline_lies_under_every_point_and_is_optimal(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 9000, n)
    y = x / FIBRE * rng.uniform(1.0, 3.0, n) + rng.exponential(5, n)
    base = 1.0 / FIBRE
    line = fit_bestline(x, y, base)
    assert line is not None
    assert line.slope_ms_per_km >= base and line.intercept_ms >= 0
    assert (y >= line.slope_ms_per_km * x + line.intercept_ms - 1e-9).all()
    objective = line.intercept_ms + line.slope_ms_per_km * x.mean()
    # no feasible line on a grid of slopes does better (exact LP optimum by hull)
    for m in np.linspace(base, base * 4, 400):
        b = float(np.min(y - m * x))
        if b >= 0:
            assert b + m * x.mean() <= objective + 1e-9
    # its distance bound is never above the physical one
    assert (line.max_distance_km(y) <= y * FIBRE + 1e-9).all()


def test_bestline_refuses_points_faster_than_light() -> None:
    x = np.array([1000.0, 2000.0, 3000.0])
    y = np.array([5.0, 30.0, 40.0])  # 1000 km in 5 ms RTT beats 2/3 c
    assert fit_bestline(x, y, 1.0 / FIBRE) is None


def test_clopper_pearson_matches_the_closed_form_at_zero() -> None:
    for n in (1, 10, 100, 1000):
        assert clopper_pearson_upper(0, n) == pytest.approx(1 - 0.05 ** (1 / n), rel=1e-6)
    assert clopper_pearson_upper(5, 5) == 1.0
    assert clopper_pearson_upper(3, 50) > 3 / 50


def test_calibration_reports_leave_one_out_misses_and_faster_than_light_pairs() -> None:
    rng = np.random.default_rng(7)
    nodes = [
        Landmark(f"n{i}", float(rng.uniform(35, 60)), float(rng.uniform(-10, 30)))
        for i in range(25)
    ]
    pairs = synthetic_mesh(nodes, seed=3)
    cal = calibrate(nodes, pairs)
    assert len(cal.bestlines) == 25
    assert cal.constraint_tests == 25 * 24
    assert 0 <= cal.constraint_misses < cal.constraint_tests
    assert cal.miss_rate_upper95 >= (cal.miss_rate or 0.0)
    assert cal.region_tests == 25
    # a pair placed faster than light is reported, not fitted
    wrong = [*pairs[:-1], type(pairs[-1])(pairs[-1].landmark_id, pairs[-1].peer_id, 0.01)]
    cal2 = calibrate(nodes, wrong)
    assert [f"{f.landmark_id}-{f.peer_id}" for f in cal2.faster_than_light] == [
        f"{pairs[-1].landmark_id}-{pairs[-1].peer_id}"
    ]


def test_conformal_slack_caps_the_leave_one_out_region_miss_rate() -> None:
    rng = np.random.default_rng(11)
    nodes = [
        Landmark(f"n{i}", float(rng.uniform(30, 60)), float(rng.uniform(-100, 30)))
        for i in range(40)
    ]
    cal = calibrate(nodes, synthetic_mesh(nodes, seed=5))
    assert len(cal.worst_excess_ms) == 40
    for alpha in (0.05, 0.1, 0.3):
        k = cal.slack_ms(alpha)
        assert 0.0 <= k < float("inf")
        missed = sum(r > k for r in cal.worst_excess_ms.values())
        assert missed <= alpha * len(cal.worst_excess_ms)
    assert cal.slack_ms(0.3) <= cal.slack_ms(0.05)
    small = calibrate(nodes[:5], synthetic_mesh(nodes[:5], seed=5))
    assert small.slack_ms(0.05) == float("inf")  # too few landmarks: fall back to physical
    with pytest.raises(ValueError):
        cal.slack_ms(0.0)


def test_locate_reports_the_slack_it_used() -> None:
    rng = np.random.default_rng(12)
    nodes = [
        Landmark(f"n{i}", float(rng.uniform(35, 55)), float(rng.uniform(-5, 25))) for i in range(30)
    ]
    pairs = synthetic_mesh(nodes, seed=4)
    target, others = nodes[0], nodes[1:]
    rtts = [
        RttSample(p.peer_id if p.landmark_id == target.id else p.landmark_id, p.rtt_ms)
        for p in pairs
        if target.id in (p.landmark_id, p.peer_id)
    ]
    rest = [p for p in pairs if target.id not in (p.landmark_id, p.peer_id)]
    raw = locate(others, rtts, calibration=rest, cbg_alpha=None)
    widened = locate(others, rtts, calibration=rest, cbg_alpha=0.1)
    assert raw.calibration is not None and raw.calibration.slack_ms == 0.0
    assert widened.calibration is not None and widened.calibration.slack_ms >= 0.0
    assert raw.cbg is not None and widened.cbg is not None
    for a, b in zip(raw.constraints, widened.constraints, strict=True):
        assert a.cbg_km is not None and b.cbg_km is not None
        assert a.cbg_km <= b.cbg_km <= b.physical_km + 1e-9


def test_small_state_under_a_neighbours_polygon_blocks_confirmation() -> None:
    # Johor Bahru: Malaysia's 1:110m polygon covers Singapore, whose disc is 20 km away
    jb = [Landmark("jb", 1.49, 103.74)]
    report = locate(jb, [RttSample("jb", 0.2)], claim="MY", restricted=["SG"])
    assert report.claim is not None and report.claim.relation == Relation.POSSIBLE.value
    assert report.countries[0].relation == Relation.POSSIBLE.value
    # Kuala Lumpur, 300 km from Singapore: Malaysia can be confirmed
    kl = [Landmark("kl", 3.14, 101.69)]
    report = locate(kl, [RttSample("kl", 0.3)], claim="MY", restricted=["SG"])
    assert report.claim is not None
    assert report.claim.relation in (Relation.INSIDE.value, Relation.INSIDE_OR_OFFSHORE.value)
    assert report.countries[0].relation == Relation.EXCLUDED.value
    claim = next(f for f in report.findings if "claim" in f.statistic)
    assert "cannot be checked" in claim.explanation


def test_faster_than_light_landmarks_are_dropped_and_named() -> None:
    from accord.verify.location.inputs import PeerRtt

    lms = [
        Landmark("a", 48.85, 2.35, "Paris"),
        Landmark("b", 40.71, -74.0, "New York"),
        Landmark("c", 51.5, -0.1, "London"),
        Landmark("d", 52.52, 13.40, "Berlin"),
    ]
    # a-b: 1 ms for 5,800 km beats light, and nothing says which of the two is wrong
    peers = [
        PeerRtt("a", "b", 1.0),
        PeerRtt("a", "c", 9.0),
        PeerRtt("b", "c", 80.0),
        PeerRtt("c", "d", 15.0),
    ]
    report = locate(lms, [RttSample("a", 5.0), RttSample("d", 3.0)], calibration=peers)
    flagged = [f for f in report.findings if f.subject == "landmarks"]
    assert len(flagged) == 1 and flagged[0].verdict.value == "inconclusive"
    assert "a (Paris) with 1 peer(s): b" in flagged[0].explanation
    assert [d.landmark_id for d in report.landmark_check.dropped] == ["a", "b"]
    assert report.calibration is not None
    assert report.calibration.faster_than_light_pairs == ["a-b"]
    # the verdicts rest on the kept landmarks only: Berlin's disc, not Paris's
    assert [c.landmark_id for c in report.constraints] == ["d"]
