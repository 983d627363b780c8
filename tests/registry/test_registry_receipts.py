"""Receipts are checked against pinned keys, field by field, never on their own word.

A real registry process answers the filings; a forged registry (another key signing
another tree) is a real HTTP server too. The checker is also fuzzed with hypothesis:
whatever JSON it is handed, it answers with a report or a one-line AccordError.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
from conftest import Server
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from registry_helpers import facility, register, signed

from accord.errors import AccordError
from accord.ledger import Log, Signer, leaf_hash, open_store
from accord.model.declaration import canonical_json, parse_signed
from accord.model.finding import Severity, Verdict
from accord.registry.findings import NewFinding
from accord.registry.receipts import ReceiptReport, check_receipt, check_receipt_document
from accord.registry.signing import make_declaration, party_key, sign

ROOT = Path(__file__).resolve().parents[2]


def accord(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "accord.cli.main", "registry", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
        check=False,
    )


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def failed_fields(report: ReceiptReport) -> set[str]:
    return {s.field for s in report.failures}


# -- receipts built on a real Log, the way the registry builds them --------------------------


def build_receipt(log: Log, decl: int, findings: list[tuple[int, NewFinding]]) -> dict[str, Any]:
    """A receipt for entry ``decl`` with finding proofs, against the log's latest checkpoint."""
    note = log.checkpoint()
    size = log.size
    leaf = log.entry(decl)
    return {
        "leaf_index": decl,
        "tree_size": size,
        "leaf": b64(leaf),
        "leaf_hash": leaf_hash(leaf).hex(),
        "inclusion_proof": [b64(h) for h in log.inclusion_proof(decl, size)],
        "checkpoint": note.decode(),
        "log_key": log.verifier.vkey,
        "findings": [
            {
                "key": nf.key,
                "leaf_index": i,
                "leaf": b64(log.entry(i)),
                "leaf_hash": leaf_hash(log.entry(i)).hex(),
                "inclusion_proof": [b64(h) for h in log.inclusion_proof(i, size)],
                **nf.finding.model_dump(mode="json"),
            }
            for i, nf in findings
        ],
    }


class LocalLog:
    """A log of a few entries: a declaration by ``lab-local`` and one finding resting on it."""

    def __init__(self, path: Path, origin: str = "registry.test/log") -> None:
        self.log_signer = Signer.generate(origin)
        self.party = party_key("lab-local")
        self.log = Log.create(open_store(path / "log.sqlite"), self.log_signer)
        self.log.append(b"party entry stand-in")
        decl = make_declaration("lab-local", "facility", facility("loc-1"))
        self.signed = sign(decl, self.party)
        self.decl = self.log.append(self.signed.leaf())
        self.finding = NewFinding.of(
            "license:T-1",
            (self.decl,),
            subject="transfer:T-1",
            verifier="registry.rules.transfer",
            verdict=Verdict.INCONCLUSIVE,
            severity=Severity.HIGH,
            statistic={"status": "license_required", "count": 60},
            explanation="a licence is required and none was declared",
        )
        self.finding_index = self.log.append(self.finding.leaf())
        self.log.append(b"a later entry")

    def receipt(self) -> dict[str, Any]:
        return build_receipt(self.log, self.decl, [(self.finding_index, self.finding)])


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalLog]:
    built = LocalLog(tmp_path_factory.mktemp("local-log"))
    yield built
    built.log.close()


def test_local_receipt_holds_with_every_check_named(local: LocalLog) -> None:
    report = check_receipt_document(local.receipt(), local.log_signer.verifier.vkey)
    assert report.valid, report.failures
    passed = {s.field for s in report.steps if s.status == "pass"}
    assert {
        "log_key",
        "checkpoint",
        "tree_size",
        "leaf_hash",
        "inclusion_proof",
        "leaf",
        "findings[0].leaf_hash",
        "findings[0].inclusion_proof",
        "findings[0].leaf",
    } <= passed
    assert [s.field for s in report.unchecked] == ["leaf.signature"]
    assert "no party key given" in report.unchecked[0].detail
    with_party = check_receipt_document(
        local.receipt(), local.log_signer.verifier, local.party.verifier.vkey
    )
    assert with_party.valid and not with_party.unchecked
    assert (with_party.party, with_party.kind, with_party.findings) == ("lab-local", "facility", 1)


def _set(doc: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    target: Any = doc
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value


def _bump_size(note: str) -> str:
    origin, size, rest = note.split("\n", 2)
    return f"{origin}\n{int(size) + 1}\n{rest}"


def _flip_b64(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[0] ^= 1
    return b64(bytes(raw))


TAMPERED: list[tuple[str, Any, str]] = [
    ("tree_size", lambda r: r["tree_size"] + 1, "tree_size"),
    ("leaf_hash", lambda r: "00" * 32, "leaf_hash"),
    ("leaf", lambda r: _flip_b64(r["leaf"]), "leaf_hash"),
    ("leaf_index", lambda r: r["leaf_index"] + 1, "inclusion_proof"),
    ("inclusion_proof", lambda r: [_flip_b64(r["inclusion_proof"][0])], "inclusion_proof"),
    ("checkpoint", lambda r: _bump_size(r["checkpoint"]), "checkpoint"),
    ("log_key", lambda r: Signer.generate("registry.test/log").verifier.vkey, "log_key"),
]


@pytest.mark.parametrize(("name", "change", "named"), TAMPERED, ids=[t[0] for t in TAMPERED])
def test_each_tampered_field_fails_and_is_named(
    local: LocalLog, name: str, change: Any, named: str
) -> None:
    receipt = local.receipt()
    receipt[name] = change(receipt)
    report = check_receipt_document(receipt, local.log_signer.verifier)
    assert not report.valid
    assert named in failed_fields(report), report.failures


FINDING_TAMPERED: list[tuple[tuple[str | int, ...], Any, str]] = [
    (("severity",), "low", "findings[0].severity"),
    (("verdict",), "inconsistent", "findings[0].verdict"),
    (("statistic",), {"status": "license_required", "count": 6}, "findings[0].statistic"),
    (("key",), "license:T-2", "findings[0].key"),
    (("leaf_hash",), "11" * 32, "findings[0].leaf_hash"),
    (("leaf_index",), 1, "findings[0].inclusion_proof"),
    (("inclusion_proof",), [], "findings[0].inclusion_proof"),
    (("refs",), [0], "findings[0].refs"),
    (("invented",), "a field the log never held", "findings[0].invented"),
]


@pytest.mark.parametrize(("path", "value", "named"), FINDING_TAMPERED, ids=lambda v: str(v))
def test_each_tampered_finding_fails_and_is_named(
    local: LocalLog, path: tuple[str | int, ...], value: Any, named: str
) -> None:
    receipt = local.receipt()
    _set(receipt, ("findings", 0, *path), value)
    report = check_receipt_document(receipt, local.log_signer.verifier)
    assert named in failed_fields(report), report.failures


def test_a_finding_proven_in_the_log_but_about_another_entry_fails(tmp_path: Path) -> None:
    built = LocalLog(tmp_path)
    try:
        other = NewFinding.of(
            "cuf:elsewhere", (0,), subject="facility:x", verifier="v", verdict=Verdict.CONSISTENT
        )
        index = built.log.append(other.leaf())
        receipt = build_receipt(built.log, built.decl, [(index, other)])
        report = check_receipt_document(receipt, built.log_signer.verifier)
        assert failed_fields(report) == {"findings[0].refs"}
        assert f"entry {built.decl}" in report.failures[0].detail
    finally:
        built.log.close()


def test_a_finding_rewritten_in_its_leaf_fails_the_proof(local: LocalLog) -> None:
    """Rewriting the leaf to agree with a softened finding breaks its hash and proof."""
    receipt = local.receipt()
    entry = json.loads(base64.b64decode(receipt["findings"][0]["leaf"]))
    entry["finding"]["severity"] = "info"
    leaf = canonical_json(entry, "finding")
    receipt["findings"][0].update(leaf=b64(leaf), leaf_hash=leaf_hash(leaf).hex(), severity="info")
    report = check_receipt_document(receipt, local.log_signer.verifier)
    assert failed_fields(report) == {"findings[0].inclusion_proof"}


def test_wrong_party_keys_fail_on_the_signature(local: LocalLog) -> None:
    impostor = party_key("lab-local")  # same name, another key
    other = party_key("lab-other")
    for key, words in ((impostor, "does not verify"), (other, "'lab-other'")):
        report = check_receipt_document(local.receipt(), local.log_signer.verifier, key.verifier)
        assert failed_fields(report) == {"leaf.signature"}
        assert words in report.failures[0].detail


def test_submitted_declaration_must_be_the_leaf(local: LocalLog) -> None:
    decl = make_declaration("lab-local", "facility", facility("loc-2"))
    mine = sign(decl, local.party)
    report = check_receipt_document(local.receipt(), local.log_signer.verifier, submitted=mine)
    assert failed_fields(report) == {"leaf"}
    assert "not the declaration that was submitted" in report.failures[0].detail
    same = check_receipt_document(
        local.receipt(), local.log_signer.verifier, submitted=local.signed
    )
    assert same.valid


def test_non_declaration_leaf_in_the_log_is_not_a_receipt(local: LocalLog) -> None:
    receipt = build_receipt(local.log, 0, [])  # entry 0 is not a declaration
    report = check_receipt_document(receipt, local.log_signer.verifier)
    assert failed_fields(report) == {"leaf"}
    assert report.steps[[s.field for s in report.steps].index("inclusion_proof")].status == "pass"


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ([], "receipt"),
        ({}, "findings"),
        ({"receipt": {"findings": []}}, "receipt.leaf_index"),
        ({"findings": [{"key": "k"}]}, "findings[0].leaf_index"),
        ({"findings": [], "leaf_index": True}, "leaf_index"),
        ({"findings": [], "leaf_index": -1}, "leaf_index"),
    ],
)
def test_documents_that_are_not_receipts_are_bad_input(
    local: LocalLog, doc: Any, field: str
) -> None:
    with pytest.raises(AccordError) as err:
        check_receipt_document(doc, local.log_signer.verifier)
    assert err.value.field == field


def test_old_check_receipt_still_answers(local: LocalLog) -> None:
    r = local.receipt()
    args = (r["leaf"], r["leaf_index"], r["inclusion_proof"], r["checkpoint"])
    assert check_receipt(*args, local.log_signer.verifier.vkey).valid
    assert not check_receipt(*args, Signer.generate("registry.test/log").verifier.vkey).valid


# -- fuzzing: untrusted input never gives a traceback -----------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def _answer(doc: Any, key: Any) -> ReceiptReport | None:
    try:
        return check_receipt_document(doc, key)
    except AccordError as err:
        assert err.field and err.problem
        return None


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=JSON)
def test_fuzz_random_json(local: LocalLog, doc: Any) -> None:
    report = _answer(doc, local.log_signer.verifier)
    assert report is None or not report.valid


PATHS: list[tuple[str | int, ...]] = [
    ("leaf_index",),
    ("tree_size",),
    ("leaf",),
    ("leaf_hash",),
    ("inclusion_proof",),
    ("inclusion_proof", 0),
    ("checkpoint",),
    ("log_key",),
    ("findings",),
    ("findings", 0),
    ("findings", 0, "leaf"),
    ("findings", 0, "leaf_index"),
    ("findings", 0, "inclusion_proof"),
    ("findings", 0, "key"),
    ("findings", 0, "statistic"),
    ("findings", 0, "refs"),
]


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from(PATHS), value=JSON, wrap=st.booleans())
def test_fuzz_mutated_receipts(
    local: LocalLog, path: tuple[str | int, ...], value: Any, wrap: bool
) -> None:
    receipt = local.receipt()
    before = copy.deepcopy(receipt)
    _set(receipt, path, value)
    doc = {"receipt": receipt} if wrap else receipt
    report = _answer(doc, local.log_signer.verifier)
    if report is not None and report.valid:
        # Only what changes no statement may pass: the same value, refs stated as they are
        # in the log, or no findings listed (a receipt proves what it states, no more).
        same = json.dumps(receipt, sort_keys=True) == json.dumps(before, sort_keys=True)
        assert same or (path, value) in (
            (("findings", 0, "refs"), [local.decl]),
            (("findings",), []),
        )


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    position=st.integers(min_value=0),
    bit=st.integers(min_value=0, max_value=7),
    which=st.sampled_from(["leaf", "finding", "checkpoint"]),
)
def test_fuzz_any_flipped_bit_fails(local: LocalLog, position: int, bit: int, which: str) -> None:
    receipt = local.receipt()
    if which == "checkpoint":
        raw = bytearray(receipt["checkpoint"].encode())
    else:
        holder = receipt if which == "leaf" else receipt["findings"][0]
        raw = bytearray(base64.b64decode(holder["leaf"]))
    raw[position % len(raw)] ^= 1 << bit
    if which == "checkpoint":
        receipt["checkpoint"] = bytes(raw).decode("utf-8", "replace")
    else:
        holder["leaf"] = b64(bytes(raw))
    report = _answer(receipt, local.log_signer.verifier)
    assert report is not None and not report.valid


def _record(local: LocalLog) -> dict[str, Any]:
    """The shape of ``GET /v1/declarations/{i}``, built from the local log."""
    receipt = local.receipt()
    return {
        "leaf_index": local.decl,
        "signed": local.signed.model_dump(mode="json"),
        "digest": hashlib.sha256(local.signed.leaf()).hexdigest(),
        "received_at": "2026-01-01T00:00:00Z",
        "receipt": receipt,
    }


def test_local_record_wrapper_holds(local: LocalLog) -> None:
    report = check_receipt_document(_record(local), local.log_signer.verifier)
    assert report.valid, report.failures
    assert {"signed", "digest", "leaf_index"} <= {
        s.field for s in report.steps if s.status == "pass"
    }


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.sampled_from(["leaf_index", "signed", "digest"]), value=JSON)
def test_fuzz_mutated_record_wrapper(local: LocalLog, name: str, value: Any) -> None:
    record = _record(local)
    same = json.dumps(record[name], sort_keys=True) == json.dumps(value, sort_keys=True)
    record[name] = value
    report = _answer(record, local.log_signer.verifier)
    assert report is not None  # the receipt inside is whole: only the wrapper's word differs
    assert report.valid == same
    if not same:
        assert failed_fields(report) == {name}


# -- against a real registry process ------------------------------------------------------------


class Filed:
    """Two filings by one party: a facility (no findings) and a cluster (one finding)."""

    def __init__(self, server: Server, tmp: Path) -> None:
        self.server = server
        with server.client() as c:
            self.key = register(c, server.token, "lab-receipts")
            self.log_key = c.get("/v1/log/key").text.strip()
            resp = c.post("/v1/declarations", json=signed(self.key, "facility", facility("rx-1")))
            assert resp.status_code == 201, resp.text
            self.facility = resp.json()
            cluster = {
                "cluster_id": "rx-c1",
                "facility_id": "rx-1",
                "as_of": "2026-01-01",
                "chips": [{"chip": "H100", "count": 100}],
            }
            resp = c.post("/v1/declarations", json=signed(self.key, "cluster", cluster))
            assert resp.status_code == 201, resp.text
            self.cluster = resp.json()
            self.record = c.get(f"/v1/declarations/{self.facility['leaf_index']}").json()
        self.dir = tmp
        self.log_key_file = tmp / "log.pub"
        self.log_key_file.write_text(self.log_key + "\n")
        self.party_file = tmp / "party.pub"
        self.party_file.write_text(self.key.verifier.vkey + "\n")

    def save(self, doc: Any, name: str) -> Path:
        path = self.dir / name
        path.write_text(json.dumps(doc))
        return path


@pytest.fixture(scope="module")
def filed(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Filed:
    return Filed(server, tmp_path_factory.mktemp("filed"))


def test_cli_real_receipt_holds_and_says_what_it_did_not_check(filed: Filed) -> None:
    path = filed.save(filed.facility, "facility.json")
    out = accord("verify", str(path), "--log-key", str(filed.log_key_file), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["valid"] is True and report["party"] == "lab-receipts"
    assert report["not_checked"] == [
        "leaf.signature: party signature not checked: no party key given"
    ]
    full = accord(
        "verify", str(path), "--log-key", filed.log_key, "--party-key", str(filed.party_file)
    )
    assert full.returncode == 0, full.stderr
    assert "leaf.signature: verifies with lab-receipts's key" in full.stdout


def test_cli_declaration_record_wrapper_verifies(filed: Filed) -> None:
    path = filed.save(filed.record, "record.json")
    out = accord(
        "verify",
        str(path),
        "--log-key",
        filed.log_key,
        "--party-key",
        filed.key.verifier.vkey,
        "--json",
    )
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    passed = {c["field"] for c in report["checks"] if c["status"] == "pass"}
    assert {"signed", "digest", "leaf_index", "receipt.inclusion_proof"} <= passed
    assert "received_at: the registry's clock; the log does not sign it" in report["not_checked"]
    other = signed(filed.key, "facility", facility("rx-9"))
    bad = filed.save({**filed.record, "signed": other}, "record-bad.json")
    refused = accord("verify", str(bad), "--log-key", filed.log_key)
    assert refused.returncode == 1
    assert "signed: is not the declaration in the leaf" in refused.stderr


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("tree_size", lambda r: r["tree_size"] + 1),
        ("leaf_hash", lambda r: "ab" * 32),
        ("inclusion_proof", lambda r: [_flip_b64(h) for h in r["inclusion_proof"]]),
    ],
)
def test_cli_tampered_receipt_exits_1_naming_the_field(
    filed: Filed, field: str, change: Any
) -> None:
    receipt = dict(filed.facility)
    receipt[field] = change(receipt)
    out = accord("verify", str(filed.save(receipt, f"t-{field}.json")), "--log-key", filed.log_key)
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"does not hold {field}:" in out.stderr


def test_cli_wrong_party_key_exits_1(filed: Filed) -> None:
    path = filed.save(filed.facility, "facility.json")
    impostor = party_key("lab-receipts").verifier.vkey
    out = accord("verify", str(path), "--log-key", filed.log_key, "--party-key", impostor)
    assert out.returncode == 1
    assert "leaf.signature: does not verify with lab-receipts's key" in out.stderr


def forge(real: dict[str, Any], origin: str, tmp: Path) -> tuple[dict[str, Any], Signer]:
    """Another key, named like the real log, signing a fake tree that holds the real leaf."""
    fake = Signer.generate(origin)
    log = Log.create(open_store(tmp / f"forged-{fake.verifier.key_id}.sqlite"), fake)
    try:
        log.append(b"fake entry")
        index = log.append(base64.b64decode(real["leaf"]))
        return build_receipt(log, index, []), fake
    finally:
        log.close()


def test_cli_forged_receipt_is_refused_by_verify(filed: Filed) -> None:
    origin = filed.log_key.split("+")[0]
    forged, fake = forge(filed.facility, origin, filed.dir)
    assert check_receipt_document(forged, fake.verifier).valid  # it vouches for itself
    out = accord("verify", str(filed.save(forged, "forged.json")), "--log-key", filed.log_key)
    assert out.returncode == 1
    assert "does not hold log_key:" in out.stderr
    report = check_receipt_document(forged, filed.log_key)
    assert {"log_key", "checkpoint"} <= failed_fields(report)
    assert report.steps[[s.field for s in report.steps].index("tree_size")].status == "not checked"


class _Forger(BaseHTTPRequestHandler):
    """A registry that answers every filing with a receipt from a tree it made up."""

    origin = ""
    tmp = Path()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        leaf = parse_signed(body).leaf()
        receipt, _ = forge({"leaf": b64(leaf)}, self.origin, self.tmp)
        out = json.dumps(receipt).encode()
        self.send_response(201)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: Any) -> None:
        pass


def test_cli_submit_pins_the_log_key(filed: Filed) -> None:
    first = filed.dir / "first.json"
    sub = filed.dir / "signed.json"
    sub.write_text(json.dumps(signed(filed.key, "facility", facility("rx-2"))))
    ok = accord(
        "submit",
        str(sub),
        "--url",
        filed.server.url,
        "--log-key",
        str(filed.log_key_file),
        "--receipt",
        str(first),
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "receipt checked against the pinned log key" in ok.stdout
    again = accord(
        "verify", str(first), "--log-key", filed.log_key, "--party-key", str(filed.party_file)
    )
    assert again.returncode == 0, again.stderr

    # The real registry, but the user pinned another key: the response's own key is not trusted.
    sub.write_text(json.dumps(signed(filed.key, "facility", facility("rx-3"))))
    wrong = accord(
        "submit",
        str(sub),
        "--url",
        filed.server.url,
        "--log-key",
        Signer.generate("elsewhere/log").verifier.vkey,
    )
    assert wrong.returncode == 1 and "does not hold log_key:" in wrong.stderr

    # A forged registry answering with a self-consistent receipt under its own key.
    _Forger.origin, _Forger.tmp = filed.log_key.split("+")[0], filed.dir
    httpd = HTTPServer(("127.0.0.1", 0), _Forger)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        saved = filed.dir / "forged-receipt.json"
        sub.write_text(json.dumps(signed(filed.key, "facility", facility("rx-4"))))
        forged = accord(
            "submit",
            str(sub),
            "--url",
            f"http://127.0.0.1:{httpd.server_port}",
            "--log-key",
            filed.log_key,
            "--receipt",
            str(saved),
        )
    finally:
        httpd.shutdown()
    assert forged.returncode == 1, forged.stdout + forged.stderr
    assert "does not hold log_key:" in forged.stderr
    assert not saved.exists()


def test_cli_submit_without_log_key_is_refused(filed: Filed) -> None:
    sub = filed.save(signed(filed.key, "facility", facility("rx-5")), "no-key.json")
    out = accord("submit", str(sub), "--url", filed.server.url)
    assert out.returncode == 2 and "--log-key" in out.stderr


def test_cli_bad_input_exits_2_with_one_line(filed: Filed) -> None:
    missing = accord("verify", str(filed.dir / "nope.json"), "--log-key", filed.log_key)
    assert missing.returncode == 2
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0] and "GET /v1/declarations" in lines[0]
    assert "Traceback" not in missing.stderr
    not_json = filed.dir / "not.json"
    not_json.write_text("{receipt")
    out = accord("verify", str(not_json), "--log-key", filed.log_key)
    assert out.returncode == 2 and "is not JSON" in out.stderr
    short = filed.save({k: v for k, v in filed.facility.items() if k != "checkpoint"}, "s.json")
    out = accord("verify", str(short), "--log-key", filed.log_key)
    assert out.returncode == 2 and "checkpoint: is missing" in out.stderr
    out = accord("verify", str(short), "--log-key", "no-such-key-file")
    assert out.returncode == 2 and "--log-key" in out.stderr
    priv = filed.dir / "private.key"
    priv.write_text(Signer.generate("x").skey)
    out = accord("verify", str(short), "--log-key", str(priv))
    assert out.returncode == 2 and "private key" in out.stderr


def _finding_proofs_served(filed: Filed) -> bool:
    return all("inclusion_proof" in f for f in filed.cluster["findings"])


def test_server_finding_proofs_hold_and_tampering_is_named(filed: Filed) -> None:
    if not _finding_proofs_served(filed):
        pytest.xfail("the registry does not yet return per-finding leaf, leaf_hash and proof")
    assert filed.cluster["findings"], "a cluster filing raises a cluster finding"
    path = filed.save(filed.cluster, "cluster.json")
    ok = accord("verify", str(path), "--log-key", filed.log_key, "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["findings"] == len(filed.cluster["findings"])
    body = copy.deepcopy(filed.cluster)
    body["findings"][0]["severity"] = "critical"
    out = accord("verify", str(filed.save(body, "c-body.json")), "--log-key", filed.log_key)
    assert out.returncode == 1 and "does not hold findings[0].severity:" in out.stderr
    proof = copy.deepcopy(filed.cluster)
    proof["findings"][0]["inclusion_proof"] = [
        _flip_b64(h) for h in proof["findings"][0]["inclusion_proof"]
    ]
    out = accord("verify", str(filed.save(proof, "c-proof.json")), "--log-key", filed.log_key)
    assert out.returncode == 1 and "does not hold findings[0].inclusion_proof:" in out.stderr
