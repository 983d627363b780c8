"""Small, dependency-free statistics used by the provenance tests.

Kept in numpy + math so that the weight tests run on a base install; scipy is used only for
the assignment problem, where it is much faster (see :mod:`matching`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

MIN_P = 1e-300  # floor so that -log(p) stays finite; p-values at the floor print as "< 1e-300"


def format_p(p: float, bound: bool = False) -> str:
    """A p-value for people: the floor (or a multiple of it after Holm) is a bound, not a
    value, so it prints as one ("< 1e-300", "< 2e-300")."""
    if p <= MIN_P:
        return "< 1e-300"
    if bound:
        return f"< {p:.3g}"
    return f"{p:.3g}"


def at_floor(p: float, tests: int = 1) -> bool:
    """True when p is the floor, or the floor multiplied by a Holm/Bonferroni factor."""
    return p <= MIN_P * max(1, tests) * (1 + 1e-9)


def normal_sf(z: float) -> float:
    """Upper tail of the standard normal."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def rankdata(x: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Average ranks (ties share the mean rank), 1-based."""
    a = np.asarray(x, dtype=np.float64).ravel()
    order = np.argsort(a, kind="mergesort")
    ranks = np.empty(len(a), dtype=np.float64)
    ranks[order] = np.arange(1, len(a) + 1, dtype=np.float64)
    sorted_a = a[order]
    # average the ranks inside each run of equal values
    boundaries = np.flatnonzero(np.diff(sorted_a)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [len(a)]))
    for s, e in zip(starts, ends, strict=True):
        if e - s > 1:
            ranks[order[s:e]] = (s + e + 1) / 2.0
    return ranks


def spearman(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    rx, ry = rankdata(x), rankdata(y)
    rx -= rx.mean()
    ry -= ry.mean()
    denom = math.sqrt(float((rx * rx).sum() * (ry * ry).sum()))
    return 0.0 if denom == 0 else float((rx * ry).sum() / denom)


def spearman_pvalue_greater(rho: float, n: int) -> float:
    """One-sided p-value for rho > 0 when one variable is a uniformly random permutation.

    Under that null rho has mean 0 and variance exactly 1/(n-1); we use the normal
    approximation rho*sqrt(n-1) ~ N(0,1), accurate for the n >= 32 units we require.
    """
    if n < 3:
        return 1.0
    return max(normal_sf(rho * math.sqrt(n - 1)), MIN_P)


def chi2_sf_even(x: float, dof: int) -> float:
    """Survival function of chi-square with an even number of degrees of freedom (closed form)."""
    if dof <= 0 or dof % 2:
        raise ValueError("dof must be a positive even integer")
    if x <= 0:
        return 1.0
    half = x / 2.0
    k = dof // 2
    # sf = exp(-half) * sum_{i<k} half^i / i!, summed in log space for stability
    log_terms = [i * math.log(half) - math.lgamma(i + 1) for i in range(k)]
    m = max(log_terms)
    s = sum(math.exp(t - m) for t in log_terms)
    log_sf = -half + m + math.log(s)
    return min(1.0, max(math.exp(log_sf), 0.0))


def fisher_combine(pvalues: Sequence[float]) -> float:
    """Fisher's method: valid when the p-values are independent and uniform under the null."""
    ps = [min(1.0, max(float(p), MIN_P)) for p in pvalues]
    if not ps:
        return 1.0
    stat = -2.0 * sum(math.log(p) for p in ps)
    return max(chi2_sf_even(stat, 2 * len(ps)), MIN_P)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (family-wise error control, any dependence)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def benjamini_hochberg(pvalues: Sequence[float]) -> list[float]:
    """BH adjusted p-values (false-discovery-rate control under independence/PRDS)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i], reverse=True)
    adjusted = [0.0] * m
    running = 1.0
    for pos, i in enumerate(order):
        rank = m - pos
        running = min(running, pvalues[i] * m / rank)
        adjusted[i] = min(1.0, running)
    return adjusted


def binomial_sf(k: int, n: int, p: float) -> float:
    """P[X >= k] for X ~ Binomial(n, p), summed exactly in log space."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    logs = [
        math.lgamma(n + 1)
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + i * math.log(p)
        + (n - i) * math.log1p(-p)
        for i in range(k, n + 1)
    ]
    m = max(logs)
    return min(1.0, math.exp(m) * sum(math.exp(v - m) for v in logs))


def student_t_sf(t: float, dof: int) -> float:
    """Upper tail of Student's t via the regularised incomplete beta (continued fraction)."""
    if dof <= 0:
        raise ValueError("dof must be positive")
    x = dof / (dof + t * t)
    tail = 0.5 * _betainc(dof / 2.0, 0.5, x)
    return tail if t > 0 else 1.0 - tail


def _betainc(a: float, b: float, x: float) -> float:
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbeta = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    front = math.exp(lbeta + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def _betacf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 400):
        m2 = 2 * m
        aa = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-14:
            break
    return h


def roc_auc(positives: Sequence[float], negatives: Sequence[float]) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    if not positives or not negatives:
        return float("nan")
    pos = np.asarray(positives, dtype=np.float64)
    neg = np.asarray(negatives, dtype=np.float64)
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))
