"""Constraint-based geolocation bestlines (Gueye, Ziviani, Crovella, Fdida, IEEE/ACM ToN 2006).

Each landmark sees its peers at known distances with measured RTTs. CBG fits, per landmark,
the line ``rtt = m * distance + b`` that lies below every (distance, rtt) point, with slope
no smaller than the speed-of-light baseline and a non-negative intercept, and as close to the
points as possible (least total vertical gap). A target's RTT then bounds its distance by
``(rtt - b) / m``, which is never larger than the physical bound because m >= baseline and
b >= 0. The line is fitted on other landmarks, so it can exclude the truth; the miss rate is
measured here by leaving each landmark out in turn and is always reported with the bound.

The fit is a two-variable linear programme; its optimum lies at the baseline slope, at the
slope where the intercept reaches zero, or at a slope of an edge of the lower convex hull of
the points, so it is solved exactly by checking those candidates.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from accord.verify.location.consistency import (
    FasterThanLight,
    LandmarkCheck,
    check_landmarks,
    pair_distances,
    pair_table,
)
from accord.verify.location.geodesy import FloatArray, Propagation
from accord.verify.location.inputs import Landmark, PeerRtt

MIN_PEERS = 3


@dataclass(frozen=True)
class Bestline:
    """rtt_ms >= slope * distance_km + intercept for every calibration point."""

    slope_ms_per_km: float
    intercept_ms: float
    n_points: int

    def max_distance_km(self, rtt_ms: FloatArray | float) -> FloatArray:
        rtt = np.asarray(rtt_ms, dtype=np.float64)
        return np.asarray(np.maximum(0.0, (rtt - self.intercept_ms) / self.slope_ms_per_km))


def _lower_hull(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    order = np.lexsort((y, x))
    hx: list[float] = []
    hy: list[float] = []
    for xi, yi in zip(x[order].tolist(), y[order].tolist(), strict=True):
        if hx and hx[-1] == xi:
            continue  # same distance: the lower y came first
        while len(hx) >= 2:
            cross = (hx[-1] - hx[-2]) * (yi - hy[-2]) - (hy[-1] - hy[-2]) * (xi - hx[-2])
            if cross <= 0:
                hx.pop()
                hy.pop()
            else:
                break
        hx.append(xi)
        hy.append(yi)
    return np.asarray(hx), np.asarray(hy)


def _fit_from_hull(
    hx: FloatArray, hy: FloatArray, mean_x: float, n: int, baseline: float
) -> Bestline | None:
    far = hx > 0
    upper = float(np.min(hy[far] / hx[far])) if far.any() else math.inf
    if upper < baseline:
        return None
    slopes = np.diff(hy) / np.diff(hx) if hx.size > 1 else np.empty(0)
    finite_upper = [upper] if math.isfinite(upper) else []
    candidates = np.concatenate([[baseline], slopes, finite_upper])
    candidates = candidates[(candidates >= baseline) & (candidates <= upper)]
    best: Bestline | None = None
    best_f = -math.inf
    for m in candidates.tolist():
        b = float(np.min(hy - m * hx))
        f = b + m * mean_x
        if b >= -1e-9 and f > best_f:
            best, best_f = Bestline(m, max(b, 0.0), n), f
    return best


def fit_bestline(dist_km: FloatArray, rtt_ms: FloatArray, baseline: float) -> Bestline | None:
    """The CBG bestline for one landmark, or None if the points cannot support one.

    ``baseline`` is the physical slope in ms of RTT per km. None means fewer than
    MIN_PEERS points, or a point faster than the baseline (bad coordinates or a non-fibre
    path), in which case only the physical bound is sound for this landmark.
    """
    x = np.asarray(dist_km, dtype=np.float64)
    y = np.asarray(rtt_ms, dtype=np.float64)
    if x.size < MIN_PEERS:
        return None
    hx, hy = _lower_hull(x, y)
    return _fit_from_hull(hx, hy, float(x.mean()), int(x.size), baseline)


def clopper_pearson_upper(k: int, n: int, confidence: float = 0.95) -> float:
    """One-sided upper confidence bound on a binomial rate (exact, by bisection)."""
    if n <= 0:
        return 1.0
    if k >= n:
        return 1.0
    alpha = 1.0 - confidence

    def cdf(p: float) -> float:
        if p <= 0.0:
            return 1.0
        if p >= 1.0:
            return 0.0
        terms = [
            math.exp(
                math.lgamma(n + 1)
                - math.lgamma(i + 1)
                - math.lgamma(n - i + 1)
                + i * math.log(p)
                + (n - i) * math.log1p(-p)
            )
            for i in range(k + 1)
        ]
        return min(1.0, sum(terms))

    lo, hi = k / n, 1.0
    for _ in range(80):
        mid = (lo + hi) / 2.0
        if cdf(mid) > alpha:
            lo = mid
        else:
            hi = mid
    return hi


@dataclass(frozen=True)
class Calibration:
    """Bestlines for the landmarks that have enough peers, and their measured miss rate."""

    propagation: Propagation
    bestlines: dict[str, Bestline]
    constraint_tests: int
    constraint_misses: int
    region_tests: int = 0
    region_misses: int = 0
    faster_than_light: list[FasterThanLight] = field(default_factory=list)
    worst_excess_ms: dict[str, float] = field(default_factory=dict)
    landmark_check: LandmarkCheck | None = None

    @property
    def miss_rate(self) -> float | None:
        if self.constraint_tests == 0:
            return None
        return self.constraint_misses / self.constraint_tests

    @property
    def miss_rate_upper95(self) -> float:
        return clopper_pearson_upper(self.constraint_misses, self.constraint_tests)

    @property
    def region_miss_rate(self) -> float | None:
        """Share of held-out landmarks that the intersected CBG discs excluded."""
        if self.region_tests == 0:
            return None
        return self.region_misses / self.region_tests

    @property
    def region_miss_rate_upper95(self) -> float:
        return clopper_pearson_upper(self.region_misses, self.region_tests)

    def slack_ms(self, alpha: float) -> float:
        """Delay (ms) added to every RTT before the CBG bound so held-out landmarks are
        missed at most a share alpha of the time.

        For each held-out landmark T, ``worst_excess_ms[T]`` is the largest amount by which a
        leave-one-out bestline undershoots it, ``max_L (m_L * d(L, T) + b_L - rtt(L, T))``:
        the region misses T exactly when the slack is below it. The slack is the
        ceil((n + 1) * (1 - alpha))-th smallest of the n values, the conformal-prediction rule
        (Vovk et al. 2005) that bounds the miss rate of a new exchangeable target by alpha;
        with leave-one-out fits rather than a held-out split the guarantee is the jackknife+
        one, 2 * alpha (Barber et al., Annals of Statistics 2021). Infinity (fall back to the
        physical bound) when there are too few landmarks for that rank. A slack in time, not
        a factor on distance, because a bestline can bound a near target at zero km.
        """
        if not 0.0 < alpha < 1.0:
            raise ValueError("alpha must be in (0, 1)")
        values = sorted(self.worst_excess_ms.values())
        rank = math.ceil((len(values) + 1) * (1.0 - alpha))
        if rank > len(values):
            return math.inf
        return max(0.0, values[rank - 1])


def calibrate(
    landmarks: Sequence[Landmark],
    peers: Iterable[PeerRtt],
    propagation: Propagation = Propagation.FIBRE,
    measure_misses: bool = True,
) -> Calibration:
    """Fit every landmark's bestline and measure the miss rate by leave-one-out.

    Landmarks that the pairs show to be mislocated (see ``consistency``) are dropped first:
    their pairs would teach every peer's bestline a wrong distance.
    RTTs are symmetric, so a pair measured in either direction (minimum of all samples)
    serves both landmarks. For the miss rate, each pair (L, T) is tested with L's bestline
    fitted without T, exactly as if T were an unknown target.
    """
    baseline = 1.0 / propagation.km_per_ms_rtt
    peers = list(peers)
    check = check_landmarks(landmarks, peers, propagation)
    gone = set(check.dropped)
    bad = {(f.landmark_id, f.peer_id) for f in check.faster_than_light}
    table = pair_table(landmarks, peers)
    keys = [k for k in sorted(table) if k not in bad and not (set(k) & gone)]
    points: dict[str, list[tuple[str, float, float]]] = {}
    for (a, b), d in zip(keys, pair_distances(landmarks, keys), strict=True):
        pair_rtt = table[(a, b)]
        points.setdefault(a, []).append((b, d, pair_rtt))
        points.setdefault(b, []).append((a, d, pair_rtt))
    bestlines: dict[str, Bestline] = {}
    tests = misses = 0
    tested_targets: set[str] = set()
    missed_targets: set[str] = set()
    worst: dict[str, float] = {}
    for ident, pts in points.items():
        dist = np.array([p[1] for p in pts])
        rtt = np.array([p[2] for p in pts], dtype=np.float64)
        line = fit_bestline(dist, rtt, baseline)
        if line is None:
            continue
        bestlines[ident] = line
        if not measure_misses:
            continue
        hx, hy = _lower_hull(dist, rtt)
        on_hull = {(float(x), float(y)) for x, y in zip(hx, hy, strict=True)}
        total = float(dist.sum())
        for i in range(len(pts)):
            if len(pts) - 1 < MIN_PEERS:
                break
            mean_rest = (total - float(dist[i])) / (len(pts) - 1)
            if (float(dist[i]), float(rtt[i])) in on_hull:
                keep = np.arange(len(pts)) != i
                rx, ry = _lower_hull(dist[keep], rtt[keep])
                loo = _fit_from_hull(rx, ry, mean_rest, len(pts) - 1, baseline)
            else:
                loo = _fit_from_hull(hx, hy, mean_rest, len(pts) - 1, baseline)
            if loo is None:
                continue
            tests += 1
            tested_targets.add(pts[i][0])
            bound = float(loo.max_distance_km(rtt[i]))
            excess = loo.slope_ms_per_km * dist[i] + loo.intercept_ms - rtt[i]
            worst[pts[i][0]] = max(worst.get(pts[i][0], -math.inf), float(excess))
            if bound < dist[i]:
                misses += 1
                missed_targets.add(pts[i][0])
    return Calibration(
        propagation,
        bestlines,
        tests,
        misses,
        region_tests=len(tested_targets),
        region_misses=len(missed_targets),
        faster_than_light=list(check.faster_than_light),
        worst_excess_ms=worst,
        landmark_check=check,
    )
