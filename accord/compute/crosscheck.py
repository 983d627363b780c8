"""Cross-checking a declared training run against independent estimates.

Intervals make the test honest: two estimates disagree only when their intervals do not
overlap, and a declared figure is suspect only when it lies outside an estimate's
interval. The result is a :class:`~accord.model.Finding`, like every verifier's.
"""

from __future__ import annotations

from accord.compute.estimate import Estimate
from accord.compute.interval import Interval
from accord.model.finding import Finding, Severity, Verdict


def cross_check(
    subject: str,
    estimates: list[Estimate],
    declared_flop: float | None = None,
) -> Finding:
    """Flag estimates that disagree with each other or with the declared figure."""
    problems: list[str] = []
    for i, a in enumerate(estimates):
        for b in estimates[i + 1 :]:
            if not a.flop.overlaps(b.flop):
                problems.append(
                    f"{a.method} estimate {a.flop} and {b.method} estimate {b.flop} do not overlap"
                )
        if declared_flop is not None and not a.flop.contains(declared_flop):
            side = "below" if declared_flop < a.flop.lo else "above"
            problems.append(
                f"declared {declared_flop:.3g} FLOP is {side} the {a.method} estimate {a.flop}"
            )
    joint: Interval | None = None
    for e in estimates:
        if joint is None:
            joint = e.flop
        elif joint.overlaps(e.flop):
            joint = Interval(lo=max(joint.lo, e.flop.lo), hi=min(joint.hi, e.flop.hi))
    statistic: dict[str, object] = {e.method: e.flop.model_dump() for e in estimates}
    if declared_flop is not None:
        statistic["declared_flop"] = declared_flop
    if joint is not None and not problems:
        statistic["consistent_range"] = joint.model_dump()
    if problems:
        understated = declared_flop is not None and all(
            declared_flop < e.flop.lo for e in estimates
        )
        return Finding(
            subject=subject,
            verifier="compute.cross_check",
            verdict=Verdict.INCONSISTENT,
            severity=Severity.HIGH if understated else Severity.MEDIUM,
            statistic=statistic,
            error_bound=None,
            explanation="; ".join(problems)
            + ". The intervals already include the stated assumptions (utilisation band, 6ND "
            "band); a mismatch means a declared input (tokens, chips, hours or compute) is wrong "
            "or an assumption does not hold for this run.",
        )
    return Finding(
        subject=subject,
        verifier="compute.cross_check",
        verdict=Verdict.CONSISTENT,
        statistic=statistic,
        explanation="All estimates overlap"
        + (" and contain the declared figure." if declared_flop is not None else "."),
    )
