"""Cross-checking a declared training run against independent estimates.

Each estimate carries two ranges. ``flop`` is where the compute most likely lies (the 6ND
band, the 30-50 % utilisation band); ``reportable`` is what an honest report could still
say (a lab that counts activation recomputation reports about 8ND; chips may idle, but no
chip beats its peak). Only a figure outside ``reportable``, or two estimates whose
``reportable`` ranges do not meet, is a contradiction and gives *inconsistent*. A figure
outside the likely band but inside the reportable one is consistent with a remark; where the
only doubt is a utilisation below the band and nothing else confirms the figure, the
finding is *inconclusive*: low utilisation is common and proves nothing.
"""

from __future__ import annotations

from accord.compute.estimate import Estimate
from accord.compute.interval import Interval
from accord.model.finding import Finding, Severity, Verdict


def _reportable(e: Estimate) -> Interval:
    return e.reportable if e.reportable is not None else e.flop


def cross_check(
    subject: str,
    estimates: list[Estimate],
    declared_flop: float | None = None,
) -> Finding:
    """Flag only what the estimates' inputs prove: never an honest counting convention."""
    problems: list[str] = []
    remarks: list[str] = []
    doubts: list[str] = []
    for i, a in enumerate(estimates):
        for b in estimates[i + 1 :]:
            _judge_pair(a, b, problems, remarks, doubts)
    confirmed = declared_flop is not None and any(
        e.flop.contains(declared_flop) for e in estimates if e.method == "architecture"
    )
    if declared_flop is not None:
        for e in estimates:
            _judge_declared(e, declared_flop, confirmed, problems, remarks, doubts)
    statistic: dict[str, object] = {e.method: e.flop.model_dump() for e in estimates}
    for e in estimates:
        if e.reportable is not None:
            statistic[f"{e.method}_reportable"] = e.reportable.model_dump()
    if declared_flop is not None:
        statistic["declared_flop"] = declared_flop
    joint = _intersection(estimates)
    if joint is not None and not problems:
        statistic["consistent_range"] = joint.model_dump()
    if remarks:
        statistic["remarks"] = remarks
    if problems:
        understated = declared_flop is not None and any(
            declared_flop < _reportable(e).lo for e in estimates
        )
        return Finding(
            subject=subject,
            verifier="compute.cross_check",
            verdict=Verdict.INCONSISTENT,
            severity=Severity.HIGH if understated else Severity.MEDIUM,
            statistic=statistic,
            error_bound=None,
            explanation="; ".join(problems)
            + ". The ranges already allow for the stated assumptions and for honest counting "
            "conventions (activation recomputation, embedding parameters, idle chips, FP8 "
            "peaks); a contradiction means a declared input (parameters, tokens, chips, hours "
            "or compute) is wrong.",
        )
    if doubts:
        return Finding(
            subject=subject,
            verifier="compute.cross_check",
            verdict=Verdict.INCONCLUSIVE,
            severity=Severity.LOW,
            statistic=statistic,
            explanation="; ".join(doubts)
            + ". Low utilisation is common (restarts, stragglers, communication-bound runs), "
            "so this is not evidence of under-declaration; give parameters and tokens to "
            "check the figure against the architecture.",
        )
    tail = " and contain the declared figure" if declared_flop is not None else ""
    return Finding(
        subject=subject,
        verifier="compute.cross_check",
        verdict=Verdict.CONSISTENT,
        statistic=statistic,
        explanation=f"All estimates agree{tail}."
        + (" Remarks: " + "; ".join(remarks) + "." if remarks else ""),
    )


def _judge_declared(
    e: Estimate,
    declared: float,
    confirmed: bool,
    problems: list[str],
    remarks: list[str],
    doubts: list[str],
) -> None:
    honest = _reportable(e)
    if not honest.contains(declared):
        side = "below" if declared < honest.lo else "above"
        problems.append(
            f"declared {declared:.3g} FLOP is {side} anything the {e.method} inputs allow "
            f"({honest}; likely {e.flop})"
        )
    elif e.flop.contains(declared):
        return
    elif e.method == "hardware" and declared < e.flop.lo:
        share = declared / e.flop.lo * float(e.inputs.get("utilisation_low", 0) or 0)
        note = f"declared {declared:.3g} FLOP is below the hardware estimate {e.flop}" + (
            f" (implied utilisation about {share:.0%})" if share else ""
        )
        (remarks if confirmed else doubts).append(note)
    else:
        side = "below" if declared < e.flop.lo else "above"
        why = (
            "within what counting activation recomputation (up to 8ND) gives"
            if e.method == "architecture" and side == "above"
            else "within the honest reporting range"
        )
        remarks.append(
            f"declared {declared:.3g} FLOP is {side} the {e.method} estimate {e.flop}, {why}"
        )


def _judge_pair(
    a: Estimate, b: Estimate, problems: list[str], remarks: list[str], doubts: list[str]
) -> None:
    if not _reportable(a).overlaps(_reportable(b)):
        problems.append(
            f"{a.method} estimate {a.flop} and {b.method} estimate {b.flop} cannot both hold "
            f"(even the widest honest readings {_reportable(a)} and {_reportable(b)} do not meet)"
        )
    elif a.flop.overlaps(b.flop):
        return
    elif _reportable(a).hi < b.flop.lo or _reportable(b).hi < a.flop.lo:
        low, high = (a, b) if _reportable(a).hi < b.flop.lo else (b, a)
        doubts.append(
            f"the {high.method} estimate {high.flop} is above even the widest honest reading "
            f"of the {low.method} estimate {_reportable(low)}: the chips ran far below the "
            "assumed utilisation, or did more work than the declared parameters and tokens"
        )
    else:
        remarks.append(
            f"{a.method} estimate {a.flop} and {b.method} estimate {b.flop} do not overlap, "
            "but their honest readings do (utilisation outside the band, or recomputation "
            "counted)"
        )


def _intersection(estimates: list[Estimate]) -> Interval | None:
    joint: Interval | None = None
    for e in estimates:
        if joint is None:
            joint = e.flop
        elif joint.overlaps(e.flop):
            joint = Interval(lo=max(joint.lo, e.flop.lo), hi=min(joint.hi, e.flop.hi))
    return joint
