"""SQLite log store: WAL journal, synchronous=FULL, one transaction per batch.

With ``synchronous=FULL`` in WAL mode SQLite fsyncs the write-ahead log at every commit, so
once ``commit`` returns the batch survives power loss; a process killed mid-batch leaves
only an uncommitted WAL tail that SQLite discards on the next open.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path

from accord.errors import AccordError, IntegrityError
from accord.ledger.hashing import HASH_SIZE
from accord.ledger.storage import WRITE_LOCK_TIMEOUT_S, Tiles

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries(idx INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS tiles(
    level INTEGER NOT NULL, idx INTEGER NOT NULL, hashes BLOB NOT NULL,
    PRIMARY KEY(level, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints(
    seq INTEGER PRIMARY KEY AUTOINCREMENT, size INTEGER NOT NULL, note BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS checkpoints_by_size ON checkpoints(size, seq);
INSERT OR IGNORE INTO meta(key, value) VALUES ('size', '0');
"""


def _lock_timeout(err: sqlite3.OperationalError) -> AccordError:
    return AccordError(
        "log",
        f"another writer held the database for {WRITE_LOCK_TIMEOUT_S:g} s ({err})",
        "retry when it has finished",
    )


class SQLiteStore:
    def __init__(self, path: Path) -> None:
        if path.exists() and path.is_dir():
            raise AccordError("store", f"{path} is a directory", "give a database file path")
        try:
            self._db = sqlite3.connect(
                str(path), isolation_level=None, timeout=WRITE_LOCK_TIMEOUT_S
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            if self._needs_schema():
                self._db.executescript(_SCHEMA)
        except sqlite3.OperationalError as err:
            if "locked" in str(err):
                raise _lock_timeout(err) from None
            raise AccordError("store", f"{path} is not a usable SQLite database: {err}") from None
        except sqlite3.DatabaseError as err:
            raise AccordError("store", f"{path} is not a usable SQLite database: {err}") from None
        self.path = path

    def _needs_schema(self) -> bool:
        """Whether a table, the checkpoint index or the size row is missing. Creating them
        takes the write lock, so an existing store is opened with reads only: readers never
        queue behind a writer just to open the log."""
        names = {
            str(row[0])
            for row in self._db.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'index')"
            )
        }
        if not {"meta", "entries", "tiles", "checkpoints", "checkpoints_by_size"} <= names:
            return True
        return self._db.execute("SELECT 1 FROM meta WHERE key='size'").fetchone() is None

    def size(self) -> int:
        row = self._db.execute("SELECT value FROM meta WHERE key='size'").fetchone()
        return int(row[0])

    def read_tile(self, level: int, index: int, width: int) -> bytes:
        row = self._db.execute(
            "SELECT hashes FROM tiles WHERE level=? AND idx=?", (level, index)
        ).fetchone()
        if row is None or len(row[0]) < width * HASH_SIZE:
            raise IntegrityError("store", f"tile {level}/{index} is missing or short")
        return bytes(row[0][: width * HASH_SIZE])

    def read_entries(self, start: int, end: int) -> list[bytes]:
        rows = self._db.execute(
            "SELECT idx, data FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx", (start, end)
        ).fetchall()
        if len(rows) != max(0, end - start):
            raise IntegrityError("store", f"entries {start}..{end} are incomplete")
        return [bytes(r[1]) for r in rows]

    def _begin_write(self) -> None:
        """BEGIN IMMEDIATE takes SQLite's write lock up front (waiting out other writers for
        the busy timeout), so the size read next stays true until COMMIT."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            raise _lock_timeout(err) from None

    def _size_locked(self) -> int:
        return int(self._db.execute("SELECT value FROM meta WHERE key='size'").fetchone()[0])

    def _write(self, start: int, entries: Sequence[bytes], tiles: Tiles) -> None:
        db = self._db
        db.executemany(
            "INSERT INTO entries(idx, data) VALUES (?, ?)",
            zip(range(start, start + len(entries)), entries, strict=True),
        )
        db.executemany(
            "INSERT OR REPLACE INTO tiles(level, idx, hashes) VALUES (?, ?, ?)",
            [(lv, ix, data) for (lv, ix), data in tiles.items()],
        )
        db.execute("UPDATE meta SET value=? WHERE key='size'", (str(start + len(entries)),))

    def commit(self, start: int, entries: Sequence[bytes], tiles: Tiles) -> None:
        self._begin_write()
        try:
            current = self._size_locked()
            if current != start:
                raise IntegrityError(
                    "log", f"has {current} entries, not {start}", "another writer appended; retry"
                )
            self._write(start, entries, tiles)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def append_batch(
        self,
        entries: Sequence[bytes],
        tiles_for: Callable[[int], Tiles],
        at: int | None = None,
    ) -> int:
        self._begin_write()
        try:
            start = self._size_locked()
            if at is not None and start != at:
                raise IntegrityError(
                    "log", f"has {start} entries, not {at}", "another writer appended"
                )
            self._write(start, entries, tiles_for(start))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return start

    def add_checkpoint(self, size: int, note: bytes) -> None:
        # Autocommit mode: a single INSERT is its own durable transaction.
        self._db.execute("INSERT INTO checkpoints(size, note) VALUES (?, ?)", (size, note))

    def checkpoints(self) -> list[tuple[int, bytes]]:
        rows = self._db.execute("SELECT size, note FROM checkpoints ORDER BY seq").fetchall()
        return [(int(r[0]), bytes(r[1])) for r in rows]

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        row = self._db.execute(
            "SELECT size, note FROM checkpoints ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def checkpoint_at(self, size: int) -> bytes | None:
        row = self._db.execute(
            "SELECT note FROM checkpoints WHERE size=? ORDER BY seq DESC LIMIT 1", (size,)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def close(self) -> None:
        self._db.close()
