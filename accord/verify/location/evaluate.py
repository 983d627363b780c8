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

from accord.errors import AccordError
from accord.model import Verdict
from accord.verify.location.calibration import calibrate, clopper_pearson_upper
from accord.verify.location.consistency import LandmarkCheck, PairIndex
from accord.verify.location.geodesy import Propagation, distance_km, unit_vectors
from accord.verify.location.geography import all_countries, country_at
from accord.verify.location.inputs import Landmark, PeerRtt, RttSample
from accord.verify.location.locate import LocationReport, locate
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
    empty: bool = False
    dropped: tuple[str, ...] = ()
    claim_verdict: str | None = None
    declared_verdict: str = "inconclusive"
    distant_accused: int = 0
    target_flagged: bool = False

    @property
    def accused(self) -> bool:
        """An honest target was accused: its true country or place rejected, or placed in a
        country far from the truth."""
        return (
            self.claim_verdict == Verdict.INCONSISTENT.value
            or self.declared_verdict == Verdict.INCONSISTENT.value
            or self.distant_accused > 0
        )


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
    cbg: bool = True,
    vet_landmarks: bool = True,
) -> list[FoldResult]:
    """One fold per target node that has at least one RTT; see the module docstring.

    Every fold checks the other nodes' positions against their RTTs to each other (as
    ``locate`` does on every run) and leaves out the ones that conflict. ``cbg=False``
    skips the bestlines (the landmark check still runs): the physical verdicts only, fast.
    ``vet_landmarks=False`` trusts every listed position instead (what the check prevents).
    """
    rng = np.random.default_rng(seed)
    by_id = {n.id: n for n in nodes}
    involving: dict[str, list[PeerRtt]] = {}
    for p in pairs:
        involving.setdefault(p.landmark_id, []).append(p)
        involving.setdefault(p.peer_id, []).append(p)
    chosen = [t for t in (targets or sorted(involving)) if t in involving]
    index = PairIndex(nodes, pairs, propagation)
    # nodes whose own listed position the whole mesh contradicts: not honest targets
    flagged = set(index.check().dropped)
    results: list[FoldResult] = []
    for t in chosen:
        start = time.perf_counter()
        truth = by_id[t]
        others = [n for n in nodes if n.id != t]
        rtts = [
            RttSample(p.peer_id if p.landmark_id == t else p.landmark_id, p.rtt_ms, t)
            for p in involving[t]
        ]
        check = index.check(exclude=[t]) if vet_landmarks else _trust_all(others)
        cal = None
        if cbg:
            rest = [p for p in pairs if t not in (p.landmark_id, p.peer_id)]
            if not vet_landmarks:
                rest = [p for p in rest if _at_or_above_bound(p, by_id, propagation)]
            cal = calibrate(others, rest, propagation, measure_misses=cbg_alpha is not None)
        true_country = country_at(truth.lat, truth.lon)
        far = distant_countries(truth.lat, truth.lon, distant_km)
        if len(far) > max_distant:
            far = sorted(rng.choice(far, size=max_distant, replace=False).tolist())
        report = locate(
            others,
            rtts,
            claim=true_country,
            declared=(truth.lat, truth.lon),
            restricted=far,
            calibration=cal,
            propagation=propagation,
            target=t,
            cbg_alpha=cbg_alpha,
            cbg=cbg,
            landmark_check=check,
        )
        has_cbg = report.cbg is not None
        cbg_contains = raw_contains = None
        raw_area = None
        if report.cbg is not None and cal is not None:
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
                empty=report.physical.empty,
                dropped=tuple(d.landmark_id for d in report.landmark_check.dropped),
                claim_verdict=_verdict_of(report, "claim"),
                declared_verdict=str(_verdict_of(report, "declared")),
                distant_accused=sum(
                    f.verdict is Verdict.INCONSISTENT
                    for f in report.findings
                    if f.subject.startswith(f"{t} in ")
                ),
                target_flagged=t in flagged,
            )
        )
    return results


def _trust_all(nodes: Sequence[Landmark]) -> LandmarkCheck:
    """A check that drops nothing and vouches for everyone: the behaviour without one."""
    return LandmarkCheck(0, (), (), {}, frozenset(n.id for n in nodes))


def _at_or_above_bound(p: PeerRtt, by_id: dict[str, Landmark], propagation: Propagation) -> bool:
    a, b = by_id[p.landmark_id], by_id[p.peer_id]
    return p.rtt_ms * propagation.km_per_ms_rtt >= float(distance_km(a.lat, a.lon, b.lat, b.lon))


def _verdict_of(report: LocationReport, key: str) -> str | None:
    """The verdict of the Finding whose statistic carries ``key`` (claim or declared)."""
    for f in report.findings:
        if f.subject == report.target and key in f.statistic:
            return f.verdict.value
    return None


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
        "empty_regions": sum(r.empty for r in results),
        "targets_accused": _rate(sum(r.accused for r in results), len(results)),
        "targets_flagged": [r.target for r in results if r.target_flagged],
        "honest_accused": _rate(
            sum(r.accused for r in results if not r.target_flagged),
            sum(not r.target_flagged for r in results),
        ),
        "true_claim_rejected": _rate(
            sum(r.claim_verdict == Verdict.INCONSISTENT.value for r in land), len(land)
        ),
        "landmarks_dropped_per_fold": quantiles([float(len(r.dropped)) for r in results]),
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


NODE_FILES = ("nodes.csv", "landmarks.csv", "anchors.csv")
PAIR_FILES = ("rtts.csv", "pairs.csv", "mesh_pairs.csv")


def load_mesh(folder: Path) -> tuple[list[Landmark], list[PeerRtt]]:
    """A nodes table and a pairwise RTT table from a folder, in any of the usual namings.

    Nodes: ``id,lat,lon`` or ``id,latitude,longitude`` (name, country optional). Pairs:
    ``landmark_id,peer_id,rtt_ms`` or ``src_id,dst_id,rtt_ms``; either direction, several
    rows per pair allowed (the minimum is used). Nodes without any pair are kept as
    landmarks but never become targets.
    """
    from accord.verify.location.inputs import parse_landmarks, parse_peer_rtts, read_text

    if not folder.is_dir():
        raise AccordError("--data", f"{folder} is not a folder", "give a folder with nodes + RTTs")

    def pick(names: tuple[str, ...], what: str) -> Path:
        for name in names:
            if (folder / name).is_file():
                return folder / name
        raise AccordError(
            "--data", f"{folder} has no {what} file", f"name it one of {', '.join(names)}"
        )

    nodes_path, pairs_path = pick(NODE_FILES, "nodes"), pick(PAIR_FILES, "pairs")
    nodes = parse_landmarks(read_text(nodes_path, "--data"), str(nodes_path))
    pairs = parse_peer_rtts(read_text(pairs_path, "--data"), str(pairs_path))
    return nodes, pairs


def main(argv: Sequence[str] | None = None) -> None:
    from accord.verify.location.synthetic import synthetic_mesh

    ap = argparse.ArgumentParser(description=__doc__)
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", choices=["ripe", "synthetic"])
    source.add_argument(
        "--data", type=Path, help="folder with a nodes table and a pairwise RTT table"
    )
    ap.add_argument("--nodes", type=int, default=150, help="synthetic: anchors to draw")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--speed", choices=["fibre", "vacuum"], default="fibre")
    ap.add_argument("--no-cbg", action="store_true", help="physical bound only (fast)")
    ap.add_argument(
        "--folds", type=int, default=None, help="only this many targets, drawn with --seed"
    )
    ap.add_argument(
        "--no-landmark-check",
        action="store_true",
        help="trust every listed landmark position (to measure what the check prevents)",
    )
    ap.add_argument("--out", type=Path, required=True, help="folder for JSON and PNG")
    args = ap.parse_args(argv)
    if args.data is not None:
        try:
            nodes, pairs = load_mesh(args.data)
        except AccordError as exc:
            ap.exit(2, f"{exc}\n")
        label = f"REAL mesh {args.data.name}: {len(nodes)} nodes, {len(pairs)} RTT rows"
        stem_name = args.data.name
    elif args.dataset == "ripe":
        nodes, pairs = ripe_sample()
        label = "REAL RIPE Atlas sample (measurement 26858348)"
        stem_name = "ripe"
    else:
        rng = np.random.default_rng(args.seed)
        anchors = ripe_anchor_coordinates()
        pick = sorted(rng.choice(len(anchors), size=min(args.nodes, len(anchors)), replace=False))
        nodes = [anchors[i] for i in pick]
        pairs = synthetic_mesh(nodes, seed=args.seed)
        label = f"SYNTHETIC delays over {len(nodes)} real RIPE anchor positions"
        stem_name = "synthetic"
    targets = None
    if args.folds is not None:
        draw = np.random.default_rng(args.seed).permutation(len(nodes))[: args.folds]
        targets = [nodes[i].id for i in sorted(draw.tolist())]
    results = leave_one_out(
        nodes,
        pairs,
        Propagation(args.speed),
        seed=args.seed,
        targets=targets,
        cbg=not args.no_cbg,
        vet_landmarks=not args.no_landmark_check,
    )
    summary = {
        "dataset": label,
        "speed": args.speed,
        "cbg": not args.no_cbg,
        "landmark_check": not args.no_landmark_check,
        **summarise(results),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = ("_nocbg" if args.no_cbg else "") + ("_nocheck" if args.no_landmark_check else "")
    suffix += f"_{args.folds}folds" if args.folds is not None else ""
    stem = f"location_eval_{stem_name}_{args.speed}{suffix}"
    (args.out / f"{stem}.json").write_text(
        json.dumps({"summary": summary, "folds": [asdict(r) for r in results]}, indent=1)
    )
    plot_results(results, label, args.out / f"{stem}.png")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":  # pragma: no cover
    main()
