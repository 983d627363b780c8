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


class TiledTree:
    """MTH over any aligned range of a tree of ``size`` leaves, backed by tiles."""

    def __init__(self, size: int, read: TileReader, cache_tiles: int = 4096) -> None:
        self.size = size
        self._read = read
        self._cache: OrderedDict[tuple[int, int, int], bytes] = OrderedDict()
        self._cache_tiles = cache_tiles

    def tile(self, level: int, index: int) -> bytes:
        width = tile_width(self.size, level, index)
        if width == 0:
            raise IntegrityError("tile", f"tile {level}/{index} is empty at size {self.size}")
        key = (level, index, width)
        data = self._cache.get(key)
        if data is None:
            data = self._read(level, index, width)
            if len(data) != width * HASH_SIZE:
                raise IntegrityError(
                    f"tile {level}/{index}",
                    f"has {len(data)} bytes, expected {width * HASH_SIZE}",
                    "the tile is truncated or from another log",
                )
            self._cache[key] = data
            if len(self._cache) > self._cache_tiles:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(key)
        return data

    def full_hash(self, height: int, index: int) -> bytes:
        """MTH(D[index*2^height : (index+1)*2^height]); the range must lie in the tree."""
        if (index + 1) << height > self.size:
            raise IntegrityError("range", "subtree lies beyond the tree size")
        level, rest = divmod(height, TILE_HEIGHT)
        first = index << rest
        tile_index, offset = divmod(first, TILE_WIDTH)
        data = self.tile(level, tile_index)
        return full_subtree_root(data[offset * HASH_SIZE : (offset + (1 << rest)) * HASH_SIZE])

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
