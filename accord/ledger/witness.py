"""Witness cosigning (c2sp.org/tlog-cosignature, tlog-witness) and k-of-n client policy.

A witness keeps, per log origin, the last checkpoint it cosigned. It cosigns a new one only
when the log's signature verifies and a consistency proof links the two, and it writes the
new state to disk (atomically, fsynced) before releasing the cosignature, so a crash can
never make it cosign two inconsistent views. A same-size checkpoint with another root is a
split view that the witness can prove on its own: it returns the evidence bundle.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from accord.errors import AccordError, IntegrityError
from accord.ledger.checkpoint import SignedCheckpoint, open_checkpoint
from accord.ledger.evidence import same_size_evidence
from accord.ledger.note import (
    ALG_COSIGNATURE_V1,
    NoteSignature,
    Signer,
    Verifier,
    b64decode,
    b64encode,
    open_note,
    parse_note,
)
from accord.ledger.proofs import check_consistency


class WitnessConflict(IntegrityError):
    """The log's idea of the witness's last size is stale (HTTP 409 in tlog-witness)."""

    def __init__(self, origin: str, size: int) -> None:
        super().__init__(
            "old", f"witness last cosigned size {size} of {origin}", f"retry with old={size}"
        )
        self.size = size


class SplitViewDetected(IntegrityError):
    """The log signed two different trees of one size; ``evidence`` proves it."""

    def __init__(self, evidence: dict[str, object]) -> None:
        super().__init__(
            "checkpoint",
            "the log signed two different roots for the same size (split view)",
            "publish the evidence bundle",
        )
        self.evidence = evidence


def _fsync_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


@dataclass
class Witness:
    """A cosigner for a set of logs, with its state in a JSON file."""

    signer: Signer
    logs: Sequence[Verifier]
    state_path: Path

    def __post_init__(self) -> None:
        if self.signer.alg != ALG_COSIGNATURE_V1:
            raise AccordError("witness key", "must be a cosignature (type 0x04) key")

    def _state(self) -> dict[str, str]:
        if not self.state_path.exists():
            return {}
        try:
            state = json.loads(self.state_path.read_text())
        except (OSError, ValueError):
            raise IntegrityError("witness state", f"{self.state_path} is unreadable") from None
        if not isinstance(state, dict) or not all(isinstance(v, str) for v in state.values()):
            raise IntegrityError("witness state", f"{self.state_path} is malformed")
        return state

    def latest(self, origin: str) -> SignedCheckpoint | None:
        note = self._state().get(origin)
        if note is None:
            return None
        return open_checkpoint(note.encode(), self._log(origin))

    def _log(self, origin: str) -> Verifier:
        for log in self.logs:
            if log.name == origin:
                return log
        raise AccordError("origin", f"this witness does not follow log {origin!r}")

    def add_checkpoint(self, note: bytes, old_size: int, proof: Sequence[bytes]) -> str:
        """Cosign ``note`` if it extends what this witness last cosigned; returns the line.

        ``old_size`` is the size the caller believes the witness holds, ``proof`` the
        consistency proof from that size to the new checkpoint.
        """
        origin = parse_note(note).text.split(b"\n", 1)[0].decode()
        log = self._log(origin)
        new = open_checkpoint(note, log)
        old = self.latest(origin)
        old_cp_size = old.checkpoint.size if old else 0
        if old_size != old_cp_size:
            raise WitnessConflict(origin, old_cp_size)
        if old is not None:
            if new.checkpoint.size == old.checkpoint.size and new.checkpoint.root != (
                old.checkpoint.root
            ):
                raise SplitViewDetected(same_size_evidence(log, old.note, new.note))
            if new.checkpoint.size < old.checkpoint.size:
                raise IntegrityError(
                    "checkpoint", "is older than the one this witness cosigned", "send a newer one"
                )
            check_consistency(
                old.checkpoint.size,
                new.checkpoint.size,
                old.checkpoint.root,
                new.checkpoint.root,
                proof,
            )
        elif proof:
            raise IntegrityError("proof", "must be empty for a log this witness has not seen")
        state = self._state()
        state[origin] = note.decode()
        _fsync_write(self.state_path, json.dumps(state, indent=1, sort_keys=True).encode())
        sig = self.signer.sign(new.note.text)
        return NoteSignature(self.signer.name, self.signer.verifier.key_id, sig).line()


def add_cosignatures(note: bytes, lines: Sequence[str]) -> bytes:
    """Append witness signature lines to a signed note."""
    extra = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    if not note.endswith(b"\n"):
        raise IntegrityError("note", "does not end with a newline")
    return note + extra.encode()


def parse_add_checkpoint(body: bytes) -> tuple[int, list[bytes], bytes]:
    """Parse a tlog-witness ``add-checkpoint`` request: ``old N``, proof lines, blank, note."""
    head, sep, note = body.partition(b"\n\n")
    if not sep:
        raise IntegrityError("request", "has no blank line before the checkpoint")
    lines = head.decode("ascii", errors="replace").split("\n")
    first = lines[0].split(" ")
    if len(first) != 2 or first[0] != "old" or not first[1].isdigit():
        raise IntegrityError("request", "must start with 'old <size>'")
    proof = [b64decode(line, "request proof") for line in lines[1:]]
    return int(first[1]), proof, note


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], note: bytes) -> bytes:
    lines = [f"old {old_size}", *(b64encode(p) for p in proof)]
    return ("\n".join(lines) + "\n\n").encode() + note


@dataclass(frozen=True)
class WitnessPolicy:
    """Trust a checkpoint only when the log signed it and ``quorum`` of ``witnesses`` did."""

    log: Verifier
    witnesses: Sequence[Verifier]
    quorum: int

    def __post_init__(self) -> None:
        if not 0 <= self.quorum <= len(self.witnesses):
            raise AccordError("quorum", f"{self.quorum} is not between 0 and {len(self.witnesses)}")
        if any(w.alg != ALG_COSIGNATURE_V1 for w in self.witnesses):
            raise AccordError("witness key", "must be cosignature (type 0x04) keys")

    def check(self, note: bytes) -> SignedCheckpoint:
        signed = open_checkpoint(note, self.log)
        _, good = open_note(note, [self.log, *self.witnesses])
        count = sum(1 for v in good if v in self.witnesses)
        if count < self.quorum:
            raise IntegrityError(
                "checkpoint",
                f"cosigned by {count} of the required {self.quorum} witnesses",
                "wait for more witnesses or check the witness keys",
            )
        return SignedCheckpoint(signed.checkpoint, signed.note, tuple(good))
