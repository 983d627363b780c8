"""Checking a receipt offline: leaf, inclusion proof and signed checkpoint.

Anyone holding the log's public key can run this without the registry: the checkpoint's
signature ties the root to the log, the RFC 9162 inclusion proof ties the leaf to the
root, and the leaf itself carries the party's signed declaration, whose signature can be
checked against the party key the log recorded when the party was registered.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from accord.errors import AccordError, IntegrityError
from accord.ledger import Verifier, leaf_hash, open_checkpoint
from accord.ledger.proofs import root_from_inclusion_proof

MAX_PROOF_HASHES = 64


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
    """Verify that ``leaf`` is entry ``index`` of the log that signed ``checkpoint``."""
    try:
        key = Verifier.parse(log_key)
        signed = open_checkpoint(checkpoint.encode("utf-8"), key)
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
