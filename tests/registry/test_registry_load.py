"""Bounded loopback load: concurrent submissions, every acknowledged one provably logged."""

from __future__ import annotations

import sys
from pathlib import Path

from conftest import start_server, stop_server

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.bench_registry import audit, load


def test_concurrent_submissions_all_in_log(tmp_path: Path) -> None:
    server = start_server(
        tmp_path / "var", None, "--rate", "100000", "--declaration-rate", "100000"
    )
    try:
        result = load(server.url, server.token, clients=8, per_client=25, tag="t")
        assert result["seconds"] < 60
        indexes = [r["leaf_index"] for r in result["receipts"]]
        assert len(set(indexes)) == 200
        assert audit(server.url, result["receipts"]) == 200
    finally:
        stop_server(server)
