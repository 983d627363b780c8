"""Findings in the reader's language: message ids and values beside the signed English.

The English explanation is what is signed into the log, so it must come out exactly as the
f-strings that wrote it before messages existed; old entries without a message must load,
re-encode to the same bytes and still show; the dashboard shows the demo year's findings
in Chinese on the Chinese pages and the signed English on the English ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Server, start_server, stop_server
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import escape
from pydantic import ValidationError

from accord.model.declaration import FINDING_TYPE, canonical_json
from accord.model.finding import Finding, Message, Severity, Verdict
from accord.registry.findings import NewFinding
from accord.registry.i18n import finding_text
from accord.registry.messages import MESSAGES, english, message

counts = st.integers(min_value=1, max_value=10**12)
names = st.text(min_size=1, max_size=30)
days = st.dates().map(str)


# -- the signed English is unchanged ---------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    party=names,
    fid=names,
    country=st.sampled_from(["MY", "US", "CN", "DE"]),
    as_of=days,
    declared=counts,
    expected=counts,
    missing=counts,
    other=names,
    shipped=counts,
    received=counts,
    on_hand=st.floats(min_value=0, max_value=1e9, allow_nan=False),
    headline=names,
    clause=names,
)
def test_english_is_the_sentence_the_f_strings_wrote(
    party: str,
    fid: str,
    country: str,
    as_of: str,
    declared: int,
    expected: int,
    missing: int,
    other: str,
    shipped: int,
    received: int,
    on_hand: float,
    headline: str,
    clause: str,
) -> None:
    """Each pair: the expression the registry used before messages, and the message now."""
    pairs = [
        (
            f"{party} declared {declared:,} chips on hand at {fid} ({country}) on {as_of}, but "
            f"its own inventory, receipts and shipments give {expected:,}: {missing:,} chips "
            "unaccounted for.",
            message(
                "registry.balance.unaccounted",
                party=party,
                declared=declared,
                facility=fid,
                country=country,
                date=as_of,
                book=expected,
                missing=missing,
            ),
        ),
        (
            f"{fid} declared {missing:,} more chips on hand than its book balance: an "
            "undeclared receipt.",
            message("registry.balance.surplus", facility=fid, surplus=missing),
        ),
        (
            f"{party} shipped {shipped:,} chips; {other} declared receiving {received:,}.",
            message(
                "registry.transfer.difference",
                shipper=party,
                shipped=shipped,
                receiver=other,
                received=received,
            ),
        ),
        (
            f"Transfer {fid} of {as_of}: {other} never declared receiving it within 45 days.",
            message("registry.transfer.unreceived", transfer=fid, date=as_of, party=other, days=45),
        ),
        (
            f"Transfer {fid} of {as_of}: {other} never declared shipping it within 45 days.",
            message("registry.transfer.unshipped", transfer=fid, date=as_of, party=other, days=45),
        ),
        (
            f"{missing:,} {fid} were declared shipped to China and Macau under {clause}, more "
            f"than 50 % of the {expected:,} declared shipped to US end users: the cap is "
            "exceeded unless shipments outside the registry make up the difference.",
            message(
                "registry.cap.share",
                chip=fid,
                capped=missing,
                clause=clause,
                share=50,
                base=expected,
            ),
        ),
        (
            f"{party} declared shipping transfer {fid} on {as_of}; no receipt of it has been "
            "declared within 45 days.",
            message(
                "registry.transfer.unconfirmed_shipment",
                claimant=party,
                transfer=fid,
                date=as_of,
                days=45,
            ),
        ),
        (
            f"{party} declared receiving transfer {fid} on {as_of}; no shipment of it has been "
            "declared within 45 days.",
            message(
                "registry.transfer.unconfirmed_receipt",
                claimant=party,
                transfer=fid,
                date=as_of,
                days=45,
            ),
        ),
        (
            f"{fid} holds {on_hand:,.0f} H100-equivalents but no cluster is declared there "
            "(A-1 applies if they are operated as one).",
            message("registry.cluster.undeclared", facility=fid, h100e=on_hand),
        ),
        (
            f"the rules could not classify this {fid}: {headline}",
            message("registry.rules.unclassified", item=fid, problem=headline),
        ),
        (
            f"{headline}; licence {fid} declared.",
            message("registry.transfer.licensed", headline=headline, licence=fid),
        ),
        (
            f"{headline}; no licence reference was declared. A licence may exist outside the "
            "registry: ask the shipper for it.",
            message("registry.transfer.unlicensed", headline=headline),
        ),
        (headline, message("registry.transfer.undetermined", headline=headline)),
        (
            f"Declared as required. {headline}",
            message("registry.cluster.declared", headline=headline),
        ),
        (
            f"{party}'s own declared compute crosses {clause}: prohibited without prior "
            "inspection.",
            message("registry.cap.prohibited", party=party, clause=clause),
        ),
        (
            f"{party}'s own declared compute crosses {clause}: a declarable run, and it is "
            "declared.",
            message("registry.cap.declared", party=party, clause=clause),
        ),
        (headline, message("registry.release.checked", headline=headline)),
        (
            headline + "; no inspection reference for a model past the cap.",
            message("registry.release.uninspected", headline=headline),
        ),
        (
            "Declared compute exceeds what the declared chips can do at 100 % of peak for the "
            "declared chip-hours: the chips, hours or compute are misdeclared.",
            message("registry.compute.ceiling"),
        ),
        (
            "Declared compute is below the hardware estimate at 30 % utilisation: possible "
            "under-reporting, or a badly run job.",
            message("registry.compute.low"),
        ),
        (
            "Declared compute is outside 6·N·D (widened x1.5) for the declared parameters and "
            "tokens.",
            message("registry.compute.architecture"),
        ),
        (
            f"The {declared:,} chips the book holds at facility {fid} ({country}) are in "
            f"question: a location inspection (log entry {other}) found the facility's declared "
            f"responders answering from outside {country}.",
            message(
                "registry.inspection.location_balance",
                count=declared,
                facility=fid,
                country=country,
                leaf=other,
            ),
        ),
        (
            f"Model {fid} by {party}, declared {headline}, derives from {other} (log entry "
            f"{as_of}); the release is flagged under the clauses that cover {other}: {clause}.",
            message(
                "registry.inspection.derived_controls",
                model=fid,
                party=party,
                claim=headline,
                parent=other,
                leaf=as_of,
                clauses=clause,
            ),
        ),
        (
            f"{party}'s customer records attribute {shipped:,} account(s) at facility {fid} to "
            f"{other}; together they ran at least {clause} FLOP with no matching training-run "
            f"declaration (log entry {as_of}). The attribution is the provider's: {other} is "
            "asked to answer it.",
            message(
                "registry.inspection.undeclared_run",
                provider=party,
                accounts=shipped,
                facility=fid,
                customer=other,
                flop=clause,
                leaf=as_of,
            ),
        ),
        (
            f"{party}'s own telemetry of facility {fid} shows {received:,} customer run(s) with "
            f"no matching training-run declaration, the largest of at least {clause} FLOP, and "
            f"its compute reports do not list them (log entry {as_of}).",
            message(
                "registry.inspection.unreported_run",
                provider=party,
                facility=fid,
                runs=received,
                flop=clause,
                leaf=as_of,
            ),
        ),
        (
            f"{party} reported incident '{fid}' at {as_of}, after the {shipped:,}-hour deadline "
            f"{other} of {clause}.",
            message(
                "registry.incident.late",
                party=party,
                incident=fid,
                reported=as_of,
                hours=shipped,
                due=other,
                citation=clause,
            ),
        ),
        (
            f"{party} declared incident '{fid}' detected at {as_of}; the {shipped:,}-hour "
            f"deadline of {clause} passed at {other} and no report under it has been declared.",
            message(
                "registry.incident.overdue",
                party=party,
                incident=fid,
                detected=as_of,
                hours=shipped,
                citation=clause,
                due=other,
            ),
        ),
    ]
    assert {m.id for _, m in pairs} == set(MESSAGES)
    for before, msg in pairs:
        assert english(msg) == before


def test_message_takes_exactly_its_values_of_the_right_kind() -> None:
    ok = message("registry.balance.surplus", facility="f-1", surplus=3)
    assert ok.params == {"facility": "f-1", "surplus": 3}
    for bad in (
        {"facility": "f-1"},
        {"facility": "f-1", "surplus": 3, "extra": 1},
        {"facility": "f-1", "surplus": "3"},
        {"facility": "f-1", "surplus": True},
    ):
        with pytest.raises(ValueError, match=r"registry\.balance\.surplus"):
            message("registry.balance.surplus", **bad)
    with pytest.raises(ValueError, match="date"):
        message("registry.transfer.unreceived", transfer="T", date="30/9", party="p", days=45)
    with pytest.raises(ValidationError):
        Message(id="Not An Id", params={})


# -- old records --------------------------------------------------------------------------


def _old_leaf() -> bytes:
    """A finding entry as the registry wrote it before findings carried a message."""
    return canonical_json(
        {
            "type": FINDING_TYPE,
            "key": "srd:T-1",
            "refs": [3, 4],
            "finding": {
                "subject": "transfer:T-1",
                "verifier": "registry.accountancy.transfer",
                "verdict": "inconsistent",
                "severity": "high",
                "statistic": {"difference": {"B200": 10}},
                "p_value": None,
                "error_bound": 0.0,
                "evidence": {"leaf:3": "ab" * 32},
                "explanation": "a shipped 60 chips; b declared receiving 50.",
            },
        },
        "finding",
    )


def test_old_finding_entries_load_and_re_encode_byte_for_byte() -> None:
    leaf = _old_leaf()
    data = json.loads(leaf)
    finding = Finding.model_validate(data["finding"])
    assert finding.message is None
    assert NewFinding(data["key"], finding, tuple(data["refs"])).leaf() == leaf
    assert "message" not in finding.model_dump(mode="json")
    fresh = NewFinding.of(
        "surplus:f-1",
        (1,),
        subject="facility:f-1",
        verifier="registry.accountancy.balance",
        verdict=Verdict.INCONSISTENT,
        severity=Severity.MEDIUM,
        message=message("registry.balance.surplus", facility="f-1", surplus=2),
    )
    doc = json.loads(fresh.leaf())["finding"]
    assert doc["message"] == {
        "id": "registry.balance.surplus",
        "params": {"facility": "f-1", "surplus": 2},
    }
    assert doc["explanation"] == english(fresh.finding.message)  # type: ignore[arg-type]
    assert Finding.model_validate(doc) == fresh.finding


def test_findings_that_cannot_be_translated_show_the_signed_english() -> None:
    old = json.loads(_old_leaf())["finding"]
    signed = old["explanation"]
    values: dict[str, Any] = {"shipper": "a", "shipped": 60, "receiver": "b", "received": 50}
    good = {"id": "registry.transfer.difference", "params": values}
    assert finding_text(old, "zh") == signed
    assert finding_text({**old, "message": good}, "en") == signed
    translated = finding_text({**old, "message": good}, "zh")
    assert translated != signed and "发运" in translated and "60" in translated
    for broken in (
        {"id": "registry.not.known", "params": {}},
        {"id": "registry.transfer.difference", "params": {"shipper": "a"}},
        {"id": "registry.transfer.difference", "params": {**values, "shipped": "60"}},
        {"id": 7},
        "registry.transfer.difference",
        None,
    ):
        assert finding_text({**old, "message": broken}, "zh") == signed


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    ident=st.sampled_from(sorted(MESSAGES)) | st.text(max_size=30),
    params=st.dictionaries(
        st.sampled_from(sorted({p for s in MESSAGES.values() for p in s.params})) | st.text(),
        json_values,
    ),
)
def test_any_stored_message_renders_without_error(ident: str, params: dict[str, Any]) -> None:
    """Log entries are untrusted input to the renderer: it shows something, never raises."""
    finding = {"explanation": "signed", "message": {"id": ident, "params": params}}
    for lang in ("en", "zh"):
        assert isinstance(finding_text(finding, lang), str)


def test_findings_table_renders_old_and_new_findings_in_chinese() -> None:
    from accord.registry.web import _ENV

    old = {"leaf_index": 9, "refs": [3], **json.loads(_old_leaf())["finding"]}
    new = {
        **old,
        "leaf_index": 10,
        "message": message("registry.balance.surplus", facility="f-1", surplus=1200).model_dump(),
    }
    html = _ENV.get_template("_findings_table.html").render(
        _=lambda s: s, page={"items": [old, new]}, explain=lambda f: finding_text(f, "zh")
    )
    assert old["explanation"] in html
    assert "f-1 申报的现存芯片比账面余额多 1,200 颗" in html


# -- the demo year on a real server -------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(tmp_path_factory.mktemp("reg-demo-i18n"), None, "--demo")
    yield srv
    stop_server(srv)


def _by_key(server: Server) -> dict[str, dict[str, Any]]:
    with server.client() as c:
        items = c.get("/v1/findings", params={"limit": 200}).json()["items"]
    return {f["key"]: f for f in items}


def test_demo_findings_carry_their_message(demo: Server) -> None:
    found = _by_key(demo)
    assert found, "the demo year has findings"
    for f in found.values():
        if f["key"].count(":") == 1 and f["key"].startswith("inspection:"):
            continue  # a verifier's own signed report: English, its verdict shown translated
        assert f["message"]["id"] in MESSAGES, f["key"]
        assert english(Message.model_validate(f["message"])) == f["explanation"]
    cuf = found["cuf:sc-jb-1:2026-09-30"]["message"]
    assert cuf["id"] == "registry.balance.unaccounted"
    assert cuf["params"]["missing"] == 800 and cuf["params"]["country"] == "MY"


def test_demo_findings_page_in_chinese_and_in_english(demo: Server) -> None:
    found = _by_key(demo)
    cuf = found["cuf:sc-jb-1:2026-09-30"]
    licence = next(v for k, v in found.items() if k.startswith("license:T-2026-004:"))
    with demo.client() as c:
        zh = c.get("/findings", params={"lang": "zh"}).text
    with demo.client() as c:
        en = c.get("/findings", params={"lang": "en"}).text
    # the missing B200s of the demo year, in Chinese with CLDR dates and country names
    assert "straits-cloud 申报 2026年9月30日 在位于马来西亚 (MY)的设施 sc-jb-1" in zh
    assert "账面余额为 5,000 颗：不明芯片 800 颗。" in zh
    assert "需要出口许可证，但未申报许可证编号。" in zh
    assert str(escape(cuf["explanation"])) not in zh
    # the rule's headline stays English, as a value inside the Chinese sentence
    assert str(escape(licence["message"]["params"]["headline"])) in zh
    for f in found.values():
        assert str(escape(f["explanation"])) in en
    assert "不明芯片" not in en


def test_demo_overview_and_facility_pages_in_chinese(demo: Server) -> None:
    with demo.client() as c:
        home = c.get("/", params={"lang": "zh"}).text
        facility = c.get("/balances/sc-jb-1").text  # the cookie keeps Chinese
        home_en = c.get("/", params={"lang": "en"}).text
    assert "不明芯片 800 颗" in home and "不明芯片 800 颗" in facility
    assert "800 chips unaccounted for" in home_en and "不明芯片" not in home_en
