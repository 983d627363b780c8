"""Several processes append to one log at once, through the real `accord log append`.

Every call must succeed (a writer waits for the others instead of failing), the indexes
each call reports must hold exactly the entries it sent, no two calls may share an index,
and the finished log must audit from its exported tiles.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from accord.ledger import Log, open_store

ROOT = Path(__file__).resolve().parents[2]
WRITERS = 6
ROUNDS = 4


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _accord(*args: str) -> list[str]:
    return [sys.executable, "-m", "accord.cli.main", "log", *args]


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_cli_appends_all_succeed(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    log_dir = tmp_path / "L"
    store = "log.db" if backend == "sqlite" else str(request.getfixturevalue("pg_location"))
    init = subprocess.run(
        _accord(
            "init", "--origin", "example.com/concurrent", "--store", store, "--log", str(log_dir)
        ),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    sent: dict[int, bytes] = {}
    for round_no in range(ROUNDS):
        procs = []
        for w in range(WRITERS):
            proc = subprocess.Popen(
                _accord("append", "--lines", "--json", "--log", str(log_dir)),
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            procs.append((w, proc))
        # Every writer has started (and is importing) before any gets its input, so
        # their appends overlap; batch sizes differ so tile boundaries are crossed.
        payloads = {
            w: [b"round %d writer %d line %d" % (round_no, w, i) for i in range(1 + 97 * w)]
            for w in range(WRITERS)
        }
        for w, proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"\n".join(payloads[w]) + b"\n")
        for _, proc in procs:
            assert proc.stdin is not None
            proc.stdin.close()
        for w, proc in procs:
            assert proc.stdout is not None and proc.stderr is not None
            out, err = proc.stdout.read(), proc.stderr.read()
            proc.wait(timeout=180)
            assert proc.returncode == 0, f"writer {w}: {err.decode()}"
            indexes = json.loads(out)["indexes"]
            assert len(indexes) == len(payloads[w])
            assert indexes == list(range(indexes[0], indexes[0] + len(indexes)))
            for index, entry in zip(indexes, payloads[w], strict=True):
                assert index not in sent, f"index {index} was reported to two writers"
                sent[index] = entry
    location = str(log_dir / "log.db") if backend == "sqlite" else store
    log = Log(open_store(location))
    try:
        assert log.size == len(sent) == sum(ROUNDS * (1 + 97 * w) for w in range(WRITERS))
        assert log.entries(0, log.size) == [sent[i] for i in range(log.size)]
    finally:
        log.close()
    tiles = tmp_path / "T"
    for args in (
        ("checkpoint", "--tiles", str(tiles), "--log", str(log_dir)),
        ("audit", str(tiles), "--key", str(log_dir / "log.vkey")),
    ):
        done = subprocess.run(
            _accord(*args), env=env, capture_output=True, text=True, timeout=180, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_writer_waits_for_the_lock_but_not_forever(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another connection holds the write lock: an append waits for it, then gives up with
    one clear error after the timeout (shortened here), and the log is unchanged."""
    import time

    from accord.errors import AccordError
    from accord.ledger import Signer, store_postgres, store_sqlite

    monkeypatch.setattr(store_sqlite, "WRITE_LOCK_TIMEOUT_S", 0.5)
    monkeypatch.setattr(store_postgres, "WRITE_LOCK_TIMEOUT_S", 0.5)
    if backend == "sqlite":
        import sqlite3

        location = str(tmp_path / "log.db")
        Log.create(open_store(location), Signer.generate("example.com/lock")).close()
        holder = sqlite3.connect(location, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
    else:
        import psycopg

        location = str(request.getfixturevalue("pg_location"))
        Log.create(open_store(location), Signer.generate("example.com/lock")).close()
        holder = psycopg.connect(location)  # type: ignore[assignment]
        holder.execute("SELECT value FROM ledger_meta WHERE key='size' FOR UPDATE")
    log = Log(open_store(location))
    began = time.monotonic()
    with pytest.raises(AccordError, match="another writer held"):
        log.append(b"blocked")
    waited = time.monotonic() - began
    assert 0.4 <= waited < 10
    holder.rollback()
    holder.close()
    assert log.size == 0
    assert log.append(b"free now") == 0
    log.close()
