"""Can a false claim to a NEARBY place be told apart by latency? Measured on a real mesh.

Every node of the mesh in turn is an honest target (leave-one-out, landmark check on) and,
for every other country with a node within ``max_km``, also a cheater claiming that
country's node nearest to it (a real data centre: the claimed facility). Each method below
is scored twice: how often it rejects the false claim, and how often it rejects the honest
target's own listed position (the false-accusation rate, which must stay near zero).

* ``physical``: the claimed facility lies outside the physical region (sound: a cheater
  cannot remove delay), and the claimed country excluded;
* ``cbg_global``: outside the CBG region widened by one conformal slack for all landmarks
  (docs/location.md);
* ``cbg_per_landmark``: each landmark widened by its own largest leave-one-out undershoot
  (computed without the target), so a landmark with direct paths keeps a tight disc;
* ``site_landmark``: the inspectorate has a landmark AT the claimed facility and rejects
  when the target's RTT to it exceeds the largest RTT it has seen between two nodes
  within ``colocated_km`` of each other (again computed without the target). A cheater at
  distance D cannot answer faster than 2D/v, so beyond ``tau * v / 2`` km the rejection is
  guaranteed; nearer, it holds only against cheaters on ordinary routes.

Run ``python -m accord.verify.location.nearby --data DIR --out DIR``.
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from accord.rules.countries import normalise_country
from accord.verify.location.calibration import (
    Bestline,
    _fit_from_hull,
    _lower_hull,
    calibrate,
    clopper_pearson_upper,
)
from accord.verify.location.consistency import PairIndex
from accord.verify.location.evaluate import load_mesh
from accord.verify.location.geodesy import Propagation, distance_km
from accord.verify.location.geography import all_countries
from accord.verify.location.inputs import Landmark, PeerRtt, RttSample
from accord.verify.location.locate import Constraint, locate
from accord.verify.location.region import Caps, Relation

BINS_KM = (0.0, 250.0, 500.0, 1000.0, 1500.0)
METHODS = ("physical_site", "physical_country", "cbg_global", "cbg_per_landmark", "site_landmark")


@dataclass(frozen=True)
class Claim:
    target: str
    true_country: str
    claimed_country: str
    site: str
    distance_km: float
    rejected: dict[str, bool]


@dataclass(frozen=True)
class Honest:
    target: str
    rejected: dict[str, bool]
    site_peers: int  # servers within colocated_km: stand-ins for a landmark at its facility


def _country(node: Landmark) -> str | None:
    try:
        return normalise_country(node.country, "country")
    except Exception:  # an unknown name: the node takes part as a landmark only
        return None


def per_landmark_undershoot(
    nodes: Sequence[Landmark], index: PairIndex, keep: set[str], propagation: Propagation
) -> tuple[dict[str, dict[str, Bestline]], dict[str, dict[str, float]]]:
    """Each landmark's bestline fitted without each peer, and by how many ms it undershoots it.

    The same fit as ``calibrate`` (whose miss counts pool all landmarks); kept per landmark
    here so that each can be widened by its own record. A target is judged with the lines
    fitted without it, as if it had never been a landmark.
    """
    baseline = 1.0 / propagation.km_per_ms_rtt
    points: dict[str, list[tuple[str, float, float]]] = {}
    for i, (a, b) in enumerate(index.keys):
        if index.faster[i] or a not in keep or b not in keep:
            continue
        d, r = float(index.distance_km[i]), float(index.rtt_ms[i])
        points.setdefault(a, []).append((b, d, r))
        points.setdefault(b, []).append((a, d, r))
    lines: dict[str, dict[str, Bestline]] = {}
    under: dict[str, dict[str, float]] = {}
    for ident, pts in points.items():
        dist = np.array([p[1] for p in pts])
        rtt = np.array([p[2] for p in pts])
        if dist.size < 4:
            continue
        hx, hy = _lower_hull(dist, rtt)
        line = _fit_from_hull(hx, hy, float(dist.mean()), int(dist.size), baseline)
        if line is None:
            continue
        lines[ident] = {}
        hull = {(float(x), float(y)) for x, y in zip(hx, hy, strict=True)}
        total = float(dist.sum())
        out: dict[str, float] = {}
        for k, (peer, d, r) in enumerate(pts):
            mean_rest = (total - d) / (len(pts) - 1)
            if (d, r) in hull:
                mask = np.arange(len(pts)) != k
                rx, ry = _lower_hull(dist[mask], rtt[mask])
                loo = _fit_from_hull(rx, ry, mean_rest, len(pts) - 1, baseline)
            else:
                loo = _fit_from_hull(hx, hy, mean_rest, len(pts) - 1, baseline)
            if loo is not None:
                out[peer] = loo.slope_ms_per_km * d + loo.intercept_ms - r
                lines[ident][peer] = loo
        under[ident] = out
    return lines, under


def _caps_with(
    constraints: Sequence[Constraint],
    lines: dict[str, dict[str, Bestline]],
    target: str,
    slack: dict[str, float] | float,
) -> Caps:
    """CBG discs widened by one slack for all, or by each landmark's own (physical if none),
    each from the landmark's bestline fitted without the target."""
    radius = []
    for c in constraints:
        line = lines.get(c.landmark_id, {}).get(target)
        s = slack if isinstance(slack, float) else slack.get(c.landmark_id, np.inf)
        if line is None or not np.isfinite(s):
            radius.append(c.physical_km)
        else:
            radius.append(min(c.physical_km, float(line.max_distance_km(c.rtt_ms + s))))
    return Caps(
        np.array([c.lat for c in constraints]),
        np.array([c.lon for c in constraints]),
        np.array(radius),
    )


def study(
    nodes: Sequence[Landmark],
    pairs: Sequence[PeerRtt],
    max_km: float = 1500.0,
    colocated_km: float = 100.0,
    propagation: Propagation = Propagation.FIBRE,
) -> tuple[list[Claim], list[Honest], dict[str, Any]]:
    """Score every method on honest targets and on false claims to nearby countries."""
    index = PairIndex(nodes, pairs, propagation)
    shapes = all_countries()
    flagged = set(index.check().dropped)
    usable = [n for n in nodes if n.id not in flagged and _country(n) is not None]
    keep = {n.id for n in usable}
    by_id = {n.id: n for n in nodes}
    rtt_of = {k: float(r) for k, r in zip(index.keys, index.rtt_ms.tolist(), strict=True)}

    def rtt(a: str, b: str) -> float | None:
        return rtt_of.get((min(a, b), max(a, b)))

    cal = calibrate(
        [by_id[i] for i in sorted(keep)],
        [p for p in pairs if p.landmark_id in keep and p.peer_id in keep],
        propagation,
    )
    global_slack = cal.slack_ms(0.05)
    lines, under = per_landmark_undershoot(nodes, index, keep, propagation)
    lat = np.array([n.lat for n in usable])
    lon = np.array([n.lon for n in usable])
    colocated = [
        (a, b, r)
        for (a, b), r in rtt_of.items()
        if a in keep
        and b in keep
        and float(distance_km(by_id[a].lat, by_id[a].lon, by_id[b].lat, by_id[b].lon))
        < colocated_km
    ]

    claims: list[Claim] = []
    honest: list[Honest] = []
    for t in usable:
        others = [n for n in nodes if n.id != t.id]
        samples = [RttSample(o.id, r) for o in others if (r := rtt(t.id, o.id)) is not None]
        if not samples:
            continue
        home = str(_country(t))
        d_all = distance_km(t.lat, t.lon, lat, lon)
        sites: dict[str, tuple[Landmark, float]] = {}
        for node, d in zip(usable, d_all.tolist(), strict=True):
            c = str(_country(node))
            if (
                c != home
                and c in shapes
                and d < max_km
                and rtt(t.id, node.id) is not None
                and (c not in sites or d < sites[c][1])
            ):
                sites[c] = (node, d)
        report = locate(
            others,
            samples,
            restricted=sorted(sites),
            landmark_check=index.check(exclude=[t.id]),
            cbg=False,
        )
        ids = [c.landmark_id for c in report.constraints]

        own_slack = {
            ident: max([0.0, *(v for peer, v in under[ident].items() if peer != t.id)])
            for ident in ids
            if ident in under
        }
        g_caps = _caps_with(report.constraints, lines, t.id, float(global_slack))
        p_caps = _caps_with(report.constraints, lines, t.id, own_slack)
        seen = [r for a, b, r in colocated if t.id not in (a, b)]
        tau = max(seen) if seen else np.inf

        # the honest target at its own listed place, with a landmark there (its nearest
        # co-located peer stands in for the inspectorate's own landmark)
        mates = [r for a, b, r in colocated if t.id in (a, b)]
        honest.append(
            Honest(
                t.id,
                {
                    "physical_site": not report.physical.caps.contains_point(t.lat, t.lon),
                    "physical_country": False,
                    "cbg_global": not g_caps.contains_point(t.lat, t.lon),
                    "cbg_per_landmark": not p_caps.contains_point(t.lat, t.lon),
                    "site_landmark": bool(mates) and min(mates) > tau,
                },
                len(mates),
            )
        )
        relation = {c.country: c.relation for c in report.countries}
        for code, (site, d) in sorted(sites.items()):
            site_rtt = rtt(t.id, site.id)
            claims.append(
                Claim(
                    t.id,
                    home,
                    code,
                    site.id,
                    round(d, 1),
                    {
                        "physical_site": not report.physical.caps.contains_point(
                            site.lat, site.lon
                        ),
                        "physical_country": relation.get(code) == Relation.EXCLUDED.value,
                        "cbg_global": not g_caps.contains_point(site.lat, site.lon),
                        "cbg_per_landmark": not p_caps.contains_point(site.lat, site.lon),
                        "site_landmark": site_rtt is not None and site_rtt > tau,
                    },
                )
            )
    all_coloc = [r for _, _, r in colocated]
    meta = {
        "nodes": len(nodes),
        "flagged_landmarks": sorted(flagged),
        "global_slack_ms": global_slack,
        "colocated_km": colocated_km,
        "colocated_pairs": len(colocated),
        "tau_ms_all_pairs": max(all_coloc) if all_coloc else None,
        "guaranteed_beyond_km": (max(all_coloc) * propagation.km_per_ms_rtt) if all_coloc else None,
    }
    return claims, honest, meta


def _rate(k: int, n: int) -> dict[str, Any]:
    return {
        "count": k,
        "of": n,
        "rate": k / n if n else None,
        "upper95": clopper_pearson_upper(k, n),
    }


def summarise(
    claims: Sequence[Claim], honest: Sequence[Honest], meta: dict[str, Any]
) -> dict[str, Any]:
    """Rejection rates per method and distance bin, false-accusation rates, country pairs."""
    out: dict[str, Any] = {**meta, "honest_targets": len(honest), "false_claims": len(claims)}
    out["honest_rejected"] = {
        m: _rate(sum(h.rejected[m] for h in honest), len(honest)) for m in METHODS
    }
    # only targets with a co-located server can be tested against a landmark at their site
    testable = [h for h in honest if h.site_peers]
    out["honest_rejected"]["site_landmark"] = _rate(
        sum(h.rejected["site_landmark"] for h in testable), len(testable)
    )
    out["honest_rejected"]["physical_or_site"] = _rate(
        sum(h.rejected["site_landmark"] or h.rejected["physical_site"] for h in testable),
        len(testable),
    )
    bins: dict[str, Any] = {}
    for lo, hi in itertools.pairwise(BINS_KM):
        sel = [c for c in claims if lo <= c.distance_km < hi]
        bins[f"{lo:.0f}-{hi:.0f} km"] = {
            **{m: _rate(sum(c.rejected[m] for c in sel), len(sel)) for m in METHODS},
            "physical_or_site": _rate(
                sum(c.rejected["physical_site"] or c.rejected["site_landmark"] for c in sel),
                len(sel),
            ),
        }
    out["false_claims_rejected_by_distance"] = bins
    pairs: dict[str, dict[str, Any]] = {}
    for c in claims:
        key = f"{c.true_country}->{c.claimed_country}"
        entry = pairs.setdefault(key, {"claims": 0, "km": [], **{m: 0 for m in METHODS}})
        entry["claims"] += 1
        entry["km"].append(c.distance_km)
        for m in METHODS:
            entry[m] += int(c.rejected[m])
    out["country_pairs"] = {
        k: {**v, "km": float(np.median(v["km"]))} for k, v in sorted(pairs.items())
    }
    return out


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, required=True, help="folder with nodes + RTT tables")
    ap.add_argument("--max-km", type=float, default=1500.0)
    ap.add_argument("--colocated-km", type=float, default=100.0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    nodes, pairs = load_mesh(args.data)
    claims, honest, meta = study(nodes, pairs, args.max_km, args.colocated_km)
    summary = summarise(claims, honest, meta)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"location_nearby_{args.data.name}_{args.colocated_km:.0f}km"
    (args.out / f"{stem}.json").write_text(json.dumps(summary, indent=1))
    (args.out / f"{stem}_claims.json").write_text(
        json.dumps({"claims": [asdict(c) for c in claims], "honest": [asdict(h) for h in honest]})
    )
    brief = {k: v for k, v in summary.items() if k != "country_pairs"}
    print(json.dumps(brief, indent=1))


if __name__ == "__main__":  # pragma: no cover
    main()
