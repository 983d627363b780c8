"""Helpers shared by the ledger tests (a uniquely named module, so that other areas'
conftest.py files cannot shadow it)."""

from __future__ import annotations

import hashlib
import json
import os
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


def postgres_dsn() -> str:
    """The test server's DSN; skips locally without one but fails under CI=true."""
    dsn = os.environ.get("ACCORD_TEST_PG_DSN")
    if not dsn:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail('ACCORD_TEST_PG_DSN is unset under CI: run eval "$(.ci/postgres.sh)"')
        pytest.skip('ACCORD_TEST_PG_DSN is unset (eval "$(.ci/postgres.sh)" to run these)')
    return dsn
