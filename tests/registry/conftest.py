"""Fixtures: a real registry server process on loopback, over SQLite or PostgreSQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pg_dsn() -> str | None:
    dsn = os.environ.get("ACCORD_TEST_PG_DSN")
    if not dsn and os.environ.get("CI") == "true":
        pytest.fail("CI=true but ACCORD_TEST_PG_DSN is not set: run .ci/postgres.sh")
    return dsn


def reset_pg(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname='public' AND "
            "(tablename LIKE 'reg\\_%' OR tablename LIKE 'ledger\\_%' OR tablename LIKE 'jobs\\_%' "
            "OR tablename='alembic_version')"
        ).fetchall()
        for (name,) in rows:
            conn.execute(f'DROP TABLE IF EXISTS "{name}" CASCADE')


@dataclass
class Server:
    url: str
    var: Path
    token: str
    proc: subprocess.Popen[bytes]
    stderr_path: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def logs(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def start_server(var: Path, db: str | None = None, *extra: str) -> Server:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        "-m",
        "accord.cli.main",
        "serve",
        "--var",
        str(var),
        "--port",
        str(port),
        "--publish-every",
        "1",
        "--local-witnesses",
        "2",
        *extra,
    ]
    if db:
        cmd += ["--db", db]
    var.mkdir(parents=True, exist_ok=True)
    err_path = var / "server.stderr"
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err_path.open("wb")
    )
    url = f"http://127.0.0.1:{port}"
    # the demonstration year runs five inspections before the server listens
    deadline = time.monotonic() + (600 if "--demo" in extra else 60)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {err_path.read_text()}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        proc.kill()
        raise RuntimeError("server did not start")
    token_file = var / "inspector.token"
    token = token_file.read_text().strip() if token_file.exists() else ""
    return Server(url, var, token, proc, err_path)


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    db = None
    if request.param == "postgres":
        db = pg_dsn()
        if not db:
            pytest.skip('PostgreSQL tests need ACCORD_TEST_PG_DSN (eval "$(.ci/postgres.sh)")')
        reset_pg(db)
    srv = start_server(
        tmp_path_factory.mktemp(f"reg-{request.param}"),
        db,
        "--rate",
        "5000",
        "--declaration-rate",
        "5000",
    )
    yield srv
    stop_server(srv)
