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
    "Landmark coordinates are correct (a wrong landmark position voids its disc).",
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
) -> LocationReport:
    """Bound where the target can be, and judge a claimed country and declared facility.

    ``claim`` is the country the target is declared to be in, ``declared`` the facility's
    (lat, lon), ``restricted`` countries to test the target against (e.g. restricted
    destinations), ``calibration`` landmark-to-landmark RTTs (or a ready Calibration) for
    the CBG bestlines. ``cbg_alpha`` widens every CBG radius by the conformal slack that
    keeps the leave-one-out region miss rate at or below it (None: raw bestlines).
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
    best = min_rtt_by_landmark(landmarks, rtts)
    used = [by_id[i] for i in sorted(best)]
    lat_arr = np.array([lm.lat for lm in used])
    lon_arr = np.array([lm.lon for lm in used])
    rtt_arr = np.array([best[lm.id] for lm in used])
    phys_km = rtt_bound_km(rtt_arr, propagation)
    physical_caps = Caps(lat_arr, lon_arr, phys_km)

    cal: Calibration | None
    if calibration is None or isinstance(calibration, Calibration):
        cal = calibration
    else:
        cal = calibrate(landmarks, calibration, propagation)
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
    cbg = sample_region(cbg_caps) if cbg_caps is not None else None

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
                stats_common,
                evidence,
                Verdict.INCONSISTENT,
                severity=Severity.HIGH,
                explanation=(
                    "No single place satisfies every RTT under the physical bound: the "
                    "responses came from more than one place (a copied key or a relay), or a "
                    "landmark's coordinates are wrong. No location verdict can be drawn."
                ),
            )
        )

    if cal is not None and cal.faster_than_light:
        pairs = ", ".join(f"{f.landmark_id}-{f.peer_id}" for f in cal.faster_than_light[:5])
        findings.append(
            _finding(
                "landmarks",
                {**stats_common, "faster_than_light_pairs": len(cal.faster_than_light)},
                evidence,
                Verdict.INCONCLUSIVE,
                severity=Severity.MEDIUM,
                error_bound=None,
                explanation=(
                    f"{len(cal.faster_than_light)} landmark pair(s) ({pairs}) measured an RTT "
                    "below the physical bound for their stated distance: at least one of each "
                    "pair's coordinates is wrong, and every bound rests on them. Fix the "
                    "landmark list before acting on these verdicts."
                ),
            )
        )
    declared_check = None
    if declared is not None:
        dlat, dlon = declared
        d_to = distance_km(dlat, dlon, lat_arr, lon_arr)
        violated = [
            lm.id
            for lm, d, b in zip(used, d_to, phys_km, strict=True)
            if d > b + ROUNDING_KM + 1e-9 * b
        ]
        inside_cbg = cbg_caps.contains_point(dlat, dlon) if cbg_caps is not None else None
        declared_check = DeclaredCheck(
            lat=dlat,
            lon=dlon,
            inside_physical=not violated,
            inside_cbg=inside_cbg,
            max_distance_km=round(physical.max_distance_km(dlat, dlon), 1),
            max_distance_km_cbg=(
                round(cbg.max_distance_km(dlat, dlon), 1) if cbg is not None else None
            ),
            violated_by=violated,
        )
        findings.append(
            _declared_finding(
                target, declared_check, cal_summary, stats_common, evidence, physical.empty
            )
        )

    claim_verdict = None
    if claim is not None:
        claim_verdict, check = _country(claim, physical, cbg, border_margin_km, "claim")
        findings.append(
            _claim_finding(target, claim_verdict, check, cal_summary, stats_common, evidence)
        )
    countries: list[CountryVerdict] = []
    for code in restricted:
        verdict, check = _country(code, physical, cbg, border_margin_km, "restricted")
        countries.append(verdict)
        findings.append(_restricted_finding(target, verdict, check, stats_common, evidence))

    report = LocationReport(
        target=target,
        propagation=propagation.value,
        km_per_ms_rtt=propagation.km_per_ms_rtt,
        constraints=constraints,
        physical_region=_summary("physical", physical),
        cbg_region=_summary("cbg", cbg) if cbg is not None else None,
        calibration=cal_summary,
        declared=declared_check,
        claim=claim_verdict,
        countries=countries,
        findings=findings,
        assumptions=ASSUMPTIONS,
    )
    report._physical = physical
    report._cbg = cbg
    return report


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


def _declared_finding(
    target: str,
    check: DeclaredCheck,
    cal: CalibrationSummary | None,
    stats: dict[str, Any],
    evidence: dict[str, str],
    empty: bool,
) -> Finding:
    statistic = {
        **stats,
        "declared": [check.lat, check.lon],
        "max_distance_km": check.max_distance_km,
        "max_distance_km_cbg": check.max_distance_km_cbg,
        "violated_by": check.violated_by,
    }
    if not check.inside_physical:
        return _finding(
            target,
            statistic,
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
            statistic,
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
        statistic,
        evidence,
        Verdict.INCONCLUSIVE if empty else Verdict.CONSISTENT,
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
) -> Finding:
    statistic = {**stats, "claim": verdict.model_dump()}
    if check.relation is Relation.EXCLUDED:
        return _finding(
            target,
            statistic,
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
            statistic,
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
        statistic,
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
) -> Finding:
    subject = f"{target} in {verdict.country}"
    statistic = {**stats, "country": verdict.model_dump()}
    if check.relation is Relation.EXCLUDED:
        return _finding(
            subject,
            statistic,
            evidence,
            Verdict.CONSISTENT,
            explanation=f"The target cannot be in {verdict.country}. {check.description}.",
        )
    if check.relation in (Relation.INSIDE, Relation.INSIDE_OR_OFFSHORE):
        return _finding(
            subject,
            statistic,
            evidence,
            Verdict.INCONSISTENT,
            severity=Severity.CRITICAL,
            explanation=(
                f"The target is in {verdict.country}: the whole physical region lies there "
                f"(or at sea off its coast). {check.description}.{UNMAPPED_CAVEAT}"
            ),
        )
    return _finding(
        subject,
        statistic,
        evidence,
        Verdict.INCONCLUSIVE,
        explanation=(
            f"The target could be in {verdict.country} "
            f"({verdict.share_of_region:.0%} of the physical region); more landmarks near it "
            f"would settle this. {check.description}."
        ),
    )
