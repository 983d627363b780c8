"""Leave-one-out evaluation over any nodes + pairwise RTT table.

Each node in turn is the target: the others are landmarks, the target's RTTs to them are
the measurements, and the RTTs among the others calibrate the CBG bestlines (so the target
never informs its own bounds). Per fold it records whether the truth is inside the physical
and the CBG region, their areas, whether the true country is confirmed, and whether wrong
countries far from the truth are excluded.

Run ``python -m accord.verify.location.evaluate --help`` to write the numbers and plots that
docs/location.md shows.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from accord.verify.location.calibration import calibrate, clopper_pearson_upper
from accord.verify.location.geodesy import Propagation, unit_vectors
from accord.verify.location.geography import all_countries, country_at
from accord.verify.location.inputs import Landmark, PeerRtt, RttSample
from accord.verify.location.locate import locate
from accord.verify.location.region import Caps, Relation, sample_region

CONFIRMED = {Relation.INSIDE.value, Relation.INSIDE_OR_OFFSHORE.value}


@dataclass(frozen=True)
class FoldResult:
    target: str
    landmarks: int
    physical_contains: bool
    cbg_contains: bool | None
    physical_area_km2: float
    cbg_area_km2: float | None
    raw_cbg_contains: bool | None
    raw_cbg_area_km2: float | None
    slack_ms: float | None
    true_country: str | None
    physical_confirmed: bool | None
    cbg_confirmed: bool | None
    distant_tested: int
    distant_excluded_physical: int
    distant_excluded_cbg: int | None
    seconds: float


def distant_countries(lat: float, lon: float, min_km: float) -> list[str]:
    """Polygon countries whose every point is at least ``min_km`` from (lat, lon)."""
    p = unit_vectors(np.array([lat]), np.array([lon]))
    out = []
    for code, shape in sorted(all_countries().items()):
        if shape.is_disc:
            continue
        if bool(shape.contains(np.array([lat]), np.array([lon]))[0]):
            continue
        if float(shape.border_distance_km(p)[0]) >= min_km:
            out.append(code)
    return out


def leave_one_out(
    nodes: Sequence[Landmark],
    pairs: Sequence[PeerRtt],
    propagation: Propagation = Propagation.FIBRE,
    distant_km: float = 2000.0,
    max_distant: int = 8,
    seed: int = 0,
    targets: Sequence[str] | None = None,
    cbg_alpha: float | None = 0.05,
) -> list[FoldResult]:
    """One fold per target node that has at least one RTT; see the module docstring."""
    rng = np.random.default_rng(seed)
    by_id = {n.id: n for n in nodes}
    involving: dict[str, list[PeerRtt]] = {}
    for p in pairs:
        involving.setdefault(p.landmark_id, []).append(p)
        involving.setdefault(p.peer_id, []).append(p)
    chosen = [t for t in (targets or sorted(involving)) if t in involving]
    results: list[FoldResult] = []
    for t in chosen:
        start = time.perf_counter()
        truth = by_id[t]
        others = [n for n in nodes if n.id != t]
        rtts = [
            RttSample(p.peer_id if p.landmark_id == t else p.landmark_id, p.rtt_ms, t)
            for p in involving[t]
        ]
        cal = calibrate(
            others,
            [p for p in pairs if t not in (p.landmark_id, p.peer_id)],
            propagation,
            measure_misses=cbg_alpha is not None,
        )
        true_country = country_at(truth.lat, truth.lon)
        far = distant_countries(truth.lat, truth.lon, distant_km)
        if len(far) > max_distant:
            far = sorted(rng.choice(far, size=max_distant, replace=False).tolist())
        report = locate(
            others,
            rtts,
            claim=true_country,
            restricted=far,
            calibration=cal if cal.bestlines else None,
            propagation=propagation,
            target=t,
            cbg_alpha=cbg_alpha,
        )
        has_cbg = report.cbg is not None
        cbg_contains = raw_contains = None
        raw_area = None
        if report.cbg is not None:
            cbg_contains = report.cbg.caps.contains_point(truth.lat, truth.lon)
            raw = Caps(
                np.array([c.lat for c in report.constraints]),
                np.array([c.lon for c in report.constraints]),
                np.array(
                    [
                        min(
                            c.physical_km,
                            float(cal.bestlines[c.landmark_id].max_distance_km(c.rtt_ms)),
                        )
                        if c.landmark_id in cal.bestlines
                        else c.physical_km
                        for c in report.constraints
                    ]
                ),
            )
            raw_contains = raw.contains_point(truth.lat, truth.lon)
            raw_area = sample_region(raw).area_km2
        claim = report.claim
        results.append(
            FoldResult(
                target=t,
                landmarks=len(report.constraints),
                physical_contains=report.physical.caps.contains_point(truth.lat, truth.lon),
                cbg_contains=cbg_contains,
                physical_area_km2=report.physical.area_km2,
                cbg_area_km2=report.cbg.area_km2 if report.cbg is not None else None,
                raw_cbg_contains=raw_contains,
                raw_cbg_area_km2=raw_area,
                slack_ms=report.calibration.slack_ms if report.calibration is not None else None,
                true_country=true_country,
                physical_confirmed=None if claim is None else claim.relation in CONFIRMED,
                cbg_confirmed=(
                    None if claim is None or not has_cbg else claim.relation_cbg in CONFIRMED
                ),
                distant_tested=len(far),
                distant_excluded_physical=sum(
                    c.relation == Relation.EXCLUDED.value for c in report.countries
                ),
                distant_excluded_cbg=(
                    sum(c.relation_cbg == Relation.EXCLUDED.value for c in report.countries)
                    if has_cbg
                    else None
                ),
                seconds=time.perf_counter() - start,
            )
        )
    return results


def _rate(k: int, n: int) -> dict[str, Any]:
    return {
        "count": k,
        "of": n,
        "rate": (k / n) if n else None,
        "upper95": clopper_pearson_upper(k, n) if n else None,
    }


def summarise(results: Sequence[FoldResult]) -> dict[str, Any]:
    """Rates with exact 95 % upper bounds, and area quantiles (km²)."""
    cbg = [r for r in results if r.cbg_contains is not None]
    land = [r for r in results if r.physical_confirmed is not None]
    land_cbg = [r for r in land if r.cbg_confirmed is not None]

    def quantiles(values: list[float]) -> dict[str, float] | None:
        if not values:
            return None
        q = np.quantile(values, [0.1, 0.5, 0.9])
        return {"p10": float(q[0]), "median": float(q[1]), "p90": float(q[2])}

    return {
        "folds": len(results),
        "physical_misses": _rate(sum(not r.physical_contains for r in results), len(results)),
        "cbg_misses": _rate(sum(not r.cbg_contains for r in cbg), len(cbg)),
        "raw_cbg_misses": _rate(sum(not r.raw_cbg_contains for r in cbg), len(cbg)),
        "raw_cbg_area_km2": quantiles(
            [r.raw_cbg_area_km2 for r in cbg if r.raw_cbg_area_km2 is not None]
        ),
        "cbg_slack_ms": quantiles([r.slack_ms for r in cbg if r.slack_ms is not None]),
        "physical_area_km2": quantiles([r.physical_area_km2 for r in results]),
        "cbg_area_km2": quantiles([r.cbg_area_km2 for r in cbg if r.cbg_area_km2 is not None]),
        "true_country_confirmed_physical": _rate(
            sum(bool(r.physical_confirmed) for r in land), len(land)
        ),
        "true_country_confirmed_cbg": _rate(
            sum(bool(r.cbg_confirmed) for r in land_cbg), len(land_cbg)
        ),
        "distant_country_excluded_physical": _rate(
            sum(r.distant_excluded_physical for r in results),
            sum(r.distant_tested for r in results),
        ),
        "distant_country_excluded_cbg": _rate(
            sum(r.distant_excluded_cbg or 0 for r in cbg), sum(r.distant_tested for r in cbg)
        ),
        "seconds_per_fold_median": float(np.median([r.seconds for r in results]))
        if results
        else None,
    }


def plot_results(results: Sequence[FoldResult], title: str, path: Path) -> None:
    """CDF of region areas (physical vs CBG), with misses marked in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for label, values, colour in (
        ("physical", [r.physical_area_km2 for r in results], "tab:orange"),
        (
            "CBG, conformal slack",
            [r.cbg_area_km2 for r in results if r.cbg_area_km2 is not None],
            "tab:red",
        ),
        (
            "CBG, raw bestlines",
            [r.raw_cbg_area_km2 for r in results if r.raw_cbg_area_km2 is not None],
            "tab:purple",
        ),
    ):
        if values:
            xs = np.sort(np.maximum(values, 1.0))
            ax.step(
                xs, np.arange(1, xs.size + 1) / xs.size, where="post", label=label, color=colour
            )
    ax.set_xscale("log")
    ax.set_xlabel("feasible region area (km², log scale)")
    ax.set_ylabel("share of targets")
    ax.set_title(title, fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _load_ripe() -> tuple[list[Landmark], list[PeerRtt]]:
    from importlib import resources

    from accord.verify.location.inputs import parse_landmarks, parse_peer_rtts

    base = resources.files("accord.verify.location").joinpath("data/ripe_atlas")
    anchors = parse_landmarks(base.joinpath("anchors.csv").read_text("utf-8"), "anchors.csv")
    pairs = parse_peer_rtts(base.joinpath("mesh_pairs.csv").read_text("utf-8"), "mesh_pairs.csv")
    used = {p.landmark_id for p in pairs} | {p.peer_id for p in pairs}
    return [a for a in anchors if a.id in used], pairs


def ripe_sample() -> tuple[list[Landmark], list[PeerRtt]]:
    """The real RIPE Atlas star (Brisbane anchor and 31 others), see data/ripe_atlas."""
    return _load_ripe()


def ripe_anchor_coordinates() -> list[Landmark]:
    """All 500 RIPE Atlas anchor positions in the sample (real places, no RTTs)."""
    from importlib import resources

    from accord.verify.location.inputs import parse_landmarks

    base = resources.files("accord.verify.location").joinpath("data/ripe_atlas")
    return parse_landmarks(base.joinpath("anchors.csv").read_text("utf-8"), "anchors.csv")


def main(argv: Sequence[str] | None = None) -> None:
    from accord.verify.location.synthetic import synthetic_mesh

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dataset", choices=["ripe", "synthetic"], required=True)
    ap.add_argument("--nodes", type=int, default=150, help="synthetic: anchors to draw")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--speed", choices=["fibre", "vacuum"], default="fibre")
    ap.add_argument("--out", type=Path, required=True, help="folder for JSON and PNG")
    args = ap.parse_args(argv)
    if args.dataset == "ripe":
        nodes, pairs = ripe_sample()
        label = "REAL RIPE Atlas sample (measurement 26858348)"
    else:
        rng = np.random.default_rng(args.seed)
        anchors = ripe_anchor_coordinates()
        pick = sorted(rng.choice(len(anchors), size=min(args.nodes, len(anchors)), replace=False))
        nodes = [anchors[i] for i in pick]
        pairs = synthetic_mesh(nodes, seed=args.seed)
        label = f"SYNTHETIC delays over {len(nodes)} real RIPE anchor positions"
    results = leave_one_out(nodes, pairs, Propagation(args.speed), seed=args.seed)
    summary = {"dataset": label, "speed": args.speed, **summarise(results)}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"location_eval_{args.dataset}_{args.speed}"
    (args.out / f"{stem}.json").write_text(
        json.dumps({"summary": summary, "folds": [asdict(r) for r in results]}, indent=1)
    )
    plot_results(results, label, args.out / f"{stem}.png")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":  # pragma: no cover
    main()
