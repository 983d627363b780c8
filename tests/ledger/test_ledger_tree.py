"""Tree hashing and RFC 9162 proofs against the reference vectors and a naive tree."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st
from ledger_helpers import load_vectors, naive_mth

from accord.ledger.hashing import EMPTY_ROOT, leaf_hash, leaf_hashes, root, root_from_hashes
from accord.ledger.parallel import _can_fork, leaf_and_tile_hashes
from accord.ledger.proofs import (
    check_consistency,
    consistency_proof,
    inclusion_proof,
    verify_consistency,
    verify_inclusion,
)
from accord.ledger.tree import TiledTree, extend_tiles, tile_width


def make_tree(entries: list[bytes]) -> TiledTree:
    tiles = extend_tiles(0, leaf_hashes(entries), b"", lambda level, index, width: b"")
    return TiledTree(len(entries), lambda level, index, width: tiles[(level, index)][: width * 32])


def test_roots_match_rfc6962_vectors(rfc_leaves: list[bytes]) -> None:
    expected = load_vectors("rfc6962_roots.json")["root_hash_by_tree_size_hex"]
    for size, hex_root in enumerate(expected):
        assert root(rfc_leaves[:size]).hex() == hex_root
        assert make_tree(rfc_leaves[:size]).root().hex() == hex_root
    assert root([]) == EMPTY_ROOT


def test_inclusion_proofs_match_go_vectors(rfc_leaves: list[bytes]) -> None:
    cases = load_vectors("rfc6962_proofs.json")["inclusion"]
    assert len(cases) == sum(range(1, 9))
    for case in cases:
        index, size = case["Index"], case["Size"]
        tree = make_tree(rfc_leaves[:size])
        proof = inclusion_proof(index, size, tree.mth)
        assert [p.hex() for p in proof] == case["proof_hex"]
        assert verify_inclusion(index, size, leaf_hash(rfc_leaves[index]), proof, tree.root())


def test_consistency_proofs_match_go_vectors(rfc_leaves: list[bytes]) -> None:
    cases = load_vectors("rfc6962_proofs.json")["consistency"]
    assert len(cases) == sum(range(1, 9))
    for case in cases:
        old, new = case["Old"], case["New"]
        tree = make_tree(rfc_leaves[:new])
        proof = consistency_proof(old, new, tree.mth)
        assert [p.hex() for p in proof] == case["proof_hex"]
        old_root = naive_mth(rfc_leaves[:old])
        assert verify_consistency(old, new, old_root, tree.root(), proof)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=300), st.data())
def test_every_inclusion_proof_verifies_and_every_mutation_fails(
    entries: list[bytes], data: st.DataObject
) -> None:
    size = len(entries)
    tree = make_tree(entries)
    tree_root = tree.root()
    assert tree_root == naive_mth(entries)
    index = data.draw(st.integers(0, size - 1))
    proof = inclusion_proof(index, size, tree.mth)
    leaf = leaf_hash(entries[index])
    assert verify_inclusion(index, size, leaf, proof, tree_root)
    # Any single-bit flip anywhere, a dropped or added hash, or another index must fail.
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        bad = list(proof)
        bad[i] = (int.from_bytes(bad[i], "big") ^ (1 << bit)).to_bytes(32, "big")
        assert not verify_inclusion(index, size, leaf, bad, tree_root)
        assert not verify_inclusion(index, size, leaf, proof[:-1], tree_root)
    assert not verify_inclusion(index, size, leaf, [*proof, tree_root], tree_root)
    assert not verify_inclusion(index, size, leaf_hash(entries[index] + b"x"), proof, tree_root)
    assert not verify_inclusion(index, size, leaf, proof, leaf_hash(b"other root"))
    assert not verify_inclusion(size, size, leaf, proof, tree_root)
    other = data.draw(st.integers(0, size - 1))
    if other != index and leaf_hash(entries[other]) != leaf:
        assert not verify_inclusion(other, size, leaf, proof, tree_root)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=300), st.data())
def test_every_consistency_proof_verifies_and_every_mutation_fails(
    entries: list[bytes], data: st.DataObject
) -> None:
    new = len(entries)
    old = data.draw(st.integers(0, new))
    tree = make_tree(entries)
    old_root, new_root = naive_mth(entries[:old]), tree.root()
    proof = consistency_proof(old, new, tree.mth)
    check_consistency(old, new, old_root, new_root, proof)
    flipped = (int.from_bytes(new_root, "big") ^ 1).to_bytes(32, "big")
    if old:
        assert not verify_consistency(old, new, old_root, flipped, proof)
    if 0 < old < new:
        assert not verify_consistency(old, new, flipped, new_root, proof)
        i = data.draw(st.integers(0, len(proof) - 1))
        bad = list(proof)
        bad[i] = leaf_hash(bad[i])
        assert not verify_consistency(old, new, old_root, new_root, bad)
        assert not verify_consistency(old, new, old_root, new_root, proof[:-1])
        assert not verify_consistency(old, new, old_root, new_root, [*proof, new_root])
        assert not verify_consistency(new, old, new_root, old_root, proof)


def test_edge_cases_are_rejected_not_crashed() -> None:
    leaf = leaf_hash(b"a")
    assert verify_inclusion(0, 1, leaf, [], leaf)
    assert not verify_inclusion(0, 0, leaf, [], leaf)
    assert not verify_inclusion(-1, 1, leaf, [], leaf)
    assert not verify_inclusion(0, 1, leaf, [b"short"], leaf)
    assert not verify_inclusion(0, 1, b"short", [], leaf)
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert verify_consistency(0, 5, EMPTY_ROOT, leaf, [])
    assert not verify_consistency(0, 5, EMPTY_ROOT, leaf, [leaf])
    assert not verify_consistency(3, 3, leaf, EMPTY_ROOT, [])
    assert not verify_consistency(2, 3, leaf, leaf, [])
    assert not verify_consistency(2, 3, leaf, leaf, [leaf] * 65)


def test_parallel_build_equals_serial() -> None:
    assert _can_fork(), "the forked path must really run here"
    entries = [os.urandom(i % 50) for i in range(70_001)]
    serial = leaf_and_tile_hashes(entries, offset=3, workers=1)
    forked = leaf_and_tile_hashes(entries, offset=3, workers=2)
    assert serial == forked
    assert root(entries, workers=2) == root(entries, workers=1) == root_from_hashes(serial[0])


def test_tile_widths_follow_the_spec_example() -> None:
    # c2sp.org/tlog-tiles: size 70,000 has 273 full level-0 tiles, a partial of width 112,
    # one full level-1 tile, a partial level-1 tile of width 17, a level-2 tile of width 1.
    assert [tile_width(70_000, 0, i) for i in (0, 272, 273, 274)] == [256, 256, 112, 0]
    assert [tile_width(70_000, 1, i) for i in (0, 1, 2)] == [256, 17, 0]
    assert tile_width(70_000, 2, 0) == 1
    assert tile_width(256, 1, 0) == 1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 700), min_size=1, max_size=6), st.data())
def test_incremental_tiles_equal_tiles_built_at_once(
    batches: list[int], data: st.DataObject
) -> None:
    """Appending in any batch sizes must leave exactly the tiles of a one-shot build."""
    from accord.ledger.tree import TILE_WIDTH

    total = sum(batches)
    entries = [b"%d" % i for i in range(total)]
    once = extend_tiles(0, leaf_hashes(entries), b"", lambda level, index, width: b"")
    stored: dict[tuple[int, int], bytes] = {}
    size = 0
    for count in batches:
        batch = entries[size : size + count]
        use_parallel_roots = data.draw(st.booleans())
        leaves, roots = leaf_and_tile_hashes(batch, offset=size, workers=1)
        stored.update(
            extend_tiles(
                size,
                leaves,
                roots if use_parallel_roots else b"",
                lambda level, index, width: stored[(level, index)][: width * 32],
            )
        )
        size += count
    assert stored == once
    assert all(len(tile) <= TILE_WIDTH * 32 for tile in stored.values())
    tree = TiledTree(total, lambda level, index, width: stored[(level, index)][: width * 32])
    assert tree.root() == naive_mth(entries)
