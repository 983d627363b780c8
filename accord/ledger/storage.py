"""What a log needs from storage, and how to open a store from a URL.

A store keeps three things: the entries, the tiles (C2SP tlog-tiles layout: 256 hashes per
tile, level L holding roots of 256^L-leaf subtrees) and every checkpoint the log ever
signed. ``append_batch`` writes one batch of entries with every tile it changed in a single
durable transaction, holding the store's write lock from reading the size to the commit,
so writers in several processes queue instead of forking the tree, and an acknowledged
append survives a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

from accord.errors import AccordError

Tiles = Mapping[tuple[int, int], bytes]

WRITE_LOCK_TIMEOUT_S = 30.0
"""How long a writer waits for another one to commit before giving up with an error."""


class LogStore(Protocol):
    def size(self) -> int:
        """Number of committed entries."""
        ...

    def read_tile(self, level: int, index: int, width: int) -> bytes:
        """The first ``width`` hashes of a tile, which must already hold at least that many."""
        ...

    def read_entries(self, start: int, end: int) -> list[bytes]: ...

    def commit(self, start: int, entries: Sequence[bytes], tiles: Tiles) -> None:
        """Append ``entries`` at ``start`` and replace ``tiles``, durably and atomically.

        Raises :class:`accord.errors.IntegrityError` if the log no longer has ``start``
        entries (a concurrent writer won). :meth:`append_batch` waits instead.
        """
        ...

    def append_batch(
        self,
        entries: Sequence[bytes],
        tiles_for: Callable[[int], Tiles],
        at: int | None = None,
    ) -> int:
        """Append ``entries`` at the end of the log and return the index of the first.

        Takes the store's write lock (waiting up to :data:`WRITE_LOCK_TIMEOUT_S` for other
        writers, in any process), reads the size ``start``, calls ``tiles_for(start)`` for
        the tiles the batch changes (it may read tiles from this store) and commits both in
        one durable transaction. With ``at``, raises IntegrityError unless ``start == at``
        (for callers that numbered their entries in advance).
        """
        ...

    def add_checkpoint(self, size: int, note: bytes) -> None: ...

    def checkpoints(self) -> list[tuple[int, bytes]]:
        """Every checkpoint ever signed, oldest first (reads them all: O(checkpoints))."""
        ...

    def latest_checkpoint(self) -> tuple[int, bytes] | None:
        """(size, note) of the checkpoint stored last, or None; one indexed lookup."""
        ...

    def checkpoint_at(self, size: int) -> bytes | None:
        """The note of the last checkpoint stored at exactly ``size``, or None; one lookup
        in an index on (size, order of storing)."""
        ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    def close(self) -> None: ...


def open_store(location: str | Path) -> LogStore:
    """``postgresql://…`` opens PostgreSQL; anything else is a SQLite file path."""
    text = str(location)
    if text.startswith(("postgresql://", "postgres://")):
        from accord.ledger.store_postgres import PostgresStore

        return PostgresStore(text)
    if text.startswith("sqlite:///"):
        text = text[len("sqlite:///") - 1 :]
    if not text:
        raise AccordError("store", "is empty", "give a SQLite path or a postgresql:// URL")
    from accord.ledger.store_sqlite import SQLiteStore

    return SQLiteStore(Path(text))
