"""Group commit from many threads: every caller gets a distinct, durable index."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from accord.errors import AccordError
from accord.ledger import Log, Signer, open_store
from accord.ledger.batching import Batcher


def test_threads_share_commits(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    signer = Signer.generate("example.com/batch")
    Log.create(open_store(db), signer).close()
    batcher = Batcher(lambda: Log(open_store(db), signer))
    results: dict[bytes, int] = {}
    lock = threading.Lock()

    def worker(k: int) -> None:
        for i in range(50):
            entry = b"thread %d entry %d" % (k, i)
            index = batcher.append(entry, timeout=60)
            with lock:
                results[entry] = index

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with pytest.raises(AccordError):
        batcher.submit(b"x" * 70_000).result(timeout=60)
    batcher.close()
    assert sorted(results.values()) == list(range(400))
    log = Log(open_store(db))
    for entry, index in results.items():
        assert log.entry(index) == entry
    with pytest.raises(AccordError):
        batcher.submit(b"late")


def test_open_failure_is_reported(tmp_path: Path) -> None:
    with pytest.raises(AccordError, match="not initialised"):
        Batcher(lambda: Log(open_store(tmp_path / "none.db")))
