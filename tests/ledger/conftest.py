"""Shared fixtures for the ledger tests: the reference vectors and a naive tree."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

VECTORS = Path(__file__).resolve().parents[1] / "data" / "tlog_vectors"


def load_vectors(name: str) -> Any:
    return json.loads((VECTORS / name).read_text())


def naive_mth(entries: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 written as literally as possible, as an independent reference."""
    n = len(entries)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + naive_mth(entries[:k]) + naive_mth(entries[k:])).digest()


@pytest.fixture(scope="session")
def rfc_leaves() -> list[bytes]:
    return [bytes.fromhex(h) for h in load_vectors("rfc6962_roots.json")["leaf_inputs_hex"]]
