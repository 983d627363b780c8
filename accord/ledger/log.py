"""The append-only log: entries in, signed checkpoints and proofs out.

Entries are opaque bytes (the registry appends RFC 8785 JSON). Each ``append_many`` hashes
the batch (on all cores when large), works out the tiles it changes and hands both to the
store in one durable transaction; the indexes are returned only after that commit. A
checkpoint is stored before it is returned, so every checkpoint the log ever issued can
be checked against the tree later.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from accord.errors import AccordError, IntegrityError
from accord.ledger.checkpoint import Checkpoint
from accord.ledger.note import Signer, Verifier, parse_note
from accord.ledger.parallel import leaf_and_tile_hashes
from accord.ledger.proofs import consistency_proof, inclusion_proof
from accord.ledger.storage import LogStore, Tiles
from accord.ledger.tree import TileCache, TiledTree, extend_tiles

MAX_ENTRY_BYTES = 0xFFFF
"""tlog-tiles entry bundles prefix each entry with a 16-bit length."""


class Log:
    def __init__(
        self, store: LogStore, signer: Signer | None = None, workers: int | None = None
    ) -> None:
        origin = store.get_meta("origin")
        vkey = store.get_meta("vkey")
        if origin is None or vkey is None:
            raise AccordError("log", "store is not initialised", "run `accord log init` first")
        self.store = store
        self.origin = origin
        self.verifier = Verifier.parse(vkey)
        if signer is not None and signer.verifier != self.verifier:
            raise AccordError("signer key", "is not this log's key", "pass the log's own key")
        self.signer = signer
        self.workers = workers
        self._cache = TileCache()
        self._seen_size = 0

    @classmethod
    def create(cls, store: LogStore, signer: Signer, origin: str | None = None) -> Log:
        """Initialise an empty store for a new log whose key name is its origin."""
        origin = signer.name if origin is None else origin
        if store.get_meta("origin") is not None:
            raise AccordError("store", "already holds a log", "open it instead of creating")
        if signer.name != origin:
            raise AccordError("origin", "must equal the key name (c2sp.org/tlog-checkpoint)")
        store.set_meta("vkey", signer.verifier.vkey)
        store.set_meta("origin", origin)
        return cls(store, signer)

    # -- reading -------------------------------------------------------------------------

    @property
    def size(self) -> int:
        return self.store.size()

    def tree(self, size: int | None = None) -> TiledTree:
        # A log only grows: a size already seen needs no query of the store.
        if size is not None and 0 <= size <= self._seen_size:
            return TiledTree(size, self.store.read_tile, self._cache)
        current = self.size
        self._seen_size = max(self._seen_size, current)
        size = current if size is None else size
        if not 0 <= size <= current:
            raise AccordError("size", f"{size} is not between 0 and the log size {current}")
        return TiledTree(size, self.store.read_tile, self._cache)

    def root(self, size: int | None = None) -> bytes:
        return self.tree(size).root()

    def entries(self, start: int, end: int) -> list[bytes]:
        return self.store.read_entries(start, end)

    def entry(self, index: int) -> bytes:
        if not 0 <= index < self.size:
            raise AccordError("index", f"{index} is not in a log of size {self.size}")
        return self.store.read_entries(index, index + 1)[0]

    def leaf_hash(self, index: int) -> bytes:
        return self.tree().full_hash(0, index)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        tree = self.tree(size)
        return inclusion_proof(index, tree.size, tree.mth)

    def consistency_proof(self, old: int, new: int | None = None) -> list[bytes]:
        tree = self.tree(new)
        return consistency_proof(old, tree.size, tree.mth)

    # -- writing -------------------------------------------------------------------------

    def append(self, entry: bytes, *, at: int | None = None) -> int:
        return self.append_many([entry], at=at)[0]

    def append_many(
        self, entries: Sequence[bytes] | Iterable[bytes], *, at: int | None = None
    ) -> list[int]:
        """Append a batch in one durable transaction; returns the indexes once committed.

        Other writers, in this process or another, are waited for (up to the store's lock
        timeout), so the batch lands after whatever they committed: use the returned
        indexes. A caller that numbered its entries in advance passes ``at`` (the index it
        expects the first entry to get) and gets IntegrityError instead of another index.
        """
        batch = list(entries)
        for i, entry in enumerate(batch):
            if not isinstance(entry, bytes):
                raise AccordError(f"entries[{i}]", "must be bytes")
            if len(entry) > MAX_ENTRY_BYTES:
                raise AccordError(
                    f"entries[{i}]",
                    f"is {len(entry)} bytes; the tile format allows {MAX_ENTRY_BYTES}",
                    "store large documents elsewhere and log their digest",
                )
        if not batch:
            return []
        # Hash outside the write lock at the size seen now. Leaf hashes do not depend on
        # the position; if another writer moved the end meanwhile, only the tile roots
        # (aligned to global multiples of 256) are recomputed, under the lock.
        guess = self.size if at is None else at
        leaves, roots = leaf_and_tile_hashes(batch, offset=guess, workers=self.workers)

        def tiles_for(start: int) -> Tiles:
            return extend_tiles(
                start, leaves, roots if start == guess else b"", self.store.read_tile
            )

        start = self.store.append_batch(batch, tiles_for, at=at)
        return list(range(start, start + len(batch)))

    def checkpoint(self, extensions: Sequence[str] = ()) -> bytes:
        """Sign the current tree head; stored before it is returned."""
        if self.signer is None:
            raise AccordError("signer key", "is needed to sign checkpoints", "pass --key")
        size = self.size
        issued = self.store.latest_checkpoint()
        if issued is not None:
            # Never sign a head inconsistent with one already issued (c2sp tlog-checkpoint):
            # if storage was altered or lost data, stop rather than publish a fork.
            last = Checkpoint.parse(parse_note(issued[1]).text)
            if last.size > size or self.root(last.size) != last.root:
                raise IntegrityError(
                    "store",
                    f"no longer matches the checkpoint already issued at size {last.size}",
                    "restore the store from a backup; do not sign a fork",
                )
        cp = Checkpoint(self.origin, size, self.root(size), tuple(extensions))
        note = cp.sign([self.signer])
        self.store.add_checkpoint(size, note)
        return note

    def checkpoints(self) -> list[tuple[int, bytes]]:
        """Every checkpoint issued, oldest first; reads them all, so prefer
        :meth:`last_checkpoint` or :meth:`checkpoint_at` for one of them."""
        return self.store.checkpoints()

    def last_checkpoint(self) -> tuple[int, bytes] | None:
        """(size, note) of the newest checkpoint issued, or None; one indexed lookup."""
        return self.store.latest_checkpoint()

    def checkpoint_at(self, size: int) -> bytes | None:
        """The newest checkpoint issued at exactly ``size``, or None; one indexed lookup."""
        return self.store.checkpoint_at(size)

    def latest_checkpoint(self) -> bytes:
        issued = self.store.latest_checkpoint()
        if issued is None:
            raise IntegrityError("log", "has never issued a checkpoint", "run checkpoint first")
        return issued[1]

    def close(self) -> None:
        self.store.close()


def checkpoint_of_size(log: Log, size: int) -> bytes | None:
    """The latest checkpoint the log issued at exactly ``size``, if any."""
    return log.checkpoint_at(size)
