"""Landmark self-consistency and conflicting discs: evidence that cannot all be true.

Every bound rests on the landmarks' listed coordinates. A landmark hosted somewhere other
than its listing does not merely lose precision, it moves its disc, and an honest target
near its real position is then "placed" near the listed one: the verifier would accuse an
honest party. Two things expose such a landmark without trusting anyone:

* **landmark-to-landmark RTTs below the physical bound** for the listed distance. One such
  pair proves that at least one of its two positions is wrong (or the path beats the chosen
  speed). A landmark listed in the wrong place shows up in many such pairs (against every
  peer near where it really is); the landmarks are isolated greedily, most conflicts first,
  and where two conflict only with each other both are dropped, because nothing says which
  of the two is wrong;
* **discs that cannot all hold** for one target (an empty region): no single place explains
  the RTTs. Either a landmark is wrong or the answers came from more than one place (a
  copied key, a relay). Either way no location verdict is sound, and the discs that
  conflict are named so that a person can look at them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from accord.verify.location.geodesy import Propagation, distance_km
from accord.verify.location.inputs import Landmark, PeerRtt
from accord.verify.location.region import Caps, sample_region

# A pair counts as faster than light only beyond floating-point rounding of the bound.
_RELATIVE_ROUNDING = 1e-9
# Most conflicting discs reported by name; the count is always given in full.
MAX_NAMED = 8


@dataclass(frozen=True)
class FasterThanLight:
    """A landmark pair whose RTT is below the physical bound: a coordinate is wrong."""

    landmark_id: str
    peer_id: str
    rtt_ms: float
    distance_km: float


@dataclass(frozen=True)
class LandmarkCheck:
    """Result of checking every available landmark pair against the physical bound.

    ``checked`` holds the landmarks that passed with at least one pair to another kept
    landmark; a landmark with no usable pair is unchecked, not cleared.
    """

    pairs_checked: int
    faster_than_light: tuple[FasterThanLight, ...]
    dropped: tuple[str, ...]
    conflicts: dict[str, tuple[str, ...]]
    checked: frozenset[str]


def pair_table(
    landmarks: Sequence[Landmark], peers: Iterable[PeerRtt]
) -> dict[tuple[str, str], float]:
    """Minimum RTT per unordered landmark pair; refuses pairs naming unknown landmarks."""
    from accord.errors import AccordError

    known = {lm.id for lm in landmarks}
    table: dict[tuple[str, str], float] = {}
    for p in peers:
        for ident in (p.landmark_id, p.peer_id):
            if ident not in known:
                raise AccordError(
                    "calibration:landmark_id",
                    f"unknown landmark {ident!r}",
                    "list every calibration landmark in the landmarks file",
                )
        key = (min(p.landmark_id, p.peer_id), max(p.landmark_id, p.peer_id))
        table[key] = min(p.rtt_ms, table.get(key, math.inf))
    return table


def pair_distances(landmarks: Sequence[Landmark], keys: Sequence[tuple[str, str]]) -> list[float]:
    by_id = {lm.id: lm for lm in landmarks}
    if not keys:
        return []
    lat_a = np.array([by_id[a].lat for a, _ in keys])
    lon_a = np.array([by_id[a].lon for a, _ in keys])
    lat_b = np.array([by_id[b].lat for _, b in keys])
    lon_b = np.array([by_id[b].lon for _, b in keys])
    return list(distance_km(lat_a, lon_a, lat_b, lon_b).tolist())


class PairIndex:
    """Every landmark pair's minimum RTT and listed distance, as arrays, checked once.

    Built once for a landmark set; ``check`` then answers for any subset (all landmarks but
    one, in a leave-one-out evaluation) without recomputing a distance.
    """

    def __init__(
        self,
        landmarks: Sequence[Landmark],
        peers: Iterable[PeerRtt],
        propagation: Propagation = Propagation.FIBRE,
    ) -> None:
        from accord.errors import AccordError

        where_all = {lm.id: i for i, lm in enumerate(landmarks)}
        src: list[int] = []
        dst: list[int] = []
        rtt: list[float] = []
        for p in peers:
            for ident in (p.landmark_id, p.peer_id):
                if ident not in where_all:
                    raise AccordError(
                        "calibration:landmark_id",
                        f"unknown landmark {ident!r}",
                        "list every calibration landmark in the landmarks file",
                    )
            src.append(where_all[p.landmark_id])
            dst.append(where_all[p.peer_id])
            rtt.append(p.rtt_ms)
        # one row per unordered pair, its minimum RTT (ids ordered as strings, like pair_table)
        names = np.array([lm.id for lm in landmarks], dtype=object)
        a_all, b_all = np.array(src, dtype=np.int64), np.array(dst, dtype=np.int64)
        swap = names[a_all] > names[b_all] if a_all.size else np.zeros(0, dtype=bool)
        lo, hi = np.where(swap, b_all, a_all), np.where(swap, a_all, b_all)
        code = lo * len(landmarks) + hi
        order = np.lexsort((np.array(rtt, dtype=np.float64), code))
        first = np.ones(order.size, dtype=bool)
        first[1:] = code[order][1:] != code[order][:-1]
        pick = order[first]
        lat = np.array([lm.lat for lm in landmarks], dtype=np.float64)
        lon = np.array([lm.lon for lm in landmarks], dtype=np.float64)
        self.keys = [
            (str(names[x]), str(names[y])) for x, y in zip(lo[pick], hi[pick], strict=True)
        ]
        self.ids = sorted({x for key in self.keys for x in key})
        where = {x: i for i, x in enumerate(self.ids)}
        self.a = np.array([where[a] for a, _ in self.keys], dtype=np.int64)
        self.b = np.array([where[b] for _, b in self.keys], dtype=np.int64)
        self.rtt_ms = np.array(rtt, dtype=np.float64)[pick]
        self.distance_km = np.asarray(
            distance_km(lat[lo[pick]], lon[lo[pick]], lat[hi[pick]], lon[hi[pick]]),
            dtype=np.float64,
        )
        bound_ms = self.distance_km / propagation.km_per_ms_rtt
        self.faster = self.rtt_ms < bound_ms * (1.0 - _RELATIVE_ROUNDING)

    def check(self, exclude: Iterable[str] = ()) -> LandmarkCheck:
        """Check the pairs among all landmarks but ``exclude`` and isolate the wrong ones."""
        where = {x: i for i, x in enumerate(self.ids)}
        out = np.zeros(len(self.ids), dtype=bool)
        for x in exclude:
            if x in where:
                out[where[x]] = True
        live = ~(out[self.a] | out[self.b])
        bad = np.flatnonzero(live & self.faster)
        ftl = tuple(
            FasterThanLight(
                self.keys[i][0],
                self.keys[i][1],
                float(self.rtt_ms[i]),
                float(self.distance_km[i]),
            )
            for i in bad.tolist()
        )
        dropped = isolate((f.landmark_id, f.peer_id) for f in ftl)
        gone = out.copy()
        for x in dropped:
            gone[where[x]] = True
        good = live & ~self.faster & ~(gone[self.a] | gone[self.b])
        checked = {self.ids[i] for i in np.concatenate([self.a[good], self.b[good]]).tolist()}
        partners: dict[str, list[str]] = {}
        for f in ftl:
            partners.setdefault(f.landmark_id, []).append(f.peer_id)
            partners.setdefault(f.peer_id, []).append(f.landmark_id)
        return LandmarkCheck(
            pairs_checked=int(live.sum()),
            faster_than_light=ftl,
            dropped=tuple(dropped),
            conflicts={x: tuple(sorted(partners.get(x, []))) for x in dropped},
            checked=frozenset(checked),
        )


def isolate(conflicts: Iterable[tuple[str, str]]) -> list[str]:
    """Landmarks to drop so that no conflicting pair is left, most-implicated first.

    Greedy: drop the landmark in the most remaining conflicts (ties by id, so the result is
    reproducible). Once every remaining conflict is a pair whose two members conflict with
    nothing else, there is no evidence which one is wrong, and both go.
    """
    edges = {(min(a, b), max(a, b)) for a, b in conflicts if a != b}
    dropped: list[str] = []
    while edges:
        degree: dict[str, int] = {}
        for a, b in edges:
            degree[a] = degree.get(a, 0) + 1
            degree[b] = degree.get(b, 0) + 1
        top = max(degree.values())
        if top == 1:
            dropped.extend(sorted(x for e in edges for x in e))
            break
        worst = min(k for k, v in degree.items() if v == top)
        dropped.append(worst)
        edges = {e for e in edges if worst not in e}
    return dropped


def check_landmarks(
    landmarks: Sequence[Landmark],
    peers: Iterable[PeerRtt],
    propagation: Propagation = Propagation.FIBRE,
) -> LandmarkCheck:
    """Check every landmark pair against the physical bound and isolate the wrong ones."""
    return PairIndex(landmarks, peers, propagation).check()


def disjoint_pairs(caps: Caps, ids: Sequence[str]) -> list[tuple[str, str, float]]:
    """Pairs of discs that do not meet at all, with the gap in km, largest gap first."""
    n = caps.lat.size
    if n < 2:
        return []
    d = distance_km(caps.lat[:, None], caps.lon[:, None], caps.lat[None, :], caps.lon[None, :])
    gap = d - (caps.radius_km[:, None] + caps.radius_km[None, :])
    i, j = np.where(np.triu(gap > 1e-6, k=1))
    out = [(ids[a], ids[b], float(gap[a, b])) for a, b in zip(i.tolist(), j.tolist(), strict=True)]
    return sorted(out, key=lambda t: -t[2])


def conflicting_set(caps: Caps, ids: Sequence[str]) -> list[str]:
    """A small set of discs that have no common point (when no two are disjoint on their own).

    The tightest discs are added until the intersection is empty (binary search on that
    prefix), then each is removed in turn if the rest stay empty. What is left is a set with
    no common point in which every disc is needed, found with O(n) region tests.
    """
    order = np.argsort(caps.radius_km, kind="stable")

    def empty(idx: Sequence[int]) -> bool:
        sel = np.asarray(idx, dtype=int)
        return sample_region(Caps(caps.lat[sel], caps.lon[sel], caps.radius_km[sel])).empty

    if not empty(order.tolist()):
        return []
    lo, hi = 1, len(order)
    while lo < hi:
        mid = (lo + hi) // 2
        if empty(order[:mid].tolist()):
            hi = mid
        else:
            lo = mid + 1
    chosen = order[:lo].tolist()
    for k in list(chosen):
        rest = [c for c in chosen if c != k]
        if rest and empty(rest):
            chosen = rest
    return [ids[c] for c in chosen]
