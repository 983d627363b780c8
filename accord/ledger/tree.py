"""Subtree hashes of a log of a given size, read from C2SP tlog-tiles.

Storage, the static tile directory and the auditor all hold the same thing: tiles of 256
hashes at levels 0, 1, 2, … where a level-L hash is the root of a full subtree of
256^L leaves. Any full subtree of height h is then one tile slice of 2^(h mod 8) hashes
away, so a proof at 10^7 entries reads a handful of tiles and hashes a few hundred nodes
instead of rehashing the log.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from accord.errors import IntegrityError
from accord.ledger.hashing import (
    EMPTY_ROOT,
    HASH_SIZE,
    full_subtree_root,
    node_hash,
    pair_digests,
    split_hashes,
    split_point,
)

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT

TileReader = Callable[[int, int, int], bytes]
"""read(level, index, width) -> the first ``width`` hashes of that tile (width*32 bytes)."""


def tile_width(size: int, level: int, index: int) -> int:
    """How many hashes tile (level, index) holds in a tree of ``size`` leaves (0..256)."""
    count = size >> (TILE_HEIGHT * level)
    return max(0, min(TILE_WIDTH, count - index * TILE_WIDTH))


class TileCache:
    """Tiles and their interior levels, shared by every tree view of one log.

    A tile's first ``width`` hashes never change once written (logs only append), so a
    cache keyed by (level, index, width) stays valid across tree sizes. Keeping each
    tile's eight interior levels means a proof hashes each tile at most once.
    """

    def __init__(self, max_tiles: int = 2048) -> None:
        self._levels: OrderedDict[tuple[int, int, int], list[list[bytes]]] = OrderedDict()
        self._max = max_tiles

    def levels(self, key: tuple[int, int, int], data: bytes) -> list[list[bytes]]:
        found = self._levels.get(key)
        if found is not None:
            self._levels.move_to_end(key)
            return found
        level = split_hashes(data)
        levels = [level]
        for _ in range(TILE_HEIGHT):
            level = pair_digests(level)
            levels.append(level)
        self._levels[key] = levels
        if len(self._levels) > self._max:
            self._levels.popitem(last=False)
        return levels

    def get(self, key: tuple[int, int, int]) -> list[list[bytes]] | None:
        found = self._levels.get(key)
        if found is not None:
            self._levels.move_to_end(key)
        return found


class TiledTree:
    """MTH over any aligned range of a tree of ``size`` leaves, backed by tiles."""

    def __init__(self, size: int, read: TileReader, cache: TileCache | None = None) -> None:
        self.size = size
        self._read = read
        self._cache = TileCache() if cache is None else cache

    def _levels(self, level: int, index: int) -> list[list[bytes]]:
        width = tile_width(self.size, level, index)
        if width == 0:
            raise IntegrityError("tile", f"tile {level}/{index} is empty at size {self.size}")
        key = (level, index, width)
        found = self._cache.get(key)
        if found is not None:
            return found
        data = self._read(level, index, width)
        if len(data) != width * HASH_SIZE:
            raise IntegrityError(
                f"tile {level}/{index}",
                f"has {len(data)} bytes, expected {width * HASH_SIZE}",
                "the tile is truncated or from another log",
            )
        return self._cache.levels(key, data)

    def tile(self, level: int, index: int) -> bytes:
        """The tile's hashes at this tree size."""
        return b"".join(self._levels(level, index)[0])

    def tile_root(self, level: int, index: int) -> bytes:
        """Root of a full tile (its 256 hashes hashed up eight levels)."""
        top = self._levels(level, index)[TILE_HEIGHT]
        if not top:
            raise IntegrityError("tile", f"tile {level}/{index} is not full")
        return top[0]

    def full_hash(self, height: int, index: int) -> bytes:
        """MTH(D[index*2^height : (index+1)*2^height]); the range must lie in the tree."""
        if index < 0 or (index + 1) << height > self.size:
            raise IntegrityError("range", "subtree lies beyond the tree size")
        level, rest = divmod(height, TILE_HEIGHT)
        tile_index, offset = divmod(index << rest, TILE_WIDTH)
        return self._levels(level, tile_index)[rest][offset >> rest]

    def mth(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a range whose start is aligned to its subtree size."""
        n = end - start
        if n <= 0:
            raise IntegrityError("range", f"[{start}, {end}) is empty")
        if n & (n - 1) == 0:
            height = n.bit_length() - 1
            if start % n:
                raise IntegrityError("range", f"[{start}, {end}) is not an aligned subtree")
            return self.full_hash(height, start >> height)
        k = split_point(n)
        if start % (2 * k):
            raise IntegrityError("range", f"[{start}, {end}) is not an aligned subtree")
        return node_hash(self.mth(start, start + k), self.mth(start + k, end))

    def root(self) -> bytes:
        return EMPTY_ROOT if self.size == 0 else self.mth(0, self.size)


def extend_tiles(
    old_size: int, leaves: bytes, batch_roots: bytes, read: TileReader
) -> dict[tuple[int, int], bytes]:
    """Tiles that change when ``leaves`` (concatenated leaf hashes) are appended.

    ``batch_roots`` are the roots of the level-0 tiles lying wholly inside the batch, as
    :func:`accord.ledger.parallel.leaf_and_tile_hashes` returns them (may be empty: they
    are then computed here). ``read(level, index, width)`` returns the rightmost partial
    tile of the old tree. Returns {(level, index): hashes} with each tile's full new
    content; partial tiles never feed the level above, as the spec requires.
    """
    new_size = old_size + len(leaves) // HASH_SIZE
    first_whole = -(-old_size // TILE_WIDTH)
    out: dict[tuple[int, int], bytes] = {}
    level, fresh = 0, leaves
    while True:
        shift = TILE_HEIGHT * level
        old_count, new_count = old_size >> shift, new_size >> shift
        if new_count == old_count:
            break
        t0, kept = divmod(old_count, TILE_WIDTH)
        combined = (read(level, t0, kept) if kept else b"") + fresh
        step = TILE_WIDTH * HASH_SIZE
        for t in range(t0, -(-new_count // TILE_WIDTH)):
            out[(level, t)] = combined[(t - t0) * step : (t - t0 + 1) * step]
        parts = []
        for t in range(t0, new_count // TILE_WIDTH):
            j = t - first_whole
            if level == 0 and j >= 0 and (j + 1) * HASH_SIZE <= len(batch_roots):
                parts.append(batch_roots[j * HASH_SIZE : (j + 1) * HASH_SIZE])
            else:
                parts.append(full_subtree_root(out[(level, t)]))
        fresh = b"".join(parts)
        level += 1
    return out
