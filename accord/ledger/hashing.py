"""RFC 9162 §2.1 Merkle Tree Hash, written for speed on CPython.

The tree is defined top-down (the left subtree holds the largest power of two smaller
than the size), but it equals the bottom-up construction where each level pairs
neighbours and an unpaired last node is carried up unchanged. Building bottom-up level by
level keeps the work in tight loops over ``hashlib``, which is the only SHA-256 available
without native code; every hash still costs one interpreter loop iteration, so a
one-process build reaches about 0.6-0.9x of hashlib's own speed on pre-built inputs, not
more. Large builds split the leaves across processes (see :mod:`accord.ledger.parallel`),
which pays only when a core is idle.
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


def leaf_digests(entries: Sequence[bytes]) -> list[bytes]:
    """Leaf hashes as a list: one loop iteration per leaf that copies the hash state of
    the 0x00 prefix and feeds it the entry, instead of concatenating prefix and entry.
    Measured on a loaded 2-core machine (docs/performance.md) this beats the chain of
    C-level ``map`` calls used before, which ran no bytecode per hash but paid for a
    method-wrapper call and a concatenated copy of every input."""
    out: list[bytes] = []
    append, start = out.append, _LEAF.copy
    for entry in entries:
        h = start()
        h.update(entry)
        append(h.digest())
    return out


def pair_digests(level: Sequence[bytes]) -> list[bytes]:
    """Node hashes of neighbouring pairs; an odd last hash is dropped (callers carry it)."""
    out: list[bytes] = []
    append, start = out.append, _NODE.copy
    pairs = iter(level)
    for left, right in zip(pairs, pairs, strict=False):  # an odd last hash is left over
        h = start()
        h.update(left)
        h.update(right)
        append(h.digest())
    return out


def split_hashes(hashes: bytes) -> list[bytes]:
    return [hashes[i : i + HASH_SIZE] for i in range(0, len(hashes), HASH_SIZE)]


def leaf_hashes(entries: Sequence[bytes]) -> bytes:
    """Leaf hashes of ``entries`` concatenated, 32 bytes each (the layout of a level-0 tile)."""
    return b"".join(leaf_digests(entries))


def full_subtree_root(hashes: bytes) -> bytes:
    """Root of a perfect subtree whose bottom level is ``hashes`` (a power-of-two count)."""
    level = split_hashes(hashes)
    while len(level) > 1:
        level = pair_digests(level)
    return level[0]


def root_of_digests(level: list[bytes]) -> bytes:
    """RFC 9162 MTH of a range given the hashes of its aligned leaves, any count.

    At each level the unpaired last hash is carried up unchanged, which reproduces the
    top-down split at the largest power of two.
    """
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        paired = pair_digests(level)
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def root_from_hashes(hashes: bytes) -> bytes:
    """:func:`root_of_digests` over concatenated hashes."""
    return root_of_digests(split_hashes(hashes))


def root(entries: Sequence[bytes], workers: int | None = None) -> bytes:
    """MTH(D[0:n]) of raw entries; uses several processes for large inputs."""
    from accord.ledger.parallel import leaf_and_tile_hashes

    _, tile_roots = leaf_and_tile_hashes(entries, workers=workers, keep_leaves=False)
    level = split_hashes(tile_roots)
    tail = entries[len(level) * 256 :]
    if tail:
        level.append(root_of_digests(leaf_digests(tail)))
    return root_of_digests(level)


def split_point(n: int) -> int:
    """Largest power of two strictly smaller than ``n`` (``n`` >= 2): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)
