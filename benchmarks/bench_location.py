"""Verdict latency of `accord.verify.location` with 1,000 landmarks.

Landmarks: the 500 real RIPE Atlas anchor positions shipped with the package plus 500
positions drawn within 500 km of random anchors (seeded); RTTs from the labelled synthetic
delay model. Baseline: the same region test written as a per-point Python loop with
``math`` haversine and early exit, i.e. what a straightforward implementation does; Accord
uses one matrix product of unit vectors per chunk. Both run on the same lattice in the same
process and must agree point for point.
"""

from __future__ import annotations

import math
import statistics
import time
from pathlib import Path

import numpy as np

from accord.verify.location.calibration import calibrate
from accord.verify.location.evaluate import ripe_anchor_coordinates
from accord.verify.location.geodesy import (
    EARTH_RADIUS_KM,
    Propagation,
    cap_area_km2,
    destination,
    distance_km,
    to_latlon,
)
from accord.verify.location.inputs import Landmark, RttSample
from accord.verify.location.locate import locate
from accord.verify.location.region import TARGET_SAMPLES, Caps, ring_lattice
from accord.verify.location.synthetic import DelayModel

N_LANDMARKS = 1000
REPEATS = 5


def _landmarks(seed: int = 0) -> list[Landmark]:
    rng = np.random.default_rng(seed)
    anchors = ripe_anchor_coordinates()
    extra = []
    for k in range(N_LANDMARKS - len(anchors)):
        a = anchors[int(rng.integers(len(anchors)))]
        p = destination(a.lat, a.lon, [rng.uniform(0, 360)], float(rng.uniform(10, 500)))[0]
        extra.append(Landmark(f"syn-{k}", float(p[0]), float(p[1])))
    return [*anchors, *extra]


def _rtts(lms: list[Landmark], lat: float, lon: float, seed: int = 0) -> list[RttSample]:
    rng = np.random.default_rng(seed)
    model = DelayModel()
    d = distance_km(lat, lon, [x.lat for x in lms], [x.lon for x in lms])
    stretch = 1.0 + (model.median_stretch - 1.0) * rng.lognormal(0.0, model.stretch_sigma, d.size)
    rtt = d / Propagation.FIBRE.km_per_ms_rtt * stretch + rng.uniform(0.4, 6.0, d.size)
    return [RttSample(x.id, float(r)) for x, r in zip(lms, rtt, strict=True)]


def _naive_inside(
    lat: list[float], lon: list[float], caps: list[tuple[float, float, float]]
) -> list[bool]:
    out = []
    for plat, plon in zip(lat, lon, strict=True):
        p1 = math.radians(plat)
        ok = True
        for clat, clon, r in caps:
            p2 = math.radians(clat)
            h = (
                math.sin((p2 - p1) / 2) ** 2
                + math.cos(p1) * math.cos(p2) * math.sin(math.radians(clon - plon) / 2) ** 2
            )
            if 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h))) > r:
                ok = False
                break
        out.append(ok)
    return out


def _time(fn: object, repeats: int = REPEATS) -> float:
    assert callable(fn)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    lms = _landmarks()
    lat, lon = 50.11, 8.68  # a target in Frankfurt
    rtts = _rtts(lms, lat, lon)
    rtt_arr = np.array([r.rtt_ms for r in rtts])
    caps = Caps(
        np.array([x.lat for x in lms]),
        np.array([x.lon for x in lms]),
        rtt_arr * Propagation.FIBRE.km_per_ms_rtt,
    )
    i = int(np.argmin(caps.radius_km))
    # the lattice `locate` lays: about 20,000 points over the smallest cap
    spacing = math.sqrt(cap_area_km2(float(caps.radius_km[i])) / TARGET_SAMPLES)
    pts = ring_lattice(float(caps.lat[i]), float(caps.lon[i]), float(caps.radius_km[i]), spacing)
    plat, plon = to_latlon(pts)
    cap_list = list(zip(caps.lat.tolist(), caps.lon.tolist(), caps.radius_km.tolist(), strict=True))

    naive = _time(lambda: _naive_inside(plat.tolist(), plon.tolist(), cap_list), repeats=1)
    vector = _time(lambda: caps.inside(pts))
    agree = _naive_inside(plat.tolist(), plon.tolist(), cap_list) == caps.inside(pts).tolist()
    print(
        f"region membership, {len(pts):,} lattice points x {N_LANDMARKS} landmarks: "
        f"per-point loop {naive * 1e3:8.1f} ms   numpy {vector * 1e3:7.1f} ms   "
        f"ratio {naive / vector:5.1f}x faster   (same answers: {agree})"
    )
    full = _time(
        lambda: locate(lms, rtts, claim="DE", declared=(lat, lon), restricted=["CN", "RU", "SG"])
    )
    report = locate(lms, rtts, claim="DE", declared=(lat, lon), restricted=["CN", "RU", "SG"])
    claim = report.claim.relation if report.claim else "-"
    print(
        f"locate() verdicts (claim DE, declared point, 3 restricted countries), "
        f"{N_LANDMARKS} landmarks: {full * 1e3:8.1f} ms median of {REPEATS}; "
        f"region ~{report.physical.area_km2:,.0f} km², claim {claim}"
    )
    rng = np.random.default_rng(2)
    sub = [lms[k] for k in sorted(rng.choice(len(lms), 300, replace=False))]
    from accord.verify.location.synthetic import synthetic_mesh

    pairs = synthetic_mesh(sub, seed=2)
    start = time.perf_counter()
    cal = calibrate(sub, pairs)
    took = time.perf_counter() - start
    print(
        f"CBG calibration with leave-one-out miss rate, 300 landmarks ({len(pairs):,} pairs): "
        f"{took:6.2f} s; constraint misses {cal.constraint_misses}/{cal.constraint_tests}"
    )
    bench_landmark_check()


MESH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "latency"


def _naive_faster_than_light(
    nodes: dict[str, Landmark], pairs: list[tuple[str, str, float]]
) -> set[tuple[str, str]]:
    """The check as a per-pair loop: minimum per unordered pair, haversine, compare."""
    best: dict[tuple[str, str], float] = {}
    for a, b, r in pairs:
        key = (min(a, b), max(a, b))
        best[key] = min(r, best.get(key, math.inf))
    out = set()
    for (a, b), r in best.items():
        x, y = nodes[a], nodes[b]
        p1, p2 = math.radians(x.lat), math.radians(y.lat)
        h = (
            math.sin((p2 - p1) / 2) ** 2
            + math.cos(p1) * math.cos(p2) * math.sin(math.radians(y.lon - x.lon) / 2) ** 2
        )
        d = 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, h)))
        if r < d / Propagation.FIBRE.km_per_ms_rtt * (1.0 - 1e-9):
            out.add((a, b))
    return out


def bench_landmark_check() -> None:
    """The landmark check on the real WonderProxy mesh, once and per leave-one-out fold."""
    if not (MESH / "rtts.csv").is_file():
        print(f"landmark check: skipped, no latency mesh at {MESH}")
        return
    from accord.verify.location.consistency import PairIndex
    from accord.verify.location.evaluate import load_mesh

    nodes, pairs = load_mesh(MESH)
    by_id = {n.id: n for n in nodes}
    raw = [(p.landmark_id, p.peer_id, p.rtt_ms) for p in pairs]
    naive = _time(lambda: _naive_faster_than_light(by_id, raw), repeats=1)
    build = _time(lambda: PairIndex(nodes, pairs), repeats=1)
    index = PairIndex(nodes, pairs)
    fold = _time(lambda: index.check(exclude=["2"]))
    same = {(f.landmark_id, f.peer_id) for f in index.check().faster_than_light} == (
        _naive_faster_than_light(by_id, raw)
    )
    print(
        f"landmark check, {len(nodes)} real nodes, {len(pairs):,} RTT rows: per-pair loop "
        f"{naive * 1e3:7.1f} ms   PairIndex build {build * 1e3:7.1f} ms "
        f"({naive / build:4.1f}x)   each fold after that {fold * 1e3:6.1f} ms "
        f"({naive / fold:5.0f}x)   (same pairs: {same}); dropped {index.check().dropped}"
    )


if __name__ == "__main__":
    main()
