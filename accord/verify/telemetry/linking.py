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

import bisect
import ipaddress
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

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
    enders: Sequence[RunSpan], starts: Sequence[tuple[int, str]], gap: int
) -> Counter[tuple[str, str]]:
    """Pairs (A, B) counted once per run of A after which B starts a run within ``gap``."""
    times = [t for t, _ in starts]
    out: Counter[tuple[str, str]] = Counter()
    for s in enders:
        lo = bisect.bisect_left(times, s.end)
        hi = bisect.bisect_right(times, s.end + gap)
        for other in {starts[i][1] for i in range(lo, hi)} - {s.account}:
            out[(s.account, other) if s.account < other else (other, s.account)] += 1
    return out


def handoff_links(spans: Sequence[RunSpan], cfg: LinkConfig) -> list[Link]:
    """One run shape stopping in one account and resuming in another, more than chance allows.

    A run moved between accounts at each restart leaves a trail: account A's run of n chips
    of type X ends, and within the gap account B starts n chips of X. In a busy cluster
    such coincidences also happen by chance, and heavy users make many of them. The chance
    rate is measured from the data itself: the start times are shifted circularly against
    the end times by ``handoff_shifts`` offsets, which keeps every account's own rhythm but
    breaks any relation between one account's stops and another's starts; the mean count
    over the shifts is the expected number of chance hand-offs for each pair. A pair is
    linked only when the observed count has a Poisson tail probability below
    ``handoff_alpha`` divided by the number of pairs that could have been tested
    (Bonferroni).
    """
    if not spans:
        return []
    gap = cfg.handoff_gap_s
    by_shape: dict[tuple[str, float], list[RunSpan]] = defaultdict(list)
    for s in spans:
        by_shape[(s.chip_id, s.chip_count)].append(s)
    observed: Counter[tuple[str, str]] = Counter()
    null: Counter[tuple[str, str]] = Counter()
    tests = 0
    shifts = max(1, cfg.handoff_shifts)
    for group in by_shape.values():
        accounts = {s.account for s in group}
        if len(accounts) < 2:
            continue
        tests += len(accounts) * (len(accounts) - 1) // 2
        starts = sorted((s.start, s.account) for s in group)
        observed.update(_coincidences(group, starts, gap))
        t0 = starts[0][0]
        window = max(1, starts[-1][0] - t0 + gap + 1)
        for k in range(1, shifts + 1):
            delta = window * k // (shifts + 1)
            moved = sorted(((t - t0 + delta) % window + t0, a) for t, a in starts)
            null.update(_coincidences(group, moved, gap))
    links = []
    floor = 0.5 / shifts  # a pair never seen in the shifts still gets a non-zero rate
    for pair, count in sorted(observed.items()):
        if count < cfg.handoff_min:
            continue
        expected = max(null[pair] / shifts, floor)
        p = poisson_tail(count, expected)
        if p * max(1, tests) < cfg.handoff_alpha:
            links.append(
                Link(
                    pair[0],
                    pair[1],
                    "timing_handoff",
                    f"{count} run hand-offs within {gap / 3600:g} h "
                    f"(chance {p:.1e}, {expected:.2g} expected by chance)",
                )
            )
    return links


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
