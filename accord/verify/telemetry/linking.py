"""Linking accounts into entities: union-find, every merge kept with its reason.

A developer evading a reporting threshold opens several accounts. What ties them together
is what know-your-customer programmes already collect (Egan & Heim 2023): the payment
instrument, the organisation named at sign-up, the addresses used, and behaviour — names
that follow one pattern, and one workload handed from account to account as it restarts.

Links differ in strength. Documentary identifiers (a shared card or bank account, the same
organisation, the same workload name on large runs, the same /24 address block) are
*strong*; resemblance of account names and timing coincidences are *weak*, because
unrelated customers produce them by chance in a busy cluster. Entities are formed twice:
from strong links only, and from all links; a finding that needs a weak link to cross the
threshold is reported as inconclusive, never as a violation.
"""

from __future__ import annotations

import ipaddress
import itertools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from accord.verify.telemetry.screening.names import normalise_org

STRONG = frozenset({"payment", "organisation", "address_block", "workload_name"})
WEAK = frozenset({"account_naming", "timing_handoff"})

# Job names too generic to tie customers together.
GENERIC_STEMS = frozenset(
    {"", "train", "training", "python", "bash", "sh", "job", "run", "test", "jupyter",
     "notebook", "main", "script", "interactive", "sbatch", "srun", "pretrain", "finetune",
     "eval", "inference", "default", "batch", "worker", "ps", "tensorflow", "pytorch"}
)  # fmt: skip


@dataclass(frozen=True)
class Link:
    a: str
    b: str
    kind: str
    detail: str

    @property
    def strong(self) -> bool:
        return self.kind in STRONG


@dataclass(frozen=True)
class RunSpan:
    """A large run as linking needs it: who, what shape, when."""

    account: str
    chip_id: str
    chip_count: float
    stem: str
    start: int
    end: int


@dataclass
class LinkConfig:
    ipv4_prefix: int = 24
    ipv6_prefix: int = 48
    handoff_gap_s: int = 6 * 3600
    handoff_min: int = 2
    handoff_alpha: float = 0.01
    handoff_shifts: int = 16
    # chain test: starts of a shape are counted this many days either side of a hand-off
    handoff_local_days: float = 7.0
    # ... and a hand-off with more expected chance followers than this breaks the chain
    handoff_chain_max_chance: float = 0.3
    naming_min_stem: int = 6
    workload_max_accounts: int = 8


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def add(self, x: str) -> None:
        self.parent.setdefault(x, x)

    def find(self, x: str) -> str:
        self.add(x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # Deterministic root (smallest name) so reports are reproducible.
            lo, hi = sorted((ra, rb))
            self.parent[hi] = lo

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for x in self.parent:
            out[self.find(x)].append(x)
        return {k: sorted(v) for k, v in out.items()}


def _chain(members: Sequence[str], kind: str, detail: str) -> list[Link]:
    """Link a group of accounts as a chain (n-1 links carry the same evidence as n^2)."""
    ordered = sorted(set(members))
    return [Link(ordered[0], other, kind, detail) for other in ordered[1:]]


def _block(ip: str, cfg: LinkConfig) -> str | None:
    try:
        addr = ipaddress.ip_address(ip.strip())
    except ValueError:
        try:
            net = ipaddress.ip_network(ip.strip(), strict=False)
        except ValueError:
            return None
        addr = net.network_address
    prefix = cfg.ipv4_prefix if addr.version == 4 else cfg.ipv6_prefix
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


_DIGITS = re.compile(r"[\d_\-.]+")


def naming_stem(account: str) -> str:
    """``acme-train-07`` and ``acme_train_12`` share the stem ``acmetrain``."""
    return _DIGITS.sub("", account.lower())


def identifier_links(
    attributes: Iterable[tuple[str, str | None, str | None, str | None]],
    cfg: LinkConfig,
) -> list[Link]:
    """Links from shared payment instruments, organisations and address blocks."""
    by: dict[tuple[str, str], set[str]] = defaultdict(set)
    for account, org, payment, ip in attributes:
        if payment and payment.strip():
            by[("payment", payment.strip())].add(account)
        if org and org.strip():
            key = normalise_org(org).key
            if key:
                by[("organisation", key)].add(account)
        if ip and ip.strip():
            block = _block(ip, cfg)
            if block:
                by[("address_block", block)].add(account)
    links: list[Link] = []
    for (kind, value), members in sorted(by.items()):
        if len(members) > 1:
            links.extend(_chain(sorted(members), kind, f"shared {kind.replace('_', ' ')} {value}"))
    return links


def naming_links(accounts: Iterable[str], cfg: LinkConfig) -> list[Link]:
    groups: dict[str, set[str]] = defaultdict(set)
    for account in accounts:
        stem = naming_stem(account)
        if len(stem) >= cfg.naming_min_stem and stem != account.lower():
            groups[stem].add(account)
    links: list[Link] = []
    for stem, members in sorted(groups.items()):
        if len(members) > 1:
            links.extend(_chain(sorted(members), "account_naming", f"account names share {stem!r}"))
    return links


def workload_links(spans: Iterable[RunSpan], cfg: LinkConfig) -> list[Link]:
    """The same distinctive workload name on large runs of several accounts."""
    groups: dict[str, set[str]] = defaultdict(set)
    for s in spans:
        if s.stem not in GENERIC_STEMS and len(s.stem) >= 4:
            groups[s.stem].add(s.account)
    links: list[Link] = []
    for stem, members in sorted(groups.items()):
        if 1 < len(members) <= cfg.workload_max_accounts:
            links.extend(_chain(sorted(members), "workload_name", f"large runs named {stem!r}"))
    return links


def poisson_tail(k: int, mean: float) -> float:
    """P(X >= k) for X ~ Poisson(mean), summed directly (k is small here)."""
    if k <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    term = math.exp(-mean)
    below = 0.0
    for i in range(k):
        below += term
        term *= mean / (i + 1)
    tail = 1.0 - below
    if tail < 1e-12:  # cancellation: sum the upper terms instead
        tail, term = 0.0, math.exp(k * math.log(mean) - mean - math.lgamma(k + 1))
        for i in range(k, k + 400):
            tail += term
            term *= mean / (i + 1)
    return max(0.0, min(1.0, tail))


def _coincidences(
    ends: np.ndarray,
    end_acc: np.ndarray,
    starts: np.ndarray,
    start_acc: np.ndarray,
    gap: int,
    n_acc: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (as codes lo*n+hi) and their counts: once per run of A after which B starts a
    run within ``gap``. ``starts``/``start_acc`` are sorted by time. Vectorised: a busy
    cluster has millions of (end, start) pairs inside the window."""
    lo = np.searchsorted(starts, ends, side="left")
    hi = np.searchsorted(starts, ends + gap, side="right")
    lens = hi - lo
    total = int(lens.sum())
    if total == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    ender = np.repeat(np.arange(len(ends), dtype=np.int64), lens)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
    follower = start_acc[np.repeat(lo, lens) + offsets]
    mine = end_acc[ender]
    keep = follower != mine
    per_run = np.unique(ender[keep] * n_acc + follower[keep])
    a = end_acc[per_run // n_acc]
    b = per_run % n_acc
    pairs = np.minimum(a, b) * n_acc + np.maximum(a, b)
    codes, counts = np.unique(pairs, return_counts=True)
    return codes, counts


def handoff_links(spans: Sequence[RunSpan], cfg: LinkConfig) -> list[Link]:
    """One run shape stopping in one account and resuming in another, more than chance allows.

    A run moved between accounts at each restart leaves a trail: account A's run of n chips
    of type X ends, and within the gap account B starts n chips of X. In a busy cluster
    such coincidences also happen by chance, and heavy users make many of them. The chance
    rate is measured from the data itself: the start times are shifted circularly against
    the end times by ``handoff_shifts`` offsets, which keeps every account's own rhythm but
    breaks any relation between one account's stops and another's starts; the mean count
    over the shifts (plus one, to err against linking) is the expected number of chance
    hand-offs for each pair. A pair is
    linked only when the observed count has a Poisson tail probability below
    ``handoff_alpha`` divided by the number of pairs that could have been tested
    (Bonferroni).
    """
    if not spans:
        return []
    gap = cfg.handoff_gap_s
    names = sorted({s.account for s in spans})
    code = {name: i for i, name in enumerate(names)}
    n_acc = len(names)
    by_shape: dict[tuple[str, float], list[RunSpan]] = defaultdict(list)
    for s in spans:
        by_shape[(s.chip_id, s.chip_count)].append(s)
    tests = 0
    groups = []
    for group in by_shape.values():
        acc = np.array([code[s.account] for s in group], dtype=np.int64)
        k = len(np.unique(acc))
        if k < 2:
            continue
        tests += k * (k - 1) // 2
        ends = np.array([s.end for s in group], dtype=np.int64)
        raw = np.array([s.start for s in group], dtype=np.int64)
        groups.append((acc, ends, raw))
    observed: Counter[int] = Counter()
    for acc, ends, raw in groups:
        order = np.argsort(raw, kind="stable")
        codes, counts = _coincidences(ends, acc, raw[order], acc[order], gap, n_acc)
        keep = counts >= 1
        observed.update(dict(zip(codes[keep].tolist(), counts[keep].tolist(), strict=True)))
    candidates = np.array(sorted(p for p, c in observed.items() if c >= cfg.handoff_min))
    null: Counter[int] = Counter()
    shifts = max(1, cfg.handoff_shifts)
    if len(candidates):
        involved = np.unique(np.concatenate([candidates // n_acc, candidates % n_acc]))
        for acc_all, ends_all, raw_all in groups:
            # only runs of accounts in some candidate pair can change a candidate's count
            mine = np.isin(acc_all, involved)
            acc, ends, raw = acc_all[mine], ends_all[mine], raw_all[mine]
            if len(np.unique(acc)) < 2:
                continue
            t0 = int(raw.min())
            window = max(1, int(raw.max()) - t0 + gap + 1)
            for step in range(1, shifts + 1):
                moved = (raw - t0 + window * step // (shifts + 1)) % window + t0
                o = np.argsort(moved, kind="stable")
                codes, counts = _coincidences(ends, acc, moved[o], acc[o], gap, n_acc)
                hit = np.isin(codes, candidates)
                null.update(dict(zip(codes[hit].tolist(), counts[hit].tolist(), strict=True)))
    links = []
    for pair, count in sorted(observed.items()):
        if count < cfg.handoff_min:
            continue
        # add-one: a pair never seen in the shifts still gets a non-zero chance rate,
        # and a rate estimated from few shifts errs towards not linking
        expected = (null[pair] + 1) / shifts
        p = poisson_tail(count, expected)
        if p * max(1, tests) < cfg.handoff_alpha:
            a, b = names[pair // n_acc], names[pair % n_acc]
            links.append(
                Link(
                    a,
                    b,
                    "timing_handoff",
                    f"{count} run hand-offs within {gap / 3600:g} h "
                    f"(chance {p:.1e}, {expected:.2g} expected by chance)",
                )
            )
    return links


def _edges(
    ends: np.ndarray,
    end_acc: np.ndarray,
    starts: np.ndarray,
    start_acc: np.ndarray,
    gap: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Every (i, j) where run j of another account starts within ``gap`` after run i ends.
    ``starts`` must be sorted; j indexes into the sorted order."""
    lo = np.searchsorted(starts, ends, side="left")
    hi = np.searchsorted(starts, ends + gap, side="right")
    lens = hi - lo
    total = int(lens.sum())
    if total == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    src = np.repeat(np.arange(len(ends), dtype=np.int64), lens)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens)
    dst = np.repeat(lo, lens) + offsets
    keep = start_acc[dst] != end_acc[src]
    return src[keep], dst[keep]


def handoff_chain_links(spans: Sequence[RunSpan], cfg: LinkConfig) -> list[Link]:
    """A run handed along a chain of accounts, each hand-off once: A -> B -> C -> ...

    The pair test above needs the same two accounts to meet at least twice; a run passed
    through six accounts in turn meets each pair once and escapes it. Here each hand-off
    (a run of one shape starting, in another account, within the gap after a run of that
    shape ended) is scored by how likely such a start is by chance *at that time*: the
    rate r of starts of the shape by other accounts is the larger of their count within
    ``handoff_local_days`` either side of the hand-off (the follower left out) and their
    count over the whole period (the follower counted once more: add-one), and the chance
    expected number of chance followers is m = r x gap. The expected number of chance
    chains along a path is the product of its hand-offs' m, so over the N runs that could
    start one it is N x product, and the chain is linked when that is below
    ``handoff_alpha``. A hand-off with m above ``handoff_chain_max_chance`` breaks the chain.
    A rare shape in a quiet period needs two or three hand-offs; a common shape (one GPU)
    or a busy period for that shape needs many more, or never qualifies. The local count
    follows the cluster's own bursts, which a rate averaged over the whole trace would hide.
    """
    if not spans:
        return []
    gap = cfg.handoff_gap_s
    half = cfg.handoff_local_days * 86400
    total_runs = len(spans)
    need = math.log(total_runs / cfg.handoff_alpha)
    first = min(sp.start for sp in spans)
    last = max(sp.end for sp in spans)
    period = max(1, last - first)
    by_shape: dict[tuple[str, float], list[RunSpan]] = defaultdict(list)
    for sp in spans:
        by_shape[(sp.chip_id, sp.chip_count)].append(sp)
    best: dict[tuple[str, str], Link] = {}
    best_score: dict[tuple[str, str], float] = {}
    for (chip, count), group in sorted(by_shape.items()):
        if len({sp.account for sp in group}) < 2:
            continue
        group = sorted(group, key=lambda sp: (sp.start, sp.end, sp.account))
        names = sorted({sp.account for sp in group})
        code = {a: i for i, a in enumerate(names)}
        acc = np.array([code[sp.account] for sp in group], dtype=np.int64)
        starts = np.array([sp.start for sp in group], dtype=np.int64)
        ends = np.array([sp.end for sp in group], dtype=np.int64)
        src, dst = _edges(ends, acc, starts, acc, gap)
        if not len(src):
            continue
        # other-account starts of this shape near each hand-off, the follower left out
        near = np.searchsorted(starts, ends[src] + half, side="right") - np.searchsorted(
            starts, ends[src] - half, side="left"
        )
        own = np.array(
            [
                int(np.count_nonzero(acc[lo:hi] == acc[i]))
                for i, lo, hi in zip(
                    src.tolist(),
                    np.searchsorted(starts, ends[src] - half, side="left").tolist(),
                    np.searchsorted(starts, ends[src] + half, side="right").tolist(),
                    strict=True,
                )
            ],
            dtype=np.int64,
        )
        others = np.maximum(near - own - 1, 0)
        # the same over the whole period (add-one), so a quiet stretch is not taken for a
        # rate lower than the shape's own average
        overall = np.bincount(acc, minlength=len(names))
        everywhere = len(group) - overall[acc[src]]
        # the local window, cut to the period the records cover
        around = np.minimum(ends[src] + half, last) - np.maximum(ends[src] - half, first)
        rate = np.maximum(others / np.maximum(around, gap), everywhere / period)
        # expected chance followers; a hand-off where chance followers are common is no
        # hand-off at all: it breaks the chain rather than lengthening it, so a chain cannot
        # gather significance from a busy stretch, nor bridge two real chains that happen
        # to run side by side
        expected = rate * gap
        keep = expected <= cfg.handoff_chain_max_chance
        src, dst, expected = src[keep], dst[keep], expected[keep]
        weight = -np.log(expected)
        # most surprising chain ending at each run (sorted by start; edges never point back)
        score = np.zeros(len(group))
        hops = np.zeros(len(group), dtype=np.int64)
        previous = np.full(len(group), -1, dtype=np.int64)
        order = np.lexsort((src, dst))
        for e in order.tolist():
            i, j = int(src[e]), int(dst[e])
            if i < j and score[i] + weight[e] > score[j]:
                score[j] = score[i] + weight[e]
                hops[j] = hops[i] + 1
                previous[j] = i
        for j in np.flatnonzero(score > need).tolist():
            bound = total_runs * math.exp(-float(score[j]))
            path = [j]
            while previous[path[-1]] >= 0:
                path.append(int(previous[path[-1]]))
            path.reverse()
            accounts = [group[k].account for k in path]
            detail = (
                f"chain of {int(hops[j])} hand-offs of {count:g} x {chip} across "
                f"{len(set(accounts))} accounts within {gap / 3600:g} h each "
                f"(expected chance chains this unlikely: at most {bound:.1e})"
            )
            for a, b in itertools.pairwise(accounts):
                key = (min(a, b), max(a, b))
                if a != b and score[j] > best_score.get(key, 0.0):
                    best_score[key] = float(score[j])
                    best[key] = Link(key[0], key[1], "timing_handoff", detail)
    return [best[k] for k in sorted(best)]


@dataclass
class Entities:
    """Accounts grouped two ways, with the links that did it."""

    strong: dict[str, list[str]]
    full: dict[str, list[str]]
    links: list[Link] = field(default_factory=list)

    def links_within(self, members: Iterable[str]) -> list[Link]:
        inside = set(members)
        return [lk for lk in self.links if lk.a in inside and lk.b in inside]


def build_entities(accounts: Iterable[str], links: Sequence[Link]) -> Entities:
    strong_uf, full_uf = UnionFind(), UnionFind()
    for account in accounts:
        strong_uf.add(account)
        full_uf.add(account)
    for lk in links:
        full_uf.union(lk.a, lk.b)
        if lk.strong:
            strong_uf.union(lk.a, lk.b)
    return Entities(strong_uf.groups(), full_uf.groups(), list(links))
