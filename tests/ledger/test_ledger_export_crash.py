"""Crash safety of the static tile export: `accord log checkpoint --tiles` is SIGKILLed at
random points (between a tile and its entry bundle, while upper levels are written, while
signing), the log grows between rounds, and after one clean re-run `accord log audit` must
verify every tile and entry bundle of the published checkpoint."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from accord.ledger import Log, Signer, open_store

ROOT = Path(__file__).resolve().parents[2]


def _accord(*args: str) -> list[str]:
    return [sys.executable, "-m", "accord.cli.main", "log", *args]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}


def _level0_files(tiles: Path) -> int:
    """Level-0 tiles written so far (indexes stay below 1000 here, so one directory)."""
    try:
        names = os.listdir(tiles / "tile" / "0")
    except FileNotFoundError:
        return 0
    return sum(1 for name in names if len(name) == 3 and name.isdigit())


def _grow(log_dir: Path, rng: random.Random, next_entry: int) -> int:
    """Append a random number of entries (some whole tiles and a partial tail)."""
    signer = Signer.parse((log_dir / "log.key").read_text().strip())
    log = Log(open_store(log_dir / "log.db"), signer)
    try:
        count = 256 * rng.randint(8, 24) + rng.randint(0, 255)
        log.append_many([b"export-crash %d" % (next_entry + i) for i in range(count)])
        return next_entry + count
    finally:
        log.close()


def test_sigkilled_tile_export_recovers_on_rerun(tmp_path: Path) -> None:
    log_dir, tiles = tmp_path / "L", tmp_path / "T"
    env = _env()
    init = subprocess.run(
        _accord("init", "--origin", "example.com/export-crash", "--log", str(log_dir)),
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    rng = random.Random(20261205)
    size = _grow(log_dir, rng, 0)
    killed_mid_tiles = killed = 0
    began = time.monotonic()
    for trial in range(12):
        if time.monotonic() - began > 60 and trial >= 6:
            break
        before = _level0_files(tiles)
        expected = size // 256
        proc = subprocess.Popen(
            _accord("checkpoint", "--tiles", str(tiles), "--log", str(log_dir)),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if trial % 3 == 2:
            # A kill at any moment: start-up, signing, upper levels, the checkpoint file.
            time.sleep(rng.uniform(0.2, 1.5))
        else:
            # A kill once the export has reached a random level-0 tile, i.e. somewhere
            # between writing one tile, its entry bundle and the next tile.
            target = before + rng.randint(1, max(1, expected - before))
            deadline = time.monotonic() + 60
            while (
                proc.poll() is None
                and _level0_files(tiles) < target
                and time.monotonic() < deadline
            ):
                time.sleep(0.0005)
            if proc.poll() is None and _level0_files(tiles) < expected:
                killed_mid_tiles += 1
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(timeout=60)
        size = _grow(log_dir, rng, size)
    assert killed >= 5, f"only {killed} exports were killed before finishing"
    assert killed_mid_tiles >= 3, "too few kills landed while level-0 tiles were written"

    rerun = subprocess.run(
        _accord("checkpoint", "--tiles", str(tiles), "--log", str(log_dir), "--json"),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr
    audit = subprocess.run(
        _accord("audit", str(tiles), "--key", str(log_dir / "log.vkey"), "--json"),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert f'"size": {size}' in audit.stdout
