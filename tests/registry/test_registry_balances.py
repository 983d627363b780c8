"""The books agree with themselves: table, chart, country series and findings are one sum.

Checked on the demonstration year and on random histories of inventories and transfers.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from accord.errors import AccordError
from accord.model.declaration import Kind, parse_body
from accord.registry.accountancy import (
    accountancy_findings,
    country_series,
    facility_balances,
    facility_series,
)
from accord.registry.book import Book


def assert_books_agree(book: Book, today: dt.date) -> None:
    book.today = today
    findings = {nf.key: nf.finding for nf in accountancy_findings(book)}
    by_country: dict[str, int] = {}
    for fb in facility_balances(book):
        fid = fb.facility.facility_id
        timeline = facility_series(book, fid)
        # The table's book balance is the chart's line on the accounting date.
        upto = [n for d, n in timeline.book if d <= today]
        assert sum(fb.book.values()) == (upto[-1] if upto else 0), fid
        # The table's declared column is the chart's last declared marker.
        if fb.declared is not None:
            assert (fb.declared_as_of, sum(fb.declared.values())) == timeline.declared[-1]
        # Every inventory after the first: chart gap == that inventory's finding.
        for (when, expected), (when2, declared) in zip(
            timeline.expected, timeline.declared[1:], strict=True
        ):
            assert when == when2
            found = findings.get(f"cuf:{fid}:{when}")
            stated = found.statistic["unaccounted_total"] if found else 0
            assert expected - declared == stated, (fid, when)
            if found:
                assert found.statistic["unaccounted_total"] == sum(
                    found.statistic["unaccounted"].values()
                )
        # The table's unaccounted column adds up the facility's findings.
        cuf = sum(
            f.statistic["unaccounted_total"]
            for k, f in findings.items()
            if k.startswith(f"cuf:{fid}:")
        )
        assert sum(fb.unaccounted.values()) == cuf, fid
        country = fb.facility.country
        by_country[country] = by_country.get(country, 0) + sum(fb.book.values())
    # The country chart's last point is the sum of the facility tables.
    for country, points in country_series(book).items():
        assert points[-1][1] == by_country.get(country, 0), country


def test_the_demo_year_agrees_with_itself(tmp_path: Path) -> None:
    from accord.registry.demo import build

    built = build(tmp_path / "demo", seeded=True)
    try:
        book = built.registry.book
        last = max(
            [m.date for ms in book.movements.values() for m in ms]
            + [i.as_of for invs in book.inventories.values() for i in invs]
        )
        assert_books_agree(book, last)
        fb = next(f for f in facility_balances(book) if f.facility.facility_id == "sc-jb-1")
        assert sum(fb.unaccounted.values()) == 800
    finally:
        built.registry.close()


FACILITIES = {"fa": ("pa", "US"), "fb": ("pb", "MY"), "fc": ("pb", "MY")}
DAY = st.integers(0, 300).map(lambda n: dt.date(2026, 1, 1) + dt.timedelta(days=n))


def _event() -> st.SearchStrategy[tuple[str, Kind, dict[str, object]]]:
    fac = st.sampled_from(sorted(FACILITIES))
    chips = st.dictionaries(st.sampled_from(["H100", "B200"]), st.integers(0, 500), min_size=1)
    inventory = st.builds(
        lambda f, d, c: (
            FACILITIES[f][0],
            Kind.CHIP_INVENTORY,
            {
                "facility_id": f,
                "as_of": d.isoformat(),
                "chips": [{"chip": k, "count": n} for k, n in c.items()],
            },
        ),
        fac,
        DAY,
        chips,
    )
    transfer = st.builds(
        lambda src, dst, d, n, role, tid: (
            FACILITIES[src if role == "shipment" else dst][0],
            Kind.TRANSFER,
            {
                "transfer_id": f"t{tid}",
                "role": role,
                "date": d.isoformat(),
                "from_facility": src,
                "from_country": FACILITIES[src][1],
                "to_facility": dst,
                "to_country": FACILITIES[dst][1],
                "chips": [{"chip": "H100", "count": n}],
            },
        ),
        fac,
        fac,
        DAY,
        st.integers(1, 200),
        st.sampled_from(["shipment", "receipt"]),
        st.integers(0, 5),
    )
    return st.one_of(inventory, transfer)


@settings(max_examples=150, deadline=None)
@given(st.lists(_event(), max_size=40), DAY)
def test_random_histories_agree_with_themselves(
    events: list[tuple[str, Kind, dict[str, object]]], today: dt.date
) -> None:
    book = Book()
    leaf = 0
    for fid, (party, country) in FACILITIES.items():
        body = parse_body(Kind.FACILITY, {"facility_id": fid, "name": fid, "country": country})
        book.apply(leaf, party, Kind.FACILITY, body)
        leaf += 1
    for party, kind, raw in events:
        try:
            body = parse_body(kind, raw)
            book.check(party, kind, body)
        except AccordError:
            continue
        book.apply(leaf, party, kind, body)
        leaf += 1
    dates = [m.date for ms in book.movements.values() for m in ms]
    dates += [i.as_of for invs in book.inventories.values() for i in invs]
    assert_books_agree(book, max([today, *dates]))
