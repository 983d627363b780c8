"""C2SP signed notes (c2sp.org/signed-note) with Ed25519, byte-compatible with Go's
golang.org/x/mod/sumdb/note.

Key IDs are SHA-256(name || 0x0A || type || public key)[:4]. Type 0x01 signs the note
text directly; type 0x04 is the timestamped witness cosignature of c2sp.org/tlog-cosignature,
which signs ``cosignature/v1\\ntime <t>\\n`` followed by the checkpoint text and carries
the 8-byte big-endian timestamp before the signature. Both use the same key encodings so a
witness key is handled exactly like a log key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from accord.errors import AccordError, IntegrityError

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
_ALGS = {ALG_ED25519: "Ed25519", ALG_COSIGNATURE_V1: "Ed25519 cosignature/v1"}
MAX_NOTE_BYTES = 1 << 20
MAX_SIGNATURES = 100
_DASH = "\u2014 "


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, field_name: str) -> bytes:
    """Strict standard base64: rejects junk characters and non-canonical padding."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise IntegrityError(field_name, "is not valid base64") from None
    if b64encode(raw) != text:
        raise IntegrityError(field_name, "is not canonical base64")
    return raw


def check_key_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name) or not name.isprintable():
        raise AccordError(
            "key name", f"{name!r} is empty or holds spaces or '+'", "use e.g. example.com/log"
        )


def key_id(name: str, alg: int, public_key: bytes) -> int:
    """First four bytes, big-endian, of SHA-256(name || '\\n' || alg || public key)."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def cosigned_message(text: bytes, timestamp: int) -> bytes:
    return b"cosignature/v1\ntime %d\n" % timestamp + text


@dataclass(frozen=True)
class Verifier:
    """A public key that checks note signatures: ``name+hex8+base64(alg || key)``."""

    name: str
    alg: int
    public_key: bytes

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.alg, self.public_key)

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.key_id:08x}+{b64encode(bytes([self.alg]) + self.public_key)}"

    def __str__(self) -> str:
        return self.vkey

    @classmethod
    def parse(cls, vkey: str) -> Verifier:
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3:
            raise AccordError(
                "verifier key", "must be name+hex8+base64", "pass the log's public key string"
            )
        name, hex_id, material = parts
        check_key_name(name)
        raw = b64decode(material, "verifier key")
        if len(raw) != 33 or raw[0] not in _ALGS:
            raise AccordError("verifier key", "is not an Ed25519 (type 0x01 or 0x04) key")
        verifier = cls(name, raw[0], raw[1:])
        if len(hex_id) != 8 or hex_id != f"{verifier.key_id:08x}":
            raise AccordError("verifier key", "key ID does not match the name and key")
        return verifier

    def _public(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public_key)

    def verify(self, text: bytes, signature: bytes) -> bool:
        """True iff ``signature`` (without the key ID) signs ``text`` for this key."""
        if self.alg == ALG_COSIGNATURE_V1:
            if len(signature) != 8 + 64:
                return False
            (timestamp,) = struct.unpack(">Q", signature[:8])
            if timestamp >= 1 << 63:
                return False
            message, sig = cosigned_message(text, timestamp), signature[8:]
        else:
            if len(signature) != 64:
                return False
            message, sig = text, signature
        try:
            self._public().verify(sig, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A private key: ``PRIVATE+KEY+name+hex8+base64(alg || 32-byte seed)`` as in Go."""

    name: str
    alg: int
    seed: bytes = field(repr=False)
    clock: Callable[[], float] = field(default=time.time, repr=False, compare=False)

    @classmethod
    def generate(cls, name: str, alg: int = ALG_ED25519) -> Signer:
        check_key_name(name)
        if alg not in _ALGS:
            raise AccordError("alg", f"unsupported signature type {alg}")
        seed = Ed25519PrivateKey.generate().private_bytes_raw()
        return cls(name, alg, seed)

    @classmethod
    def parse(cls, skey: str) -> Signer:
        parts = skey.strip().split("+", 4)
        if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
            raise AccordError(
                "signer key", "must be PRIVATE+KEY+name+hex8+base64", "pass the log's key file"
            )
        name, hex_id, material = parts[2:]
        check_key_name(name)
        raw = b64decode(material, "signer key")
        if len(raw) != 33 or raw[0] not in _ALGS:
            raise AccordError("signer key", "is not an Ed25519 (type 0x01 or 0x04) key")
        signer = cls(name, raw[0], raw[1:])
        if hex_id != f"{signer.verifier.key_id:08x}":
            raise AccordError("signer key", "key ID does not match the name and key")
        return signer

    @property
    def skey(self) -> str:
        material = b64encode(bytes([self.alg]) + self.seed)
        return f"PRIVATE+KEY+{self.name}+{self.verifier.key_id:08x}+{material}"

    @property
    def verifier(self) -> Verifier:
        public = _raw_public(Ed25519PrivateKey.from_private_bytes(self.seed).public_key())
        return Verifier(self.name, self.alg, public)

    def sign(self, text: bytes) -> bytes:
        """Signature bytes (without key ID) over the note text."""
        key = Ed25519PrivateKey.from_private_bytes(self.seed)
        if self.alg == ALG_COSIGNATURE_V1:
            timestamp = int(self.clock())
            return struct.pack(">Q", timestamp) + key.sign(cosigned_message(text, timestamp))
        return key.sign(text)


@dataclass(frozen=True)
class NoteSignature:
    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        return f"{_DASH}{self.name} {b64encode(self.key_id.to_bytes(4, 'big') + self.signature)}\n"


@dataclass(frozen=True)
class Note:
    """A parsed note: its text and every signature line, verified or not."""

    text: bytes
    signatures: tuple[NoteSignature, ...]

    def to_bytes(self) -> bytes:
        return self.text + b"\n" + "".join(s.line() for s in self.signatures).encode()


def _check_text(text: bytes, field_name: str) -> str:
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        raise IntegrityError(field_name, "is not valid UTF-8") from None
    if any(ord(c) < 0x20 and c != "\n" for c in decoded) or "\x7f" in decoded:
        raise IntegrityError(field_name, "holds control characters")
    return decoded


def parse_note(data: bytes) -> Note:
    """Split a signed note into text and signature lines (no verification)."""
    if not isinstance(data, bytes):
        raise IntegrityError("note", "must be bytes")
    if len(data) > MAX_NOTE_BYTES:
        raise IntegrityError("note", f"is larger than {MAX_NOTE_BYTES} bytes")
    whole = _check_text(data, "note")
    split = whole.rfind("\n\n")
    if split < 0:
        raise IntegrityError("note", "has no blank line before its signatures", "is it signed?")
    text, sig_block = whole[: split + 1], whole[split + 2 :]
    if not sig_block.endswith("\n"):
        raise IntegrityError("note", "does not end with a newline", "the note is truncated")
    lines = sig_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise IntegrityError("note", f"has more than {MAX_SIGNATURES} signatures")
    signatures = []
    for number, line in enumerate(lines, 1):
        if not line.startswith(_DASH):
            raise IntegrityError(f"note signature line {number}", "does not start with '— '")
        name, sep, b64 = line[len(_DASH) :].partition(" ")
        if not sep or not name or "+" in name or " " in b64:
            raise IntegrityError(f"note signature line {number}", "is not '— <name> <base64>'")
        raw = b64decode(b64, f"note signature line {number}")
        if len(raw) < 5:
            raise IntegrityError(f"note signature line {number}", "signature is too short")
        signatures.append(NoteSignature(name, int.from_bytes(raw[:4], "big"), raw[4:]))
    return Note(text.encode(), tuple(signatures))


def sign_note(
    text: bytes, signers: Sequence[Signer], existing: Iterable[NoteSignature] = ()
) -> bytes:
    """Signed note bytes: ``text`` (which must end in a newline) plus one line per signer."""
    _check_text(text, "note text")
    if not text.endswith(b"\n"):
        raise AccordError("note text", "must end with a newline")
    sigs = list(existing)
    for signer in signers:
        sigs.append(NoteSignature(signer.name, signer.verifier.key_id, signer.sign(text)))
    return Note(text, tuple(sigs)).to_bytes()


def open_note(data: bytes, verifiers: Iterable[Verifier]) -> tuple[Note, list[Verifier]]:
    """Parse and verify: returns the note and the known keys whose signatures verified.

    As the spec requires, signatures by unknown keys are ignored, a known key's bad
    signature rejects the whole note, and a note no known key signed is rejected.
    """
    note = parse_note(data)
    known = {(v.name, v.key_id): v for v in verifiers}
    good: list[Verifier] = []
    for sig in note.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue
        if not verifier.verify(note.text, sig.signature):
            raise IntegrityError(
                "note", f"signature by {sig.name} does not verify", "the note was altered"
            )
        if verifier not in good:
            good.append(verifier)
    if not good:
        raise IntegrityError(
            "note", "is not signed by any trusted key", "check you passed the right verifier key"
        )
    return note, good
