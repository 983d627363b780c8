"""Checking a receipt offline: everything it states, against keys the reader pins.

A receipt is the registry's own word, so nothing in it may vouch for itself. The log key
is pinned by whoever checks (obtained from the inspectorate, not from the receipt): the
receipt's ``log_key`` must equal it and the checkpoint must carry its signature. From the
signed root, the RFC 9162 inclusion proofs tie the declaration and each finding the receipt
lists to the log; the leaf bytes are then read back, so that the declaration, its party
signature (when the party's key is given) and every finding's key, refs and fields are
what the log holds, not what the answer around them claims.

A receipt proves what it states. It cannot prove that the registry found nothing else:
findings filed later, or left out of the answer, are not covered.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

from accord.errors import AccordError, IntegrityError
from accord.ledger import Verifier, leaf_hash, open_checkpoint
from accord.ledger.note import ALG_ED25519
from accord.ledger.proofs import root_from_inclusion_proof
from accord.model.declaration import (
    DECLARATION_TYPE,
    FINDING_TYPE,
    SignedDeclaration,
    canonical_json,
    loads_strict,
    parse_signed,
)

MAX_PROOF_HASHES = 64
MAX_FINDINGS = 10_000
MAX_LEAF_CHARS = 4 << 20

RECEIPT_FIELDS = frozenset(
    {
        "leaf_index",
        "tree_size",
        "leaf",
        "leaf_hash",
        "inclusion_proof",
        "checkpoint",
        "log_key",
        "findings",
    }
)
WRAPPER_FIELDS = frozenset({"leaf_index", "signed", "digest", "received_at", "receipt"})
# Where a finding sits in the log and how to prove it; every other key is the finding.
FINDING_PLACE_FIELDS = frozenset({"key", "leaf_index", "leaf", "leaf_hash", "inclusion_proof"})

Status = Literal["pass", "fail", "not checked"]


@dataclass(frozen=True)
class ReceiptCheck:
    valid: bool
    field: str | None
    reason: str
    tree_size: int | None = None
    root: str | None = None
    leaf_hash: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "field": self.field,
            "reason": self.reason,
            "tree_size": self.tree_size,
            "root": self.root,
            "leaf_hash": self.leaf_hash,
        }


def _b64(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise IntegrityError(field, "is not valid base64") from None


def check_receipt(
    leaf_b64: str, index: int, proof_b64: list[str], checkpoint: str, log_key: str
) -> ReceiptCheck:
    """Verify that ``leaf`` is entry ``index`` of the log that signed ``checkpoint``.

    Only the leaf, the proof and the checkpoint: :func:`check_receipt_document` checks the
    rest of what a receipt states.
    """
    try:
        key = Verifier.parse(log_key)
        signed = open_checkpoint(_utf8(checkpoint, "checkpoint"), key)
        if len(proof_b64) > MAX_PROOF_HASHES:
            raise IntegrityError("inclusion_proof", "has more hashes than any valid proof")
        proof = [_b64(p, f"inclusion_proof[{i}]") for i, p in enumerate(proof_b64)]
        leaf = _b64(leaf_b64, "leaf")
        lh = leaf_hash(leaf)
        size = signed.checkpoint.size
        root = root_from_inclusion_proof(index, size, lh, proof)
    except AccordError as err:
        return ReceiptCheck(False, err.field, err.problem)
    if root != signed.checkpoint.root:
        return ReceiptCheck(
            False,
            "inclusion_proof",
            "leads to a root the checkpoint does not sign",
            size,
            signed.checkpoint.root.hex(),
            lh.hex(),
        )
    return ReceiptCheck(
        True,
        None,
        f"entry {index} is in the log of size {size} signed by {key.name}",
        size,
        signed.checkpoint.root.hex(),
        lh.hex(),
    )


# -- the whole document --------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One thing the receipt states and whether it held."""

    field: str
    status: Status
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"field": self.field, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class ReceiptReport:
    """Every check made on a receipt document, in order, with what was not checked and why."""

    steps: tuple[Step, ...]
    leaf_index: int
    tree_size: int | None
    root: str | None
    leaf_hash: str | None
    party: str | None
    kind: str | None
    findings: int

    @property
    def valid(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[Step]:
        return [s for s in self.steps if s.status == "fail"]

    @property
    def unchecked(self) -> list[Step]:
        return [s for s in self.steps if s.status == "not checked"]

    @property
    def field(self) -> str | None:
        return self.failures[0].field if self.failures else None

    @property
    def reason(self) -> str:
        if self.failures:
            return self.failures[0].detail
        return (
            f"entry {self.leaf_index} is in the log of size {self.tree_size}; "
            f"{self.findings} finding(s) checked"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "field": self.field,
            "reason": self.reason,
            "leaf_index": self.leaf_index,
            "tree_size": self.tree_size,
            "root": self.root,
            "leaf_hash": self.leaf_hash,
            "party": self.party,
            "kind": self.kind,
            "findings": self.findings,
            "checks": [s.to_dict() for s in self.steps],
            "not_checked": [f"{s.field}: {s.detail}" for s in self.unchecked],
        }


@dataclass(frozen=True)
class _Finding:
    path: str
    key: str
    leaf_index: int
    leaf: str
    leaf_hash: str
    proof: list[str]
    stated: dict[str, Any]
    refs: tuple[Any, ...]  # () when the receipt leaves refs out, else (the stated refs,)


@dataclass(frozen=True)
class _Receipt:
    leaf_index: int
    tree_size: int
    leaf: str
    leaf_hash: str
    proof: list[str]
    checkpoint: str
    log_key: str
    findings: list[_Finding]
    unknown: list[str]
    wrapper: dict[str, Any] | None = None
    prefix: str = ""


def _want(obj: dict[str, Any], name: str, kind: type, path: str) -> Any:
    """The value at ``name``, or an AccordError (bad input) naming where and what it should be."""
    where = f"{path}{name}"
    if name not in obj:
        raise AccordError(where, "is missing", "pass the registry's whole answer, unchanged")
    value = obj[name]
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 63:
            raise AccordError(where, "must be an integer 0..2^63-1")
    elif kind is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise AccordError(where, "must be a list of base64 strings")
    elif not isinstance(value, kind):
        raise AccordError(where, f"must be a JSON {'string' if kind is str else 'object'}")
    if kind is str and len(value) > MAX_LEAF_CHARS:
        raise AccordError(where, f"is longer than {MAX_LEAF_CHARS} characters")
    return value


def parse_receipt_document(doc: Any) -> _Receipt:
    """The receipt's fields by type, bare or inside a ``GET /v1/declarations/{i}`` record.

    Raises :class:`AccordError` when the document is not a receipt at all (bad input); a
    receipt of the right shape whose statements do not hold is for the checks to report.
    """
    if not isinstance(doc, dict):
        raise AccordError("receipt", "must be a JSON object", "pass the registry's answer")
    wrapper: dict[str, Any] | None = None
    prefix = ""
    if "receipt" in doc:
        wrapper = doc
        doc = _want(doc, "receipt", dict, "")
        prefix = "receipt."
    findings_raw = _want(doc, "findings", object, prefix)
    if not isinstance(findings_raw, list) or not all(isinstance(f, dict) for f in findings_raw):
        raise AccordError(f"{prefix}findings", "must be a list of JSON objects")
    if len(findings_raw) > MAX_FINDINGS:
        raise AccordError(f"{prefix}findings", f"lists more than {MAX_FINDINGS} findings")
    findings = []
    for i, f in enumerate(findings_raw):
        path = f"{prefix}findings[{i}]."
        findings.append(
            _Finding(
                path.rstrip("."),
                _want(f, "key", str, path),
                _want(f, "leaf_index", int, path),
                _want(f, "leaf", str, path),
                _want(f, "leaf_hash", str, path),
                _want(f, "inclusion_proof", list, path),
                {k: v for k, v in f.items() if k not in FINDING_PLACE_FIELDS | {"refs"}},
                (f["refs"],) if "refs" in f else (),
            )
        )
    unknown = sorted(f"{prefix}{k}" for k in doc if k not in RECEIPT_FIELDS)
    if wrapper is not None:
        unknown += sorted(str(k) for k in wrapper if k not in WRAPPER_FIELDS)
    return _Receipt(
        _want(doc, "leaf_index", int, prefix),
        _want(doc, "tree_size", int, prefix),
        _want(doc, "leaf", str, prefix),
        _want(doc, "leaf_hash", str, prefix),
        _want(doc, "inclusion_proof", list, prefix),
        _want(doc, "checkpoint", str, prefix),
        _want(doc, "log_key", str, prefix),
        findings,
        unknown,
        wrapper,
        prefix,
    )


def _utf8(text: str, field: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise IntegrityError(field, "is not valid UTF-8") from None


def parse_key(text: str, what: str) -> Verifier:
    """A verifier key from its text form, refusing private keys with a fix."""
    if text.strip().startswith("PRIVATE+KEY"):
        raise AccordError(what, "is a private key", "pass the public (verifier) key")
    return Verifier.parse(text)


def _same(a: Any, b: Any) -> bool:
    """JSON equality: 1 and 1.0 are the same number, but true is not 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and bool(a == b)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


@dataclass
class _Checker:
    r: _Receipt
    log_key: Verifier
    party_key: Verifier | None
    expected: SignedDeclaration | None
    steps: list[Step] = field(default_factory=list)
    root: bytes | None = None
    size: int | None = None
    leaf: bytes | None = None
    signed: SignedDeclaration | None = None

    def ok(self, name: str, detail: str) -> None:
        self.steps.append(Step(self.r.prefix + name, "pass", detail))

    def bad(self, name: str, detail: str) -> None:
        self.steps.append(Step(self.r.prefix + name, "fail", detail))

    def skip(self, name: str, detail: str) -> None:
        self.steps.append(Step(self.r.prefix + name, "not checked", detail))

    def run(self) -> None:
        self.check_log_key()
        self.check_checkpoint()
        self.check_tree_size()
        self.leaf = self.check_leaf(
            "", self.r.leaf, self.r.leaf_hash, self.r.leaf_index, self.r.proof
        )
        if self.leaf is not None:
            self.check_declaration(self.leaf)
        self.check_party_signature()
        self.check_wrapper()
        for f in self.r.findings:
            self.check_finding(f)
        for name in self.r.unknown:
            self.steps.append(
                Step(name, "not checked", "is not part of the receipt format; not checked")
            )

    def check_log_key(self) -> None:
        try:
            stated = Verifier.parse(self.r.log_key)
        except AccordError as err:
            self.bad("log_key", f"is not a verifier key ({err.problem})")
            return
        if stated != self.log_key:
            self.bad(
                "log_key",
                f"is {stated.vkey}, not the pinned log key {self.log_key.vkey}: "
                "the receipt vouches for a key nobody gave you",
            )
        else:
            self.ok("log_key", f"is the pinned log key {self.log_key.vkey}")

    def check_checkpoint(self) -> None:
        try:
            signed = open_checkpoint(_utf8(self.r.checkpoint, "checkpoint"), self.log_key)
        except AccordError as err:
            self.bad("checkpoint", f"does not verify with the pinned log key: {err.message}")
            return
        self.root, self.size = signed.checkpoint.root, signed.checkpoint.size
        self.ok("checkpoint", f"signed by {self.log_key.name} for a tree of size {self.size}")
        others = len(signed.note.signatures) - len(signed.verified_by)
        if others:
            self.skip("checkpoint cosignatures", f"{others} other signature(s) (witnesses)")

    def check_tree_size(self) -> None:
        if self.size is None:
            self.skip("tree_size", "the checkpoint did not verify")
        elif self.r.tree_size != self.size:
            self.bad("tree_size", f"is {self.r.tree_size}; the checkpoint signs size {self.size}")
        else:
            self.ok("tree_size", f"is the checkpoint's size {self.size}")

    def check_leaf(
        self, path: str, leaf_b64: str, stated_hash: str, index: int, proof_b64: list[str]
    ) -> bytes | None:
        """Leaf bytes, their hash and their inclusion proof; the bytes if they decoded."""
        try:
            leaf = _b64(leaf_b64, "leaf")
        except AccordError:
            self.bad(path + "leaf", "is not valid base64")
            return None
        lh = leaf_hash(leaf)
        if stated_hash.lower() != lh.hex():
            self.bad(
                path + "leaf_hash",
                f"is {_short(stated_hash)}; SHA-256(0x00 || leaf) is {lh.hex()}",
            )
        else:
            self.ok(path + "leaf_hash", "is SHA-256(0x00 || leaf)")
        where = path + "inclusion_proof"
        if self.root is None or self.size is None:
            self.skip(where, "the checkpoint did not verify, so there is no root to prove against")
            return leaf
        if len(proof_b64) > MAX_PROOF_HASHES:
            self.bad(where, "has more hashes than any valid proof")
            return leaf
        try:
            proof = [_b64(p, f"{where}[{i}]") for i, p in enumerate(proof_b64)]
            root = root_from_inclusion_proof(index, self.size, lh, proof)
        except AccordError as err:
            if err.field == "index":
                self.bad(path + "leaf_index", err.problem)
            else:
                self.bad(err.field if err.field.startswith(where) else where, err.problem)
            return leaf
        if root != self.root:
            self.bad(where, "leads to a root the checkpoint does not sign")
        else:
            self.ok(where, f"proves entry {index} is in the signed tree of size {self.size}")
        return leaf

    def check_declaration(self, leaf: bytes) -> None:
        try:
            data = loads_strict(leaf)
            if not isinstance(data, dict) or data.get("type") != DECLARATION_TYPE:
                raise AccordError("leaf", f"is not an {DECLARATION_TYPE} entry")
            if set(data) != {"type", "declaration", "signature"}:
                raise AccordError("leaf", "holds fields besides type, declaration, signature")
            signed = parse_signed(
                {"declaration": data["declaration"], "signature": data["signature"]}
            )
            if signed.leaf() != leaf:
                raise AccordError("leaf", "is not the canonical (RFC 8785) bytes of its entry")
        except AccordError as err:
            self.bad("leaf", f"is not a declaration entry: {err.message}")
            return
        except RecursionError:
            self.bad("leaf", "is nested too deeply")
            return
        self.signed = signed
        decl = signed.declaration
        self.ok("leaf", f"is a {decl.kind.value} declaration by {decl.party}")
        if self.expected is not None:
            if self.expected.leaf() != leaf:
                self.bad("leaf", "is not the declaration that was submitted")
            else:
                self.ok("leaf", "is exactly the declaration that was submitted")

    def check_party_signature(self) -> None:
        name = "leaf.signature"
        if self.party_key is None:
            self.skip(name, "party signature not checked: no party key given")
            return
        if self.signed is None:
            self.skip(name, "the leaf holds no declaration to check")
            return
        party = self.signed.declaration.party
        key = self.party_key
        if key.alg != ALG_ED25519:
            self.bad(name, "the party key is not an Ed25519 (type 0x01) key")
        elif key.name != party:
            self.bad(name, f"the party key is {key.name!r}'s but the declaration is by {party!r}")
        else:
            try:
                good = key.verify(
                    self.signed.declaration.canonical(), self.signed.signature_bytes()
                )
            except AccordError as err:
                self.bad(name, err.problem)
                return
            if good:
                self.ok(name, f"verifies with {party}'s key {key.vkey}")
            else:
                self.bad(name, f"does not verify with {party}'s key {key.vkey}")

    def check_wrapper(self) -> None:
        """The record around a receipt (``GET /v1/declarations/{i}``): its own statements."""
        w = self.r.wrapper
        if w is None:
            return

        def say(name: str, status: Status, detail: str) -> None:
            self.steps.append(Step(name, status, detail))

        if "leaf_index" in w:
            if type(w["leaf_index"]) is not int or w["leaf_index"] != self.r.leaf_index:
                say("leaf_index", "fail", f"is not the receipt's leaf_index {self.r.leaf_index}")
            else:
                say("leaf_index", "pass", "is the receipt's leaf_index")
        if "digest" in w:
            if self.leaf is None:
                say("digest", "not checked", "the leaf did not decode")
            elif (
                not isinstance(w["digest"], str)
                or w["digest"].lower() != hashlib.sha256(self.leaf).hexdigest()
            ):
                say("digest", "fail", "is not SHA-256 of the leaf")
            else:
                say("digest", "pass", "is SHA-256 of the leaf")
        if "signed" in w:
            try:
                stated = parse_signed(w["signed"]).leaf()
            except AccordError as err:
                say("signed", "fail", f"is not a signed declaration: {err.message}")
            except RecursionError:
                say("signed", "fail", "is nested too deeply")
            else:
                if self.leaf is None:
                    say("signed", "not checked", "the leaf did not decode")
                elif stated != self.leaf:
                    say("signed", "fail", "is not the declaration in the leaf")
                else:
                    say("signed", "pass", "is the declaration in the leaf")
        if "received_at" in w:
            say("received_at", "not checked", "the registry's clock; the log does not sign it")

    def check_finding(self, f: _Finding) -> None:
        path = f.path.removeprefix(self.r.prefix) + "."
        leaf = self.check_leaf(path, f.leaf, f.leaf_hash, f.leaf_index, f.proof)
        if leaf is None:
            return
        try:
            problem = self._finding_entry(path, f, leaf)
        except RecursionError:
            problem = (path + "leaf", "is nested too deeply")
        if problem is None:
            self.ok(path + "leaf", f"is finding {f.key!r} as the receipt states it")
        else:
            self.bad(*problem)

    def _finding_entry(self, path: str, f: _Finding, leaf: bytes) -> tuple[str, str] | None:
        """The first way the finding's log entry differs from what the receipt states."""
        try:
            data = loads_strict(leaf)
            if not isinstance(data, dict) or data.get("type") != FINDING_TYPE:
                return path + "leaf", f"is not an {FINDING_TYPE} entry"
            if set(data) != {"type", "key", "refs", "finding"}:
                return path + "leaf", "holds fields besides type, key, refs, finding"
            if canonical_json(data, "leaf") != leaf:
                return path + "leaf", "is not the canonical (RFC 8785) bytes of its entry"
        except AccordError as err:
            return path + "leaf", f"is not a finding entry: {err.message}"
        if data["key"] != f.key:
            return path + "key", f"is {_short(f.key)}; the log entry's is {_short(data['key'])}"
        refs, body = data["refs"], data["finding"]
        if not isinstance(refs, list) or not isinstance(body, dict):
            return path + "leaf", "is not a finding entry: refs or finding has the wrong type"
        if f.refs and not _same(f.refs[0], refs):
            return path + "refs", f"is {_short(f.refs[0])}; the log entry's are {_short(refs)}"
        if not any(_same(r, self.r.leaf_index) for r in refs):
            return (
                path + "refs",
                f"the log entry rests on {_short(refs)}, not on the declaration "
                f"(entry {self.r.leaf_index})",
            )
        for name in sorted(f.stated, key=str):
            if name not in body:
                return f"{path}{name}", "is stated by the receipt but not in the log entry"
            if not _same(f.stated[name], body[name]):
                return (
                    f"{path}{name}",
                    f"is {_short(f.stated[name])}; the log entry says {_short(body[name])}",
                )
        return None


def check_receipt_document(
    doc: Any,
    log_key: str | Verifier,
    party_key: str | Verifier | None = None,
    submitted: SignedDeclaration | None = None,
) -> ReceiptReport:
    """Check everything a receipt states against the pinned ``log_key``.

    ``doc`` is the registry's answer to ``POST /v1/declarations`` or the record from
    ``GET /v1/declarations/{i}``. ``party_key``, when given, is the declaring party's
    Ed25519 key; ``submitted``, when given, is the declaration the caller sent, which the
    log entry must be exactly. Raises :class:`AccordError` for a document that is not a
    receipt or a key that is not a key (bad input); every statement that does not hold is
    a failed step in the report.
    """
    pinned = log_key if isinstance(log_key, Verifier) else parse_key(log_key, "log key")
    party = (
        party_key
        if isinstance(party_key, Verifier) or party_key is None
        else parse_key(party_key, "party key")
    )
    receipt = parse_receipt_document(doc)
    checker = _Checker(receipt, pinned, party, submitted)
    checker.run()
    signed = checker.signed
    return ReceiptReport(
        tuple(checker.steps),
        receipt.leaf_index,
        checker.size,
        checker.root.hex() if checker.root is not None else None,
        leaf_hash(checker.leaf).hex() if checker.leaf is not None else None,
        signed.declaration.party if signed else None,
        signed.declaration.kind.value if signed else None,
        len(receipt.findings),
    )
