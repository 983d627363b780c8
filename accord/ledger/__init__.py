"""Tamper-evident ledger: an RFC 9162 Merkle log with C2SP checkpoints and witnesses.

Public API (see docs/ledger.md): hashing, proofs and their verifiers, signed notes,
checkpoints, witness cosignatures and policies, split-view evidence, the :class:`Log`
over SQLite or PostgreSQL, static tiles and the auditor.
"""

from accord.ledger.checkpoint import Checkpoint, SignedCheckpoint, open_checkpoint
from accord.ledger.evidence import conflict_evidence, verify_evidence
from accord.ledger.hashing import EMPTY_ROOT, leaf_hash, node_hash, root
from accord.ledger.log import Log
from accord.ledger.note import (
    ALG_COSIGNATURE_V1,
    ALG_ED25519,
    Note,
    Signer,
    Verifier,
    open_note,
    parse_note,
    sign_note,
)
from accord.ledger.proofs import (
    check_consistency,
    consistency_proof,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from accord.ledger.storage import LogStore, open_store
from accord.ledger.witness import Witness, WitnessPolicy, add_cosignatures

__all__ = [
    "ALG_COSIGNATURE_V1",
    "ALG_ED25519",
    "EMPTY_ROOT",
    "Checkpoint",
    "Log",
    "LogStore",
    "Note",
    "SignedCheckpoint",
    "Signer",
    "Verifier",
    "Witness",
    "WitnessPolicy",
    "add_cosignatures",
    "check_consistency",
    "conflict_evidence",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "open_checkpoint",
    "open_note",
    "open_store",
    "parse_note",
    "root",
    "sign_note",
    "verify_consistency",
    "verify_evidence",
    "verify_inclusion",
]
