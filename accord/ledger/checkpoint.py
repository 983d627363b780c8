"""C2SP tlog-checkpoint note bodies: origin, tree size, base64 root, extension lines."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from accord.errors import AccordError, IntegrityError
from accord.ledger.hashing import HASH_SIZE
from accord.ledger.note import (
    Note,
    Signer,
    Verifier,
    b64decode,
    b64encode,
    open_note,
    sign_note,
)

_SIZE = re.compile(r"0|[1-9][0-9]{0,18}")


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin:
            raise AccordError("origin", "must be one non-empty line")
        if not 0 <= self.size < 1 << 63:
            raise AccordError("size", f"{self.size} is out of range")
        if len(self.root) != HASH_SIZE:
            raise AccordError("root", "must be a 32-byte hash")
        for ext in self.extensions:
            if not ext or "\n" in ext:
                raise AccordError("extension", "lines must be non-empty single lines")

    def body(self) -> bytes:
        lines = [self.origin, str(self.size), b64encode(self.root), *self.extensions]
        return ("\n".join(lines) + "\n").encode()

    @classmethod
    def parse(cls, text: bytes) -> Checkpoint:
        """Parse a checkpoint note text (without signatures), strictly."""
        try:
            decoded = text.decode("utf-8")
        except UnicodeDecodeError:
            raise IntegrityError("checkpoint", "is not valid UTF-8") from None
        if not decoded.endswith("\n"):
            raise IntegrityError("checkpoint", "does not end with a newline")
        lines = decoded[:-1].split("\n")
        if len(lines) < 3:
            raise IntegrityError("checkpoint", "needs origin, size and root lines")
        origin, size_text, root_text, *extensions = lines
        if not origin:
            raise IntegrityError("checkpoint origin", "is empty")
        if not _SIZE.fullmatch(size_text) or int(size_text) >= 1 << 63:
            raise IntegrityError("checkpoint size", f"{size_text!r} is not a decimal tree size")
        root = b64decode(root_text, "checkpoint root")
        if len(root) != HASH_SIZE:
            raise IntegrityError("checkpoint root", "is not a 32-byte hash")
        if any(not ext for ext in extensions):
            raise IntegrityError("checkpoint", "has an empty extension line")
        return cls(origin, int(size_text), root, tuple(extensions))

    def sign(self, signers: Iterable[Signer]) -> bytes:
        return sign_note(self.body(), list(signers))


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: Note
    verified_by: tuple[Verifier, ...]


def open_checkpoint(data: bytes, log_key: Verifier, origin: str | None = None) -> SignedCheckpoint:
    """Verify a checkpoint note against the log's key and parse its body.

    The origin must match the log key's name unless ``origin`` is given explicitly: the
    key name is what ties a checkpoint to one log.
    """
    note, good = open_note(data, [log_key])
    cp = Checkpoint.parse(note.text)
    expected = log_key.name if origin is None else origin
    if cp.origin != expected:
        raise IntegrityError(
            "checkpoint origin", f"is {cp.origin!r}, expected {expected!r}", "wrong log?"
        )
    return SignedCheckpoint(cp, note, tuple(good))
