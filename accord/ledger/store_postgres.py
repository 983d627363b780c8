"""PostgreSQL log store (psycopg 3), the same contract as the SQLite store.

One transaction per batch; the size row is locked ``FOR UPDATE`` (waiting at most
``WRITE_LOCK_TIMEOUT_S`` for another writer) so two writers cannot both append at the same
index; entries go in with ``COPY`` for bulk speed. PostgreSQL's default
``synchronous_commit=on`` makes a returned commit durable, and the store refuses to run if
a server or session has turned it off.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from accord.errors import AccordError, IntegrityError
from accord.ledger.hashing import HASH_SIZE
from accord.ledger.storage import WRITE_LOCK_TIMEOUT_S, Tiles

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_entries(idx BIGINT PRIMARY KEY, data BYTEA NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_tiles(
    level INTEGER NOT NULL, idx BIGINT NOT NULL, hashes BYTEA NOT NULL,
    PRIMARY KEY(level, idx));
CREATE TABLE IF NOT EXISTS ledger_checkpoints(
    seq BIGSERIAL PRIMARY KEY, size BIGINT NOT NULL, note BYTEA NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_checkpoints_by_size ON ledger_checkpoints(size, seq);
INSERT INTO ledger_meta(key, value) VALUES ('size', '0') ON CONFLICT DO NOTHING;
"""


class PostgresStore:
    def __init__(self, dsn: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise AccordError(
                "store", "PostgreSQL needs psycopg", "pip install 'accord[postgres]'"
            ) from None
        try:
            self._db: Any = cast(Any, psycopg.connect(dsn, autocommit=True))
        except psycopg.Error as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise AccordError("store", f"cannot connect to PostgreSQL: {first}") from None
        sync = self._db.execute("SHOW synchronous_commit").fetchone()[0]
        if sync in ("off", "local"):
            raise AccordError(
                "store", f"synchronous_commit is {sync}", "appends would not be durable"
            )
        with self._db.transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(7140214)")
            self._db.execute(_SCHEMA)

    def size(self) -> int:
        return int(self._db.execute("SELECT value FROM ledger_meta WHERE key='size'").fetchone()[0])

    def read_tile(self, level: int, index: int, width: int) -> bytes:
        row = self._db.execute(
            "SELECT hashes FROM ledger_tiles WHERE level=%s AND idx=%s", (level, index)
        ).fetchone()
        if row is None or len(row[0]) < width * HASH_SIZE:
            raise IntegrityError("store", f"tile {level}/{index} is missing or short")
        return bytes(row[0][: width * HASH_SIZE])

    def read_entries(self, start: int, end: int) -> list[bytes]:
        rows = self._db.execute(
            "SELECT data FROM ledger_entries WHERE idx >= %s AND idx < %s ORDER BY idx",
            (start, end),
        ).fetchall()
        if len(rows) != max(0, end - start):
            raise IntegrityError("store", f"entries {start}..{end} are incomplete")
        return [bytes(r[0]) for r in rows]

    def _lock_size(self) -> int:
        """Lock the size row for this transaction, waiting for other writers (bounded)."""
        import psycopg

        db = self._db
        db.execute(f"SET LOCAL lock_timeout = '{int(WRITE_LOCK_TIMEOUT_S * 1000)}ms'")
        try:
            row = db.execute("SELECT value FROM ledger_meta WHERE key='size' FOR UPDATE").fetchone()
        except psycopg.errors.LockNotAvailable:
            raise AccordError(
                "log",
                f"another writer held the log for {WRITE_LOCK_TIMEOUT_S:.0f} s",
                "retry when it has finished",
            ) from None
        return int(row[0])

    def _write(self, start: int, entries: Sequence[bytes], tiles: Tiles) -> None:
        db = self._db
        with db.cursor() as cur:
            with cur.copy("COPY ledger_entries(idx, data) FROM STDIN (FORMAT BINARY)") as cp:
                cp.set_types(["int8", "bytea"])
                for i, entry in enumerate(entries):
                    cp.write_row((start + i, entry))
            cur.executemany(
                "INSERT INTO ledger_tiles(level, idx, hashes) VALUES (%s, %s, %s) "
                "ON CONFLICT (level, idx) DO UPDATE SET hashes = EXCLUDED.hashes",
                [(lv, ix, data) for (lv, ix), data in tiles.items()],
            )
        db.execute("UPDATE ledger_meta SET value=%s WHERE key='size'", (str(start + len(entries)),))

    def commit(self, start: int, entries: Sequence[bytes], tiles: Tiles) -> None:
        with self._db.transaction():
            current = self._lock_size()
            if current != start:
                raise IntegrityError(
                    "log", f"has {current} entries, not {start}", "another writer appended; retry"
                )
            self._write(start, entries, tiles)

    def append_batch(
        self,
        entries: Sequence[bytes],
        tiles_for: Callable[[int], Tiles],
        at: int | None = None,
    ) -> int:
        with self._db.transaction():
            start = self._lock_size()
            if at is not None and start != at:
                raise IntegrityError(
                    "log", f"has {start} entries, not {at}", "another writer appended"
                )
            self._write(start, entries, tiles_for(start))
        return start

    def add_checkpoint(self, size: int, note: bytes) -> None:
        self._db.execute("INSERT INTO ledger_checkpoints(size, note) VALUES (%s, %s)", (size, note))

    def checkpoints(self) -> list[tuple[int, bytes]]:
        rows = self._db.execute("SELECT size, note FROM ledger_checkpoints ORDER BY seq").fetchall()
        return [(int(r[0]), bytes(r[1])) for r in rows]

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        row = self._db.execute(
            "SELECT size, note FROM ledger_checkpoints ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def checkpoint_at(self, size: int) -> bytes | None:
        row = self._db.execute(
            "SELECT note FROM ledger_checkpoints WHERE size=%s ORDER BY seq DESC LIMIT 1",
            (size,),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM ledger_meta WHERE key=%s", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO ledger_meta(key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            (key, value),
        )

    def close(self) -> None:
        self._db.close()
