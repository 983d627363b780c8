"""Sigstore's own Python verifier (sigstore-python 4.x) accepts Accord's proofs and checkpoints.

Accord's inclusion proofs and signed checkpoints are wrapped, unchanged, in the Sigstore
bundle's ``TransparencyLogEntry`` message (parsed from its protobuf-JSON form by
``sigstore_models``, as a bundle would be), and checked by the exact call
``sigstore.verify.Verifier`` makes in its step (4), ``entry._verify(rekor_keyring)``: that runs
``sigstore._internal.merkle.verify_merkle_inclusion`` (RFC 6962 inclusion, leaf hash computed
by sigstore from the raw entry) and ``sigstore._internal.rekor.checkpoint.verify_checkpoint``
(signed note against the trusted root's key, then checkpoint root == proof root).

Those functions, ``TransparencyLogEntry._verify`` and the ``TrustedRoot`` constructor are
private sigstore API (underscored modules/methods or ``@api private``); the tests pin the
behaviour relied on, so a sigstore release that changes it fails here rather than silently.

One requirement is not Accord's choice but sigstore's: ``verify_checkpoint`` looks for the
note signature whose 4-byte key hash equals the first four bytes of the entry's log ID. Rekor
v2 (like every C2SP log) uses the checkpoint key ID ``SHA-256(name || 0x0A || type || key)``
there; a Rekor-v1-style log ID (SHA-256 of the DER public key) finds no signature, which
``test_sigstore_needs_the_c2sp_checkpoint_key_id_as_log_id`` pins.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

# Private sigstore API (see the module docstring); the public sigstore surface only verifies
# whole bundles whose log entries are Rekor hashedrekord/dsse bodies signed via Fulcio.
from sigstore._internal.merkle import verify_merkle_inclusion
from sigstore._internal.rekor.checkpoint import SignedCheckpoint, verify_checkpoint
from sigstore._internal.trust import KeyringPurpose, RekorKeyring
from sigstore.errors import VerificationError
from sigstore.models import TransparencyLogEntry, TrustedRoot
from sigstore_models.rekor.v1 import TransparencyLogEntry as TransparencyLogEntryMessage
from sigstore_models.trustroot.v1 import TrustedRoot as TrustedRootMessage

from accord.ledger import (
    ALG_COSIGNATURE_V1,
    Checkpoint,
    Log,
    Signer,
    Verifier,
    Witness,
    add_cosignatures,
    open_store,
)

ORIGIN = "example.com/accord-sigstore-interop"
# Sizes: a single leaf, every small shape (powers of two and not), tile edges (256), a
# two-level tile tree (65,536) and one beyond it.
SIZES = [1, 2, 3, 4, 5, 6, 7, 8, 9, 255, 256, 257, 1000, 65_536, 70_001]
EXHAUSTIVE_UP_TO = 9


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def entry_bytes(i: int) -> bytes:
    return b"accord declaration %d" % i


def checkpoint_key_id(verifier: Verifier) -> bytes:
    """The C2SP checkpoint key ID (full SHA-256; its first four bytes are the note key hash).

    Computed here from the spec rather than taken from Accord, so the test checks Accord's
    note key hashes against it instead of trusting them.
    """
    return hashlib.sha256(
        verifier.name.encode() + b"\n" + bytes([verifier.alg]) + verifier.public_key
    ).digest()


def spki_der(verifier: Verifier) -> bytes:
    key = Ed25519PublicKey.from_public_bytes(verifier.public_key)
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def rekor_keyring(verifier: Verifier) -> RekorKeyring:
    """A sigstore trusted root naming the Accord log as its only transparency log."""
    message = {
        "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
        "tlogs": [
            {
                "baseUrl": f"https://{ORIGIN}",
                "hashAlgorithm": "SHA2_256",
                "publicKey": {
                    "rawBytes": b64(spki_der(verifier)),
                    "keyDetails": "PKIX_ED25519",
                    "validFor": {"start": "2020-01-01T00:00:00Z"},
                },
                "logId": {"keyId": b64(checkpoint_key_id(verifier))},
                "checkpointKeyId": {"keyId": b64(checkpoint_key_id(verifier))},
            }
        ],
        "certificateAuthorities": [],
        "ctlogs": [],
    }
    root = TrustedRoot(TrustedRootMessage.from_json(json.dumps(message)))
    return root.rekor_keyring(KeyringPurpose.VERIFY)


@dataclass(frozen=True)
class Bundled:
    """What a bundle's TransparencyLogEntry carries for one Accord entry."""

    index: int
    size: int
    body: bytes
    proof: list[bytes]
    root: bytes
    note: bytes
    log_id: bytes

    def entry(self) -> TransparencyLogEntry:
        """Built from the message's protobuf-JSON wire form, as sigstore reads bundles."""
        message = {
            "logIndex": str(self.index),
            "logId": {"keyId": b64(self.log_id)},
            "kindVersion": {"kind": "accord-entry", "version": "0.1.0"},
            "inclusionProof": {
                "logIndex": str(self.index),
                "rootHash": b64(self.root),
                "treeSize": str(self.size),
                "hashes": [b64(h) for h in self.proof],
                "checkpoint": {"envelope": self.note.decode()},
            },
            "canonicalizedBody": b64(self.body),
        }
        return TransparencyLogEntry(TransparencyLogEntryMessage.from_json(json.dumps(message)))


@dataclass
class AccordLog:
    log: Log
    signer: Signer
    notes: dict[int, bytes]
    keyring: RekorKeyring

    @property
    def log_id(self) -> bytes:
        return checkpoint_key_id(self.signer.verifier)

    def bundled(self, index: int, size: int, note: bytes | None = None) -> Bundled:
        return Bundled(
            index=index,
            size=size,
            body=self.log.entry(index),
            proof=self.log.inclusion_proof(index, size),
            root=self.log.root(size),
            note=self.notes[size] if note is None else note,
            log_id=self.log_id,
        )

    def entry(self, index: int, size: int, note: bytes | None = None) -> TransparencyLogEntry:
        return self.bundled(index, size, note).entry()


@pytest.fixture(scope="module")
def accord_log(tmp_path_factory: pytest.TempPathFactory) -> AccordLog:
    tmp = tmp_path_factory.mktemp("sigstore")
    signer = Signer.generate(ORIGIN)
    log = Log.create(open_store(tmp / "log.db"), signer)
    notes: dict[int, bytes] = {}
    for n, size in enumerate(SIZES):
        log.append_many([entry_bytes(i) for i in range(log.size, size)])
        # Every third checkpoint carries extension lines (c2sp.org/tlog-checkpoint).
        extensions = (f"accord-size-note {size}", "second extension") if n % 3 == 0 else ()
        notes[size] = log.checkpoint(extensions)
    # The newest checkpoint also carries a witness cosignature that sigstore does not know.
    witness = Witness(
        Signer.generate("witness.example/w1", ALG_COSIGNATURE_V1),
        [signer.verifier],
        tmp / "witness.json",
    )
    last = SIZES[-1]
    notes[last] = add_cosignatures(notes[last], [witness.add_checkpoint(notes[last], 0, [])])
    return AccordLog(log, signer, notes, rekor_keyring(signer.verifier))


def indexes_for(size: int) -> list[int]:
    if size <= EXHAUSTIVE_UP_TO:
        return list(range(size))
    picks = {0, 1, size // 2, size - 2, size - 1, 255, 256, 65_535, 65_536}
    return sorted(i for i in picks if i < size)


@pytest.mark.parametrize("size", SIZES)
def test_sigstore_accepts_accord_inclusion_proofs_and_checkpoints(
    accord_log: AccordLog, size: int
) -> None:
    note = accord_log.notes[size]
    parsed = SignedCheckpoint.from_text(note.decode())
    assert parsed.checkpoint.origin == ORIGIN
    assert parsed.checkpoint.log_size == size
    assert parsed.checkpoint.log_hash == accord_log.log.root(size).hex()
    # Accord's note key hash is the C2SP one sigstore matches against the log ID.
    assert any(s.sig_hash == accord_log.log_id[:4] for s in parsed.signed_note.signatures)

    checked = 0
    for index in indexes_for(size):
        entry = accord_log.entry(index, size)
        verify_merkle_inclusion(entry)
        verify_checkpoint(accord_log.keyring, entry)
        entry._verify(accord_log.keyring)  # what Verifier runs as its step (4)
        checked += 1
    assert checked == len(indexes_for(size)) > 0


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_sigstore_accepts_any_index_in_any_size(accord_log: AccordLog, data: st.DataObject) -> None:
    """Random (index, size) pairs, each with a checkpoint signed for that size."""
    size = data.draw(st.integers(1, 1000), label="size")
    index = data.draw(st.integers(0, size - 1), label="index")
    note = Checkpoint(ORIGIN, size, accord_log.log.root(size)).sign([accord_log.signer])
    accord_log.entry(index, size, note)._verify(accord_log.keyring)


def flip(data: bytes, bit: int = 0) -> bytes:
    return bytes([data[0] ^ (1 << bit)]) + data[1:]


@pytest.mark.parametrize(("index", "size"), [(0, 1), (0, 7), (6, 7), (3, 8), (256, 1000)])
def test_sigstore_rejects_mutated_proofs_roots_and_entries(
    accord_log: AccordLog, index: int, size: int
) -> None:
    log = accord_log.log
    good = accord_log.bundled(index, size)
    good.entry()._verify(accord_log.keyring)

    proof = good.proof
    bad = [
        replace(good, root=flip(good.root)),
        replace(good, body=good.body + b"!"),
        replace(good, body=log.entry((index + 1) % log.size)),
        replace(good, proof=[*proof, proof[-1] if proof else good.root]),
    ]
    if proof:
        bad.append(replace(good, proof=proof[:-1]))
        if len(proof) > 1:
            bad.append(replace(good, proof=proof[::-1]))
        bad.extend(
            replace(good, proof=[*proof[:k], flip(proof[k], k % 8), *proof[k + 1 :]])
            for k in range(len(proof))
        )
        bad.append(replace(good, index=index ^ 1 if index ^ 1 < size else index - 1))
    for case in bad:
        with pytest.raises(VerificationError):
            verify_merkle_inclusion(case.entry())
    assert len(bad) >= 4


def test_sigstore_rejects_checkpoints_that_do_not_match(accord_log: AccordLog) -> None:
    log, size, index = accord_log.log, 1000, 500
    keyring = accord_log.keyring

    # A valid proof, but a checkpoint (validly signed) for another tree size.
    with pytest.raises(VerificationError, match="root hash"):
        verify_checkpoint(keyring, accord_log.entry(index, size, accord_log.notes[257]))

    # The signed body altered after signing.
    note = accord_log.notes[size]
    forged = note.replace(b"\n1000\n", b"\n1001\n", 1)
    assert forged != note
    with pytest.raises(VerificationError, match="invalid signature"):
        verify_checkpoint(keyring, accord_log.entry(index, size, forged))

    # An impostor key with the same name signs the same tree head, and the bundle names the
    # impostor's key ID. Only the trusted root's key is in the keyring, so it fails ...
    impostor = Signer.generate(ORIGIN)
    fake = Checkpoint(ORIGIN, size, log.root(size)).sign([impostor])
    forged_entry = replace(
        accord_log.bundled(index, size, fake), log_id=checkpoint_key_id(impostor.verifier)
    )
    with pytest.raises(VerificationError, match="invalid signature"):
        verify_checkpoint(keyring, forged_entry.entry())
    # ... and under the real log ID sigstore finds no signature at all.
    with pytest.raises(VerificationError, match="Signature not found"):
        verify_checkpoint(keyring, accord_log.entry(index, size, fake))


def test_sigstore_needs_the_c2sp_checkpoint_key_id_as_log_id(accord_log: AccordLog) -> None:
    """Pins the one interop condition: Rekor-v1-style log IDs do not find C2SP signatures."""
    rekor_v1_log_id = hashlib.sha256(spki_der(accord_log.signer.verifier)).digest()
    entry = replace(accord_log.bundled(256, 257), log_id=rekor_v1_log_id).entry()
    verify_merkle_inclusion(entry)  # the proof itself does not depend on the log ID
    with pytest.raises(VerificationError, match="Signature not found"):
        verify_checkpoint(accord_log.keyring, entry)


def test_keyring_comes_from_the_trusted_root(accord_log: AccordLog) -> None:
    """Non-vacuity of the keyring: a trusted root holding another key rejects the note."""
    other = rekor_keyring(Signer.generate(ORIGIN).verifier)
    with pytest.raises(VerificationError, match="invalid signature"):
        verify_checkpoint(other, accord_log.entry(0, 1))
