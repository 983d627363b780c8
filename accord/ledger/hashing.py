"""RFC 9162 §2.1 Merkle Tree Hash, written for speed on CPython.

The tree is defined top-down (the left subtree holds the largest power of two smaller
than the size), but it equals the bottom-up construction where each level pairs
neighbours and an unpaired last node is carried up unchanged. Building bottom-up level by
level keeps the work in tight list comprehensions over ``hashlib``, which is the only
SHA-256 available without native code; large builds split the leaves across processes
(see :mod:`accord.ledger.parallel`).
"""

from __future__ import annotations

from collections.abc import Sequence
from hashlib import sha256

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
EMPTY_ROOT = sha256(b"").digest()
"""MTH of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1)."""

_LEAF = sha256(LEAF_PREFIX)
_NODE = sha256(NODE_PREFIX)


def leaf_hash(entry: bytes) -> bytes:
    """SHA-256(0x00 || entry): the domain prefix stops a leaf posing as a node."""
    h = _LEAF.copy()
    h.update(entry)
    return h.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    h = _NODE.copy()
    h.update(left)
    h.update(right)
    return h.digest()


def leaf_hashes(entries: Sequence[bytes]) -> bytes:
    """Leaf hashes of ``entries`` concatenated, 32 bytes each (the layout of a level-0 tile)."""
    return b"".join([sha256(LEAF_PREFIX + e).digest() for e in entries])


def pair_level(hashes: bytes) -> bytes:
    """Hash neighbouring pairs of a concatenated level; an odd last hash is dropped.

    Only full pairs are hashed because only they are full subtrees; callers that need the
    RFC root carry the odd one themselves.
    """
    view = memoryview(hashes)
    end = (len(hashes) // (2 * HASH_SIZE)) * 2 * HASH_SIZE
    return b"".join([sha256(NODE_PREFIX + view[i : i + 64]).digest() for i in range(0, end, 64)])


def full_subtree_root(hashes: bytes) -> bytes:
    """Root of a perfect subtree whose bottom level is ``hashes`` (a power-of-two count)."""
    level = hashes
    while len(level) > HASH_SIZE:
        level = pair_level(level)
    return level


def root_from_hashes(hashes: bytes) -> bytes:
    """RFC 9162 MTH of a range given the concatenated hashes of its aligned leaves.

    Works for any count: at each level the unpaired last hash is carried to the next
    level, which reproduces the top-down split at the largest power of two.
    """
    if not hashes:
        return EMPTY_ROOT
    level = hashes
    while len(level) > HASH_SIZE:
        paired = pair_level(level)
        if (len(level) // HASH_SIZE) % 2:
            paired += level[-HASH_SIZE:]
        level = paired
    return bytes(level)


def root(entries: Sequence[bytes], workers: int | None = None) -> bytes:
    """MTH(D[0:n]) of raw entries; uses several processes for large inputs."""
    from accord.ledger.parallel import leaf_and_tile_hashes

    leaves, tile_roots = leaf_and_tile_hashes(entries, workers=workers)
    full = len(tile_roots) // HASH_SIZE
    tail = leaves[full * 256 * HASH_SIZE :]
    if tail:
        tile_roots += root_from_hashes(tail)
    return root_from_hashes(tile_roots)


def split_point(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (``n`` >= 2): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)
