"""Which segments to replay: the largest updates (as Proof-of-Learning does) plus random ones.

Top-Q alone is predictable: a spoofer who knows the verifier replays the largest updates
keeps forged segments small and honest decoys large (Fang et al. 2023). The random part is
drawn from HMAC-SHA256 keyed with a beacon published only after the transcript's chain head
was logged (for example a later ledger checkpoint root), so the lab could not know, when it
committed, which segments would be checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accord.errors import AccordError
from accord.verify.training.hashing import SELECTION_DOMAIN, hmac_stream


@dataclass(frozen=True)
class Plan:
    top: int
    anomalous: int
    random: int


def plan_counts(
    n_segments: int,
    budget: float,
    top_q: int | None = None,
    n_random: int | None = None,
    n_anomalous: int | None = None,
) -> Plan:
    """Split a budget (fraction of training steps to re-execute) three ways.

    A fifth goes to PoL's largest updates, two fifths to updates that are large *for their
    place in the run* (a segment hiding extra steps moves about twice as far as its
    neighbours, while raw top-Q keeps picking the early, naturally large updates), and the
    rest, at least two, to beacon-keyed random draws.
    """
    if not 0 < budget <= 1:
        raise AccordError("budget", f"{budget} is not in (0, 1]", "use e.g. 0.05 for 5 %")
    total = max(4, math.floor(budget * n_segments))
    q = top_q if top_q is not None else max(1, total // 5)
    a = n_anomalous if n_anomalous is not None else max(1, (2 * total) // 5)
    r = n_random if n_random is not None else max(2, total - q - a)
    return Plan(min(q, n_segments), min(a, n_segments), min(r, n_segments))


def anomalous_updates(update_norms: list[float], count: int, exclude: set[int]) -> list[int]:
    """In each of ``count`` equal windows, the segment that moved furthest for its place.

    The score is a segment's update over the geometric mean of its two neighbours'. Training
    moves smoothly from one segment to the next, so a segment that hides extra optimisation
    steps stands out against its neighbours even late in a run, when its raw update is far
    smaller than the early ones that raw top-Q keeps picking. Windowing spreads the picks over
    the run, because early training is naturally bumpy.
    """
    n = len(update_norms)
    if count <= 0 or n == 0:
        return []

    def score(j: int) -> float:
        near = [update_norms[i] for i in (j - 1, j + 1) if 0 <= i < n]
        if not near:
            return 1.0
        ref = math.exp(sum(math.log(max(u, 1e-30)) for u in near) / len(near))
        return update_norms[j] / max(ref, 1e-30)

    picks = []
    for w in range(count):
        lo, hi = (w * n) // count, ((w + 1) * n) // count
        cands = [j for j in range(lo, hi) if j not in exclude]
        if cands:
            picks.append(max(cands, key=lambda j: (score(j), -j)))
    return picks


def top_updates(update_norms: list[float], q: int) -> list[int]:
    """Largest update in each of q equal windows of the run (PoL's per-epoch top-Q)."""
    n = len(update_norms)
    if q <= 0 or n == 0:
        return []
    picks = []
    for w in range(q):
        lo, hi = (w * n) // q, ((w + 1) * n) // q
        if hi > lo:
            picks.append(max(range(lo, hi), key=lambda i: (update_norms[i], -i)))
    return picks


def random_segments(
    beacon: bytes, chain_head: str, n_segments: int, count: int, exclude: set[int]
) -> list[int]:
    """Uniform draws without replacement from the segments not yet chosen, keyed by the beacon."""
    if not beacon:
        raise AccordError(
            "beacon", "is empty", "pass the published checkpoint root or other fresh randomness"
        )
    pool = [i for i in range(n_segments) if i not in exclude]
    count = min(count, len(pool))
    chosen: list[int] = []
    stream = hmac_stream(beacon, SELECTION_DOMAIN + bytes.fromhex(chain_head))
    # Fisher-Yates on the pool with rejection sampling (no modulo bias).
    for i in range(count):
        span = len(pool) - i
        limit = (1 << 64) - ((1 << 64) % span)
        while True:
            v = next(stream)
            if v < limit:
                break
        k = i + v % span
        pool[i], pool[k] = pool[k], pool[i]
        chosen.append(pool[i])
    return sorted(chosen)


def miss_probability(n_pool: int, draws: int, forged: int) -> float:
    """P(no forged segment among `draws` uniform draws without replacement from n_pool)."""
    if forged <= 0:
        return 1.0
    if forged > n_pool - draws:
        return 0.0
    return math.comb(n_pool - forged, draws) / math.comb(n_pool, draws)


def min_forged_fraction(n_pool: int, draws: int, target: float = 0.99) -> float:
    """Smallest fraction of forged segments the random draws catch with probability >= target."""
    for f in range(1, n_pool + 1):
        if 1 - miss_probability(n_pool, draws, f) >= target:
            return f / n_pool
    return 1.0


def select_segments(
    update_norms: list[float],
    chain_head: str,
    beacon: bytes,
    budget: float = 0.05,
    top_q: int | None = None,
    n_random: int | None = None,
    n_anomalous: int | None = None,
) -> tuple[list[int], list[int], list[int]]:
    """The verifier's full choice: (largest updates, anomalous updates, random draws)."""
    n = len(update_norms)
    plan = plan_counts(n, budget, top_q, n_random, n_anomalous)
    top = top_updates(update_norms, plan.top)
    anomalous = anomalous_updates(update_norms, plan.anomalous, set(top))
    rand = random_segments(beacon, chain_head, n, plan.random, set(top) | set(anomalous))
    return top, anomalous, rand
