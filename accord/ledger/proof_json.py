"""JSON form of proofs as the CLI hands them out, and its strict decoder.

A proof file carries the signed checkpoint it is relative to, so whoever holds only the
log's verifier key can check it offline: ``accord log verify --key … proof.json``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from accord.errors import IntegrityError
from accord.ledger.checkpoint import Checkpoint, open_checkpoint
from accord.ledger.hashing import HASH_SIZE, leaf_hash
from accord.ledger.note import Verifier, b64decode, b64encode
from accord.ledger.proofs import MAX_PROOF_LENGTH, check_consistency, root_from_inclusion_proof

MAX_PROOF_JSON = 1 << 20


@dataclass(frozen=True)
class InclusionProof:
    index: int
    size: int
    leaf_hash: bytes
    proof: tuple[bytes, ...]
    checkpoint: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "inclusion",
            "index": self.index,
            "size": self.size,
            "leaf_hash": b64encode(self.leaf_hash),
            "proof": [b64encode(p) for p in self.proof],
            "checkpoint": self.checkpoint.decode(),
        }

    def verify(self, key: Verifier, entry: bytes | None = None) -> Checkpoint:
        """Check signature, sizes and path; with ``entry``, also that it is the leaf."""
        cp = open_checkpoint(self.checkpoint, key).checkpoint
        if cp.size != self.size:
            raise IntegrityError("proof.size", f"is {self.size} but the checkpoint's is {cp.size}")
        if entry is not None and leaf_hash(entry) != self.leaf_hash:
            raise IntegrityError("entry", "does not hash to the proof's leaf hash")
        if root_from_inclusion_proof(self.index, self.size, self.leaf_hash, self.proof) != cp.root:
            raise IntegrityError("proof", "does not lead to the checkpoint's root hash")
        return cp


@dataclass(frozen=True)
class ConsistencyProof:
    old: int
    new: int
    proof: tuple[bytes, ...]
    checkpoint: bytes
    old_checkpoint: bytes | None

    def to_json(self) -> dict[str, Any]:
        return {
            "type": "consistency",
            "old": self.old,
            "new": self.new,
            "proof": [b64encode(p) for p in self.proof],
            "checkpoint": self.checkpoint.decode(),
            "old_checkpoint": None if self.old_checkpoint is None else self.old_checkpoint.decode(),
        }

    def verify(self, key: Verifier, old_checkpoint: bytes | None = None) -> Checkpoint:
        cp = open_checkpoint(self.checkpoint, key).checkpoint
        old_note = old_checkpoint or self.old_checkpoint
        if old_note is None:
            raise IntegrityError(
                "old checkpoint", "is needed to check consistency", "pass --old-checkpoint"
            )
        old = open_checkpoint(old_note, key).checkpoint
        if (old.size, cp.size) != (self.old, self.new):
            raise IntegrityError("proof", "sizes do not match the checkpoints")
        check_consistency(old.size, cp.size, old.root, cp.root, self.proof)
        return cp


def _int(obj: dict[str, Any], key: str) -> int:
    value = obj.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 63:
        raise IntegrityError(f"proof.{key}", "is missing or not a non-negative integer")
    return value


def _hash_list(obj: dict[str, Any]) -> tuple[bytes, ...]:
    value = obj.get("proof")
    if not isinstance(value, list) or len(value) > MAX_PROOF_LENGTH:
        raise IntegrityError("proof.proof", f"must be a list of at most {MAX_PROOF_LENGTH} hashes")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise IntegrityError(f"proof.proof[{i}]", "is not a base64 string")
        h = b64decode(item, f"proof.proof[{i}]")
        if len(h) != HASH_SIZE:
            raise IntegrityError(f"proof.proof[{i}]", "is not a 32-byte hash")
        out.append(h)
    return tuple(out)


def _optional_note(obj: dict[str, Any], key: str) -> bytes | None:
    return None if obj.get(key) is None else _note(obj, key)


def _note(obj: dict[str, Any], key: str) -> bytes:
    value = obj.get(key)
    if not isinstance(value, str):
        raise IntegrityError(f"proof.{key}", "is missing or not a signed note string")
    return value.encode()


def decode_proof(data: bytes) -> InclusionProof | ConsistencyProof:
    """Parse a proof file strictly; every problem is an IntegrityError naming the field."""
    if len(data) > MAX_PROOF_JSON:
        raise IntegrityError("proof", "file is too large")
    try:
        obj = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise IntegrityError("proof", "is not JSON", "is the file truncated?") from None
    if not isinstance(obj, dict):
        raise IntegrityError("proof", "is not a JSON object")
    kind = obj.get("type")
    if kind == "inclusion":
        leaf = obj.get("leaf_hash")
        if not isinstance(leaf, str):
            raise IntegrityError("proof.leaf_hash", "is missing")
        leaf_bytes = b64decode(leaf, "proof.leaf_hash")
        if len(leaf_bytes) != HASH_SIZE:
            raise IntegrityError("proof.leaf_hash", "is not a 32-byte hash")
        return InclusionProof(
            _int(obj, "index"),
            _int(obj, "size"),
            leaf_bytes,
            _hash_list(obj),
            _note(obj, "checkpoint"),
        )
    if kind == "consistency":
        return ConsistencyProof(
            _int(obj, "old"),
            _int(obj, "new"),
            _hash_list(obj),
            _note(obj, "checkpoint"),
            _optional_note(obj, "old_checkpoint"),
        )
    raise IntegrityError("proof.type", "must be 'inclusion' or 'consistency'")
