"""Crash safety: SIGKILL the writer at random moments, then check nothing acknowledged
was lost, every checkpoint ever issued still matches the tree, and appends go on."""

from __future__ import annotations

import base64
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from crash_writer import entry_for

from accord.ledger import Log, Signer, open_checkpoint, open_store, verify_consistency

WRITER = Path(__file__).with_name("crash_writer.py")


@pytest.mark.parametrize(
    ("backend", "trials", "budget_s"),
    [("sqlite", 30, 40.0), pytest.param("postgres", 8, 40.0, marks=pytest.mark.postgres)],
)
def test_sigkill_never_loses_acknowledged_entries(
    backend: str, trials: int, budget_s: float, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    db = tmp_path / "crash.db" if backend == "sqlite" else request.getfixturevalue("pg_location")
    signer = Signer.generate("example.com/crash-test")
    Log.create(open_store(db), signer).close()
    rng = random.Random(1234)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    acked: set[int] = set()
    issued: list[bytes] = []
    began = time.monotonic()
    done = 0
    while done < trials and time.monotonic() - began < budget_s:
        done += 1
        proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(db), signer.skey, str(done)],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"READY"
        time.sleep(rng.uniform(0.0, 0.6))
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        for line in out.decode().splitlines():
            kind, _, rest = line.partition(" ")
            if kind == "ACK":
                start, count = map(int, rest.split())
                acked.update(range(start, start + count))
            elif kind == "CP":
                issued.append(base64.b64decode(rest))
        # After every crash the log must reopen cleanly and hold every acknowledged entry.
        log = Log(open_store(db), signer)
        size = log.size
        if acked:
            assert size > max(acked)
        log.close()
    assert done >= min(trials, 8), "too few crash trials ran"
    assert len(acked) > 1000, "the writer acknowledged too little to test anything"
    assert issued, "the writer never issued a checkpoint"

    log = Log(open_store(db), signer)
    size = log.size
    entries = log.entries(0, size)
    for index in acked:
        assert entries[index] == entry_for(index)
    # Entries that committed but whose ACK was lost to the kill are still well-formed.
    assert all(entries[i] == entry_for(i) for i in range(size))
    stored = [note for _, note in log.checkpoints()]
    assert set(issued) <= set(stored)
    current = log.root()
    for note in stored:
        cp = open_checkpoint(note, signer.verifier).checkpoint
        assert log.root(cp.size) == cp.root
        proof = log.consistency_proof(cp.size, size)
        assert verify_consistency(cp.size, size, cp.root, current, proof)
    # The log keeps working.
    index = log.append(b"after the crashes")
    assert index == size and log.entry(index) == b"after the crashes"
    log.checkpoint()
    log.close()
