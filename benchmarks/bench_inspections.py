"""Inspections end to end: evidence upload to recorded finding, per verifier.

Runs a real server process and one `accord worker` process (SQLite under a temp dir),
files the declarations, opens an inspection per verifier, uploads the demonstration year's
evidence (:mod:`accord.registry.demo_evidence`: a 60-step transcript of the small MLP task, a
small GPT derived from another party's, twelve landmarks' challenges timed with real
WonderProxy RTTs, a Slurm export with a split run), and times from the start of the upload
to the moment the finding is in the log (the API says ``recorded``). Reports each time and,
as the baseline, a bare evidence upload's time.

    python -m benchmarks.bench_inspections [--repeat 2] [--throughput 20 --workers 2]

With ``--throughput N`` it also opens N training inspections at once, served by one
``accord worker --workers W``, and reports inspections per hour; while they run a client
reads ``GET /v1/declarations`` in a loop, and its p50/p99 latency is compared with the same
loop run just before, with no inspection running (the baseline), in the same server.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "registry"))

from conftest import ROOT, start_server, stop_server
from inspection_helpers import completion, sha256, upload_headers
from registry_helpers import facility, register, signed

from accord.ledger import Signer
from accord.ledger.note import ALG_ED25519
from accord.registry.demo_evidence import (
    DemoEvidence,
    location_evidence,
    prepare,
    telemetry_evidence,
)
from accord.registry.verifiers import beacon_bytes


def _wait(client: httpx.Client, ident: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ins = client.get(f"/v1/inspections/{ident}").json()
        if ins["state"] in ("recorded", "error"):
            return dict(ins)
        time.sleep(0.05)
    raise RuntimeError(f"{ident} did not finish: {ins}")


def _row(verifier: str, upload: float, total: float, done: dict[str, Any]) -> dict[str, Any]:
    return {
        "verifier": verifier,
        "upload_s": round(upload, 3),
        "upload_to_recorded_s": round(total, 3),
        "state": done["state"],
        "verdict": done["verdict"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--throughput", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ev = prepare(root / "evidence", Signer.generate("resp.f-my", ALG_ED25519))
        archive = ev.archives["frontier-7-probe"]
        var = root / "var"
        server = start_server(var)
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "accord.cli.main",
                "worker",
                "--var",
                str(var),
                "--workers",
                str(args.workers),
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=(root / "worker.stderr").open("wb"),
            start_new_session=True,
        )
        try:
            results = run(server, ev, args.repeat)
            if args.throughput:
                results["throughput"] = throughput(server, archive, args.throughput, args.workers)
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=60)
            stop_server(server)
    print(json.dumps(results, indent=2))


def run(server: Any, ev: DemoEvidence, repeat: int) -> dict[str, Any]:
    summary = ev.transcripts["frontier-7-probe"]
    archive = ev.archives["frontier-7-probe"]
    parent, child = ev.weights["Frontier-7"], ev.weights["Dragon-3"]
    assert ev.responder is not None
    responder = ev.responder
    today = dt.datetime.now(dt.UTC).date()
    auth = {"authorization": f"Bearer {server.token}"}
    with server.client() as client:
        lab = register(client, server.token, "lab-a")
        other = register(client, server.token, "lab-b", country="CN")

        def post(key: Any, kind: str, body: dict[str, Any]) -> int:
            resp = client.post("/v1/declarations", json=signed(key, kind, body))
            assert resp.status_code == 201, resp.text
            return int(resp.json()["leaf_index"])

        post(lab, "facility", facility("f-lab"))
        post(other, "facility", facility("f-b", "CN"))
        run = {"facility_id": "f-lab", "chip": "H100-SXM", "chip_count": 8}
        post(lab, "training_run", {**run, "run_id": summary["run_id"], "phase": "start",
                                   "date": str(today - dt.timedelta(days=9))})  # fmt: skip
        decl = post(lab, "training_run", completion(summary, str(today)))
        brun = {"facility_id": "f-b", "chip": "H100-SXM", "chip_count": 8, "run_id": "P-1"}
        days = [str(today - dt.timedelta(days=n)) for n in (20, 10, 5)]
        post(other, "training_run", {**brun, "phase": "start", "date": days[0]})
        post(other, "training_run", {**brun, "phase": "completion", "date": days[1],
                                     "chip_hours": 1.0, "compute_flop": 1e18})  # fmt: skip
        ref = post(other, "model_release", {
            "model_name": "parent-1", "run_id": "P-1", "date": days[2],
            "open_weights": True, "training_compute_flop": 1e18, "weights_sha256": sha256(parent),
            "origin": "scratch"})  # fmt: skip
        site = post(other, "facility", {"facility_id": "f-my", "name": "JB", "country": "MY",
                                        "responder_keys": [responder.verifier.vkey]})  # fmt: skip
        rel = post(lab, "model_release", {
            "model_name": "child-1", "run_id": summary["run_id"], "date": str(today),
            "open_weights": True,
            "training_compute_flop": summary["declared_training_flops"],
            "weights_sha256": sha256(child), "origin": "scratch"})  # fmt: skip

        def inspect(
            verifier: str,
            declaration: int,
            uploads: list[tuple[str, bytes, bool]],
            reference: int | None = None,
        ) -> tuple[float, float, dict[str, Any]]:
            body: dict[str, Any] = {"declaration": declaration, "verifier": verifier}
            if reference is not None:
                body["reference"] = reference
            ident = client.post("/v1/inspections", json=body, headers=auth).json()["inspection_id"]
            start = time.perf_counter()
            for name, data, by_party in uploads:
                headers = (
                    upload_headers(lab, ident, name, data, dt.datetime.now(dt.UTC))
                    if by_party
                    else auth
                )
                url = f"/v1/inspections/{ident}/evidence/{name}"
                assert client.put(url, content=data, headers=headers).status_code == 201
            uploaded = time.perf_counter() - start
            done = _wait(client, ident)
            return uploaded, time.perf_counter() - start, done

        out: dict[str, Any] = {"machine_load": os.getloadavg()[0], "runs": []}
        for _ in range(repeat):
            up, total, done = inspect("training", decl, [("transcript", archive, True)])
            out["runs"].append(_row("training", up, total, done))
            up, total, done = inspect(
                "provenance", rel, [("weights", child, True), ("reference", parent, False)], ref
            )
            out["runs"].append(_row("provenance", up, total, done))
            ident = client.post(
                "/v1/inspections", json={"declaration": site, "verifier": "location"}, headers=auth
            ).json()
            beacon = beacon_bytes(ident["beacon"]["root"], ident["inspection_id"])
            landmarks, records = location_evidence(beacon, responder)
            start = time.perf_counter()
            for name, data in (("landmarks", landmarks), ("measurements", records)):
                url = f"/v1/inspections/{ident['inspection_id']}/evidence/{name}"
                assert client.put(url, content=data, headers=auth).status_code == 201
            up = time.perf_counter() - start
            done = _wait(client, ident["inspection_id"])
            out["runs"].append(_row("location", up, time.perf_counter() - start, done))
            export, kyc = telemetry_evidence()
            up, total, done = inspect(
                "telemetry", site, [("export", export, False), ("accounts", kyc, False)]
            )
            out["runs"].append(_row("telemetry", up, total, done))
        return out


def _latencies(url: str, stop: Any, out: list[float]) -> None:
    with httpx.Client(base_url=url, timeout=60) as client:
        while not stop.is_set():
            start = time.perf_counter()
            assert client.get("/v1/declarations?limit=50").status_code == 200
            out.append(time.perf_counter() - start)
            time.sleep(0.02)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def throughput(server: Any, archive: bytes, n: int, workers: int) -> dict[str, Any]:
    import threading

    auth = {"authorization": f"Bearer {server.token}"}
    with server.client() as client:
        decl = client.get("/v1/declarations?kind=training_run&party=lab-a").json()["items"][0]
        idle: list[float] = []
        stop = threading.Event()
        reader = threading.Thread(target=_latencies, args=(server.url, stop, idle))
        reader.start()
        time.sleep(15)
        stop.set()
        reader.join()
        busy: list[float] = []
        stop = threading.Event()
        reader = threading.Thread(target=_latencies, args=(server.url, stop, busy))
        idents = []
        for _ in range(n):
            body = {"declaration": decl["leaf_index"], "verifier": "training"}
            idents.append(client.post("/v1/inspections", json=body, headers=auth).json())
        reader.start()
        start = time.perf_counter()
        for ins in idents:
            url = f"/v1/inspections/{ins['inspection_id']}/evidence/transcript"
            assert client.put(url, content=archive, headers=auth).status_code == 201
        states = [_wait(client, ins["inspection_id"])["state"] for ins in idents]
        wall = time.perf_counter() - start
        stop.set()
        reader.join()
    return {
        "inspections": n,
        "workers": workers,
        "recorded": states.count("recorded"),
        "wall_s": round(wall, 2),
        "per_hour": round(3600 * n / wall),
        "read_latency_ms_idle": {"n": len(idle), "p50": _pct(idle, 0.5), "p99": _pct(idle, 0.99)},
        "read_latency_ms_busy": {"n": len(busy), "p50": _pct(busy, 0.5), "p99": _pct(busy, 0.99)},
    }


if __name__ == "__main__":
    main()
