"""Building parties and signed declarations for the registry tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from accord.ledger import Signer
from accord.registry.signing import make_declaration, party_key, sign


def register(
    client: httpx.Client, token: str, party: str, country: str = "US", role: str = "lab"
) -> Signer:
    key = party_key(party)
    resp = client.post(
        "/v1/parties",
        json={
            "party_id": party,
            "name": party,
            "role": role,
            "country": country,
            "vkey": key.verifier.vkey,
        },
        headers={"authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 201, resp.text
    return key


def signed(
    key: Signer,
    kind: str,
    body: dict[str, Any],
    when: dt.datetime | None = None,
    nonce: str | None = None,
) -> dict[str, Any]:
    decl = make_declaration(key.name, kind, body, when, nonce)
    return sign(decl, key).model_dump(mode="json")


def facility(fid: str, country: str = "US") -> dict[str, Any]:
    return {"facility_id": fid, "name": f"site {fid}", "country": country}


def inventory(fid: str, as_of: str, **chips: int) -> dict[str, Any]:
    return {
        "facility_id": fid,
        "as_of": as_of,
        "chips": [{"chip": c, "count": n} for c, n in chips.items()],
    }
