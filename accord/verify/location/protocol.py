"""Signed challenge-response for RTT measurement: the target cannot answer early.

1. The landmark draws a 32-byte random nonce and sends ``Challenge(landmark_id, nonce)``,
   noting its own clock just before sending.
2. The target signs ``landmark_id || nonce`` with its Ed25519 key (ideally a key that never
   leaves the chip) and returns the signature.
3. The landmark notes its clock on receipt, checks the signature, and signs a
   ``MeasurementRecord`` (landmark, target key, nonce, send and receive times, the target's
   signature).
4. The verifier checks both signatures, that the receive time follows the send time, and
   that no nonce is used twice. The nonce is unpredictable, so a valid signature over it
   cannot exist before the challenge did: the target can delay its answer, never pre-empt it.

What this does not stop: a copy of the key answering from somewhere else (a relay near the
landmark). That is why the key should be bound to the chip, and why an empty or split
feasible region is itself reported as a finding.

Wire messages are small binary frames; records are JSON. Both are parsed defensively
(lengths, magic, hex) and raise IntegrityError on anything malformed.
"""

from __future__ import annotations

import json
import secrets
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from accord.errors import IntegrityError
from accord.verify.location.inputs import RttSample

NONCE_BYTES = 32
SIG_BYTES = 64
KEY_BYTES = 32
MAX_ID_BYTES = 64
_CHALLENGE_MAGIC = b"ACH1"
_RESPONSE_MAGIC = b"ARS1"
_RESPONSE_DOMAIN = b"accord.location.response.v1\x00"
_RECORD_DOMAIN = b"accord.location.record.v1\x00"


def public_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    pub = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return pub.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _id_bytes(landmark_id: str) -> bytes:
    raw = landmark_id.encode("utf-8")
    if not raw or len(raw) > MAX_ID_BYTES:
        raise IntegrityError("landmark_id", f"must be 1..{MAX_ID_BYTES} UTF-8 bytes")
    return raw


@dataclass(frozen=True)
class Challenge:
    landmark_id: str
    nonce: bytes

    def encode(self) -> bytes:
        raw = _id_bytes(self.landmark_id)
        return _CHALLENGE_MAGIC + bytes([len(raw)]) + raw + self.nonce

    @staticmethod
    def decode(data: bytes) -> Challenge:
        if len(data) < 5 or data[:4] != _CHALLENGE_MAGIC:
            raise IntegrityError("challenge", "is not an Accord challenge frame")
        n = data[4]
        if n == 0 or n > MAX_ID_BYTES or len(data) != 5 + n + NONCE_BYTES:
            raise IntegrityError("challenge", "has a wrong length")
        try:
            landmark_id = data[5 : 5 + n].decode("utf-8")
        except UnicodeDecodeError:
            raise IntegrityError("challenge", "landmark id is not UTF-8") from None
        return Challenge(landmark_id, bytes(data[5 + n :]))


def _response_message(landmark_id: str, nonce: bytes) -> bytes:
    raw = _id_bytes(landmark_id)
    return _RESPONSE_DOMAIN + bytes([len(raw)]) + raw + nonce


def encode_response(nonce: bytes, signature: bytes) -> bytes:
    return _RESPONSE_MAGIC + nonce + signature


def decode_response(data: bytes) -> tuple[bytes, bytes]:
    """(nonce, signature) from a response frame."""
    if len(data) != 4 + NONCE_BYTES + SIG_BYTES or data[:4] != _RESPONSE_MAGIC:
        raise IntegrityError("response", "is not an Accord response frame")
    return bytes(data[4 : 4 + NONCE_BYTES]), bytes(data[4 + NONCE_BYTES :])


class TargetResponder:
    """The chip's side: sign whatever challenge arrives, as fast as it can."""

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key = public_bytes(key)

    def respond(self, frame: bytes) -> bytes:
        challenge = Challenge.decode(frame)
        sig = self._key.sign(_response_message(challenge.landmark_id, challenge.nonce))
        return encode_response(challenge.nonce, sig)


@dataclass(frozen=True)
class MeasurementRecord:
    """One timed, doubly signed exchange between a landmark and the target."""

    landmark_id: str
    target_key: bytes
    nonce: bytes
    sent_ns: int
    received_ns: int
    response_signature: bytes
    landmark_signature: bytes = b""

    @property
    def rtt_ms(self) -> float:
        return (self.received_ns - self.sent_ns) / 1e6

    def signed_bytes(self) -> bytes:
        raw = _id_bytes(self.landmark_id)
        return (
            _RECORD_DOMAIN
            + bytes([len(raw)])
            + raw
            + self.target_key
            + self.nonce
            + struct.pack(">qq", self.sent_ns, self.received_ns)
            + self.response_signature
        )

    def to_json(self) -> str:
        return json.dumps(
            {
                "landmark_id": self.landmark_id,
                "target_key": self.target_key.hex(),
                "nonce": self.nonce.hex(),
                "sent_ns": self.sent_ns,
                "received_ns": self.received_ns,
                "response_signature": self.response_signature.hex(),
                "landmark_signature": self.landmark_signature.hex(),
            },
            sort_keys=True,
        )

    @staticmethod
    def from_json(text: str | bytes) -> MeasurementRecord:
        try:
            obj = json.loads(text)
        except (ValueError, UnicodeDecodeError):
            raise IntegrityError("record", "is not JSON") from None
        if not isinstance(obj, dict):
            raise IntegrityError("record", "is not a JSON object")
        fields = {
            "landmark_id",
            "target_key",
            "nonce",
            "sent_ns",
            "received_ns",
            "response_signature",
            "landmark_signature",
        }
        if set(obj) != fields:
            raise IntegrityError("record", f"must have exactly the fields {sorted(fields)}")

        def hexfield(name: str, size: int) -> bytes:
            value = obj[name]
            if not isinstance(value, str) or len(value) != 2 * size:
                raise IntegrityError(f"record.{name}", f"must be {size} bytes as hex")
            try:
                return bytes.fromhex(value)
            except ValueError:
                raise IntegrityError(f"record.{name}", "is not hex") from None

        def intfield(name: str) -> int:
            value = obj[name]
            if not isinstance(value, int) or isinstance(value, bool):
                raise IntegrityError(f"record.{name}", "must be an integer")
            if not -(2**63) <= value < 2**63:
                raise IntegrityError(f"record.{name}", "is out of range")
            return value

        landmark_id = obj["landmark_id"]
        if not isinstance(landmark_id, str):
            raise IntegrityError("record.landmark_id", "must be a string")
        _id_bytes(landmark_id)
        return MeasurementRecord(
            landmark_id=landmark_id,
            target_key=hexfield("target_key", KEY_BYTES),
            nonce=hexfield("nonce", NONCE_BYTES),
            sent_ns=intfield("sent_ns"),
            received_ns=intfield("received_ns"),
            response_signature=hexfield("response_signature", SIG_BYTES),
            landmark_signature=hexfield("landmark_signature", SIG_BYTES),
        )


class LandmarkStation:
    """The landmark's side: issue nonces, time the answers, sign the records."""

    def __init__(self, landmark_id: str, key: Ed25519PrivateKey) -> None:
        _id_bytes(landmark_id)
        self.landmark_id = landmark_id
        self._key = key
        self.public_key = public_bytes(key)
        self._pending: set[bytes] = set()

    def new_challenge(self) -> Challenge:
        nonce = secrets.token_bytes(NONCE_BYTES)
        self._pending.add(nonce)
        return Challenge(self.landmark_id, nonce)

    def issue(self, nonce: bytes) -> Challenge:
        """A challenge with a nonce drawn elsewhere (an inspection derives its nonces from a
        log checkpoint, so nobody can answer them early), pending like one of our own."""
        if len(nonce) != NONCE_BYTES:
            raise IntegrityError("nonce", f"must be {NONCE_BYTES} bytes")
        self._pending.add(nonce)
        return Challenge(self.landmark_id, nonce)

    def complete(
        self, challenge: Challenge, frame: bytes, target_key: bytes, sent_ns: int, received_ns: int
    ) -> MeasurementRecord:
        """Check the answer to our own outstanding challenge and sign the timed record."""
        if challenge.nonce not in self._pending:
            raise IntegrityError("response", "answers a challenge this landmark did not issue")
        nonce, sig = decode_response(frame)
        if nonce != challenge.nonce:
            raise IntegrityError("response", "answers a different nonce")
        _verify(target_key, sig, _response_message(self.landmark_id, nonce), "response")
        self._pending.discard(nonce)
        record = MeasurementRecord(
            self.landmark_id, target_key, nonce, sent_ns, received_ns, sig, b""
        )
        landmark_sig = self._key.sign(record.signed_bytes())
        return MeasurementRecord(
            self.landmark_id, target_key, nonce, sent_ns, received_ns, sig, landmark_sig
        )


def _verify(key: bytes, signature: bytes, message: bytes, what: str) -> None:
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, message)
    except (InvalidSignature, ValueError):
        raise IntegrityError(what, "signature does not verify") from None


def verify_records(
    records: Iterable[MeasurementRecord],
    landmark_keys: Mapping[str, bytes],
    target_key: bytes,
    target: str = "",
) -> list[RttSample]:
    """Check every record and turn it into an RTT sample; refuse the batch on any fault."""
    seen: set[bytes] = set()
    out: list[RttSample] = []
    for i, rec in enumerate(records):
        where = f"record[{i}]"
        key = landmark_keys.get(rec.landmark_id)
        if key is None:
            raise IntegrityError(where, f"comes from unknown landmark {rec.landmark_id!r}")
        if rec.target_key != target_key:
            raise IntegrityError(where, "was answered by a different target key")
        _verify(key, rec.landmark_signature, rec.signed_bytes(), f"{where}.landmark_signature")
        _verify(
            target_key,
            rec.response_signature,
            _response_message(rec.landmark_id, rec.nonce),
            f"{where}.response_signature",
        )
        if rec.received_ns <= rec.sent_ns:
            raise IntegrityError(where, "the response does not follow the challenge in time")
        if rec.nonce in seen:
            raise IntegrityError(where, "reuses a nonce (replayed answer)")
        seen.add(rec.nonce)
        out.append(RttSample(rec.landmark_id, rec.rtt_ms, target))
    return out
