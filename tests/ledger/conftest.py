"""Shared fixtures for the ledger tests: the reference vectors and a naive tree."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
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


def postgres_dsn() -> str:
    """The test server's DSN; skips locally without one but fails under CI=true."""
    dsn = os.environ.get("ACCORD_TEST_PG_DSN")
    if not dsn:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail('ACCORD_TEST_PG_DSN is unset under CI: run eval "$(.ci/postgres.sh)"')
        pytest.skip('ACCORD_TEST_PG_DSN is unset (eval "$(.ci/postgres.sh)" to run these)')
    return dsn


@pytest.fixture()
def pg_location() -> Iterator[str]:
    """A fresh PostgreSQL schema for one test, as a DSN that selects it."""
    import psycopg

    dsn = postgres_dsn()
    schema = f"accord_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in dsn else "?"
    yield f"{dsn}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "log.db")
    return str(request.getfixturevalue("pg_location"))
