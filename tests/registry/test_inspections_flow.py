"""Inspections in one process: open, upload real evidence, run the job, record one finding.

The job function is the one ``accord worker`` runs (called here directly, so each case costs
one verifier run and no process start); hostile evidence must end in ``error`` with the
reason, never in a crash, a retry loop or a finding.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from inprocess import Harness
from inspection_helpers import (
    completion,
    record_transcript,
    sha256,
    tar_dir,
    tar_members,
    tiny_models,
    upload_headers,
)

from accord.ledger.note import Verifier
from accord.model.declaration import canonical_json, parse_leaf
from accord.registry.api import create_app
from accord.registry.service import Settings


class VarHarness(Harness):
    def settings(self) -> Settings:
        base = super().settings()
        base.var = self.var
        base.max_evidence_bytes = 4 << 20
        return base


@pytest.fixture(scope="module")
def transcript(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("tr") / "run"
    return out, record_transcript(out)


@pytest.fixture(scope="module")
def other_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tr2") / "run"
    record_transcript(out, run_id="R-other", steps=20, seed=1)
    return out


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_models(tmp_path_factory.mktemp("models"))


@pytest.fixture
def env(tmp_path: Path, transcript: tuple[Path, dict[str, Any]]) -> Iterator[dict[str, Any]]:
    h = VarHarness(tmp_path / "var")
    reg = h.start()
    token = reg.create_token("test")
    h.party("lab-a")
    h.file("lab-a", "facility", {"facility_id": "f-lab", "name": "Lab", "country": "US"})
    start = {
        k: v
        for k, v in completion(transcript[1]).items()
        if k in ("run_id", "facility_id", "chip", "chip_count")
    }
    h.file("lab-a", "training_run", {**start, "phase": "start", "date": "2026-05-01"})
    receipt = h.file("lab-a", "training_run", completion(transcript[1]))
    client = TestClient(create_app(reg))
    yield {"h": h, "reg": reg, "token": token, "client": client, "decl": receipt["leaf_index"]}
    client.close()
    reg.close()


def _open(env: dict[str, Any], verifier: str = "training", **extra: Any) -> dict[str, Any]:
    resp = env["client"].post(
        "/v1/inspections",
        json={"declaration": env["decl"], "verifier": verifier, **extra},
        headers={"authorization": f"Bearer {env['token']}"},
    )
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def _upload(env: dict[str, Any], ident: str, name: str, data: bytes, party: str = "lab-a") -> Any:
    h = env["h"]
    headers = upload_headers(h.keys[party], ident, name, data, h.clock())
    return env["client"].put(
        f"/v1/inspections/{ident}/evidence/{name}", content=data, headers=headers
    )


def _run(env: dict[str, Any], ident: str) -> dict[str, Any]:
    env["reg"].jobs()._run(ident)
    env["reg"].record_inspections()
    return dict(env["client"].get(f"/v1/inspections/{ident}").json())


def test_training_inspection_records_one_signed_finding(
    env: dict[str, Any], transcript: tuple[Path, dict[str, Any]]
) -> None:
    ins = _open(env)
    assert ins["state"] == "awaiting_evidence" and ins["evidence_needed"] == ["transcript"]
    archive = tar_dir(transcript[0])
    resp = _upload(env, ins["inspection_id"], "transcript", archive)
    assert resp.status_code == 201, resp.text
    assert resp.json()["state"] == "queued"
    assert resp.json()["evidence"][0]["sha256"] == sha256(archive)
    done = _run(env, ins["inspection_id"])
    assert done["state"] == "recorded", done
    assert done["verdict"] == "consistent"
    reg = env["reg"]
    entry = parse_leaf(reg.reader().entry(done["finding_leaf"]))
    finding = entry["finding"]
    assert entry["key"] == f"inspection:{ins['inspection_id']}"
    assert entry["refs"] == [env["decl"]]
    assert finding["evidence"]["evidence:transcript"] == sha256(archive)
    assert f"leaf:{env['decl']}" in finding["evidence"]
    stat = finding["statistic"]["inspection"]
    assert stat["beacon"] == ins["beacon"] and stat["verifier_version"]
    # the inspectorate's signature over the entry without it verifies with the log key
    sig = entry.pop("signature")
    assert sig["key"] == reg.log_key.vkey
    assert Verifier.parse(sig["key"]).verify(
        canonical_json(entry, "finding"), base64.b64decode(sig["ed25519"])
    )
    # a second recording pass (a restart, a duplicate job) writes nothing new
    size = reg.reader().size
    reg.jobs()._run(ins["inspection_id"])
    assert reg.record_inspections() == []
    assert reg.reader().size == size


def test_upload_needs_the_declaring_party_or_an_inspector(env: dict[str, Any]) -> None:
    ins = _open(env)
    ident = ins["inspection_id"]
    env["h"].party("lab-b")
    resp = _upload(env, ident, "transcript", b"x" * 10, party="lab-b")
    assert resp.status_code == 401 and resp.json()["error"]["field"] == "accord-party"
    good = upload_headers(env["h"].keys["lab-a"], ident, "transcript", b"abc", env["h"].clock())
    resp = env["client"].put(
        f"/v1/inspections/{ident}/evidence/transcript", content=b"abd", headers=good
    )
    assert resp.status_code == 401 and resp.json()["error"]["field"] == "accord-signature"
    resp = env["client"].put(
        f"/v1/inspections/{ident}/evidence/transcript",
        content=b"abc",
        headers={"authorization": "Bearer nope"},
    )
    assert resp.status_code == 403
    assert env["client"].get(f"/v1/inspections/{ident}").json()["evidence"] == []


def test_oversized_upload_is_refused_and_nothing_is_kept(env: dict[str, Any]) -> None:
    ident = _open(env)["inspection_id"]
    big = b"\0" * ((4 << 20) + 1)
    resp = _upload(env, ident, "transcript", big)
    assert resp.status_code == 413 and resp.json()["error"]["field"] == "body"
    var = env["h"].var
    assert not list((var / "evidence" / "tmp").iterdir())
    assert not (var / "evidence" / "sha256").exists()


def _hostile(transcript: Path, other: Path) -> dict[str, tuple[bytes, str]]:
    good = tar_dir(transcript)
    return {
        "truncated": (good[: len(good) // 2], "not a complete tar archive"),
        "wrong format": (b"%PDF-1.7\n" + b"x" * 2000, "not a complete tar archive"),
        "traversal": (tar_members({"../../escape.txt": b"owned"}), "outside its directory"),
        "absolute": (tar_members({"/tmp/escape.txt": b"owned"}), "outside its directory"),
        "symlink": (
            tar_members({"manifest.json": b"{}"}, symlink=("chain.jsonl", "/etc/passwd")),
            "link or device",
        ),
        "no transcript": (tar_members({"readme.txt": b"hello"}), "no manifest.json"),
        "another run": (tar_dir(other), "not of the declared run"),
    }


@pytest.mark.parametrize(
    "case",
    [
        "truncated",
        "wrong format",
        "traversal",
        "absolute",
        "symlink",
        "no transcript",
        "another run",
    ],
)
def test_hostile_evidence_ends_in_error_with_the_reason(
    env: dict[str, Any], transcript: tuple[Path, dict[str, Any]], other_run: Path, case: str
) -> None:
    data, reason = _hostile(transcript[0], other_run)[case]
    ident = _open(env)["inspection_id"]
    assert _upload(env, ident, "transcript", data).status_code == 201
    size = env["reg"].reader().size
    done = _run(env, ident)
    assert done["state"] == "error", done
    assert reason in done["error"]
    assert done["finding_leaf"] is None and env["reg"].reader().size == size
    assert not (env["h"].var / "escape.txt").exists()
    assert not list((env["h"].var / "work").iterdir())


def test_provenance_release_claimed_from_scratch_derives_from_reference(
    env: dict[str, Any], models: dict[str, Path], transcript: tuple[Path, dict[str, Any]]
) -> None:
    h = env["h"]
    parent, child = models["parent"].read_bytes(), models["derived"].read_bytes()
    h.party("lab-p", country="CN")
    h.file("lab-p", "facility", {"facility_id": "f-p", "name": "P", "country": "CN"})
    run = {"run_id": "P-1", "facility_id": "f-p", "chip": "H100-SXM", "chip_count": 8}
    h.file("lab-p", "training_run", {**run, "phase": "start", "date": "2026-04-01"})
    h.file("lab-p", "training_run", {
        **run, "phase": "completion", "date": "2026-04-20", "chip_hours": 1.0,
        "compute_flop": 1e18,
    })  # fmt: skip
    ref = h.file("lab-p", "model_release", {
        "model_name": "parent-1", "run_id": "P-1", "date": "2026-05-02", "open_weights": True,
        "training_compute_flop": 1e18, "weights_sha256": sha256(parent), "origin": "scratch",
    })["leaf_index"]  # fmt: skip
    flops = transcript[1]["declared_training_flops"]
    rel = h.file("lab-a", "model_release", {
        "model_name": "child-1", "run_id": "R-1", "date": "2026-05-31", "open_weights": True,
        "training_compute_flop": flops, "weights_sha256": sha256(child), "origin": "scratch",
    })["leaf_index"]  # fmt: skip
    env["decl"] = rel
    ident = _open(env, "provenance", reference=ref)["inspection_id"]
    assert _upload(env, ident, "weights", child).status_code == 201
    inspector = {"authorization": f"Bearer {env['token']}"}
    resp = env["client"].put(
        f"/v1/inspections/{ident}/evidence/reference", content=parent, headers=inspector
    )
    assert resp.status_code == 201 and resp.json()["state"] == "queued"
    done = _run(env, ident)
    assert done["state"] == "recorded", done
    assert done["verdict"] == "inconsistent"
    assert done["finding"]["p_value"] < 0.001
    assert "declared as trained from scratch" in done["finding"]["explanation"]
    entry = parse_leaf(env["reg"].reader().entry(done["finding_leaf"]))
    assert entry["refs"] == [rel, ref]
    assert json.dumps(entry["finding"]["evidence"]).count(sha256(child)) == 1


def test_dashboard_shows_status_and_the_inspection_in_both_languages(
    env: dict[str, Any], transcript: tuple[Path, dict[str, Any]]
) -> None:
    client = env["client"]
    page = client.get("/declarations?lang=en").text
    assert "Verification" in page and "not inspected" in page
    ident = _open(env)["inspection_id"]
    assert f'href="/inspections/{ident}"' in client.get("/declarations?lang=en").text
    archive = tar_dir(transcript[0])
    _upload(env, ident, "transcript", archive)
    _run(env, ident)
    listing = client.get("/declarations?lang=en").text
    assert f'<a href="/inspections/{ident}"><span class="ok">consistent</span></a>' in listing
    en = client.get(f"/inspections/{ident}?lang=en").text
    assert sha256(archive) in en and "<svg" in en
    assert "accord inspect reproduce" in en and "Replay distance per segment" in en
    assert f"/inspections/{ident}" in client.get(f"/declarations/{env['decl']}").text
    zh = client.get(f"/inspections/{ident}?lang=zh").text
    assert "核查器的结论" in zh and "结论: 一致" in zh
    assert "各训练段的重放距离" in zh and "已签名的英文报告" in zh
    # an inspection that ended in error shows why, in both languages
    bad = _open(env)["inspection_id"]
    _upload(env, bad, "transcript", b"not an archive at all" * 10)
    _run(env, bad)
    for lang in ("en", "zh"):
        text = client.get(f"/inspections/{bad}?lang={lang}").text
        assert "not a complete tar archive" in text and 'id="inspection-error"' in text


def _location_case(env: dict[str, Any], vkey: str) -> tuple[str, bytes]:
    from accord.registry.inspections import load_case

    h = env["h"]
    h.party("straits", country="MY", role="cloud")
    env["decl"] = h.file("straits", "facility", {
        "facility_id": "sc-jb-1", "name": "Johor Bahru", "country": "MY",
        "responder_keys": [vkey],
    })["leaf_index"]  # fmt: skip
    ident = _open(env, "location")["inspection_id"]
    return ident, load_case(env["reg"].engine, ident).beacon()


def test_location_chips_answering_from_shenzhen_contradict_the_declared_country(
    env: dict[str, Any],
) -> None:
    from inspection_helpers import location_evidence

    from accord.ledger import Signer
    from accord.ledger.note import ALG_ED25519

    responder = Signer.generate("resp.sc-jb-1", ALG_ED25519)
    ident, beacon = _location_case(env, responder.verifier.vkey)
    landmarks, records = location_evidence(beacon, responder, at=(22.543, 114.058))
    inspector = {"authorization": f"Bearer {env['token']}"}
    url = f"/v1/inspections/{ident}/evidence/landmarks"
    # the landmark list is the inspectorate's: the party may not upload it
    assert _upload(env, ident, "landmarks", landmarks, party="straits").status_code == 403
    assert env["client"].put(url, content=landmarks, headers=inspector).status_code == 201
    assert _upload(env, ident, "measurements", records, party="straits").status_code == 201
    done = _run(env, ident)
    assert done["state"] == "recorded", done
    assert done["verdict"] == "inconsistent"
    assert done["finding"]["subject"] == "facility:sc-jb-1"
    assert "cannot be in the claimed country" in done["finding"]["explanation"]
    page = env["client"].get("/inspections/" + ident + "?lang=zh").text
    assert "不一致" in page and '<img class="map"' in page and "data:image/png;base64," in page


def test_location_records_not_drawn_from_the_beacon_are_unusable(env: dict[str, Any]) -> None:
    import os

    from inspection_helpers import location_evidence

    from accord.ledger import Signer
    from accord.ledger.note import ALG_ED25519

    responder = Signer.generate("resp.sc-jb-1", ALG_ED25519)
    ident, beacon = _location_case(env, responder.verifier.vkey)
    landmarks, records = location_evidence(
        beacon, responder, at=(1.49, 103.74), nonces=lambda *_: os.urandom(32)
    )
    inspector = {"authorization": f"Bearer {env['token']}"}
    for name, data in (("landmarks", landmarks), ("measurements", records)):
        url = f"/v1/inspections/{ident}/evidence/{name}"
        assert env["client"].put(url, content=data, headers=inspector).status_code == 201
    done = _run(env, ident)
    assert done["state"] == "error" and "not drawn from this inspection's beacon" in done["error"]
    # records answered by a key the facility never declared are unusable too
    other = Signer.generate("resp.elsewhere", ALG_ED25519)
    _, records = location_evidence(beacon, other, at=(1.49, 103.74))
    url = f"/v1/inspections/{ident}/evidence/measurements"
    assert env["client"].put(url, content=records, headers=inspector).status_code == 201
    done = _run(env, ident)
    assert done["state"] == "error" and "did not declare in responder_keys" in done["error"]


def test_location_answers_from_the_declared_site_are_never_an_accusation(
    env: dict[str, Any],
) -> None:
    """Johor Bahru lies 20 km from Singapore: the bound cannot tell them apart, so the
    honest facility gets inconclusive (with the share of the region in Malaysia), not
    inconsistent."""
    from inspection_helpers import location_evidence

    from accord.ledger import Signer
    from accord.ledger.note import ALG_ED25519

    responder = Signer.generate("resp.sc-jb-1", ALG_ED25519)
    ident, beacon = _location_case(env, responder.verifier.vkey)
    landmarks, records = location_evidence(beacon, responder, at=(1.49, 103.74))
    inspector = {"authorization": f"Bearer {env['token']}"}
    for name, data in (("landmarks", landmarks), ("measurements", records)):
        url = f"/v1/inspections/{ident}/evidence/{name}"
        assert env["client"].put(url, content=data, headers=inspector).status_code == 201
    done = _run(env, ident)
    assert done["state"] == "recorded" and done["verdict"] == "inconclusive", done
    assert "may be in the claimed country" in done["finding"]["explanation"]


@pytest.mark.parametrize("declared", ["no", "by the provider only", "by the customer"])
def test_telemetry_run_split_across_linked_accounts(env: dict[str, Any], declared: str) -> None:
    """Undeclared: inconsistent, against the provider too unless its compute report lists
    the run. Declared by the customer (before the inspection opened): consistent."""
    from inspection_helpers import split_run_export

    h = env["h"]
    h.party("straits", country="MY", role="cloud")
    h.party("nimbus", country="SG")
    h.file("straits", "facility", {"facility_id": "sc-jb-1", "name": "JB", "country": "MY"})
    if declared == "by the provider only":
        h.file("straits", "compute_report", {
            "facility_id": "sc-jb-1", "period_start": "2025-06-01", "date": "2026-05-31",
            "threshold_flop": 1e26, "runs": [{
                "customer": "nimbus", "accounts": ["nimbus-a", "nimbus-b"], "chip": "H100",
                "chip_count": 16384, "start": "2025-06-01", "end": "2026-05-06",
                "compute_flop": 2e26}],
        })  # fmt: skip
    if declared == "by the customer":
        h.file("nimbus", "facility", {"facility_id": "nb-1", "name": "N", "country": "SG"})
        run = {"run_id": "T-1", "facility_id": "nb-1", "chip": "H100-SXM", "chip_count": 16384}
        h.file("nimbus", "training_run", {**run, "phase": "start", "date": "2025-06-01"})
        h.file("nimbus", "training_run", {**run, "phase": "completion", "date": "2026-05-06",
                                          "chip_hours": 1.3e8, "compute_flop": 2.0e26})  # fmt: skip
    site = env["client"].get("/v1/declarations?kind=facility&party=straits").json()["items"][0]
    env["decl"] = site["leaf_index"]
    ident = _open(env, "telemetry")["inspection_id"]
    export, kyc = split_run_export()
    assert _upload(env, ident, "export", export, party="straits").status_code == 201
    assert _upload(env, ident, "accounts", kyc, party="straits").status_code == 201
    done = _run(env, ident)
    assert done["state"] == "recorded", done
    finding = done["finding"]
    entities = finding["statistic"]["entities"]
    assert sorted(entities[0]["statistic"]["accounts"]) == ["nimbus-a", "nimbus-b"]
    # what the finding raises: the provider, unless it reported the run; the customer its
    # records name, only as a question (one party's word about another)
    raised = {
        f["subject"]: f["verdict"]
        for f in env["client"].get("/v1/findings", params={"limit": 500}).json()["items"]
        if f["verifier"] == "registry.accountancy.telemetry"
    }
    if declared == "by the customer":
        assert raised == {}
    elif declared == "by the provider only":
        assert raised == {"party:nimbus": "inconclusive"}
    else:
        assert raised == {"party:nimbus": "inconclusive", "party:straits": "inconsistent"}
    if declared == "by the customer":
        assert done["verdict"] == "consistent", finding["explanation"]
    else:
        assert done["verdict"] == "inconsistent", finding["explanation"]
        assert finding["subject"] == "facility:sc-jb-1"
        assert "organisation" in finding["explanation"]
        reported = declared == "by the provider only"
        assert entities[0]["reported_by_provider"] is reported
        assert ("concerns the provider as well" in finding["explanation"]) is not reported
        page = env["client"].get(f"/inspections/{ident}?lang=zh").text
        assert "各账户的大型训练作业" in page and "nimbus-a" in page and "<svg" in page


def test_a_result_the_log_cannot_take_ends_in_error_and_holds_up_nothing(
    env: dict[str, Any], transcript: tuple[Path, dict[str, Any]]
) -> None:
    from sqlalchemy import update

    from accord.registry import db

    good, bad = _open(env)["inspection_id"], _open(env)["inspection_id"]
    archive = tar_dir(transcript[0])
    for ident in (bad, good):
        assert _upload(env, ident, "transcript", archive).status_code == 201
    env["reg"].jobs()._run(good)
    broken = json.dumps({"finding": {"verdict": "maybe"}, "refs": [env["decl"]]})
    with env["reg"].engine.begin() as conn:
        conn.execute(
            update(db.inspections)
            .where(db.inspections.c.inspection_id == bad)
            .values(state="decided", result=broken)
        )
    recorded = env["reg"].record_inspections()
    assert [r["inspection_id"] for r in recorded] == [good]
    failed = env["client"].get(f"/v1/inspections/{bad}").json()
    assert failed["state"] == "error" and "could not be recorded" in failed["error"]
    assert env["reg"].record_inspections() == []
