"""Self-contained, self-verifying proof that a log showed two inconsistent views.

Two kinds of bundle convince anyone who holds only the log's public key: two signed
checkpoints of one size with different roots, or two signed checkpoints plus inclusion
proofs that put different leaves at the same index. Either is impossible for an honest log
unless Ed25519 is forged or SHA-256 collides, which bounds the false-accusation rate.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from accord.errors import IntegrityError
from accord.ledger.checkpoint import open_checkpoint
from accord.ledger.hashing import HASH_SIZE
from accord.ledger.note import Note, Verifier, b64decode, b64encode
from accord.ledger.proofs import inclusion_proof, verify_inclusion
from accord.ledger.tree import TiledTree
from accord.model.finding import Finding, Severity, Verdict

KIND = "accord.ledger/split-view/v1"
FALSE_ACCUSATION_BOUND = 2.0**-128
"""Chance that a valid bundle exists without misbehaviour: an Ed25519 forgery or a SHA-256
collision, both below 2^-128 per attempt at the 128-bit security level."""


def same_size_evidence(log: Verifier, note_a: Note, note_b: Note) -> dict[str, Any]:
    return {
        "kind": KIND,
        "log_key": log.vkey,
        "checkpoints": [note_a.to_bytes().decode(), note_b.to_bytes().decode()],
        "conflict": None,
    }


def first_difference(tree_a: TiledTree, tree_b: TiledTree) -> int | None:
    """Smallest index where two (root-verified) trees hold different leaves, or None."""
    m = min(tree_a.size, tree_b.size)
    start = 0
    while start < m:
        height = (m - start).bit_length() - 1
        while start % (1 << height):
            height -= 1
        end = start + (1 << height)
        if tree_a.mth(start, end) != tree_b.mth(start, end):
            while end - start > 1:
                mid = (start + end) // 2
                if tree_a.mth(start, mid) != tree_b.mth(start, mid):
                    end = mid
                else:
                    start = mid
            return start
        start = end
    return None


def conflict_evidence(
    log: Verifier, note_a: bytes, tree_a: TiledTree, note_b: bytes, tree_b: TiledTree
) -> dict[str, Any] | None:
    """Evidence from two trees the log signed, or None when they are consistent."""
    cp_a = open_checkpoint(note_a, log).checkpoint
    cp_b = open_checkpoint(note_b, log).checkpoint
    if cp_a.size == cp_b.size and cp_a.root != cp_b.root:
        return {
            "kind": KIND,
            "log_key": log.vkey,
            "checkpoints": [note_a.decode(), note_b.decode()],
            "conflict": None,
        }
    index = first_difference(tree_a, tree_b)
    if index is None:
        return None
    leaves = [tree.full_hash(0, index) for tree in (tree_a, tree_b)]
    proofs = [inclusion_proof(index, tree.size, tree.mth) for tree in (tree_a, tree_b)]
    return {
        "kind": KIND,
        "log_key": log.vkey,
        "checkpoints": [note_a.decode(), note_b.decode()],
        "conflict": {
            "index": index,
            "leaf_hashes": [b64encode(h) for h in leaves],
            "proofs": [[b64encode(h) for h in p] for p in proofs],
        },
    }


def _field(obj: Any, key: str, kind: type) -> Any:
    if not isinstance(obj, dict) or not isinstance(obj.get(key), kind):
        raise IntegrityError(f"evidence.{key}", f"is missing or not a {kind.__name__}")
    return obj[key]


def verify_evidence(data: bytes | dict[str, Any], log: Verifier | None = None) -> Finding:
    """Check a split-view bundle; returns an INCONSISTENT finding or raises IntegrityError.

    ``log`` pins the key the caller trusts; without it the bundle's own key is used and
    the finding says which key it is about.
    """
    if isinstance(data, bytes | bytearray):
        try:
            bundle = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise IntegrityError("evidence", "is not JSON") from None
    else:
        bundle = data
    if _field(bundle, "kind", str) != KIND:
        raise IntegrityError("evidence.kind", f"is not {KIND}")
    key = Verifier.parse(_field(bundle, "log_key", str))
    if log is not None and key != log:
        raise IntegrityError("evidence.log_key", "is not the key you trust for this log")
    notes = _field(bundle, "checkpoints", list)
    if len(notes) != 2 or not all(isinstance(n, str) for n in notes):
        raise IntegrityError("evidence.checkpoints", "must be two signed checkpoint notes")
    a, b = (open_checkpoint(n.encode(), key).checkpoint for n in notes)
    conflict = bundle.get("conflict")
    if a.size == b.size and a.root != b.root:
        how = f"two different roots for size {a.size}"
    elif conflict is None:
        raise IntegrityError("evidence", "the checkpoints alone do not conflict")
    else:
        index = _field(conflict, "index", int)
        hashes = [
            b64decode(h, "evidence.leaf_hashes") for h in _field(conflict, "leaf_hashes", list)
        ]
        proofs = _field(conflict, "proofs", list)
        if len(hashes) != 2 or len(proofs) != 2 or any(len(h) != HASH_SIZE for h in hashes):
            raise IntegrityError("evidence.conflict", "needs two leaf hashes and two proofs")
        if hashes[0] == hashes[1]:
            raise IntegrityError("evidence.conflict", "the two leaf hashes are equal")
        for cp, leaf, proof in zip((a, b), hashes, proofs, strict=True):
            if not isinstance(proof, list) or not all(isinstance(p, str) for p in proof):
                raise IntegrityError("evidence.proofs", "must be lists of base64 hashes")
            path = [b64decode(p, "evidence.proofs") for p in proof]
            if not verify_inclusion(index, cp.size, leaf, path, cp.root):
                raise IntegrityError("evidence.proofs", f"do not verify for size {cp.size}")
        how = f"different entries at index {index} in trees of size {a.size} and {b.size}"
    return Finding(
        subject=a.origin,
        verifier="ledger.split_view",
        verdict=Verdict.INCONSISTENT,
        severity=Severity.CRITICAL,
        statistic={"sizes": [a.size, b.size], "log_key": key.vkey},
        error_bound=FALSE_ACCUSATION_BOUND,
        evidence={
            "checkpoint_a": hashlib.sha256(notes[0].encode()).hexdigest(),
            "checkpoint_b": hashlib.sha256(notes[1].encode()).hexdigest(),
        },
        explanation=f"The log {a.origin} signed {how}; an honest log cannot.",
    )
