"""The Log over real SQLite: appends, proofs, checkpoints, reopening, concurrency."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from ledger_helpers import naive_mth

from accord.errors import AccordError, IntegrityError
from accord.ledger import (
    Log,
    Signer,
    leaf_hash,
    open_checkpoint,
    open_store,
    verify_consistency,
    verify_inclusion,
)


@pytest.fixture()
def signer() -> Signer:
    return Signer.generate("example.com/accord-test")


def test_appends_proofs_and_checkpoints(store_location: str, signer: Signer) -> None:
    log = Log.create(open_store(store_location), signer)
    entries = [os.urandom(i % 70) for i in range(1500)]
    got: list[int] = []
    # Mixed batch sizes cross tile boundaries at every level-0 position.
    for chunk in (1, 2, 253, 1, 300, 700, 243):
        got += log.append_many(entries[len(got) : len(got) + chunk])
    assert got == list(range(1500))
    assert log.size == 1500
    sizes = [1, 2, 255, 256, 257, 1000, 1500]
    for size in sizes:
        assert log.root(size) == naive_mth(entries[:size])
    root = log.root()
    for index in (0, 1, 255, 256, 511, 1023, 1499):
        proof = log.inclusion_proof(index, 1500)
        assert verify_inclusion(index, 1500, leaf_hash(entries[index]), proof, root)
    for old in sizes:
        proof = log.consistency_proof(old, 1500)
        assert verify_consistency(old, 1500, log.root(old), root, proof)
    note = log.checkpoint()
    cp = open_checkpoint(note, signer.verifier).checkpoint
    assert (cp.size, cp.root, cp.origin) == (1500, root, "example.com/accord-test")
    assert log.latest_checkpoint() == note
    log.close()
    # Reopen without the signer: everything is still there.
    again = Log(open_store(store_location))
    assert again.size == 1500 and again.root() == root
    assert again.entry(700) == entries[700]
    with pytest.raises(AccordError, match="signer"):
        again.checkpoint()
    again.close()


def test_wrong_signer_and_bad_entries_are_rejected(store_location: str, signer: Signer) -> None:
    Log.create(open_store(store_location), signer).close()
    other = Signer.generate("example.com/accord-test")
    with pytest.raises(AccordError, match="not this log's key"):
        Log(open_store(store_location), other)
    log = Log(open_store(store_location), signer)
    with pytest.raises(AccordError, match="tile format"):
        log.append(b"x" * 70_000)
    with pytest.raises(AccordError, match="bytes"):
        log.append_many(["text"])  # type: ignore[list-item]
    with pytest.raises(AccordError):
        log.inclusion_proof(0, 0)
    with pytest.raises(AccordError):
        log.consistency_proof(0, 5)
    assert log.size == 0
    with pytest.raises(AccordError, match="already holds"):
        Log.create(open_store(store_location), signer)


def test_concurrent_writer_cannot_fork_the_tree(store_location: str, signer: Signer) -> None:
    a = Log.create(open_store(store_location), signer)
    b = Log(open_store(store_location), signer)
    a.append(b"first")
    b.append(b"second")  # b reads the fresh size and appends after a
    start = a.size
    leaves = [b"x"]
    from accord.ledger.hashing import leaf_hashes
    from accord.ledger.tree import extend_tiles

    tiles = extend_tiles(start, leaf_hashes(leaves), b"", a.store.read_tile)
    b.append(b"third")
    with pytest.raises(IntegrityError, match="another writer"):
        a.store.commit(start, leaves, tiles)
    assert a.entries(0, 3) == [b"first", b"second", b"third"]
    assert a.root() == naive_mth([b"first", b"second", b"third"])


def test_append_lands_after_a_writer_that_committed_while_it_hashed(
    store_location: str, signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hashes its batch at size 10, then B commits 300 entries before A gets the write
    lock: A's batch goes in after B's, with its tile roots realigned to the new position
    (it used to fail with "another writer appended; retry")."""
    a = Log.create(open_store(store_location), signer)
    b = Log(open_store(store_location), signer)
    a.append_many([b"a%d" % i for i in range(10)])
    theirs = [b"b%d" % i for i in range(300)]
    ours = [b"mine%d" % i for i in range(600)]
    real_append_batch = a.store.append_batch

    def b_gets_there_first(*args: Any, **kwargs: Any) -> int:
        assert b.append_many(theirs) == list(range(10, 310))
        return real_append_batch(*args, **kwargs)

    monkeypatch.setattr(a.store, "append_batch", b_gets_there_first)
    assert a.append_many(ours) == list(range(310, 910))
    everything = [b"a%d" % i for i in range(10)] + theirs + ours
    reopened = Log(open_store(store_location))
    assert reopened.entries(0, 910) == everything
    for size in (256, 310, 512, 768, 910):
        assert reopened.root(size) == naive_mth(everything[:size])
    reopened.close()
    a.close()
    b.close()


def test_append_at_refuses_a_moved_end(store_location: str, signer: Signer) -> None:
    """``at`` is for callers that numbered their entries in advance: no silent renumbering."""
    log = Log.create(open_store(store_location), signer)
    log.append_many([b"x", b"y"])
    with pytest.raises(IntegrityError, match="another writer"):
        log.append_many([b"z"], at=1)
    assert log.size == 2
    assert log.append(b"z", at=2) == 2
    assert log.entries(0, 3) == [b"x", b"y", b"z"]
    assert log.root() == naive_mth([b"x", b"y", b"z"])
    log.close()


def test_not_a_database(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(AccordError):
        Log(open_store(junk))
    with pytest.raises(AccordError, match="not initialised"):
        Log(open_store(tmp_path / "empty.db"))


@pytest.mark.postgres
def test_postgres_unreachable_is_a_clear_error() -> None:
    with pytest.raises(AccordError, match="cannot connect"):
        open_store("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_refuses_to_sign_after_storage_tampering(tmp_path: Path, signer: Signer) -> None:
    import sqlite3

    log = Log.create(open_store(tmp_path / "log.db"), signer)
    log.append_many([b"%d" % i for i in range(300)])
    log.checkpoint()
    log.close()
    db = sqlite3.connect(tmp_path / "log.db")
    (tile,) = db.execute("SELECT hashes FROM tiles WHERE level=1 AND idx=0").fetchone()
    db.execute(
        "UPDATE tiles SET hashes=? WHERE level=1 AND idx=0", (bytes([tile[0] ^ 1]) + tile[1:],)
    )
    db.commit()
    db.close()
    log = Log(open_store(tmp_path / "log.db"), signer)
    log.append(b"more")
    with pytest.raises(IntegrityError, match="no longer matches"):
        log.checkpoint()
    assert len(log.checkpoints()) == 1
