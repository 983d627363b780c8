"""Contradictory evidence and mislocated landmarks: never a confident verdict from them.

The last two tests run on the real WonderProxy mesh in ../shared/data/latency (246 servers,
59,887 measured RTTs), where two servers are not where their listing says (La Ceiba and
Belfast); they skip, saying why, where that folder is absent.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from accord.model import Verdict
from accord.verify.location.geodesy import destination, distance_km
from accord.verify.location.inputs import Landmark, PeerRtt, RttSample
from accord.verify.location.locate import locate

MESH = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "latency"
needs_mesh = pytest.mark.skipif(
    not (MESH / "nodes.csv").is_file() or not (MESH / "rtts.csv").is_file(),
    reason=f"the real latency mesh is not at {MESH} (nodes.csv + rtts.csv)",
)

PARIS = Landmark("par", 48.85, 2.35, "Paris")
NEW_YORK = Landmark("nyc", 40.71, -74.0, "New York")
LONDON = Landmark("lon", 51.51, -0.13, "London")


def _fibre_rtt(a: Landmark, b: Landmark, stretch: float = 1.6) -> float:
    return float(distance_km(a.lat, a.lon, b.lat, b.lon)) / 99.93 * stretch + 1.0


def test_an_empty_region_gives_no_verdict_in_either_direction_and_names_the_conflict() -> None:
    # a relayed challenge: 1 ms to Paris and 1 ms to New York, which no one place can do
    landmarks = [PARIS, NEW_YORK, LONDON]
    peers = [
        PeerRtt(a.id, b.id, _fibre_rtt(a, b))
        for i, a in enumerate(landmarks)
        for b in landmarks[i + 1 :]
    ]
    report = locate(
        landmarks,
        [RttSample("par", 1.0), RttSample("nyc", 1.0), RttSample("lon", 4.0)],
        claim="FR",
        declared=(48.85, 2.35),
        restricted=["CN", "US", "RU"],
        calibration=peers,
    )
    assert report.physical.empty
    about_target = [f for f in report.findings if f.subject != "landmarks"]
    # the region finding, the declared facility, the claim and three restricted countries
    assert len(about_target) == 6
    assert {f.verdict for f in about_target} == {Verdict.INCONCLUSIVE}
    assert all(c.relation == "undetermined" for c in report.countries)
    assert report.conflicting_landmarks and "nyc (New York)" in report.conflicting_landmarks[0]
    assert "par (Paris)" in report.conflicting_landmarks[0]
    assert "nyc (New York)" in about_target[0].explanation


def test_discs_that_meet_in_pairs_but_not_all_together_are_named_as_a_set() -> None:
    # three discs around a triangle's corners: each pair overlaps, the three have no common
    # point (the circumradius is 577 km, the discs 540 km); a fourth, wide disc is innocent
    corners = [destination(45.0, 10.0, [bearing], 577.35)[0] for bearing in (0.0, 120.0, 240.0)]
    lms = [Landmark(f"c{i}", float(p[0]), float(p[1])) for i, p in enumerate(corners)]
    lms.append(Landmark("far", 30.0, 31.0, "Cairo"))
    peers = [PeerRtt(a.id, b.id, _fibre_rtt(a, b)) for i, a in enumerate(lms) for b in lms[i + 1 :]]
    rtts = [RttSample(f"c{i}", 540.0 / 99.93) for i in range(3)] + [RttSample("far", 60.0)]
    report = locate(lms, rtts, claim="IT", restricted=["CN"], calibration=peers, cbg=False)
    assert report.physical.empty
    assert report.conflicting_landmarks == ["c0, c1, c2 have no common point"]
    about_target = [f for f in report.findings if f.subject != "landmarks"]
    assert len(about_target) == 3
    assert all(f.verdict is Verdict.INCONCLUSIVE for f in about_target)


def test_without_landmark_pairs_an_exclusion_is_not_an_accusation() -> None:
    # 2 ms from Berlin cannot be in Singapore, if Berlin's landmark is in Berlin
    report = locate([Landmark("ber", 52.5, 13.4)], [RttSample("ber", 2.0)], claim="SG")
    claim = next(f for f in report.findings if "claim" in f.statistic)
    assert report.claim is not None and report.claim.relation == "excluded"
    assert claim.verdict is Verdict.INCONCLUSIVE
    assert claim.statistic["answer"] == "cannot be in SG, if every landmark is where it is listed"
    assert not report.landmark_check.checked
    # the same evidence with a landmark pair that vouches for Berlin's position accuses
    pair = [PeerRtt("ber", "fra", 9.0)]
    both = [Landmark("ber", 52.5, 13.4), Landmark("fra", 50.11, 8.68)]
    checked = locate(both, [RttSample("ber", 2.0)], claim="SG", calibration=pair, cbg=False)
    claim = next(f for f in checked.findings if "claim" in f.statistic)
    assert claim.verdict is Verdict.INCONSISTENT and claim.statistic["answer"] == "cannot be in SG"


@pytest.fixture(scope="module")
def mesh() -> tuple[list[Landmark], list[PeerRtt]]:
    """The mesh read with the csv module, so these tests rest on locate() alone."""
    if not (MESH / "nodes.csv").is_file():
        pytest.skip(f"the real latency mesh is not at {MESH}")
    with (MESH / "nodes.csv").open(encoding="utf-8") as f:
        nodes = [
            Landmark(r["id"], float(r["latitude"]), float(r["longitude"]), r["name"], r["country"])
            for r in csv.DictReader(f)
        ]
    with (MESH / "rtts.csv").open(encoding="utf-8") as f:
        pairs = [PeerRtt(r["src_id"], r["dst_id"], float(r["rtt_ms"])) for r in csv.DictReader(f)]
    return nodes, pairs


@needs_mesh
def test_a_mislocated_landmark_does_not_accuse_an_honest_target(
    mesh: tuple[list[Landmark], list[PeerRtt]],
) -> None:
    # Atlanta, judged by the servers within 2,500 km of it plus "La Ceiba, Honduras" (node
    # 220), whose RTTs to US servers beat light from Honduras: it is hosted elsewhere
    nodes, pairs = mesh
    by_id = {n.id: n for n in nodes}
    atlanta = by_id["18"]
    near = {
        n.id
        for n in nodes
        if n.id != atlanta.id
        and float(distance_km(atlanta.lat, atlanta.lon, n.lat, n.lon)) < 2500.0
    }
    near.add("220")
    landmarks = [by_id[i] for i in sorted(near)]
    rtts = [
        RttSample(p.peer_id if p.landmark_id == atlanta.id else p.landmark_id, p.rtt_ms)
        for p in pairs
        if atlanta.id in (p.landmark_id, p.peer_id)
        and (p.peer_id if p.landmark_id == atlanta.id else p.landmark_id) in near
    ]
    peers = [p for p in pairs if p.landmark_id in near and p.peer_id in near]
    report = locate(
        landmarks,
        rtts,
        claim="US",
        declared=(atlanta.lat, atlanta.lon),
        restricted=["CN"],
        calibration=peers,
    )
    about_target = [f for f in report.findings if f.subject != "landmarks"]
    assert all(f.verdict is not Verdict.INCONSISTENT for f in about_target), [
        f.explanation for f in about_target if f.verdict is Verdict.INCONSISTENT
    ]
    assert report.physical.caps.contains_point(atlanta.lat, atlanta.lon)
    assert "220" in [d.landmark_id for d in report.landmark_check.dropped]
    landmark_finding = next(f for f in report.findings if f.subject == "landmarks")
    assert "220 (La Ceiba)" in landmark_finding.explanation


@needs_mesh
def test_no_honest_target_on_the_whole_real_mesh_is_accused(
    mesh: tuple[list[Landmark], list[PeerRtt]],
) -> None:
    """Leave-one-out over all 246 servers, every one of them a landmark in the other folds.

    A target is honest unless the whole mesh contradicts its own listed position (its RTTs
    to other servers beat light): those are the servers listed in the wrong place, and
    rejecting their listed position is the right answer.
    """
    from accord.verify.location.evaluate import leave_one_out, summarise

    nodes, pairs = mesh
    results = leave_one_out(nodes, pairs, cbg=False, max_distant=3)
    summary = summarise(results)
    assert summary["folds"] == 246
    flagged = set(summary["targets_flagged"])
    assert {"220", "204"} <= flagged and len(flagged) <= 12
    honest = [r for r in results if not r.target_flagged]
    accused = [r.target for r in honest if r.accused]
    assert accused == [], f"honest targets accused: {accused}"
    assert summary["empty_regions"] == 0
    # the truth stays inside every honest target's region
    assert all(r.physical_contains for r in honest)
    # and the verifier still decides: far wrong countries excluded, true countries confirmed
    assert summary["distant_country_excluded_physical"]["rate"] > 0.9
    assert summary["true_country_confirmed_physical"]["count"] > 20
    assert np.mean([len(r.dropped) for r in results]) <= 12
