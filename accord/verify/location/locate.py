"""`locate`: from landmarks and RTTs to a feasible region, country verdicts and Findings.

What a cheating target can do: add delay (answer late, route the long way), never remove it,
because it cannot sign a nonce before it has received it. Added delay only grows every disc,
so the physical region always still holds the true location. Conclusions drawn here are the
ones that survive that:

* "cannot be in X" and "the declared facility is impossible" (the region misses them) are
  sound: a cheater can only make them harder to reach, never falsely true;
* "is within D km of the declared facility" is sound: D is an upper bound over the region;
* "must be in Y" is drawn only when the whole physical region lies inside Y (with margins);
  a point estimate (nearest landmark, region centre) is never used for a verdict.

CBG bestlines give a tighter region but can exclude the truth for an honest target with an
unusually direct path; they never decide an accusation alone and always come with their
measured miss rate.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, PrivateAttr

from accord.errors import AccordError
from accord.model import Finding, Severity, Verdict
from accord.verify.location.calibration import Calibration, calibrate, clopper_pearson_upper
from accord.verify.location.consistency import (
    MAX_NAMED,
    LandmarkCheck,
    check_landmarks,
    conflicting_set,
    disjoint_pairs,
)
from accord.verify.location.geodesy import Propagation, distance_km, rtt_bound_km
from accord.verify.location.geography import CountryShape, all_countries, country_shape
from accord.verify.location.inputs import (
    Landmark,
    PeerRtt,
    RttSample,
    min_rtt_by_landmark,
)
from accord.verify.location.region import (
    Caps,
    CountryCheck,
    Relation,
    SampledRegion,
    sample_region,
)

VERIFIER = "verify.location"
DEFAULT_BORDER_MARGIN_KM = 25.0
DEFAULT_CBG_ALPHA = 0.05
# Floating-point allowance on exact distance comparisons (1 mm): a point exactly on a disc's
# rim must not be declared outside it by rounding. Widening a bound is always sound.
ROUNDING_KM = 1e-6

ASSUMPTIONS = [
    "Landmark coordinates are correct (a wrong landmark position voids its disc); they are "
    "checked against the landmarks' RTTs to each other when those are given, and landmarks "
    "that fail are left out.",
    "The challenge is answered with a key bound to the one chip; a copied key answering from "
    "several places, or a relay holding the key near a landmark, is outside this model.",
    "No signal between landmark and target travels faster than the chosen propagation speed.",
    "Processing and queueing only add delay, so every RTT bound is conservative.",
]


class Constraint(BaseModel):
    landmark_id: str
    name: str
    lat: float
    lon: float
    rtt_ms: float
    physical_km: float
    cbg_km: float | None


class RegionSummary(BaseModel):
    kind: str
    empty: bool
    area_km2: float
    resolution_km: float
    samples: int


class CalibrationSummary(BaseModel):
    landmarks_with_bestline: int
    constraint_tests: int
    constraint_misses: int
    miss_rate: float | None
    miss_rate_upper95: float
    region_tests: int
    region_misses: int
    region_miss_rate: float | None
    region_miss_rate_upper95: float
    alpha: float | None
    slack_ms: float
    misses_at_slack: int
    miss_rate_at_slack_upper95: float
    faster_than_light_pairs: list[str]


class DeclaredCheck(BaseModel):
    lat: float
    lon: float
    inside_physical: bool
    inside_cbg: bool | None
    max_distance_km: float
    max_distance_km_cbg: float | None
    violated_by: list[str]


class CountryVerdict(BaseModel):
    country: str
    relation: str
    relation_cbg: str | None
    share_of_region: float
    tolerance_km: float
    shape: str


class DroppedLandmark(BaseModel):
    landmark_id: str
    name: str
    faster_than_light_with: list[str]


class LandmarkCheckSummary(BaseModel):
    """What the landmark-to-landmark RTTs said about the landmarks' listed positions."""

    checked: bool
    pairs_checked: int
    faster_than_light_pairs: int
    dropped: list[DroppedLandmark]
    unchecked: list[str]


class LocationReport(BaseModel):
    """Everything `locate` concluded, with what it rests on."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    target: str
    propagation: str
    km_per_ms_rtt: float
    constraints: list[Constraint]
    physical_region: RegionSummary
    cbg_region: RegionSummary | None
    calibration: CalibrationSummary | None
    landmark_check: LandmarkCheckSummary
    conflicting_landmarks: list[str]
    declared: DeclaredCheck | None
    claim: CountryVerdict | None
    countries: list[CountryVerdict]
    findings: list[Finding]
    assumptions: list[str]

    _physical: SampledRegion | None = PrivateAttr(default=None)
    _cbg: SampledRegion | None = PrivateAttr(default=None)

    @property
    def physical(self) -> SampledRegion:
        assert self._physical is not None
        return self._physical

    @property
    def cbg(self) -> SampledRegion | None:
        return self._cbg


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _summary(kind: str, region: SampledRegion) -> RegionSummary:
    return RegionSummary(
        kind=kind,
        empty=region.empty,
        area_km2=round(region.area_km2, 1),
        resolution_km=round(region.delta_km, 4),
        samples=len(region.strict),
    )


def _country(
    code: str, physical: SampledRegion, cbg: SampledRegion | None, margin: float, field: str
) -> tuple[CountryVerdict, CountryCheck]:
    shape = country_shape(code, field)
    check = _with_coast(physical, physical.check_country(shape, margin), shape, margin)
    cbg_check = None
    if cbg is not None:
        cbg_check = _with_coast(cbg, cbg.check_country(shape, margin), shape, margin)
    verdict = CountryVerdict(
        country=shape.code,
        relation=check.relation.value,
        relation_cbg=cbg_check.relation.value if cbg_check else None,
        share_of_region=round(check.share_of_region, 4),
        tolerance_km=round(check.tolerance_km, 3),
        shape=check.description,
    )
    return verdict, check


def _with_coast(
    region: SampledRegion, check: CountryCheck, shape: CountryShape, margin: float
) -> CountryCheck:
    """Settle confirmation against every other mapped country, including small-state discs.

    INSIDE from the polygon test alone is not enough: a small state absent at 1:110m can lie
    under a neighbour's polygon (Singapore under Malaysia's), so every disc must be excluded
    too, or the verdict falls back to POSSIBLE. A POSSIBLE region that touches no other
    country at all becomes INSIDE_OR_OFFSHORE: a coarse coastline plus the margin would
    otherwise keep every coastal data centre from being confirmed.
    """
    if shape.is_disc or check.relation not in (Relation.POSSIBLE, Relation.INSIDE):
        return check
    for other in all_countries().values():
        if other.code == shape.code:
            continue
        if check.relation is Relation.INSIDE and not other.is_disc:
            continue  # polygons do not overlap: the border test already excluded them
        if region.check_country(other, margin).relation is not Relation.EXCLUDED:
            if check.relation is Relation.INSIDE:
                return CountryCheck(
                    check.code,
                    Relation.POSSIBLE,
                    check.share_of_region,
                    check.description,
                    check.tolerance_km,
                )
            return check
    if check.relation is Relation.INSIDE:
        return check
    return CountryCheck(
        check.code,
        Relation.INSIDE_OR_OFFSHORE,
        check.share_of_region,
        check.description,
        check.tolerance_km,
    )


UNMAPPED_CAVEAT = (
    " Territories that are neither drawn at 1:110m nor listed as discs (mostly small island "
    "states and dependencies, see docs/location.md) cannot be checked."
)


class Guard(BaseModel):
    """Why a confident verdict may not be drawn: an empty region, unchecked landmarks."""

    empty: bool
    conflicts: list[str]
    unchecked: list[str]

    def blocks(self, accusation: bool) -> str | None:
        """The reason a verdict must be inconclusive, or None if it may stand.

        An empty region blocks every verdict (it would exclude every country at once);
        unchecked landmark positions block accusations, which a misplaced disc creates.
        """
        if self.empty:
            named = "; ".join(self.conflicts) or "see the region finding"
            return (
                "no single place satisfies every RTT (conflicting discs: "
                f"{named}), so no location verdict can be drawn"
            )
        if accusation and self.unchecked:
            shown = ", ".join(self.unchecked[:MAX_NAMED])
            more = (
                f" and {len(self.unchecked) - MAX_NAMED} more"
                if len(self.unchecked) > MAX_NAMED
                else ""
            )
            return (
                f"the positions of {len(self.unchecked)} landmark(s) ({shown}{more}) were not "
                "checked against other landmarks (give landmark-to-landmark RTTs), and a "
                "landmark listed in the wrong place produces exactly this"
            )
        return None


def _conflicts(caps: Caps, ids: Sequence[str], names: dict[str, str]) -> list[str]:
    """Name the discs that cannot all hold: disjoint pairs first, else a minimal set."""

    def label(i: str) -> str:
        return f"{i} ({names[i]})" if names.get(i) else i

    pairs = disjoint_pairs(caps, ids)
    if pairs:
        out = [f"{label(a)} and {label(b)} are {gap:,.0f} km apart" for a, b, gap in pairs]
        if len(out) > MAX_NAMED:
            out = [*out[:MAX_NAMED], f"{len(pairs) - MAX_NAMED} more disjoint pair(s)"]
        return out
    group = conflicting_set(caps, ids)
    return [f"{', '.join(label(i) for i in group)} have no common point"] if group else []


def _landmark_summary(
    check: LandmarkCheck | None, used: Sequence[Landmark], names: dict[str, str]
) -> LandmarkCheckSummary:
    if check is None:
        return LandmarkCheckSummary(
            checked=False,
            pairs_checked=0,
            faster_than_light_pairs=0,
            dropped=[],
            unchecked=[lm.id for lm in used],
        )
    return LandmarkCheckSummary(
        checked=True,
        pairs_checked=check.pairs_checked,
        faster_than_light_pairs=len(check.faster_than_light),
        dropped=[
            DroppedLandmark(
                landmark_id=i,
                name=names.get(i, ""),
                faster_than_light_with=list(check.conflicts.get(i, ())),
            )
            for i in check.dropped
        ],
        unchecked=[lm.id for lm in used if lm.id not in check.checked],
    )


def locate(
    landmarks: Sequence[Landmark],
    rtts: Iterable[RttSample],
    claim: str | None = None,
    declared: tuple[float, float] | None = None,
    restricted: Sequence[str] = (),
    calibration: Iterable[PeerRtt] | Calibration | None = None,
    propagation: Propagation = Propagation.FIBRE,
    border_margin_km: float = DEFAULT_BORDER_MARGIN_KM,
    target: str = "target",
    cbg_alpha: float | None = DEFAULT_CBG_ALPHA,
    cbg: bool = True,
    landmark_check: LandmarkCheck | None = None,
) -> LocationReport:
    """Bound where the target can be, and judge a claimed country and declared facility.

    ``claim`` is the country the target is declared to be in, ``declared`` the facility's
    (lat, lon), ``restricted`` countries to test the target against (e.g. restricted
    destinations), ``calibration`` landmark-to-landmark RTTs (or a ready Calibration): they
    always check the landmarks' positions (mislocated landmarks are dropped and reported)
    and, with ``cbg``, fit the CBG bestlines. ``cbg_alpha`` widens every CBG radius by the
    conformal slack that keeps the leave-one-out region miss rate at or below it (None: raw
    bestlines). ``landmark_check`` is a check already made on the same landmarks (it takes
    precedence). Without landmark-to-landmark RTTs no accusation is drawn.
    """
    if cbg_alpha is not None and not 0.0 < cbg_alpha < 1.0:
        raise AccordError("cbg_alpha", f"{cbg_alpha} is not in (0, 1)", "use e.g. 0.05")
    if border_margin_km < 0:
        raise AccordError("border_margin_km", "is negative", "give 0 or more km")
    if declared is not None:
        lat, lon = declared
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            raise AccordError(
                "declared", f"({lat}, {lon}) is not a valid position", "lat in ±90, lon in ±180"
            )
    by_id = {lm.id: lm for lm in landmarks}
    names = {lm.id: lm.name for lm in landmarks}
    measured = min_rtt_by_landmark(landmarks, rtts)

    cal: Calibration | None = None
    check: LandmarkCheck | None = None
    if isinstance(calibration, Calibration):
        cal = calibration
        check = calibration.landmark_check
    elif calibration is not None:
        peers = list(calibration)
        if cbg:
            cal = calibrate(landmarks, peers, propagation)
            check = cal.landmark_check
        elif landmark_check is None:
            check = check_landmarks(landmarks, peers, propagation)
    if landmark_check is not None:
        check = landmark_check
    if not cbg:
        cal = None
    dropped = set(check.dropped) if check is not None else set()
    best = {k: v for k, v in measured.items() if k not in dropped}
    used = [by_id[i] for i in sorted(best)]
    lat_arr = np.array([lm.lat for lm in used], dtype=np.float64)
    lon_arr = np.array([lm.lon for lm in used], dtype=np.float64)
    rtt_arr = np.array([best[lm.id] for lm in used], dtype=np.float64)
    phys_km = rtt_bound_km(rtt_arr, propagation)
    physical_caps = Caps(lat_arr, lon_arr, phys_km)

    slack = 0.0
    if cal is not None and cbg_alpha is not None:
        slack = cal.slack_ms(cbg_alpha)
    cbg_km: list[float | None] = []
    for lm, rtt, phys in zip(used, rtt_arr.tolist(), phys_km.tolist(), strict=True):
        line = cal.bestlines.get(lm.id) if cal is not None else None
        if line is None:
            cbg_km.append(None)
        elif math.isinf(slack):
            cbg_km.append(phys)  # too few landmarks to calibrate a slack: physical bound
        else:
            cbg_km.append(min(phys, float(line.max_distance_km(rtt + slack))))
    cbg_caps = None
    if cal is not None and any(c is not None for c in cbg_km):
        cbg_caps = Caps(
            lat_arr,
            lon_arr,
            np.array(
                [c if c is not None else p for c, p in zip(cbg_km, phys_km.tolist(), strict=True)]
            ),
        )

    physical = sample_region(physical_caps)
    cbg_sampled = sample_region(cbg_caps) if cbg_caps is not None else None
    # bestlines that contradict each other carry no information: no CBG note on verdicts
    cbg_region = cbg_sampled if cbg_sampled is not None and not cbg_sampled.empty else None
    landmark_summary = _landmark_summary(check, used, names)
    guard = Guard(
        empty=physical.empty,
        conflicts=_conflicts(physical_caps, [lm.id for lm in used], names)
        if physical.empty
        else [],
        unchecked=landmark_summary.unchecked,
    )

    constraints = [
        Constraint(
            landmark_id=lm.id,
            name=lm.name,
            lat=lm.lat,
            lon=lm.lon,
            rtt_ms=float(r),
            physical_km=round(float(p), 3),
            cbg_km=None if c is None else round(c, 3),
        )
        for lm, r, p, c in zip(used, rtt_arr, phys_km, cbg_km, strict=True)
    ]
    evidence = {
        "landmarks": _digest([[lm.id, lm.lat, lm.lon] for lm in used]),
        "rtts_min_per_landmark": _digest(sorted(best.items())),
    }
    cal_summary = None
    if cal is not None:
        cal_summary = CalibrationSummary(
            landmarks_with_bestline=len(cal.bestlines),
            constraint_tests=cal.constraint_tests,
            constraint_misses=cal.constraint_misses,
            miss_rate=cal.miss_rate,
            miss_rate_upper95=round(cal.miss_rate_upper95, 5),
            region_tests=cal.region_tests,
            region_misses=cal.region_misses,
            region_miss_rate=cal.region_miss_rate,
            region_miss_rate_upper95=round(cal.region_miss_rate_upper95, 5),
            alpha=cbg_alpha,
            slack_ms=slack,
            misses_at_slack=sum(r > slack for r in cal.worst_excess_ms.values()),
            miss_rate_at_slack_upper95=round(
                clopper_pearson_upper(
                    sum(r > slack for r in cal.worst_excess_ms.values()),
                    len(cal.worst_excess_ms),
                ),
                5,
            ),
            faster_than_light_pairs=[f"{f.landmark_id}-{f.peer_id}" for f in cal.faster_than_light],
        )
    stats_common = {
        "landmarks": len(used),
        "landmarks_dropped": sorted(dropped & set(measured)),
        "propagation": propagation.value,
        "km_per_ms_rtt": round(propagation.km_per_ms_rtt, 4),
        "region_area_km2": round(physical.area_km2, 1),
        "resolution_km": round(physical.delta_km, 4),
    }
    findings: list[Finding] = []
    if physical.empty:
        findings.append(
            _finding(
                target,
                {**stats_common, "conflicting_landmarks": guard.conflicts, "answer": "no verdict"},
                evidence,
                Verdict.INCONCLUSIVE,
                severity=Severity.HIGH,
                error_bound=None,
                explanation=(
                    "No single place satisfies every RTT under the physical bound: the "
                    "responses came from more than one place (a copied key or a relay), or a "
                    "landmark's coordinates are wrong. Conflicting discs: "
                    f"{'; '.join(guard.conflicts) or 'not isolated'}. No location verdict "
                    "can be drawn, in either direction; inspect these landmarks and the target."
                ),
            )
        )
    findings.append(_landmark_finding(landmark_summary, stats_common, evidence, len(used)))
    declared_check = None
    if declared is not None:
        dlat, dlon = declared
        d_to = distance_km(dlat, dlon, lat_arr, lon_arr)
        violated = [
            lm.id
            for lm, d, b in zip(used, np.atleast_1d(d_to), phys_km, strict=True)
            if d > b + ROUNDING_KM + 1e-9 * b
        ]
        inside_cbg = (
            cbg_caps.contains_point(dlat, dlon)
            if cbg_region is not None and cbg_caps is not None
            else None
        )
        declared_check = DeclaredCheck(
            lat=dlat,
            lon=dlon,
            inside_physical=not violated,
            inside_cbg=inside_cbg,
            max_distance_km=round(physical.max_distance_km(dlat, dlon), 1),
            max_distance_km_cbg=(
                round(cbg_region.max_distance_km(dlat, dlon), 1) if cbg_region is not None else None
            ),
            violated_by=violated,
        )
        findings.append(
            _declared_finding(target, declared_check, cal_summary, stats_common, evidence, guard)
        )

    claim_verdict = None
    if claim is not None:
        claim_verdict, check_c = _country(claim, physical, cbg_region, border_margin_km, "claim")
        findings.append(
            _claim_finding(
                target, claim_verdict, check_c, cal_summary, stats_common, evidence, guard
            )
        )
    countries: list[CountryVerdict] = []
    for code in restricted:
        verdict, check_r = _country(code, physical, cbg_region, border_margin_km, "restricted")
        countries.append(verdict)
        findings.append(
            _restricted_finding(target, verdict, check_r, stats_common, evidence, guard)
        )

    report = LocationReport(
        target=target,
        propagation=propagation.value,
        km_per_ms_rtt=propagation.km_per_ms_rtt,
        constraints=constraints,
        physical_region=_summary("physical", physical),
        cbg_region=_summary("cbg", cbg_sampled) if cbg_sampled is not None else None,
        calibration=cal_summary,
        landmark_check=landmark_summary,
        conflicting_landmarks=guard.conflicts,
        declared=declared_check,
        claim=claim_verdict,
        countries=countries,
        findings=findings,
        assumptions=ASSUMPTIONS,
    )
    report._physical = physical
    report._cbg = cbg_sampled
    return report


def _landmark_finding(
    summary: LandmarkCheckSummary, stats: dict[str, Any], evidence: dict[str, str], kept: int
) -> Finding:
    """Say what was checked about the landmarks and what was left out, on every run."""
    statistic = {**stats, "landmark_check": summary.model_dump()}
    if not summary.checked:
        return _finding(
            "landmarks",
            {**statistic, "answer": "landmark positions unchecked"},
            evidence,
            Verdict.INCONCLUSIVE,
            severity=Severity.MEDIUM,
            error_bound=None,
            explanation=(
                "No landmark-to-landmark RTTs were given, so the landmarks' listed positions "
                "were not checked; a landmark hosted elsewhere than listed moves its disc and "
                "can place an honest target in the wrong country. Accusations are therefore "
                "reported as inconclusive; give the landmarks' RTTs to each other "
                "(--calibration) to check them."
            ),
        )
    if summary.dropped:
        shown = "; ".join(
            f"{d.landmark_id}{f' ({d.name})' if d.name else ''} with "
            f"{len(d.faster_than_light_with)} peer(s): "
            f"{', '.join(d.faster_than_light_with[:3])}"
            f"{', ...' if len(d.faster_than_light_with) > 3 else ''}"
            for d in summary.dropped[:MAX_NAMED]
        )
        more = (
            f" and {len(summary.dropped) - MAX_NAMED} more"
            if len(summary.dropped) > MAX_NAMED
            else ""
        )
        return _finding(
            "landmarks",
            {**statistic, "answer": f"{len(summary.dropped)} landmark(s) dropped"},
            evidence,
            Verdict.INCONCLUSIVE,
            severity=Severity.MEDIUM,
            error_bound=None,
            explanation=(
                f"{summary.faster_than_light_pairs} of {summary.pairs_checked} landmark pairs "
                "measured an RTT below the physical bound for their listed distance, so at "
                f"least one position in each is wrong. Dropped {len(summary.dropped)} "
                f"landmark(s) to clear every such pair ({shown}{more}); the verdicts use the "
                f"other {kept}. Fix or remove these landmarks."
            ),
        )
    unchecked = (
        f" {len(summary.unchecked)} landmark(s) had no pair to check and block accusations."
        if summary.unchecked
        else ""
    )
    return _finding(
        "landmarks",
        {**statistic, "answer": "landmark positions consistent"},
        evidence,
        Verdict.CONSISTENT,
        error_bound=None,
        explanation=(
            f"All {summary.pairs_checked} landmark pairs are at or above the physical bound "
            f"for their listed distances.{unchecked}"
        ),
    )


def _finding(
    subject: str,
    statistic: dict[str, Any],
    evidence: dict[str, str],
    verdict: Verdict,
    explanation: str,
    *,
    severity: Severity = Severity.INFO,
    error_bound: float | None = 0.0,
) -> Finding:
    """Build every location Finding, so the verifier name and the usual error bound live once.

    A conclusion drawn from the physical region is sound under the stated assumptions (a
    target can only add delay), hence 0.0 unless a CBG miss rate is quoted, or None where a
    Finding warns about the input rather than concluding anything.
    """
    return Finding(
        subject=subject,
        verifier=VERIFIER,
        verdict=verdict,
        severity=severity,
        statistic=statistic,
        error_bound=error_bound,
        evidence=evidence,
        explanation=explanation,
    )


def _blocked(
    subject: str,
    statistic: dict[str, Any],
    evidence: dict[str, str],
    reason: str,
    would: str,
    answer: str,
) -> Finding:
    """A verdict the evidence would give but cannot support: inconclusive, with the reason."""
    return _finding(
        subject,
        {**statistic, "answer": answer},
        evidence,
        Verdict.INCONCLUSIVE,
        severity=Severity.MEDIUM,
        error_bound=None,
        explanation=f"No verdict: {reason}. Taken at face value the RTTs would say {would}.",
    )


def _declared_finding(
    target: str,
    check: DeclaredCheck,
    cal: CalibrationSummary | None,
    stats: dict[str, Any],
    evidence: dict[str, str],
    guard: Guard,
) -> Finding:
    statistic = {
        **stats,
        "declared": [check.lat, check.lon],
        "max_distance_km": check.max_distance_km,
        "max_distance_km_cbg": check.max_distance_km_cbg,
        "violated_by": check.violated_by,
    }
    if guard.empty:
        return _blocked(
            target,
            statistic,
            evidence,
            str(guard.blocks(accusation=True)),
            "nothing about the declared facility",
            "no verdict",
        )
    if not check.inside_physical:
        reason = guard.blocks(accusation=True)
        if reason is not None:
            return _blocked(
                target,
                statistic,
                evidence,
                reason,
                f"that the chip is not at the declared facility (violated by "
                f"{len(check.violated_by)} landmark(s))",
                "not at the declared facility, if every landmark is where it is listed",
            )
        return _finding(
            target,
            {**statistic, "answer": "not at the declared facility"},
            evidence,
            Verdict.INCONSISTENT,
            severity=Severity.HIGH,
            explanation=(
                f"The declared facility ({check.lat:.3f}, {check.lon:.3f}) is farther from "
                f"{len(check.violated_by)} landmark(s) than light in the chosen medium covers "
                "in half their round-trip time; a target cannot remove delay, so the chip is "
                "not there (given the stated assumptions)."
            ),
        )
    if check.inside_cbg is False and cal is not None:
        return _finding(
            target,
            {**statistic, "answer": "at the declared facility only if its paths are slow"},
            evidence,
            Verdict.INCONCLUSIVE,
            severity=Severity.MEDIUM,
            error_bound=cal.miss_rate_at_slack_upper95,
            explanation=(
                "The declared facility is physically possible but outside the calibrated CBG "
                f"region (RTTs +{cal.slack_ms:.2f} ms), which missed the true location in "
                f"{cal.misses_at_slack} of {cal.region_tests} leave-one-out trials (95 % upper "
                f"bound {cal.miss_rate_at_slack_upper95:.1%}); worth a follow-up, not an "
                "accusation."
            ),
        )
    return _finding(
        target,
        {**statistic, "answer": f"within {check.max_distance_km:,.0f} km of the declared facility"},
        evidence,
        Verdict.CONSISTENT,
        explanation=(
            "The declared facility is inside the feasible region; the target is at most "
            f"{check.max_distance_km:,.0f} km from it (a bound that added delay can only "
            "widen, never narrow). Being inside the region is consistency, not proof."
        ),
    )


def _claim_finding(
    target: str,
    verdict: CountryVerdict,
    check: CountryCheck,
    cal: CalibrationSummary | None,
    stats: dict[str, Any],
    evidence: dict[str, str],
    guard: Guard,
) -> Finding:
    statistic = {**stats, "claim": verdict.model_dump()}
    code = verdict.country
    if guard.empty:
        return _blocked(
            target,
            statistic,
            evidence,
            str(guard.blocks(accusation=True)),
            f"that the target is in no country at all, {code} included",
            "no verdict",
        )
    if check.relation is Relation.EXCLUDED:
        reason = guard.blocks(accusation=True)
        if reason is not None:
            return _blocked(
                target,
                statistic,
                evidence,
                reason,
                f"that the target cannot be in the claimed country ({check.description})",
                f"cannot be in {code}, if every landmark is where it is listed",
            )
        return _finding(
            target,
            {**statistic, "answer": f"cannot be in {code}"},
            evidence,
            Verdict.INCONSISTENT,
            severity=Severity.HIGH,
            explanation=(
                f"The target cannot be in the claimed country: no point of the physical region "
                f"comes within {check.tolerance_km:.0f} km of it. {check.description}."
            ),
        )
    if check.relation in (Relation.INSIDE, Relation.INSIDE_OR_OFFSHORE):
        where = (
            "inside the claimed country"
            if check.relation is Relation.INSIDE
            else "in the claimed country or off its coast"
        )
        return _finding(
            target,
            {**statistic, "answer": f"is in {code}"},
            evidence,
            Verdict.CONSISTENT,
            explanation=(
                f"The whole physical region lies {where}, and no other country's land comes "
                f"within {check.tolerance_km:.0f} km of it: the target is there. "
                f"{check.description}.{UNMAPPED_CAVEAT}"
            ),
        )
    cbg_note = ""
    if verdict.relation_cbg is not None and cal is not None:
        cbg_note = (
            f" The CBG region (miss rate {cal.miss_rate_at_slack_upper95:.1%} at 95 % upper "
            f"bound) says: {verdict.relation_cbg}."
        )
    return _finding(
        target,
        {**statistic, "answer": f"may be in {code}"},
        evidence,
        Verdict.INCONCLUSIVE,
        explanation=(
            f"The target may be in the claimed country but may also be outside it "
            f"({verdict.share_of_region:.0%} of the physical region lies in it). "
            f"{check.description}.{cbg_note}"
        ),
    )


def _restricted_finding(
    target: str,
    verdict: CountryVerdict,
    check: CountryCheck,
    stats: dict[str, Any],
    evidence: dict[str, str],
    guard: Guard,
) -> Finding:
    code = verdict.country
    subject = f"{target} in {code}"
    statistic = {**stats, "country": verdict.model_dump()}
    if guard.empty:
        return _blocked(
            subject,
            statistic,
            evidence,
            str(guard.blocks(accusation=True)),
            f"that the target cannot be in {code}, nor anywhere else",
            "no verdict",
        )
    if check.relation is Relation.EXCLUDED:
        return _finding(
            subject,
            {**statistic, "answer": f"cannot be in {code}"},
            evidence,
            Verdict.CONSISTENT,
            explanation=f"The target cannot be in {code}. {check.description}.",
        )
    if check.relation in (Relation.INSIDE, Relation.INSIDE_OR_OFFSHORE):
        reason = guard.blocks(accusation=True)
        if reason is not None:
            return _blocked(
                subject,
                statistic,
                evidence,
                reason,
                f"that the target is in {code} ({check.description})",
                f"is in {code}, if every landmark is where it is listed",
            )
        return _finding(
            subject,
            {**statistic, "answer": f"is in {code}"},
            evidence,
            Verdict.INCONSISTENT,
            severity=Severity.CRITICAL,
            explanation=(
                f"The target is in {code}: the whole physical region lies there "
                f"(or at sea off its coast). {check.description}.{UNMAPPED_CAVEAT}"
            ),
        )
    return _finding(
        subject,
        {**statistic, "answer": f"may be in {code}"},
        evidence,
        Verdict.INCONCLUSIVE,
        explanation=(
            f"The target could be in {code} "
            f"({verdict.share_of_region:.0%} of the physical region); more landmarks near it "
            f"would settle this. {check.description}."
        ),
    )
