"""`accord locate` as a user runs it, and the leave-one-out harness on real and synthetic data."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from cli_process import accord

from accord.errors import AccordError
from accord.verify.location.evaluate import (
    leave_one_out,
    ripe_anchor_coordinates,
    ripe_sample,
    summarise,
)
from accord.verify.location.geodesy import Propagation, distance_km
from accord.verify.location.ripe_atlas import parse_anchors, parse_ping_results
from accord.verify.location.synthetic import synthetic_mesh

BRISBANE = "probe-6849"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return accord(*args)


@pytest.fixture(scope="module")
def ripe_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    nodes, pairs = ripe_sample()
    d = tmp_path_factory.mktemp("ripe")
    lm = d / "landmarks.csv"
    lm.write_text(
        "id,lat,lon,name,country\n"
        + "".join(
            f"{n.id},{n.lat},{n.lon},{n.name},{n.country}\n" for n in nodes if n.id != BRISBANE
        )
    )
    rt = d / "rtts.csv"
    rt.write_text(
        "landmark_id,rtt_ms,target\n"
        + "".join(f"{p.landmark_id},{p.rtt_ms},au-bne\n" for p in pairs)
    )
    return lm, rt


def test_real_rtts_never_beat_the_physical_bound() -> None:
    nodes, pairs = ripe_sample()
    by_id = {n.id: n for n in nodes}
    assert len(pairs) > 2800
    a = [by_id[p.landmark_id] for p in pairs]
    b = [by_id[p.peer_id] for p in pairs]
    d = distance_km([x.lat for x in a], [x.lon for x in a], [x.lat for x in b], [x.lon for x in b])
    rtt = np.array([p.rtt_ms for p in pairs])
    assert (rtt >= d / Propagation.FIBRE.km_per_ms_rtt).all()


def test_cli_locates_the_real_brisbane_anchor(
    ripe_files: tuple[Path, Path], tmp_path: Path
) -> None:
    lm, rt = ripe_files
    png = tmp_path / "map.png"
    res = run(
        "locate",
        "--landmarks",
        str(lm),
        "--rtts",
        str(rt),
        "--claim",
        "AU",
        "--declared-lat",
        "-27.4655",
        "--declared-lon",
        "153.0296",
        "--restricted",
        "SG",
        "--map",
        str(png),
        "--json",
    )
    # European landmarks cannot settle AU or SG: not shown to hold, so exit 1.
    assert res.returncode == 1, res.stderr
    data = json.loads(res.stdout)
    assert data["declared"]["inside_physical"] is True
    assert data["physical_region"]["empty"] is False
    assert len(data["constraints"]) == 31
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the same run for people prints a findings table
    res = run("locate", "--landmarks", str(lm), "--rtts", str(rt), "--claim", "AU")
    assert res.returncode == 1 and "Findings" in res.stdout
    # The declared site alone is consistent with the measurements: exit 0.
    res = run(
        "locate", "--landmarks", str(lm), "--rtts", str(rt),
        "--declared-lat", "-27.4655", "--declared-lon", "153.0296",
    )  # fmt: skip
    assert res.returncode == 0, res.stdout


def test_cli_errors_are_one_line_with_exit_2(ripe_files: tuple[Path, Path], tmp_path: Path) -> None:
    lm, rt = ripe_files
    cases = {
        "unknown landmark": "landmark_id,rtt_ms\nghost,12\n",
        "is negative": "landmark_id,rtt_ms\nprobe-6798,-4\n",
        "rtt_ms: is missing": "landmark_id,rtt_ms\nprobe-6798,\n",
    }
    for needle, text in cases.items():
        bad = tmp_path / "bad.csv"
        bad.write_text(text)
        res = run("locate", "--landmarks", str(lm), "--rtts", str(bad))
        assert res.returncode == 2 and needle in res.stderr
        assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1
    nolat = tmp_path / "nolat.csv"
    nolat.write_text("id,lat,lon\nprobe-6798,,55.8\n")
    res = run("locate", "--landmarks", str(nolat), "--rtts", str(rt))
    assert res.returncode == 2 and "lat: is missing" in res.stderr
    res = run("locate", "--landmarks", str(lm), "--rtts", str(rt), "--declared-lat", "1")
    assert res.returncode == 2 and "give both or neither" in res.stderr
    res = run("locate", "--landmarks", str(lm), "--rtts", str(rt), "--speed", "warp")
    assert res.returncode == 2 and "fibre or vacuum" in res.stderr


def test_leave_one_out_on_the_real_sample_never_misses_with_the_physical_bound() -> None:
    nodes, pairs = ripe_sample()
    results = leave_one_out(
        nodes, pairs, targets=[BRISBANE, "probe-6798", "probe-6850"], max_distant=3
    )
    assert [r.target for r in results] == [BRISBANE, "probe-6798", "probe-6850"]
    assert all(r.physical_contains for r in results)
    assert results[0].landmarks == 31 and results[1].landmarks == 1
    assert results[0].true_country == "AU"
    summary = summarise(results)
    assert summary["physical_misses"]["count"] == 0


def test_leave_one_out_on_a_synthetic_mesh_reports_every_metric() -> None:
    anchors = ripe_anchor_coordinates()
    rng = np.random.default_rng(1)
    nodes = [anchors[i] for i in sorted(rng.choice(len(anchors), 24, replace=False))]
    pairs = synthetic_mesh(nodes, seed=1)
    results = leave_one_out(nodes, pairs, targets=[n.id for n in nodes[:6]], max_distant=3)
    summary = summarise(results)
    assert summary["folds"] == 6
    assert summary["physical_misses"]["count"] == 0  # by construction of the model
    assert summary["cbg_area_km2"]["median"] <= summary["physical_area_km2"]["median"]
    assert 0.0 <= summary["distant_country_excluded_physical"]["rate"] <= 1.0


def test_ripe_atlas_formats_are_read_and_checked() -> None:
    anchors = json.dumps(
        {
            "results": [
                {
                    "probe": 1,
                    "ip_v4": "192.0.2.1",
                    "ip_v6": None,
                    "fqdn": "a.x",
                    "country": "NL",
                    "geometry": {"type": "Point", "coordinates": [4.9, 52.4]},
                },
                {
                    "probe": 2,
                    "ip_v4": "192.0.2.2",
                    "fqdn": "b.x",
                    "country": "DE",
                    "geometry": {"type": "Point", "coordinates": [8.7, 50.1]},
                },
            ]
        }
    )
    nodes, by_ip = parse_anchors(anchors)
    assert [n.id for n in nodes] == ["probe-1", "probe-2"] and by_ip["192.0.2.2"] == "probe-2"
    results = "\n".join(
        json.dumps(r)
        for r in [
            {
                "type": "ping",
                "prb_id": 1,
                "dst_addr": "192.0.2.2",
                "timestamp": 5,
                "result": [{"rtt": 7.5}, {"x": "*"}, {"rtt": 7.1}],
            },
            {"type": "ping", "prb_id": 2, "dst_addr": "192.0.2.2", "result": [{"rtt": 0.1}]},
            {"type": "traceroute", "prb_id": 1, "dst_addr": "192.0.2.2"},
        ]
    )
    pairs, skipped = parse_ping_results(results, by_ip)
    assert [(p.landmark_id, p.peer_id, p.rtt_ms) for p in pairs] == [
        ("probe-1", "probe-2", 7.5),
        ("probe-1", "probe-2", 7.1),
    ]
    assert skipped == 2
    with pytest.raises(AccordError):
        parse_anchors("{not json")
    with pytest.raises(AccordError):
        parse_anchors(json.dumps({"results": [{"probe": 1}]}))


def test_cli_with_calibration_reports_cbg_and_its_miss_rate(tmp_path: Path) -> None:
    anchors = ripe_anchor_coordinates()
    rng = np.random.default_rng(3)
    nodes = [anchors[i] for i in sorted(rng.choice(len(anchors), 30, replace=False))]
    pairs = synthetic_mesh(nodes, seed=3)
    target = nodes[0]
    lm = tmp_path / "l.csv"
    lm.write_text("id,lat,lon\n" + "".join(f"{n.id},{n.lat},{n.lon}\n" for n in nodes[1:]))
    rt = tmp_path / "r.csv"
    rt.write_text(
        "landmark_id,rtt_ms\n"
        + "".join(
            f"{p.peer_id if p.landmark_id == target.id else p.landmark_id},{p.rtt_ms}\n"
            for p in pairs
            if target.id in (p.landmark_id, p.peer_id)
        )
    )
    cal = tmp_path / "c.csv"
    cal.write_text(
        "landmark_id,peer_id,rtt_ms\n"
        + "".join(
            f"{p.landmark_id},{p.peer_id},{p.rtt_ms}\n"
            for p in pairs
            if target.id not in (p.landmark_id, p.peer_id)
        )
    )
    res = run(
        "locate",
        "--landmarks",
        str(lm),
        "--rtts",
        str(rt),
        "--calibration",
        str(cal),
        "--declared-lat",
        str(target.lat),
        "--declared-lon",
        str(target.lon),
        "--json",
    )
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["cbg_region"] is not None
    c = data["calibration"]
    assert c["landmarks_with_bestline"] == 29 and c["constraint_tests"] == 29 * 28
    assert c["alpha"] == 0.05 and c["slack_ms"] >= 0.0
    assert data["declared"]["inside_physical"] is True
    res = run(
        "locate", "--landmarks", str(lm), "--rtts", str(rt), "--calibration", str(cal), "--raw-cbg"
    )
    assert res.returncode == 0 and "CBG region" in res.stdout


def _write_mesh_folder(folder: Path, n: int = 10) -> None:
    """A nodes + pairs folder in the WonderProxy naming (latitude/longitude, src_id/dst_id)."""
    anchors = ripe_anchor_coordinates()
    rng = np.random.default_rng(8)
    nodes = [anchors[i] for i in sorted(rng.choice(len(anchors), n, replace=False))]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "nodes.csv").write_text(
        "id,name,country,latitude,longitude\n"
        + "".join(f"{x.id},{x.name},{x.country},{x.lat},{x.lon}\n" for x in nodes)
    )
    (folder / "rtts.csv").write_text(
        "src_id,dst_id,rtt_ms\n"
        + "".join(
            f"{p.landmark_id},{p.peer_id},{p.rtt_ms}\n" for p in synthetic_mesh(nodes, seed=8)
        )
    )


def test_the_evaluation_reads_any_nodes_and_pairs_folder(tmp_path: Path) -> None:
    import sys

    from cli_process import ROOT

    data = tmp_path / "mesh"
    _write_mesh_folder(data)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "accord.verify.location.evaluate", "--data", str(data)]
    res = subprocess.run(
        [*cmd, "--no-cbg", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    doc = json.loads((out / "location_eval_mesh_fibre_nocbg.json").read_text())
    summary = doc["summary"]
    assert summary["folds"] == 10 and summary["landmark_check"] is True
    assert summary["physical_misses"]["count"] == 0  # synthetic delays never beat light
    assert summary["honest_accused"]["count"] == 0 and summary["empty_regions"] == 0
    assert {"empty", "dropped", "claim_verdict", "declared_verdict"} <= set(doc["folds"][0])
    bad = subprocess.run(
        [*cmd[:-1], str(tmp_path / "nowhere"), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2 and "is not a folder" in bad.stderr
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_locate_prints_the_answer_to_the_question_and_reads_the_mesh_naming(
    tmp_path: Path,
) -> None:
    data = tmp_path / "mesh"
    _write_mesh_folder(data, n=12)
    lines = (data / "rtts.csv").read_text().splitlines()[1:]
    target = (data / "nodes.csv").read_text().splitlines()[1].split(",")[0]
    rt = tmp_path / "r.csv"
    rt.write_text(
        "landmark_id,rtt_ms\n"
        + "".join(
            f"{b if a == target else a},{r}\n"
            for a, b, r in (x.split(",") for x in lines)
            if target in (a, b)
        )
    )
    cal = tmp_path / "c.csv"
    cal.write_text(
        "src_id,dst_id,rtt_ms\n"
        + "".join(f"{x}\n" for x in lines if target not in x.split(",")[:2])
    )
    args = ["locate", "--landmarks", str(data / "nodes.csv"), "--rtts", str(rt)]
    res = run(*args, "--calibration", str(cal), "--restricted", "CN", "--claim", "Czech Republic")
    # the record keeps the Finding vocabulary; people read what it means for the question
    assert "cannot be in CN" in res.stdout or "may be in CN" in res.stdout
    # exit rule: 0 only when every question asked is answered in the claim's favour
    verdicts = [
        f["verdict"]
        for f in json.loads(
            run(
                *args, "--calibration", str(cal), "--restricted", "CN", "--claim", "CZ", "--json"
            ).stdout
        )["findings"]
        if f["subject"] != "landmarks"
    ]
    assert res.returncode == (0 if set(verdicts) == {"consistent"} else 1), res.stderr
    assert "landmark pairs physically consistent" in res.stdout
    data_json = json.loads(
        run(*args, "--calibration", str(cal), "--claim", "CZ", "--no-cbg", "--json").stdout
    )
    assert data_json["landmark_check"]["checked"] is True and data_json["cbg_region"] is None
    # without landmark pairs the run says that the landmarks were not checked
    res = run(*args, "--claim", "Czech Republic")
    assert res.returncode in (0, 1) and "not checked" in res.stdout
    res = run(*args, "--claim", "Hong")
    assert res.returncode == 2 and "did you mean HK" in res.stderr


def test_country_names_the_latency_data_uses_resolve() -> None:
    from accord.errors import NotFoundError
    from accord.rules.countries import normalise_country

    assert normalise_country("Czech Republic") == "CZ"
    assert normalise_country("Turkey") == "TR"
    assert normalise_country("hong kong") == "HK"
    with pytest.raises(NotFoundError, match=r"KP \(North Korea\), KR \(South Korea\)"):
        normalise_country("Korea")


def test_the_nearby_claims_study_scores_honest_targets_and_false_claims() -> None:
    from accord.verify.location.nearby import METHODS, study, summarise

    anchors = ripe_anchor_coordinates()
    europe = [a for a in anchors if 45.0 < a.lat < 55.0 and 0.0 < a.lon < 20.0]
    rng = np.random.default_rng(4)
    nodes = [europe[i] for i in sorted(rng.choice(len(europe), 24, replace=False))]
    claims, honest, meta = study(nodes, synthetic_mesh(nodes, seed=4), colocated_km=100.0)
    summary = summarise(claims, honest, meta)
    assert len(honest) == 24 and len(claims) > 20
    # synthetic delays never beat light: the physical tests never reject an honest target
    assert summary["honest_rejected"]["physical_site"]["count"] == 0
    assert set(summary["honest_rejected"]) == {*METHODS, "physical_or_site"}
    # a cheater farther than the site landmark's guarantee cannot answer fast enough
    far = [c for c in claims if c.distance_km > meta["guaranteed_beyond_km"]]
    assert far and all(c.rejected["site_landmark"] for c in far)
    # and a claim to a site outside the physical region is the only way that test rejects
    assert all(c.distance_km > 0 for c in claims if c.rejected["physical_site"])
