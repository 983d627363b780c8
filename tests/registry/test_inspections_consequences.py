"""Inspection findings feed the accountancy: each inconsistent verdict raises the findings
it implies elsewhere (a facility's balance, a release's controls, a provider and its
customer), exactly once, and an inconclusive or consistent one raises none."""
# ruff: noqa: F811  (the fixtures come from test_inspections_flow)

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from inspection_helpers import location_evidence, sha256
from sqlalchemy import update
from test_inspections_flow import _open, _run, _upload, env, models, transcript  # noqa: F401

from accord.ledger import Signer
from accord.ledger.note import ALG_ED25519
from accord.registry import db


def _findings(env: dict[str, Any], subject: str) -> list[dict[str, Any]]:
    resp = env["client"].get("/v1/findings", params={"subject": subject})
    assert resp.status_code == 200, resp.text
    return list(resp.json()["items"])


def _location(env: dict[str, Any], at: tuple[float, float]) -> dict[str, Any]:
    h = env["h"]
    responder = Signer.generate("resp.sc-jb-1", ALG_ED25519)
    h.party("straits", country="MY", role="cloud")
    env["decl"] = h.file("straits", "facility", {
        "facility_id": "sc-jb-1", "name": "Johor Bahru", "country": "MY",
        "responder_keys": [responder.verifier.vkey],
    })["leaf_index"]  # fmt: skip
    h.file("straits", "chip_inventory", {
        "facility_id": "sc-jb-1", "as_of": "2026-05-01", "chips": [{"chip": "B200", "count": 4000}],
    })  # fmt: skip
    from accord.registry.inspections import load_case

    ident = _open(env, "location")["inspection_id"]
    beacon = load_case(env["reg"].engine, ident).beacon()
    landmarks, records = location_evidence(beacon, responder, at=at)
    inspector = {"authorization": f"Bearer {env['token']}"}
    for name, data in (("landmarks", landmarks), ("measurements", records)):
        url = f"/v1/inspections/{ident}/evidence/{name}"
        assert env["client"].put(url, content=data, headers=inspector).status_code == 201
    return _run(env, ident)


def test_chips_answering_from_shenzhen_put_the_facility_balance_in_question(
    env: dict[str, Any],
) -> None:
    done = _location(env, at=(22.543, 114.058))
    assert done["verdict"] == "inconsistent"
    flags = [f for f in _findings(env, "facility:sc-jb-1")
             if f["verifier"] == "registry.accountancy.location"]  # fmt: skip
    assert len(flags) == 1
    flag = flags[0]
    assert flag["verdict"] == "inconsistent" and flag["severity"] == "high"
    assert flag["refs"][:2] == [done["finding_leaf"], env["decl"]]
    assert flag["statistic"]["book_total"] == 4000
    assert "4,000 chips the book holds at facility sc-jb-1 (MY)" in flag["explanation"]
    balances = env["client"].get("/v1/balances/facilities").json()
    row = next(b for b in balances if b["facility_id"] == "sc-jb-1")
    assert row["flags"] == [flag["leaf_index"]]
    page = env["client"].get("/balances?lang=zh").text
    assert f'href="/entries/{flag["leaf_index"]}"' in page and "存疑" in page
    # the finding's "rests on" link leads to the inspection, not to a missing declaration
    resp = env["client"].get(f"/entries/{done['finding_leaf']}", follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == f"/inspections/{done['inspection_id']}"


def test_an_inconclusive_location_flags_nothing(env: dict[str, Any]) -> None:
    done = _location(env, at=(1.49, 103.74))  # Johor Bahru itself: 20 km from Singapore
    assert done["verdict"] == "inconclusive"
    assert not [f for f in _findings(env, "facility:sc-jb-1")
                if f["verifier"] == "registry.accountancy.location"]  # fmt: skip
    balances = env["client"].get("/v1/balances/facilities").json()
    assert next(b for b in balances if b["facility_id"] == "sc-jb-1")["flags"] == []


def test_a_recording_pass_after_a_crash_files_nothing_twice(env: dict[str, Any]) -> None:
    """The crash this stands for: the findings were appended, the row not yet marked."""
    done = _location(env, at=(22.543, 114.058))
    reg = env["reg"]
    size = reg.reader().size
    with reg.engine.begin() as conn:
        conn.execute(
            update(db.inspections)
            .where(db.inspections.c.inspection_id == done["inspection_id"])
            .values(state="decided")
        )
    again = reg.record_inspections()
    assert again == [
        {"inspection_id": done["inspection_id"], "leaf_index": done["finding_leaf"],
         "consequences": []}
    ]  # fmt: skip
    assert reg.reader().size == size


@pytest.mark.parametrize("parent_flop", [3e26, 1e18])
def test_a_release_derived_from_a_covered_model_is_flagged_under_its_rule_sets(
    env: dict[str, Any],
    models: dict[str, Path],
    transcript: tuple[Path, dict[str, Any]],
    parent_flop: float,
) -> None:
    h = env["h"]
    parent, child = models["parent"].read_bytes(), models["derived"].read_bytes()
    h.party("lab-p", country="US")
    h.file("lab-p", "facility", {"facility_id": "f-p", "name": "P", "country": "US"})
    run = {"run_id": "P-1", "facility_id": "f-p", "chip": "H100-SXM", "chip_count": 16384}
    h.file("lab-p", "training_run", {**run, "phase": "start", "date": "2026-01-10"})
    h.file("lab-p", "training_run", {
        **run, "phase": "completion", "date": "2026-04-20", "chip_hours": 1.3e8,
        "compute_flop": parent_flop,
    })  # fmt: skip
    ref = h.file("lab-p", "model_release", {
        "model_name": "parent-1", "run_id": "P-1", "date": "2026-05-02", "open_weights": False,
        "training_compute_flop": parent_flop, "weights_sha256": sha256(parent),
        "origin": "scratch",
    })["leaf_index"]  # fmt: skip
    rel = h.file("lab-a", "model_release", {
        "model_name": "child-1", "run_id": "R-1", "date": "2026-05-31", "open_weights": True,
        "training_compute_flop": transcript[1]["declared_training_flops"],
        "weights_sha256": sha256(child), "origin": "scratch",
    })["leaf_index"]  # fmt: skip
    env["decl"] = rel
    ident = _open(env, "provenance", reference=ref)["inspection_id"]
    assert _upload(env, ident, "weights", child).status_code == 201
    inspector = {"authorization": f"Bearer {env['token']}"}
    url = f"/v1/inspections/{ident}/evidence/reference"
    assert env["client"].put(url, content=parent, headers=inspector).status_code == 201
    done = _run(env, ident)
    assert done["verdict"] == "inconsistent"
    flags = [f for f in _findings(env, "model:lab-a:child-1")
             if f["verifier"] == "registry.rules.provenance"]  # fmt: skip
    if parent_flop < 1e25:  # the parent is covered by no clause: nothing to inherit
        assert flags == []
        return
    assert len(flags) == 1
    stat = flags[0]["statistic"]
    assert flags[0]["refs"] == [done["finding_leaf"], rel, ref]
    assert {"ca-sb53-2025", "eu-ai-act-2024", "agreement-illustrative-v1"} <= set(stat["rule_sets"])
    # indicative guidance is not a control
    assert "eu-gpai-guidelines-2025" not in stat["rule_sets"]
    assert stat["declared_origin"] == "trained from scratch"
    assert "derives from parent-1" in flags[0]["explanation"]


def test_the_inspectorate_opens_an_inspection_from_the_declaration_page(
    env: dict[str, Any],
) -> None:
    client, decl = env["client"], env["decl"]
    page = client.get(f"/declarations/{decl}?lang=zh").text
    assert 'id="open-inspection"' in page and "核查员令牌" in page
    url = f"/declarations/{decl}/inspections"
    # no token, a wrong one, or a verifier that does not check this kind: said on the page
    for form, status, said in (
        ({"verifier": "training"}, 403, "inspector token"),
        ({"verifier": "training", "token": "nope"}, 403, "inspector token"),
        ({"verifier": "location", "token": env["token"]}, 422, "checks a facility"),
        ({"verifier": "training", "token": env["token"], "reference": "x"}, 422, "leaf index"),
    ):
        resp = client.post(url, data=form, follow_redirects=False)
        assert resp.status_code == status and said in resp.text, (form, resp.text[-400:])
    assert client.get(f"/v1/inspections?declaration={decl}").json()["items"] == []
    resp = client.post(
        url, data={"verifier": "training", "token": env["token"]}, follow_redirects=False
    )
    assert resp.status_code == 303
    ident = resp.headers["location"].removeprefix("/inspections/")
    opened = client.get(f"/v1/inspections/{ident}").json()
    assert opened["declaration"] == decl and opened["state"] == "awaiting_evidence"


def test_a_customer_name_that_is_no_party_id_names_nobody() -> None:
    """The provider's customer records are its own text: a name that cannot be a party id
    (spaces, control characters, 300 characters) is kept as written and accuses nobody."""
    from accord.model.finding import Finding, Severity, Verdict
    from accord.registry.book import Book
    from accord.registry.consequences import consequences
    from accord.registry.verifiers import Case

    odd = ["Dragon AI Ltd.", "x\x00y", "a" * 300]
    stat = {"accounts": ["a1", "a2"], "flop_lo": 2e25, "flop_hi": 3e25}
    entity = {"verdict": "inconsistent", "subject": "entity:e", "reported_by_provider": False,
              "customers": [*odd, "dragon-ai"], "statistic": stat}  # fmt: skip
    finding = Finding(subject="facility:f", verifier="verify.telemetry",
                      verdict=Verdict.INCONSISTENT, severity=Severity.HIGH,
                      statistic={"entities": [entity]})  # fmt: skip
    case = Case("ins-00000000000000ab", "telemetry", 3, "cloud-a",
                {"facility_id": "f", "country": "MY"}, None, None, 4, "00" * 32, {})  # fmt: skip
    found = consequences(Book(), case, finding, 9)
    assert sorted(f.finding.subject for f in found) == ["party:cloud-a", "party:dragon-ai"]
    provider = next(f for f in found if f.finding.subject == "party:cloud-a")
    assert provider.finding.statistic["runs"][0]["unnamed_customers"] == [
        "Dragon AI Ltd.", "x\x00y", "a" * 64,
    ]  # fmt: skip
    # an inconclusive or consistent inspection raises nothing at all
    for verdict in (Verdict.INCONCLUSIVE, Verdict.CONSISTENT):
        assert consequences(Book(), case, finding.model_copy(update={"verdict": verdict}), 9) == []


def test_a_registry_without_evidence_storage_opens_no_inspection(tmp_path: Path) -> None:
    """With no var directory nothing could ever be uploaded or decided: the API and the
    dashboard form both refuse to open one, and nothing is written."""
    from fastapi.testclient import TestClient
    from inprocess import Harness

    from accord.registry.api import create_app

    h = Harness(tmp_path / "plain")  # Settings.var stays None
    reg = h.start()
    try:
        token = reg.create_token("test")
        h.party("lab-a")
        decl = h.file("lab-a", "facility", {"facility_id": "f", "name": "F", "country": "US"})
        client = TestClient(create_app(reg))
        resp = client.post(
            "/v1/inspections",
            json={"declaration": decl["leaf_index"], "verifier": "telemetry"},
            headers={"authorization": f"Bearer {token}"},
        )
        assert resp.status_code == 503 and "no var directory" in resp.text
        page = client.post(
            f"/declarations/{decl['leaf_index']}/inspections",
            data={"verifier": "telemetry", "token": token},
            follow_redirects=False,
        )
        assert page.status_code == 422 and "no var directory" in page.text
        assert client.get("/v1/inspections").json()["items"] == []
    finally:
        reg.close()
