"""The registry over HTTP against hostile input: real server processes, SQLite and PostgreSQL.

Every case here once gave a 5xx, a hang, unbounded memory or a registry that would not
start again.
"""

from __future__ import annotations

import base64
import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Server, start_server, stop_server
from registry_helpers import facility, register, signed

from accord.ledger import Signer
from accord.ledger.checkpoint import Checkpoint
from accord.ledger.note import ALG_ED25519


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def _chunks(total: int, size: int = 1 << 16) -> Iterator[bytes]:
    sent = 0
    block = b"[" * size
    while sent < total:
        yield block
        sent += size


@pytest.mark.parametrize("path", ["/v1/log/verify", "/v1/log/cosignatures", "/v1/parties"])
def test_chunked_uploads_are_capped_while_streaming(server: Server, path: str) -> None:
    before = _rss_kib(server.proc.pid)
    with server.client() as c:
        try:
            resp = c.post(
                path,
                content=_chunks(64 << 20),  # 64 MiB, no Content-Length
                headers={"content-type": "application/json"},
            )
            status = resp.status_code
        except httpx.HTTPError:  # the server may close the connection mid-upload
            status = 413
        assert status == 413
        assert c.get("/healthz").status_code == 200
    assert _rss_kib(server.proc.pid) - before < 32 * 1024  # far less than what was sent


@pytest.mark.parametrize(
    "raw",
    [
        b'{"declaration": {"party": "x"}, "signature": ' + b"9" * 5000 + b"}",
        b"[" * 300 + b"]" * 300,
        b"[" * 985 + b"]" * 985,
        b'{"a":' * 300 + b"1" + b"}" * 300,
    ],
)
@pytest.mark.parametrize("path", ["/v1/declarations", "/v1/log/verify", "/v1/log/cosignatures"])
def test_anonymous_malformed_bodies_get_4xx(server: Server, path: str, raw: bytes) -> None:
    with server.client() as c:
        resp = c.post(path, content=raw, headers={"content-type": "application/json"})
        assert 400 <= resp.status_code < 500, resp.text
        assert resp.json()["error"]["field"]
        assert c.get("/healthz").json()["ok"] is True


def test_huge_path_numbers_and_methods(server: Server) -> None:
    with server.client() as c:
        for path in ("/declarations/99999999999999999999", "/v1/declarations/99999999999999999999"):
            resp = c.get(path)
            assert 400 <= resp.status_code < 500, (path, resp.status_code)
        resp = c.delete("/v1/declarations")
        assert resp.status_code == 405 and "POST" in resp.headers.get("allow", "")


def test_nul_in_text_is_refused_on_every_database(server: Server) -> None:
    with server.client() as c:
        key = register(c, server.token, "lab-nul")
        for body in (
            {**facility("nul-1"), "name": "x\x00y"},
            {**facility("nul-2"), "operator": "\x00"},
        ):
            resp = c.post("/v1/declarations", json=signed(key, "facility", body))
            assert resp.status_code == 422, resp.text
            assert resp.json()["error"]["field"].startswith("declaration.body.")
        size = c.get("/healthz").json()["log_size"]
        party = {
            "party_id": "evil-corp",
            "name": "Evil\x00Corp",
            "role": "lab",
            "country": "US",
            "vkey": Signer.generate("evil-corp", ALG_ED25519).verifier.vkey,
        }
        resp = c.post(
            "/v1/parties", json=party, headers={"authorization": f"Bearer {server.token}"}
        )
        assert resp.status_code == 422 and resp.json()["error"]["field"].endswith("name")
        assert c.get("/healthz").json()["log_size"] == size
        listed = {p["party_id"]: p for p in c.get("/v1/parties").json()}
        assert listed["lab-nul"]["leaf_index"] is not None


def test_non_canonical_signature_encodings_are_refused(server: Server) -> None:
    with server.client() as c:
        key = register(c, server.token, "lab-b64")
        doc = signed(key, "facility", facility("b64-1"))
        sig = doc["signature"]
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        last = alphabet.index(sig[-3])  # 64 bytes: 86 characters, then "=="
        spare_bits = alphabet[last ^ 1] + "=="  # the 4 unused low bits of that character
        same_bytes = sig[:-3] + spare_bits
        assert base64.b64decode(same_bytes) == base64.b64decode(sig)
        for variant in (same_bytes, sig.rstrip("="), " " + sig):
            resp = c.post("/v1/declarations", json={**doc, "signature": variant})
            assert resp.status_code in (401, 422), resp.text
        assert c.post("/v1/declarations", json=doc).status_code == 201


def test_log_verify_vouches_only_for_its_own_log(server: Server) -> None:
    with server.client() as c:
        key = register(c, server.token, "lab-forge")
        receipt = c.post("/v1/declarations", json=signed(key, "facility", facility("fg-1"))).json()
        own = {k: receipt[k] for k in ("leaf", "leaf_index", "inclusion_proof", "checkpoint")}
        assert c.post("/v1/log/verify", json=own).json()["valid"] is True
        # A forger signs a one-entry tree holding its own leaf with its own key, and names it.
        forger = Signer.generate(c.get("/v1/log/key").text.split("+")[0], ALG_ED25519)
        leaf = b'{"type":"accord.declaration/v1","forged":true}'
        from accord.ledger import leaf_hash

        note = Checkpoint(forger.name, 1, leaf_hash(leaf)).sign([forger])
        forged = {
            "leaf": base64.b64encode(leaf).decode(),
            "leaf_index": 0,
            "inclusion_proof": [],
            "checkpoint": note.decode(),
        }
        for extra in ({}, {"log_key": forger.verifier.vkey}):
            verdict = c.post("/v1/log/verify", json={**forged, **extra}).json()
            assert verdict["valid"] is False, verdict
        wrong_size = {**own, "tree_size": receipt["tree_size"] + 1}
        assert c.post("/v1/log/verify", json=wrong_size).json()["field"] == "tree_size"


def test_long_names_then_sigterm_and_restart(tmp_path: Path) -> None:
    """The attack that once killed the writer: two long model names with one prefix."""
    var = tmp_path / "var"
    srv = start_server(var, None, "--rate", "5000", "--declaration-rate", "5000")
    try:
        with srv.client() as c:
            key = register(c, srv.token, "lab-long")
            steps: list[tuple[str, dict[str, Any]]] = [
                ("facility", facility("ln-1")),
                ("training_run", _run("start")),
                ("training_run", _run("completion")),
                ("model_release", _rel("M" * 190 + "1")),
                ("model_release", _rel("M" * 190 + "2")),
                ("facility", facility("ln-2")),
            ]
            for kind, body in steps:
                resp = c.post("/v1/declarations", json=signed(key, kind, body))
                assert resp.status_code == 201, resp.text
            health = c.get("/healthz").json()
            assert health["status"] == "ok", health
            size = health["log_size"]
        srv.proc.send_signal(signal.SIGTERM)
        assert srv.proc.wait(timeout=30) is not None
    finally:
        if srv.proc.poll() is None:
            srv.proc.kill()
    again = start_server(var, None)
    try:
        with again.client() as c:
            assert c.get("/healthz").json()["log_size"] >= size
            resp = c.post("/v1/declarations", json=signed(key, "facility", facility("ln-3")))
            assert resp.status_code == 201, resp.text
    finally:
        stop_server(again)


def _run(phase: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "run_id": "run-long",
        "phase": phase,
        "date": _today(),
        "facility_id": "ln-1",
        "chip": "H100",
        "chip_count": 8,
    }
    if phase == "completion":
        body.update(chip_hours=100.0, compute_flop=1e20)
    return body


def _rel(name: str) -> dict[str, Any]:
    return {
        "model_name": name,
        "run_id": "run-long",
        "date": _today(),
        "open_weights": False,
        "training_compute_flop": 1e20,
    }


def _today() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).date().isoformat()


def test_error_bodies_never_echo_long_keys(server: Server) -> None:
    name = "q" * 16_000
    raw = ('{"' + name + '": 1, "' + name + '": 2}').encode()
    with server.client() as c:
        resp = c.post("/v1/declarations", content=raw, headers={"content-type": "application/json"})
        assert resp.status_code == 422
        assert "qqqq" not in resp.text and len(resp.text) < 500
        body = json.loads(resp.text)
        assert body["error"]["problem"]


def test_validation_errors_never_echo_unknown_field_names(server: Server) -> None:
    with server.client() as c:
        body = {"party_id": "x-y", "name": "n", "role": "lab", "country": "US", "vkey": "k" * 20}
        resp = c.post("/v1/log/cosignatures", json={"size": 1, "line": "x", "w" * 5000: 1, **body})
        assert resp.status_code == 422
        assert "wwww" not in resp.text and len(resp.text) < 600
