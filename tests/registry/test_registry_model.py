"""Declarations: canonical bytes, signatures, strict parsing, schemas, the book's refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.errors import AccordError
from accord.model.declaration import Kind, json_schemas, parse_body, parse_signed
from accord.registry.accountancy import accountancy_findings, country_balances
from accord.registry.book import Book, Contradiction
from accord.registry.signing import make_declaration, party_key, sign, verify

ROOT = Path(__file__).resolve().parents[2]


def test_canonical_bytes_are_rfc8785_and_signature_binds_them() -> None:
    key = party_key("lab-a")
    decl = make_declaration(
        "lab-a", "facility", {"name": "é", "facility_id": "f1", "country": "US"}
    )
    raw = decl.canonical()
    assert raw.startswith(b'{"body":{"country":"US","facility_id":"f1","name":"\xc3\xa9"}')
    signed = sign(decl, key)
    assert verify(signed, key.verifier)
    tampered = signed.model_copy(
        update={"declaration": decl.model_copy(update={"nonce": "A" * 20})}
    )
    assert not verify(tampered, key.verifier)
    assert not verify(signed, party_key("lab-a").verifier)
    leaf = json.loads(signed.leaf())
    assert leaf["type"] == "accord.declaration/v1" and leaf["signature"] == signed.signature


def test_a_party_signs_only_as_itself() -> None:
    with pytest.raises(AccordError, match="declaration is by"):
        sign(make_declaration("lab-a", "facility", {}), party_key("lab-b"))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_untrusted_bytes_never_crash_the_parser(data: bytes) -> None:
    try:
        parse_signed(data)
    except AccordError as err:
        assert err.field


@settings(max_examples=100, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
        max_leaves=10,
    )
)
def test_any_json_value_as_body_is_refused_cleanly(value: object) -> None:
    for kind in Kind:
        try:
            parse_body(kind, value if isinstance(value, dict) else {"x": value})
        except AccordError as err:
            assert err.field.startswith("declaration.body")


def test_published_schemas_are_current() -> None:
    for name, schema in json_schemas().items():
        path = ROOT / "docs" / "schemas" / f"{name}.json"
        assert json.loads(path.read_text()) == schema, f"regenerate {path}"


def _book() -> Book:
    book = Book()
    seq = [
        ("a", Kind.FACILITY, {"facility_id": "fa", "name": "A", "country": "US"}),
        ("b", Kind.FACILITY, {"facility_id": "fb", "name": "B", "country": "MY"}),
        (
            "a",
            Kind.CHIP_INVENTORY,
            {"facility_id": "fa", "as_of": "2026-01-01", "chips": [{"chip": "H100", "count": 100}]},
        ),
        (
            "b",
            Kind.CHIP_INVENTORY,
            {"facility_id": "fb", "as_of": "2026-01-01", "chips": [{"chip": "H100", "count": 0}]},
        ),
        (
            "a",
            Kind.TRANSFER,
            {
                "transfer_id": "t1",
                "role": "shipment",
                "date": "2026-02-01",
                "from_facility": "fa",
                "from_country": "US",
                "to_facility": "fb",
                "to_country": "MY",
                "chips": [{"chip": "H100", "count": 40}],
            },
        ),
    ]
    for i, (party, kind, body) in enumerate(seq):
        parsed = parse_body(kind, body)
        book.check(party, kind, parsed)
        book.apply(i, party, kind, parsed)
    return book


def test_book_refuses_contradictions() -> None:
    book = _book()
    cases = [
        (
            "b",
            Kind.CHIP_INVENTORY,
            {"facility_id": "fa", "as_of": "2026-03-01", "chips": [{"chip": "H100", "count": 1}]},
            "facility_id",
        ),
        (
            "a",
            Kind.CHIP_INVENTORY,
            {"facility_id": "fa", "as_of": "2025-12-01", "chips": [{"chip": "H100", "count": 1}]},
            "as_of",
        ),
        ("b", Kind.FACILITY, {"facility_id": "fa", "name": "x", "country": "US"}, "facility_id"),
        ("a", Kind.FACILITY, {"facility_id": "fa", "name": "x", "country": "CN"}, "country"),
        (
            "a",
            Kind.TRANSFER,
            {
                "transfer_id": "t1",
                "role": "shipment",
                "date": "2026-02-01",
                "from_facility": "fa",
                "from_country": "US",
                "to_facility": "fb",
                "to_country": "MY",
                "chips": [{"chip": "H100", "count": 1}],
            },
            "transfer_id",
        ),
        (
            "a",
            Kind.TRAINING_RUN,
            {
                "run_id": "r",
                "phase": "completion",
                "date": "2026-02-01",
                "facility_id": "fa",
                "chip": "H100",
                "chip_count": 10,
                "chip_hours": 5,
                "compute_flop": 1e20,
            },
            "phase",
        ),
        (
            "a",
            Kind.MODEL_RELEASE,
            {
                "model_name": "m",
                "run_id": "nope",
                "date": "2026-02-01",
                "open_weights": True,
                "training_compute_flop": 1e20,
            },
            "run_id",
        ),
    ]
    for party, kind, body, field in cases:
        with pytest.raises(Contradiction) as info:
            book.check(party, kind, parse_body(kind, body))
        assert field in info.value.field


def test_material_balance_finds_missing_chips_and_short_receipts() -> None:
    book = _book()
    steps = [
        (
            "b",
            Kind.TRANSFER,
            {
                "transfer_id": "t1",
                "role": "receipt",
                "date": "2026-02-05",
                "from_facility": "fa",
                "from_country": "US",
                "to_facility": "fb",
                "to_country": "MY",
                "chips": [{"chip": "H100", "count": 35}],
            },
        ),
        (
            "b",
            Kind.CHIP_INVENTORY,
            {"facility_id": "fb", "as_of": "2026-04-01", "chips": [{"chip": "H100", "count": 30}]},
        ),
        (
            "a",
            Kind.CHIP_INVENTORY,
            {"facility_id": "fa", "as_of": "2026-04-01", "chips": [{"chip": "H100", "count": 60}]},
        ),
    ]
    for i, (party, kind, body) in enumerate(steps, start=10):
        parsed = parse_body(kind, body)
        book.check(party, kind, parsed)
        book.apply(i, party, kind, parsed)
    found = {f.key: f for f in accountancy_findings(book)}
    assert found["srd:t1:fa:fb"].finding.statistic["difference"] == {"H100-SXM": 5}
    assert found["cuf:fb:2026-04-01"].finding.statistic["unaccounted_total"] == 5
    assert "cuf:fa:2026-04-01" not in found  # 100 - 40 = 60: balances
    assert all(f.finding.error_bound == 0.0 for f in found.values())
    by = {c.country: c for c in country_balances(book)}
    assert (by["US"].shipped_out, by["MY"].received_in, by["MY"].declared_total) == (40, 35, 30)


_JSON_DOC = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(), c, max_size=4),
    max_leaves=20,
)


@settings(max_examples=1500, deadline=None)
@given(_JSON_DOC)
def test_fast_canonical_json_matches_the_rfc8785_reference(doc: object) -> None:
    import rfc8785

    from accord.model import jcs

    try:
        expected = rfc8785.dumps(doc)
    except rfc8785.CanonicalizationError:
        with pytest.raises(jcs.CanonicalError):
            jcs.dumps(doc)
        return
    assert jcs.dumps(doc) == expected


@pytest.mark.parametrize(
    "value", [1e20, 1e21, 1e-7, 1e-6, -0.0, 5.0, 1.5e300, 2.5e-300, 1 / 3, 123456789012345680000.0]
)
def test_numbers_are_written_as_ecmascript_does(value: float) -> None:
    import rfc8785

    from accord.model import jcs

    assert jcs.dumps(value) == rfc8785.dumps(value)


def _shipped(book: Book, leaf: int, tid: str, dst: str, country: str, n: int) -> None:
    body = parse_body(
        Kind.TRANSFER,
        {
            "transfer_id": tid,
            "role": "shipment",
            "date": "2026-03-02",
            "from_facility": "us-fab",
            "from_country": "US",
            "to_facility": dst,
            "to_country": country,
            "chips": [{"chip": "H200", "count": n}],
        },
    )
    book.check("maker", Kind.TRANSFER, body)
    book.apply(leaf, "maker", Kind.TRANSFER, body)


@pytest.mark.parametrize(("to_china", "flagged"), [(600, True), (500, False), (400, False)])
def test_h200_volume_cap_is_summed_from_declared_shipments(to_china: int, flagged: bool) -> None:
    book = Book()
    for leaf, (fid, party, country) in enumerate(
        [("us-fab", "maker", "US"), ("us-dc", "buyer-us", "US"), ("cn-dc", "buyer-cn", "CN")]
    ):
        body = parse_body(Kind.FACILITY, {"facility_id": fid, "name": fid, "country": country})
        book.apply(leaf, party, Kind.FACILITY, body)
    _shipped(book, 10, "t-us", "us-dc", "US", 1000)
    _shipped(book, 11, "t-cn", "cn-dc", "CN", to_china)
    caps = [nf for nf in accountancy_findings(book) if nf.key.startswith("share-cap:")]
    assert bool(caps) is flagged
    if flagged:
        f = caps[0].finding
        assert f.verdict.value == "inconclusive" and f.subject == "product:H200-SXM"
        assert f.statistic["capped"] == to_china and f.statistic["relative_to"] == 1000
        assert caps[0].refs == (11,)
        assert "maker" not in json.dumps(f.model_dump(mode="json"))  # about the product
