"""The registry's tables (SQLAlchemy Core) and how to open and migrate a database.

The tables are an index over the log, not a second source of truth: every declaration and
finding row carries the leaf index of its log entry, and ``Registry`` rebuilds rows from
the log if the process stopped between a durable append and the row insert.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)

from accord.errors import AccordError

metadata = MetaData()

parties = Table(
    "reg_parties",
    metadata,
    Column("party_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("country", String(2), nullable=False),
    Column("vkey", Text, nullable=False),
    Column("registered_at", String(32), nullable=False),
    Column("revoked_at", String(32), nullable=True),
)

declarations = Table(
    "reg_declarations",
    metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("party", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("nonce", String(64), nullable=False),
    Column("issued_at", String(32), nullable=False),
    Column("subject", String(255), nullable=False),
    Column("event_date", String(10), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("doc", Text, nullable=False),
    Column("received_at", String(32), nullable=False),
    UniqueConstraint("party", "nonce", name="uq_reg_declarations_party_nonce"),
    Index("ix_reg_declarations_kind", "kind"),
    Index("ix_reg_declarations_party", "party"),
)

findings = Table(
    "reg_findings",
    metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("key", String(200), nullable=False, unique=True),
    Column("subject", String(255), nullable=False),
    Column("verifier", String(64), nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("severity", String(16), nullable=False),
    Column("doc", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
    Index("ix_reg_findings_severity", "severity"),
    Index("ix_reg_findings_verifier", "verifier"),
)

quarantine = Table(
    "reg_quarantine",
    metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("error", Text, nullable=False),
    Column("at", String(32), nullable=False),
)
"""Log entries whose index rows could not be written: they are in the log (and in the book),
the registry keeps serving, /healthz says it is degraded, and each start-up retries them."""

KEY_LENGTH = 200


def finding_key(key: str) -> str:
    """The finding key as stored: itself when short, else a prefix and its SHA-256.

    The column holds 200 characters; cutting a longer key would make two distinct findings
    collide. A stored key contains ``#`` exactly when it was hashed (keys containing ``#``
    are always hashed), so the mapping is one-to-one.
    """
    if len(key) <= KEY_LENGTH - 10 and "#" not in key:
        return key
    return key[:120] + "#" + hashlib.sha256(key.encode("utf-8")).hexdigest()


tokens = Table(
    "reg_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("label", String(200), nullable=False),
    Column("scope", String(32), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("revoked_at", String(32), nullable=True),
)

cosigned = Table(
    "reg_cosigned_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("note", Text, nullable=False),
    Column("updated_at", String(32), nullable=False),
)


def sqlalchemy_url(url: str) -> str:
    """Accept ``postgresql://`` (the libpq form) and use psycopg 3 as the driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith(("sqlite:///", "postgresql+psycopg://")):
        return url
    raise AccordError(
        "db", f"unsupported database URL {url!r}", "use sqlite:///PATH or postgresql://"
    )


def open_engine(url: str, durable: bool = True) -> Engine:
    """An engine on ``url``; ``durable=False`` for writes that can be rebuilt.

    The index rows are rebuilt from the log at start-up (everything past the last indexed
    entry is indexed again), so their commits need not wait for the disk: a power cut loses
    at most rows the next start writes again. Tokens and published cosignatures cannot be
    rebuilt and go through a durable engine.
    """
    sa_url = sqlalchemy_url(url)
    if sa_url.startswith("sqlite:///"):
        path = Path(sa_url[len("sqlite:///") :])
        if str(path) not in ("", ":memory:"):
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(sa_url, connect_args={"check_same_thread": False, "timeout": 30})
        sync = "FULL" if durable else "NORMAL"

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute(f"PRAGMA synchronous={sync}")
            cur.close()

        return engine
    args = {} if durable else {"options": "-c synchronous_commit=off"}
    return create_engine(
        sa_url, pool_size=10, max_overflow=20, pool_pre_ping=True, connect_args=args
    )


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (idempotent)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


inspections = Table(
    "reg_inspections",
    metadata,
    Column("inspection_id", String(32), primary_key=True),
    Column("declaration", BigInteger, nullable=False),
    Column("party", String(64), nullable=False),
    Column("verifier", String(32), nullable=False),
    Column("reference", BigInteger, nullable=True),
    Column("beacon_size", BigInteger, nullable=False),
    Column("beacon_root", String(64), nullable=False),
    Column("opened_at", String(32), nullable=False),
    Column("state", String(24), nullable=False),
    Column("stage", String(64), nullable=False, server_default=""),
    Column("progress", Float, nullable=False, server_default="0"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("heartbeat", Float, nullable=False, server_default="0"),
    Column("enqueued", Float, nullable=False, server_default="0"),
    Column("error", Text, nullable=True),
    Column("result", Text, nullable=True),
    Column("finding_leaf", BigInteger, nullable=True),
    Column("updated_at", String(32), nullable=False),
    Index("ix_reg_inspections_declaration", "declaration"),
    Index("ix_reg_inspections_state", "state"),
)
"""One inspection of one declaration by one verifier. ``state`` moves awaiting_evidence ->
queued -> running -> decided (the worker's finding, not yet in the log) -> recorded, or ends
in ``error`` with the reason; ``heartbeat`` is the running worker's lease (epoch seconds)."""

evidence = Table(
    "reg_evidence",
    metadata,
    Column("inspection_id", String(32), primary_key=True),
    Column("name", String(32), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("uploaded_by", String(64), nullable=False),
    Column("uploaded_at", String(32), nullable=False),
)
