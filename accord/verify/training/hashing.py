"""Hashes that bind a training transcript together.

Every commitment in a transcript is a SHA-256 digest computed in one documented way, so an
inspector can recompute it from the raw files without trusting the lab's tooling: tensors
are hashed by name, dtype, shape and raw bytes (independent of the file container), batch
indices and data shards go into RFC 6962-style Merkle trees (so one step's batch can later be
opened without revealing the rest), and JSON records are canonicalised before hashing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import struct
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

CHAIN_DOMAIN = b"accord-pol/1 chain"
SELECTION_DOMAIN = b"accord-pol/1 segment selection"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical_json(obj: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the same bytes for the same record everywhere."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def merkle_root(leaves: Sequence[bytes]) -> str:
    """RFC 6962 Merkle tree hash (0x00 leaf prefix, 0x01 node prefix) of already-hashed leaves.

    The prefixes stop a leaf from being passed off as an inner node (second-preimage attacks).
    """
    return merkle_root_of_nodes([hashlib.sha256(b"\x00" + leaf).digest() for leaf in leaves])


def merkle_root_of_nodes(level: Sequence[bytes]) -> str:
    """The root above leaf nodes that are already ``H(0x00 || leaf)``; see :func:`merkle_root`.

    Also right for the nodes of any level of the tree, since every level above the leaves is
    built by the same pairing rule.
    """
    if not level:
        return sha256_hex(b"")
    nodes = merkle_level(level, len(level).bit_length())
    return nodes[0].hex()


def merkle_level(nodes: Sequence[bytes], height: int) -> list[bytes]:
    """``height`` rounds of pairing above ``nodes`` (an odd last node moves up unhashed)."""
    level = list(nodes)
    sha = hashlib.sha256
    for _ in range(height):
        if len(level) <= 1:
            break
        nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level


def shared_height(k: int) -> int:
    """How many levels of a run's batch tree each k-step segment's own tree can supply.

    Segments start at multiples of k, so for 2^h dividing k no pair at levels below h
    straddles two segments: level h of the whole tree is the concatenation of the segments'
    level-h nodes (the last, shorter segment included, as its odd nodes move up the same
    way). The recorder uses this to build the run's root from the segments' work.
    """
    return (k & -k).bit_length() - 1


def batch_leaf(step: int, indices: np.ndarray) -> bytes:
    """The leaf for one optimisation step: step number and its int64 sample indices."""
    row = np.ascontiguousarray(indices, dtype="<i8")
    return step.to_bytes(8, "big") + row.tobytes()


def batch_leaf_nodes(first_step: int, rows: np.ndarray) -> list[bytes]:
    """``H(0x00 || batch_leaf(step, row))`` for consecutive steps, built in one numpy pass.

    The same bytes as hashing each :func:`batch_leaf` one by one, without a Python-level
    concatenation per step (the recorder does this for every step of a run).
    """
    n = rows.shape[0]
    width = rows.shape[1] if rows.ndim == 2 else 0
    size = 9 + 8 * width
    packed = np.zeros((n, size), dtype=np.uint8)
    steps = np.arange(first_step, first_step + n, dtype=">u8")
    packed[:, 1:9] = steps.view(np.uint8).reshape(n, 8)
    packed[:, 9:] = np.ascontiguousarray(rows, dtype="<i8").view(np.uint8).reshape(n, 8 * width)
    sha = hashlib.sha256
    return [sha(leaf).digest() for (leaf,) in struct.iter_unpack(f"{size}s", packed.tobytes())]


def batches_root(first_step: int, rows: np.ndarray) -> str:
    return merkle_root_of_nodes(batch_leaf_nodes(first_step, rows))


def array_digest(arrays: Mapping[str, np.ndarray]) -> str:
    """Digest of named arrays by name, dtype, shape and little-endian bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        if arr.dtype.byteorder == ">":
            arr = arr.astype(arr.dtype.newbyteorder("<"))
        header = canonical_json({"name": name, "dtype": arr.dtype.str, "shape": list(arr.shape)})
        h.update(len(header).to_bytes(8, "big") + header)
        h.update(arr.data if arr.ndim else arr.tobytes())
    return h.hexdigest()


def chain_step(prev_hex: str, record: Mapping[str, Any]) -> str:
    """One link of the hash chain: H(prev || canonical record)."""
    return hashlib.sha256(bytes.fromhex(prev_hex) + canonical_json(dict(record))).hexdigest()


def chain_genesis(run_id: str) -> str:
    return hashlib.sha256(CHAIN_DOMAIN + b"\x00" + run_id.encode()).hexdigest()


def hmac_stream(key: bytes, message: bytes) -> Iterator[int]:
    """An endless stream of 64-bit integers from HMAC-SHA256(key, message || counter)."""
    counter = 0
    while True:
        block = hmac.new(key, message + counter.to_bytes(8, "big"), hashlib.sha256).digest()
        for i in range(0, 32, 8):
            yield int.from_bytes(block[i : i + 8], "big")
        counter += 1
