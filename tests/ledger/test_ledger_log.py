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


def test_latest_checkpoint_and_checkpoint_at_size(store_location: str, signer: Signer) -> None:
    log = Log.create(open_store(store_location), signer)
    assert log.last_checkpoint() is None and log.checkpoint_at(0) is None
    with pytest.raises(IntegrityError, match="never issued"):
        log.latest_checkpoint()
    notes = {}
    for size, ext in ((3, "a"), (300, "a"), (300, "b"), (1000, "a")):
        log.append_many([b"%d" % i for i in range(log.size, size)])
        notes[size] = log.checkpoint([f"run {ext}"])  # a second note at 300 replaces the first
    assert log.last_checkpoint() == (1000, notes[1000])
    assert log.latest_checkpoint() == notes[1000]
    for size in (3, 300, 1000):
        assert log.checkpoint_at(size) == notes[size]
    assert log.checkpoint_at(4) is None and log.checkpoint_at(1001) is None
    # The same answers as a scan of every checkpoint, oldest first.
    everything = log.checkpoints()
    assert len(everything) == 4 and everything[-1] == log.last_checkpoint()
    assert [n for s, n in everything if s == 300][-1] == log.checkpoint_at(300)
    log.close()


def test_checkpoint_lookups_do_not_scan_the_table(tmp_path: Path, signer: Signer) -> None:
    """Counted in SQLite virtual-machine steps, not seconds: with 20,000 checkpoints stored
    the two lookups take a few dozen steps, a scan of them all hundreds of thousands."""
    import sqlite3

    from accord.ledger.store_sqlite import SQLiteStore

    path = tmp_path / "log.db"
    log = Log.create(open_store(path), signer)
    log.append_many([b"%d" % i for i in range(50)])
    note = log.checkpoint()
    log.close()
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            "INSERT INTO checkpoints(size, note) VALUES (?, ?)",
            [(50 + i, note) for i in range(20_000)],
        )
    db.close()
    store = SQLiteStore(path)
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    conn = store._db  # the store's own connection: count the steps its queries take
    conn.set_progress_handler(count, 1)

    def cost(fn: Any) -> int:
        nonlocal steps
        steps = 0
        fn()
        return steps

    assert cost(store.latest_checkpoint) < 200
    assert cost(lambda: store.checkpoint_at(10_050)) < 200
    assert cost(lambda: store.checkpoint_at(99_999)) < 200
    assert cost(store.checkpoints) > 20_000
    conn.set_progress_handler(None, 1)
    assert store.latest_checkpoint() == (20_049, note)
    assert store.checkpoint_at(50) == note and store.checkpoint_at(20_050) is None
    store.close()
