"""Signing and checking declarations with a party's Ed25519 key.

Party keys use the same text encodings as the log's keys (C2SP signed-note style:
``PRIVATE+KEY+<party>+<id>+<base64>`` and ``<party>+<id>+<base64>``), so one tool set reads
both. The signature is plain Ed25519 over the RFC 8785 bytes of the declaration.
"""

from __future__ import annotations

import base64
import datetime as dt
import secrets
from typing import Any

from accord.errors import AccordError
from accord.ledger.note import ALG_ED25519, Signer, Verifier
from accord.model.declaration import Declaration, Kind, SignedDeclaration


def utc_text(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def party_key(party: str) -> Signer:
    """A fresh Ed25519 key for ``party`` (the key name is the party id)."""
    return Signer.generate(party, ALG_ED25519)


def make_declaration(
    party: str,
    kind: Kind | str,
    body: dict[str, Any],
    issued_at: dt.datetime | None = None,
    nonce: str | None = None,
) -> Declaration:
    return Declaration(
        party=party,
        kind=Kind(kind),
        body=body,
        issued_at=utc_text(issued_at or dt.datetime.now(dt.UTC)),
        nonce=nonce or new_nonce(),
    )


def sign(declaration: Declaration, signer: Signer) -> SignedDeclaration:
    if signer.alg != ALG_ED25519:
        raise AccordError("key", "party keys must be Ed25519 (type 0x01) keys")
    if signer.name != declaration.party:
        raise AccordError(
            "key", f"is {signer.name!r}'s key but the declaration is by {declaration.party!r}"
        )
    signature = signer.sign(declaration.canonical())
    return SignedDeclaration(
        declaration=declaration, signature=base64.b64encode(signature).decode("ascii")
    )


def verify(signed: SignedDeclaration, key: Verifier, canonical: bytes | None = None) -> bool:
    """True iff the party's key signed the canonical bytes of the declaration
    (``canonical``: those bytes, if the caller computed them already)."""
    if key.alg != ALG_ED25519 or key.name != signed.declaration.party:
        return False
    data = signed.declaration.canonical() if canonical is None else canonical
    return key.verify(data, signed.signature_bytes())
