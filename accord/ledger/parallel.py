"""Hash large batches on every core by forking workers over aligned slices.

CPython's hashlib releases no parallelism inside one interpreter for small inputs, so the
second core is reached with ``os.fork``: a child inherits the entries without copying,
hashes its slice and sends the digests back through a pipe. Slices are cut at multiples
of 256 leaves so each worker also returns the roots of its whole 256-leaf tiles (the
level-1 tile hashes of C2SP tlog-tiles), which makes the combined result independent of
how the work was split. Anything unusual (no fork, threads running, small input) falls
back to one process, which gives the same bytes.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Sequence

from accord.ledger.hashing import leaf_digests, pair_digests

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MIN_PARALLEL = 1 << 15
"""Below this many entries a fork costs more than it saves."""


def default_workers() -> int:
    """Cores that are actually idle: forking onto a saturated machine only adds the cost of
    the fork and the pipe (measured: on a 2-core box at load 6 the two halves each took
    twice as long), so the 1-minute load average, minus ourselves, is subtracted."""
    cores = os.cpu_count() or 1
    try:
        busy = max(0.0, os.getloadavg()[0] - 1.0)
    except OSError:
        busy = 0.0
    return max(1, min(8, round(cores - busy)))


def _work(entries: Sequence[bytes], offset: int, keep_leaves: bool = True) -> tuple[bytes, bytes]:
    """Leaf hashes of a slice and roots of the 256-leaf tiles that lie wholly inside it.

    ``offset`` is the global index of the slice's first entry; tiles are aligned to global
    multiples of 256, so a slice starting mid-tile contributes no root for that tile.
    Pairing the whole aligned region level by level gives every tile's root at once.
    """
    leaves = leaf_digests(entries)
    first = (-offset) % TILE_WIDTH
    whole = max(0, (len(leaves) - first) // TILE_WIDTH)
    level = leaves[first : first + whole * TILE_WIDTH]
    for _ in range(TILE_HEIGHT):
        level = pair_digests(level)
    return (b"".join(leaves) if keep_leaves else b""), b"".join(level)


def _can_fork() -> bool:
    return hasattr(os, "fork") and threading.active_count() == 1


def _read_exact(fd: int, n: int) -> bytes:
    parts: list[bytes] = []
    got = 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 22))
        if not chunk:
            raise OSError("hash worker exited early")
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def leaf_and_tile_hashes(
    entries: Sequence[bytes],
    offset: int = 0,
    workers: int | None = None,
    keep_leaves: bool = True,
) -> tuple[bytes, bytes]:
    """Leaf hashes of ``entries`` (global index ``offset`` onwards) and the roots of every
    256-leaf tile that lies wholly inside the batch, both as concatenated digests.

    With ``keep_leaves=False`` only the tile roots come back (the leaves are b""), which
    spares the pipe when only a root is wanted."""
    n = len(entries)
    workers = default_workers() if workers is None else max(1, workers)
    if workers == 1 or n < MIN_PARALLEL or not _can_fork():
        return _work(entries, offset, keep_leaves)
    # Cut points at global multiples of 256 so no tile straddles two workers.
    cuts = [0]
    for w in range(1, workers):
        cut = ((offset + n * w // workers) // TILE_WIDTH) * TILE_WIDTH - offset
        cuts.append(max(cuts[-1], cut))
    cuts.append(n)
    children: list[tuple[int, int]] = []
    try:
        for w in range(1, workers):
            r, wfd = os.pipe()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child
                status = 1
                try:
                    os.close(r)
                    leaves, roots = _work(
                        entries[cuts[w] : cuts[w + 1]], offset + cuts[w], keep_leaves
                    )
                    _write_all(wfd, struct.pack(">QQ", len(leaves), len(roots)) + leaves + roots)
                    status = 0
                finally:
                    os._exit(status)
            os.close(wfd)
            children.append((pid, r))
        first = _work(entries[cuts[0] : cuts[1]], offset, keep_leaves)
        leaf_parts, root_parts = [first[0]], [first[1]]
        for _pid, r in children:
            n_leaves, n_roots = struct.unpack(">QQ", _read_exact(r, 16))
            leaf_parts.append(_read_exact(r, n_leaves))
            root_parts.append(_read_exact(r, n_roots))
        return b"".join(leaf_parts), b"".join(root_parts)
    finally:
        for pid, r in children:
            os.close(r)
            os.waitpid(pid, 0)
