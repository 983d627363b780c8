"""Registry load: concurrent signed submissions over loopback, every receipt checked.

Runs a real server process (SQLite under a temp dir), files pre-signed declarations from
one client (the baseline) and then from 8 concurrent clients, and reports the sustained
acceptance rate of each and their ratio. Afterwards every acknowledged declaration is
looked up in the log and its inclusion proof checked against the final checkpoint.

    python -m benchmarks.bench_registry [--per-client 150]
"""

from __future__ import annotations

import argparse
import base64
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "registry"))

from conftest import start_server, stop_server
from registry_helpers import facility, register, signed

from accord.registry.receipts import check_receipt


def _client_run(url: str, payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    with httpx.Client(base_url=url, timeout=60) as c:
        for p in payloads:
            resp = c.post("/v1/declarations", json=p)
            if resp.status_code != 201:
                raise RuntimeError(f"refused: {resp.status_code} {resp.text[:200]}")
            out.append(resp.json())
    return out


def load(url: str, token: str, clients: int, per_client: int, tag: str) -> dict[str, Any]:
    """Submit ``clients`` x ``per_client`` declarations concurrently; returns rate and receipts."""
    with httpx.Client(base_url=url, timeout=60) as c:
        keys = [register(c, token, f"load-{tag}-{i}") for i in range(clients)]
    work = [
        [signed(k, "facility", facility(f"{tag}-{i}-{j}")) for j in range(per_client)]
        for i, k in enumerate(keys)
    ]
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda w: _client_run(url, w), work))
    elapsed = time.perf_counter() - start
    receipts = [r for rs in results for r in rs]
    return {
        "clients": clients,
        "submitted": clients * per_client,
        "seconds": elapsed,
        "rate": len(receipts) / elapsed,
        "receipts": receipts,
    }


def audit(url: str, receipts: list[dict[str, Any]]) -> int:
    """Check every acknowledged declaration against the log's latest checkpoint."""
    with httpx.Client(base_url=url, timeout=60) as c:
        log_key = c.get("/v1/log/key").text.strip()
        checked = 0
        for r in receipts:
            assert check_receipt(
                r["leaf"], r["leaf_index"], r["inclusion_proof"], r["checkpoint"], log_key
            ).valid
            fresh = c.get(f"/v1/declarations/{r['leaf_index']}").json()["receipt"]
            assert fresh["leaf"] == r["leaf"], "the log holds another entry at that index"
            assert check_receipt(
                fresh["leaf"],
                r["leaf_index"],
                fresh["inclusion_proof"],
                fresh["checkpoint"],
                log_key,
            ).valid
            assert base64.b64decode(fresh["leaf"])
            checked += 1
    return checked


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--per-client", type=int, default=150)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(
            Path(tmp) / "var", None, "--rate", "100000", "--declaration-rate", "100000"
        )
        try:
            base = load(server.url, server.token, 1, args.per_client, "base")
            conc = load(server.url, server.token, args.clients, args.per_client, "conc")
            checked = audit(server.url, base["receipts"] + conc["receipts"])
        finally:
            stop_server(server)
    print(
        f"baseline 1 client : {base['submitted']} in {base['seconds']:.2f} s = {base['rate']:.0f}/s"
    )
    print(
        f"{args.clients} clients        : {conc['submitted']} in {conc['seconds']:.2f} s = "
        f"{conc['rate']:.0f}/s  (x{conc['rate'] / base['rate']:.2f} vs baseline)"
    )
    print(f"audited: {checked} receipts, every one in the log with a valid inclusion proof")


if __name__ == "__main__":
    main()
