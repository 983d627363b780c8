"""RFC 9162 §2.1.3 inclusion and §2.1.4 consistency proofs: generation and verification.

Generation follows the recursive PATH and SUBPROOF definitions over a callback that returns
MTH(D[start:end]) for the subtrees the recursion visits; every such range starts at a
multiple of a power of two at least as large as itself, so a store of full-subtree hashes
answers it cheaply. Verification follows the RFC's iterative algorithms step by step: they
reject proofs of the wrong length as well as wrong hashes, which recomputing a root the
"obvious" way does not.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from accord.errors import IntegrityError
from accord.ledger.hashing import EMPTY_ROOT, HASH_SIZE, node_hash, split_point

RangeHash = Callable[[int, int], bytes]
"""MTH(D[start:end]) for a non-empty range of the log."""

MAX_PROOF_LENGTH = 64
"""A tree of at most 2^64 leaves never needs more hashes than this (consistency: 2*64 is
impossible because the two paths share their top)."""


def _check_size(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0 or value >= 1 << 63:
        raise IntegrityError(name, f"{value!r} is not a tree size", "give an integer 0..2^63-1")


def inclusion_proof(index: int, size: int, mth: RangeHash) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, leaf side first."""
    _check_size("size", size)
    _check_size("index", index)
    if index >= size:
        raise IntegrityError(
            "index", f"entry {index} is not in a tree of size {size}", "use index < size"
        )
    proof: list[bytes] = []
    start, end, m = 0, size, index
    # Walk down from the root, recording the sibling at each split, then reverse.
    while end - start > 1:
        k = split_point(end - start)
        if m < k:
            proof.append(mth(start + k, end))
            end = start + k
        else:
            proof.append(mth(start, start + k))
            start, m = start + k, m - k
    proof.reverse()
    return proof


def consistency_proof(old: int, new: int, mth: RangeHash) -> list[bytes]:
    """PROOF(old, D[0:new]) of RFC 9162 §2.1.4.1; empty when old is 0 or old == new."""
    _check_size("old", old)
    _check_size("new", new)
    if old > new:
        raise IntegrityError(
            "old", f"size {old} is larger than new size {new}", "ask for old <= new"
        )
    if old == 0 or old == new:
        return []
    proof: list[bytes] = []
    start, end, m, flag = 0, new, old, True
    while True:
        n = end - start
        if m == n:
            if not flag:
                proof.append(mth(start, end))
            break
        k = split_point(n)
        if m <= k:
            proof.append(mth(start + k, end))
            end = start + k
        else:
            proof.append(mth(start, start + k))
            start, m, flag = start + k, m - k, False
    proof.reverse()
    return proof


def _check_hashes(name: str, hashes: Sequence[bytes]) -> None:
    if len(hashes) > MAX_PROOF_LENGTH:
        raise IntegrityError(name, f"{len(hashes)} hashes is longer than any valid proof")
    for i, h in enumerate(hashes):
        if not isinstance(h, bytes | bytearray) or len(h) != HASH_SIZE:
            raise IntegrityError(f"{name}[{i}]", "is not a 32-byte SHA-256 hash")


def root_from_inclusion_proof(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root implied by an inclusion proof (RFC 9162 §2.1.3.2 steps 1-5).

    Raises :class:`IntegrityError` when the proof has the wrong shape for (index, size).
    """
    _check_size("size", size)
    _check_size("index", index)
    _check_hashes("proof", proof)
    if len(leaf) != HASH_SIZE:
        raise IntegrityError("leaf_hash", "is not a 32-byte SHA-256 hash")
    if index >= size:
        raise IntegrityError("index", f"entry {index} is not in a tree of size {size}")
    fn, sn = index, size - 1
    r = bytes(leaf)
    for p in proof:
        if sn == 0:
            raise IntegrityError("proof", "has more hashes than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise IntegrityError("proof", "has fewer hashes than the tree is deep")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """True iff ``proof`` shows the leaf hash ``leaf`` at ``index`` in the tree ``root``."""
    try:
        return root_from_inclusion_proof(index, size, leaf, proof) == bytes(root)
    except IntegrityError:
        return False


def check_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 §2.1.4.2; raises :class:`IntegrityError` naming the first failed check.

    Sizes 0 and old == new are not covered by the RFC's loop: the empty tree is consistent
    with every tree (empty proof, root SHA-256("")), and equal sizes need equal roots.
    """
    _check_size("old", old)
    _check_size("new", new)
    _check_hashes("proof", proof)
    if len(old_root) != HASH_SIZE or len(new_root) != HASH_SIZE:
        raise IntegrityError("root", "is not a 32-byte SHA-256 hash")
    if old > new:
        raise IntegrityError("old", f"size {old} is larger than new size {new}")
    if old == 0 or old == new:
        if proof:
            raise IntegrityError("proof", "must be empty when old is 0 or equal to new")
        if old == 0 and old_root != EMPTY_ROOT:
            raise IntegrityError("old_root", "is not the root of the empty tree")
        if old == new and old_root != new_root:
            raise IntegrityError("root", "two trees of the same size have different roots")
        return
    if not proof:
        raise IntegrityError("proof", "is empty but the sizes differ")
    path = list(proof)
    if old & (old - 1) == 0:
        path.insert(0, bytes(old_root))
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = bytes(path[0])
    for c in path[1:]:
        if sn == 0:
            raise IntegrityError("proof", "has more hashes than the trees are deep")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise IntegrityError("proof", "has fewer hashes than the trees are deep")
    if fr != bytes(old_root):
        raise IntegrityError("old_root", "does not match the proof")
    if sr != bytes(new_root):
        raise IntegrityError("new_root", "does not match the proof")


def verify_consistency(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """True iff ``proof`` shows the tree (old, old_root) is a prefix of (new, new_root)."""
    try:
        check_consistency(old, new, old_root, new_root, proof)
    except IntegrityError:
        return False
    return True
