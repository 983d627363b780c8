"""schemathesis against the served OpenAPI document: no input makes the server fail (5xx)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import start_server, stop_server


def test_no_server_error_for_any_generated_request(tmp_path: Path) -> None:
    server = start_server(
        tmp_path / "var", None, "--rate", "100000", "--declaration-rate", "100000"
    )
    try:
        exe = shutil.which("schemathesis") or str(Path(sys.executable).parent / "schemathesis")
        result = subprocess.run(
            [
                exe,
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "25",
                "--phases",
                "examples,coverage,fuzzing",
                # One worker: hypothesis' lambda introspection (ast.parse) can raise a spurious
                # "AST constructor recursion depth mismatch" SystemError on CPython 3.11 when
                # schemathesis runs several worker threads.
                "--workers",
                "1",
                "--header",
                f"Authorization: Bearer {server.token}",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=240,
            cwd=tmp_path,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, output[-6000:]
        assert "operations" in output.lower() or "passed" in output.lower()
    finally:
        stop_server(server)
    assert "Traceback" not in server.logs()


def test_out_of_range_leaf_index_is_a_client_error(tmp_path: Path) -> None:
    """Regression: an index beyond SQLite's 64-bit integers once gave a 500 (schemathesis)."""
    import httpx

    server = start_server(tmp_path / "var", None)
    try:
        for path in ("/v1/declarations/", "/v1/log/entries/"):
            for index in ("6088239232378020888051712", "-1"):
                response = httpx.get(f"{server.url}{path}{index}", timeout=30)
                assert response.status_code == 422, (path, index, response.text)
                assert "leaf_index" in response.text
            assert httpx.get(f"{server.url}{path}999999", timeout=30).status_code == 404
    finally:
        stop_server(server)
    assert "Traceback" not in server.logs()
