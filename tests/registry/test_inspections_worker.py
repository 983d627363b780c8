"""Real processes: a registry server, `accord worker`s killed with SIGKILL mid-job, restarts.

Must hold: after a worker dies mid-inspection the job is retried by another worker, and the
log holds exactly one finding for the inspection, also after the server itself is killed
and restarted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import ROOT, Server, start_server, stop_server
from inspection_helpers import completion, record_transcript, tar_dir, upload_headers
from registry_helpers import facility, register, signed


def _worker(var: Path, log: Path, dsn: str | None) -> subprocess.Popen[bytes]:
    db = ["--db", dsn] if dsn else []
    return subprocess.Popen(
        [sys.executable, "-m", "accord.cli.main", "worker", "--var", str(var), "--lease", "2", *db],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
        start_new_session=True,  # its own process group: SIGKILL reaches the forked workers
    )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def _wait(client: httpx.Client, ident: str, states: set[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ins = client.get(f"/v1/inspections/{ident}").json()
        if ins["state"] in states:
            return dict(ins)
        time.sleep(0.1)
    raise AssertionError(f"inspection stayed {ins['state']} ({ins})")


def _entries_with_key(client: httpx.Client, key: str) -> list[int]:
    size = client.get("/healthz").json()["log_size"]
    found = []
    for i in range(size):
        entry = client.get(f"/v1/log/entries/{i}").json()["entry"]
        if entry.get("key") == key:
            found.append(i)
    return found


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_worker_killed_mid_job_then_restarted_records_exactly_one_finding(
    tmp_path: Path, backend: str
) -> None:
    from conftest import pg_dsn, reset_pg

    dsn = None
    if backend == "postgres":
        dsn = pg_dsn()
        if dsn is None:
            pytest.skip("ACCORD_TEST_PG_DSN is not set")
        reset_pg(dsn)
    summary = record_transcript(tmp_path / "run")
    var = tmp_path / "var"
    server: Server = start_server(var, dsn)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        with server.client() as client:
            key = register(client, server.token, "lab-a")
            today = dt.datetime.now(dt.UTC).date()
            for kind, body in (
                ("facility", facility("f-lab")),
                ("training_run", {
                    "run_id": "R-1", "phase": "start", "date": str(today - dt.timedelta(days=9)),
                    "facility_id": "f-lab", "chip": "H100-SXM", "chip_count": 8,
                }),
            ):  # fmt: skip
                assert (
                    client.post("/v1/declarations", json=signed(key, kind, body)).status_code == 201
                )
            done = client.post(
                "/v1/declarations",
                json=signed(key, "training_run", completion(summary, str(today))),
            )
            assert done.status_code == 201, done.text
            decl = done.json()["leaf_index"]
            ins = client.post(
                "/v1/inspections",
                json={"declaration": decl, "verifier": "training"},
                headers={"authorization": f"Bearer {server.token}"},
            ).json()
            ident = ins["inspection_id"]
            archive = tar_dir(tmp_path / "run")
            headers = upload_headers(key, ident, "transcript", archive, dt.datetime.now(dt.UTC))
            up = client.put(
                f"/v1/inspections/{ident}/evidence/transcript", content=archive, headers=headers
            )
            assert up.status_code == 201 and up.json()["state"] == "queued", up.text

            log = tmp_path / "worker.stderr"
            workers.append(_worker(var, log, dsn))
            running = _wait(client, ident, {"running", "decided", "recorded"}, 120)
            assert running["state"] == "running", "the job finished before it could be killed"
            _kill(workers.pop())
            time.sleep(0.5)
            after_kill = client.get(f"/v1/inspections/{ident}").json()
            assert after_kill["state"] == "running" and after_kill["finding_leaf"] is None

            workers.append(_worker(var, log, dsn))
            final = _wait(client, ident, {"recorded", "error"}, 240)
            assert final["state"] == "recorded", (final, log.read_text(errors="replace")[-3000:])
            assert final["attempts"] == 2
            assert final["verdict"] == "consistent"
            assert _entries_with_key(client, f"inspection:{ident}") == [final["finding_leaf"]]

        # the server dies too; after its restart the record still holds one finding
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=30)
        server = start_server(var, dsn)
        with server.client() as client:
            time.sleep(1.5)  # a recorder tick
            again = client.get(f"/v1/inspections/{ident}").json()
            assert again["state"] == "recorded"
            assert _entries_with_key(client, f"inspection:{ident}") == [final["finding_leaf"]]
        # anyone holding the evidence re-derives the verdict and statistics from the log
        folder = tmp_path / "evidence"
        folder.mkdir()
        (folder / "transcript.tgz").write_bytes(archive)
        out = subprocess.run(
            [sys.executable, "-m", "accord.cli.main", "inspect", "reproduce",
             str(final["finding_leaf"]), "--evidence", str(folder), "--url", server.url, "--json"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
            timeout=300,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr.decode()[-2000:]
        report = json.loads(out.stdout)
        assert report == {"verdict": "consistent", "same": True, "differences": []}
    finally:
        for proc in workers:
            _kill(proc)
        stop_server(server)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_lost_queue_message_is_found_by_the_sweep(tmp_path: Path, backend: str) -> None:
    """A message taken by a worker that died before claiming the row is queued again; on
    PostgreSQL the queue lives in the registry's own database."""
    from conftest import pg_dsn, reset_pg

    from accord.registry import inspection_state as state
    from accord.registry.jobs import Jobs
    from accord.registry.server import settings_for
    from accord.registry.service import Registry

    var = tmp_path / "var"
    dsn = None
    if backend == "postgres":
        dsn = pg_dsn()
        if dsn is None:
            pytest.skip("ACCORD_TEST_PG_DSN is not set")
        reset_pg(dsn)
    reg = Registry(settings_for(var, dsn))
    try:
        jobs = Jobs(reg.settings.db_url, var, lease=1.0)
        jobs.huey.flush()
        if dsn:
            assert jobs.huey.storage.database.__class__.__name__.startswith("Psycopg3")
        with reg.engine.begin() as conn:
            from accord.registry import db

            conn.execute(
                db.inspections.insert().values(
                    inspection_id="ins-00000000000000aa", declaration=0, party="p",
                    verifier="training", beacon_size=1, beacon_root="00" * 32,
                    opened_at="2026-01-01T00:00:00Z", state="queued", enqueued=time.time() - 3600,
                    updated_at="2026-01-01T00:00:00Z",
                )
            )  # fmt: skip
        assert jobs.huey.pending_count() == 0
        assert jobs.sweep() == ["ins-00000000000000aa"]
        assert jobs.huey.pending_count() == 1
        assert jobs.sweep() == []  # its enqueue time was renewed
        assert state.claim(reg.engine, "ins-00000000000000aa", 1.0) == 1
        assert state.claim(reg.engine, "ins-00000000000000aa", 1.0) is None  # one claim only
    finally:
        reg.close()
