"""Chip accountancy in the manner of nuclear material accountancy.

For each facility the *book* balance is the last physical inventory plus receipts minus
shipments since; at the next physical inventory the difference between book and declared
on-hand counts is the chips unaccounted for (CUF, the analogue of MUF). Each transfer is
compared side by side (shipper/receiver difference), and transfers that one side never
confirms are flagged after a grace period. Chip counts are exact integers declared by the
parties themselves, so a non-zero balance is an arithmetic fact with no measurement error:
those findings carry error bound 0. Everything here is a pure function of the book.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from accord.model.finding import Severity, Verdict
from accord.registry.book import Book, Facility, Inventory, Movement
from accord.registry.findings import AGREEMENT, NewFinding
from accord.registry.messages import message

GRACE_DAYS = 45
"""Days a transfer may stay unconfirmed by the other side before it is a finding."""

MAX_REFS = 64
CLUSTER_DECLARATION_H100E = 10_000


@lru_cache(maxsize=256)
def h100e(chip: str) -> float:
    from accord.hardware import get_chip, h100_equivalents

    metric = h100_equivalents(get_chip(chip))
    # A chip sold in variants (a bare "ASCEND-910B") has a range: count its lower end, so a
    # balance never overstates what a party holds.
    value = metric.value if metric.value is not None else metric.lo
    return float(value) if isinstance(value, int | float) else 0.0


def _add(into: dict[str, int], chips: dict[str, int], sign: int = 1) -> None:
    for chip, count in chips.items():
        into[chip] = into.get(chip, 0) + sign * count


@dataclass
class Period:
    """One balance period of a facility, closed by a physical inventory."""

    facility_id: str
    opened: Inventory | None
    closed: Inventory
    movements: list[Movement]
    book: dict[str, int]

    @property
    def difference(self) -> dict[str, int]:
        """Book minus declared, per chip: positive means chips are missing."""
        chips = set(self.book) | set(self.closed.chips)
        out = {c: self.book.get(c, 0) - self.closed.chips.get(c, 0) for c in sorted(chips)}
        return {c: d for c, d in out.items() if d != 0}


def periods(book: Book, facility_id: str) -> list[Period]:
    """Balance periods; the first inventory is the baseline and closes no period."""
    invs = sorted(book.inventories.get(facility_id, []), key=lambda i: i.as_of)
    moves = sorted(book.movements.get(facility_id, []), key=lambda m: m.date)
    out: list[Period] = []
    for prev, inv in itertools.pairwise(invs):
        inside = [m for m in moves if prev.as_of < m.date <= inv.as_of]
        balance = dict(prev.chips)
        for m in inside:
            balance[m.chip] = balance.get(m.chip, 0) + m.delta
        out.append(Period(facility_id, prev, inv, inside, balance))
    return out


def _rolled_forward(
    book: Book, facility_id: str, invs: list[Inventory], when: dt.date
) -> dict[str, int]:
    """The latest of ``invs`` plus the facility's movements after it, up to ``when``."""
    base = max(invs, key=lambda i: i.as_of) if invs else None
    balance = dict(base.chips) if base else {}
    start = base.as_of if base else dt.date.min
    for m in book.movements.get(facility_id, []):
        if start < m.date <= when:
            balance[m.chip] = balance.get(m.chip, 0) + m.delta
    return balance


def balance_at(book: Book, facility_id: str, when: dt.date) -> dict[str, int]:
    """Book balance on ``when``: last inventory on or before it plus later movements."""
    invs = [i for i in book.inventories.get(facility_id, []) if i.as_of <= when]
    return _rolled_forward(book, facility_id, invs, when)


@dataclass
class FacilityBalance:
    """``book`` is the balance on the accounting date; ``declared`` the last inventory;
    ``unaccounted`` the chips missing at inventories so far (book just before each one
    minus what it declared), summed per chip — the figures of the facility's findings."""

    facility: Facility
    book: dict[str, int]
    declared: dict[str, int] | None
    declared_as_of: dt.date | None
    unaccounted: dict[str, int]
    h100e: float

    def to_dict(self) -> dict[str, Any]:
        f = self.facility
        return {
            "facility_id": f.facility_id,
            "party": f.party,
            "country": f.country,
            "name": f.name,
            "site_type": f.site_type,
            "book": self.book,
            "book_total": sum(self.book.values()),
            "declared": self.declared,
            "declared_total": None if self.declared is None else sum(self.declared.values()),
            "declared_as_of": None if self.declared_as_of is None else str(self.declared_as_of),
            "unaccounted": self.unaccounted,
            "unaccounted_total": sum(self.unaccounted.values()),
            "chips": sorted(set(self.book) | set(self.declared or {}) | set(self.unaccounted)),
            "h100e": round(self.h100e, 1),
        }


def facility_balances(book: Book, on: dt.date | None = None) -> list[FacilityBalance]:
    when = on or book.today or dt.date.today()
    out = []
    for fid, facility in sorted(book.facilities.items()):
        bal = balance_at(book, fid, when)
        invs = [i for i in book.inventories.get(fid, []) if i.as_of <= when]
        last = max(invs, key=lambda i: i.as_of) if invs else None
        unaccounted: dict[str, int] = {}
        for period in periods(book, fid):
            if period.closed.as_of <= when:
                _add(unaccounted, period.difference)
        out.append(
            FacilityBalance(
                facility,
                {c: n for c, n in sorted(bal.items()) if n != 0},
                None if last is None else dict(sorted(last.chips.items())),
                None if last is None else last.as_of,
                unaccounted,
                sum(h100e(c) * n for c, n in bal.items()),
            )
        )
    return out


@dataclass
class CountryBalance:
    country: str
    facilities: int = 0
    book_total: int = 0
    declared_total: int = 0
    shipped_out: int = 0
    received_in: int = 0
    unaccounted_total: int = 0
    h100e: float = 0.0
    parties: set[str] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {
            "country": self.country,
            "facilities": self.facilities,
            "parties": sorted(self.parties),
            "book_total": self.book_total,
            "declared_total": self.declared_total,
            "shipped_out": self.shipped_out,
            "received_in": self.received_in,
            "unaccounted_total": self.unaccounted_total,
            "h100e": round(self.h100e, 1),
        }


def country_balances(book: Book, on: dt.date | None = None) -> list[CountryBalance]:
    """Shipped out of vs received into each country, declared on hand and book balance."""
    by: dict[str, CountryBalance] = {}
    for fb in facility_balances(book, on):
        cb = by.setdefault(fb.facility.country, CountryBalance(fb.facility.country))
        cb.facilities += 1
        cb.parties.add(fb.facility.party)
        cb.book_total += sum(fb.book.values())
        cb.declared_total += sum((fb.declared or {}).values())
        cb.unaccounted_total += sum(fb.unaccounted.values())
        cb.h100e += fb.h100e
    for transfer in book.transfers.values():
        side = transfer.shipment or transfer.receipt
        if side is None or side.body.from_country == side.body.to_country:
            continue
        if transfer.shipment is not None:
            origin = transfer.shipment.body.from_country
            by.setdefault(origin, CountryBalance(origin)).shipped_out += sum(
                transfer.shipment.chips().values()
            )
        if transfer.receipt is not None:
            dest = transfer.receipt.body.to_country
            by.setdefault(dest, CountryBalance(dest)).received_in += sum(
                transfer.receipt.chips().values()
            )
    return [by[c] for c in sorted(by)]


def month_ends(first: dt.date, last: dt.date) -> list[dt.date]:
    out = []
    year, month = first.year, first.month
    while True:
        nxt = dt.date(year + month // 12, month % 12 + 1, 1)
        end = nxt - dt.timedelta(days=1)
        out.append(min(end, last))
        if end >= last:
            return out
        year, month = nxt.year, nxt.month


def _all_dates(book: Book) -> list[dt.date]:
    dates = [m.date for ms in book.movements.values() for m in ms]
    dates += [i.as_of for invs in book.inventories.values() for i in invs]
    return dates


class _Totals:
    """A facility's book total on any date in O(log n): inventories and movements sorted
    once, movements summed as a prefix (what ``balance_at`` computes, without rescanning)."""

    def __init__(self, book: Book, facility_id: str) -> None:
        invs = sorted(book.inventories.get(facility_id, []), key=lambda i: i.as_of)
        self.inv_dates = [i.as_of for i in invs]
        self.inv_totals = [sum(i.chips.values()) for i in invs]
        moves = sorted(book.movements.get(facility_id, []), key=lambda m: m.date)
        self.move_dates = [m.date for m in moves]
        self.prefix = [0, *itertools.accumulate(m.delta for m in moves)]

    def _moved(self, after: dt.date | None, upto: dt.date) -> int:
        hi = self.prefix[bisect.bisect_right(self.move_dates, upto)]
        lo = 0 if after is None else self.prefix[bisect.bisect_right(self.move_dates, after)]
        return hi - lo

    def on(self, when: dt.date, inventory_that_day: bool = True) -> int:
        """Total on ``when``; without ``inventory_that_day``, what the book expected just
        before an inventory of that day reset it."""
        find = bisect.bisect_right if inventory_that_day else bisect.bisect_left
        i = find(self.inv_dates, when) - 1
        if i < 0:
            return self._moved(None, when)
        return self.inv_totals[i] + self._moved(self.inv_dates[i], when)


def country_series(book: Book) -> dict[str, list[tuple[dt.date, int]]]:
    """Book balance per country at each month end (step function sampled monthly)."""
    dates = _all_dates(book)
    if not dates:
        return {}
    samples = month_ends(min(dates), max(dates))
    totals = {fid: _Totals(book, fid) for fid in book.facilities}
    out: dict[str, list[tuple[dt.date, int]]] = defaultdict(list)
    for when in samples:
        by_country: dict[str, int] = defaultdict(int)
        for fid, facility in book.facilities.items():
            by_country[facility.country] += totals[fid].on(when)
        for country, total in by_country.items():
            out[country].append((when, total))
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class Timeline:
    """A facility's balance through time, from the same sums as its table and findings.

    ``book`` is the balance on each event date after that day's inventory (if any) reset
    it; ``declared`` the chips declared on hand at each inventory; ``expected`` what the
    book held just before each inventory after the first. Where ``expected`` and
    ``declared`` differ on a date, the difference is that inventory's unaccounted chips,
    exactly as its finding states.
    """

    book: list[tuple[dt.date, int]]
    declared: list[tuple[dt.date, int]]
    expected: list[tuple[dt.date, int]]


def facility_series(book: Book, facility_id: str) -> Timeline:
    events = sorted(
        {m.date for m in book.movements.get(facility_id, [])}
        | {i.as_of for i in book.inventories.get(facility_id, [])}
    )
    totals = _Totals(book, facility_id)
    invs = sorted(book.inventories.get(facility_id, []), key=lambda i: i.as_of)
    return Timeline(
        book=[(when, totals.on(when)) for when in events],
        declared=[(i.as_of, sum(i.chips.values())) for i in invs],
        expected=[(i.as_of, totals.on(i.as_of, inventory_that_day=False)) for i in invs[1:]],
    )


# -- findings ------------------------------------------------------------------------------


def _severity(missing: int, expected: int) -> Severity:
    if abs(missing) >= 100 or (expected and abs(missing) / expected >= 0.01):
        return Severity.HIGH
    return Severity.MEDIUM


def accountancy_findings(book: Book) -> list[NewFinding]:
    """Every balance finding the book supports now (keys make re-runs idempotent)."""
    out: list[NewFinding] = []
    for fid, facility in sorted(book.facilities.items()):
        for period in periods(book, fid):
            diff = period.difference
            if not diff:
                continue
            missing = sum(diff.values())
            expected = sum(period.book.values())
            refs = [period.opened.leaf] if period.opened else []
            refs += sorted({m.leaf for m in period.movements})
            refs.append(period.closed.leaf)
            out.append(
                NewFinding.of(
                    f"cuf:{fid}:{period.closed.as_of}",
                    tuple(refs[:MAX_REFS]),
                    subject=f"facility:{fid}",
                    verifier="registry.accountancy.balance",
                    verdict=Verdict.INCONSISTENT,
                    severity=_severity(missing, expected),
                    statistic={
                        "country": facility.country,
                        "party": facility.party,
                        "period_start": str(period.opened.as_of) if period.opened else None,
                        "period_end": str(period.closed.as_of),
                        "book": period.book,
                        "declared": period.closed.chips,
                        "unaccounted": diff,
                        "unaccounted_total": missing,
                    },
                    error_bound=0.0,
                    message=(
                        message(
                            "registry.balance.unaccounted",
                            party=facility.party,
                            declared=sum(period.closed.chips.values()),
                            facility=fid,
                            country=facility.country,
                            date=str(period.closed.as_of),
                            book=expected,
                            missing=missing,
                        )
                        if missing > 0
                        else message("registry.balance.surplus", facility=fid, surplus=-missing)
                    ),
                )
            )
    horizon = book.today or dt.date.today()
    for (tid, src, dst), transfer in sorted(book.transfers.items()):
        key = f"{tid}:{src}:{dst}"
        ship, recv = transfer.shipment, transfer.receipt
        if ship is not None and recv is not None:
            sent, got = ship.chips(), recv.chips()
            chips = sorted(set(sent) | set(got))
            diff = {c: sent.get(c, 0) - got.get(c, 0) for c in chips}
            diff = {c: d for c, d in diff.items() if d}
            if diff:
                missing = sum(diff.values())
                out.append(
                    NewFinding.of(
                        f"srd:{key}",
                        (ship.leaf, recv.leaf),
                        subject=f"transfer:{tid}",
                        verifier="registry.accountancy.transfer",
                        verdict=Verdict.INCONSISTENT,
                        severity=_severity(missing, sum(sent.values())),
                        statistic={"shipped": sent, "received": got, "difference": diff},
                        error_bound=0.0,
                        message=message(
                            "registry.transfer.difference",
                            shipper=ship.party,
                            shipped=sum(sent.values()),
                            receiver=recv.party,
                            received=sum(got.values()),
                        ),
                    )
                )
            continue
        side = ship or recv
        assert side is not None
        if (horizon - side.body.date).days <= GRACE_DAYS:
            continue
        # One side's word alone: a finding about the claimant's statement, naming only the
        # claimant, never an accusation of the party at the other end.
        ident = (
            "registry.transfer.unconfirmed_shipment"
            if side.body.role == "shipment"
            else "registry.transfer.unconfirmed_receipt"
        )
        out.append(_unconfirmed(key, tid, side.leaf, ident, side.party, side.body))
    out.extend(_undeclared_clusters(book))
    out.extend(_volume_caps(book))
    return out


@lru_cache(maxsize=4096)
def _under_clause(rule_set: str, clause: str, chip: str, destination: str, on: dt.date) -> bool:
    """Does ``clause`` of ``rule_set`` hold for one ``chip`` shipped to ``destination``?"""
    from accord.rules import ChipCount, ShipmentItem, Tri, classify

    verdict = classify(
        ShipmentItem(items=[ChipCount(chip=chip, count=1)], destination=destination, date=on)
    )
    return any(
        c.rule_set == rule_set and c.clause == clause and c.outcome is Tri.TRUE
        for c in verdict.applying()
    )


def _volume_caps(book: Book) -> list[NewFinding]:
    """Caps on aggregate flows (the H200 policy of us-bis-2026-01: shipments to China and
    Macau at most 50 % of the product's shipments to US end users), summed per product from
    declared shipments while the rule set is in force.

    The registry sees declared transfers only, so a total past the cap is ``inconclusive``:
    shipments outside the registry could make up the difference. The finding names the
    product, not a party: it is about everyone's declared shipments together.
    """
    from accord.rules import all_rule_sets

    out: list[NewFinding] = []
    for rs in all_rule_sets():
        for clause in rs.clauses:
            cap = clause.share_cap
            if cap is None:
                continue
            capped: dict[str, int] = defaultdict(int)
            base: dict[str, int] = defaultdict(int)
            refs: dict[str, list[int]] = defaultdict(list)
            for transfer in book.transfers.values():
                side = transfer.shipment
                if side is None or not rs.in_force(side.body.date):
                    continue
                rec = side.body
                for chip, count in rec.chips:
                    if rec.to_country in cap.relative_to_destinations:
                        base[chip] += count
                    elif (
                        rec.to_country in cap.capped_destinations
                        and rec.from_country not in cap.capped_destinations
                        and _under_clause(rs.id, clause.id, chip, rec.to_country, rec.date)
                    ):
                        capped[chip] += count
                        refs[chip].append(side.leaf)
            for chip, total in sorted(capped.items()):
                if total <= cap.share * base[chip]:
                    continue
                out.append(
                    NewFinding.of(
                        f"share-cap:{rs.id}:{clause.id}:{chip}:{total}:{base[chip]}",
                        tuple(sorted(refs[chip])[:MAX_REFS]),
                        subject=f"product:{chip}",
                        verifier="registry.rules.volume",
                        verdict=Verdict.INCONCLUSIVE,
                        severity=Severity.HIGH if base[chip] == 0 else Severity.MEDIUM,
                        statistic={
                            "rule_set": rs.id,
                            "clause": clause.id,
                            "capped": total,
                            "capped_destinations": cap.capped_destinations,
                            "relative_to": base[chip],
                            "relative_to_destinations": cap.relative_to_destinations,
                            "share": cap.share,
                        },
                        message=message(
                            "registry.cap.share",
                            chip=chip,
                            capped=total,
                            clause=clause.id,
                            share=round(cap.share * 100),
                            base=base[chip],
                        ),
                    )
                )
    return out


def _unconfirmed(key: str, tid: str, leaf: int, ident: str, claimant: str, body: Any) -> NewFinding:
    return NewFinding.of(
        f"unconfirmed:{key}",
        (leaf,),
        subject=f"transfer:{tid}",
        verifier="registry.accountancy.transfer",
        verdict=Verdict.INCONCLUSIVE,
        severity=Severity.MEDIUM,
        statistic={
            "role": body.role,
            "date": str(body.date),
            "grace_days": GRACE_DAYS,
            "party": claimant,
        },
        message=message(
            ident, claimant=claimant, transfer=tid, date=str(body.date), days=GRACE_DAYS
        ),
    )


def _undeclared_clusters(book: Book) -> list[NewFinding]:
    out = []
    with_cluster = {c.facility_id for c in book.clusters.values()}
    for fb in facility_balances(book):
        fid = fb.facility.facility_id
        if fid in with_cluster or fb.declared is None:
            continue
        on_hand = sum(h100e(c) * n for c, n in fb.declared.items())
        if on_hand >= CLUSTER_DECLARATION_H100E:
            invs = book.inventories[fid]
            out.append(
                NewFinding.of(
                    f"cluster-undeclared:{fid}",
                    (invs[-1].leaf,),
                    subject=f"facility:{fid}",
                    verifier="registry.rules.agreement",
                    verdict=Verdict.INCONCLUSIVE,
                    severity=Severity.MEDIUM,
                    statistic={"h100e_on_hand": round(on_hand, 1), "rule_set": AGREEMENT},
                    message=message("registry.cluster.undeclared", facility=fid, h100e=on_hand),
                )
            )
    return out


def compute_by_party(book: Book) -> list[dict[str, Any]]:
    """Training compute per party, each run against the agreement's training thresholds."""
    from accord.rules import get_rule_set

    thresholds = []
    for clause in get_rule_set(AGREEMENT).clauses:
        when = clause.when if isinstance(clause.when, dict) else {}
        if when.get("metric") == "training_compute" and "gt" in when:
            thresholds.append((clause.id, float(when["gt"])))
    parties: dict[str, dict[str, Any]] = {}
    for run in sorted(book.runs.values(), key=lambda r: r.start):
        entry = parties.setdefault(
            run.party, {"party": run.party, "runs": [], "total_flop": 0.0, "largest_flop": 0.0}
        )
        compute = run.compute or 0.0
        entry["runs"].append(
            {
                "run_id": run.run_id,
                "facility_id": run.facility_id,
                "chip": run.chip,
                "chip_count": run.chip_count,
                "start": str(run.start),
                "completed": run.completed,
                "chip_hours": run.chip_hours,
                "compute_flop": compute,
                "crosses": [cid for cid, limit in thresholds if compute > limit],
            }
        )
        entry["total_flop"] += compute
        entry["largest_flop"] = max(entry["largest_flop"], compute)
    for entry in parties.values():
        entry["thresholds"] = [{"clause": c, "flop": f} for c, f in thresholds]
        entry["crosses"] = [c for c, f in thresholds if entry["largest_flop"] > f]
    return [parties[p] for p in sorted(parties)]
