"""Shared fixtures for the ledger tests: the reference vectors and a naive tree."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from ledger_helpers import load_vectors, postgres_dsn


@pytest.fixture(scope="session")
def rfc_leaves() -> list[bytes]:
    return [bytes.fromhex(h) for h in load_vectors("rfc6962_roots.json")["leaf_inputs_hex"]]


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
