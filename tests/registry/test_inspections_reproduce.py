"""`accord inspect reproduce` against a real server, for the provenance, location and
telemetry verifiers (training is reproduced in the worker test): the same verdict and
statistics from the evidence and the log alone, and a clear refusal without the evidence."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from conftest import ROOT, start_server, stop_server
from inspection_helpers import location_evidence, sha256, split_run_export, tiny_models
from registry_helpers import register, signed

from accord.ledger import Signer
from accord.ledger.note import ALG_ED25519
from accord.registry.jobs import Jobs
from accord.registry.verifiers import beacon_bytes


def _reproduce(url: str, leaf: int, folder: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "accord.cli.main", "inspect", "reproduce", str(leaf),
         "--evidence", str(folder), "--url", url, "--json"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, timeout=300,
    )  # fmt: skip


def test_reproduce_provenance_location_and_telemetry(tmp_path: Path) -> None:
    var = tmp_path / "var"
    server = start_server(var)
    jobs = Jobs(f"sqlite:///{var.resolve() / 'registry.sqlite'}", var)
    auth = {"authorization": f"Bearer {server.token}"}
    today = dt.datetime.now(dt.UTC).date()
    day = [str(today - dt.timedelta(days=n)) for n in range(40)]
    models = tiny_models(tmp_path / "models")
    parent, child = models["parent"].read_bytes(), models["derived"].read_bytes()
    responder = Signer.generate("resp.sc-jb-1", ALG_ED25519)
    export, kyc = split_run_export()
    try:
        with server.client() as c:

            def post(key: Signer, kind: str, body: dict[str, Any]) -> int:
                resp = c.post("/v1/declarations", json=signed(key, kind, body))
                assert resp.status_code == 201, resp.text
                return int(resp.json()["leaf_index"])

            def inspect(decl: int, verifier: str, files: dict[str, bytes], **extra: Any) -> dict:
                body = {"declaration": decl, "verifier": verifier, **extra}
                ins = c.post("/v1/inspections", json=body, headers=auth).json()
                ident = ins["inspection_id"]
                for name, data in files.items():
                    url = f"/v1/inspections/{ident}/evidence/{name}"
                    assert c.put(url, content=data, headers=auth).status_code == 201
                jobs._run(ident)
                deadline = time.monotonic() + 30
                while (done := c.get(f"/v1/inspections/{ident}").json())["state"] != "recorded":
                    assert time.monotonic() < deadline, done
                    time.sleep(0.2)
                return dict(done)

            cloud = register(c, server.token, "straits", country="MY", role="cloud")
            lab = register(c, server.token, "lab-a")
            other = register(c, server.token, "lab-b", country="CN")
            site = post(cloud, "facility", {"facility_id": "sc-jb-1", "name": "JB",
                        "country": "MY", "responder_keys": [responder.verifier.vkey]})  # fmt: skip
            for key, fid, run in ((lab, "f-a", "R-1"), (other, "f-b", "P-1")):
                post(key, "facility", {"facility_id": fid, "name": fid, "country": "US"})
                base = {"run_id": run, "facility_id": fid, "chip": "H100-SXM", "chip_count": 8}
                post(key, "training_run", {**base, "phase": "start", "date": day[30]})
                post(key, "training_run", {**base, "phase": "completion", "date": day[20],
                                           "chip_hours": 1.0, "compute_flop": 1e18})  # fmt: skip
            release = {"open_weights": True, "training_compute_flop": 1e18, "origin": "scratch"}
            ref = post(
                other,
                "model_release",
                {
                    **release,
                    "model_name": "parent-1",
                    "run_id": "P-1",
                    "date": day[10],
                    "weights_sha256": sha256(parent),
                },
            )
            rel = post(
                lab,
                "model_release",
                {
                    **release,
                    "model_name": "child-1",
                    "run_id": "R-1",
                    "date": day[5],
                    "weights_sha256": sha256(child),
                },
            )

            prov = inspect(
                rel, "provenance", {"weights": child, "reference": parent}, reference=ref
            )
            opened = c.post(
                "/v1/inspections", json={"declaration": site, "verifier": "location"}, headers=auth
            ).json()
            beacon = beacon_bytes(opened["beacon"]["root"], opened["inspection_id"])
            landmarks, records = location_evidence(beacon, responder, at=(22.543, 114.058))
            for name, data in (("landmarks", landmarks), ("measurements", records)):
                url = f"/v1/inspections/{opened['inspection_id']}/evidence/{name}"
                assert c.put(url, content=data, headers=auth).status_code == 201
            jobs._run(opened["inspection_id"])
            tele = inspect(site, "telemetry", {"export": export, "accounts": kyc})
            deadline = time.monotonic() + 30
            while (loc := c.get(f"/v1/inspections/{opened['inspection_id']}").json())[
                "state"
            ] != "recorded":
                assert time.monotonic() < deadline, loc
                time.sleep(0.2)

        cases = [
            (prov, {"w.safetensors": child, "p.safetensors": parent}, "inconsistent"),
            (loc, {"a.json": landmarks, "b.jsonl": records}, "inconsistent"),
            (tele, {"export.txt": export, "kyc.csv": kyc}, "inconsistent"),
        ]
        for n, (done, files, verdict) in enumerate(cases):
            assert done["verdict"] == verdict, done
            folder = tmp_path / f"evidence-{n}"
            folder.mkdir()
            for name, data in files.items():
                (folder / name).write_bytes(data)
            out = _reproduce(server.url, done["finding_leaf"], folder)
            assert out.returncode == 0, out.stderr.decode()[-2000:]
            report = json.loads(out.stdout)
            assert report == {"verdict": verdict, "same": True, "differences": []}
        # `accord inspect list` shows the three, newest first, and filters by declaration
        listed = subprocess.run(
            [sys.executable, "-m", "accord.cli.main", "inspect", "list", "--url", server.url,
             "--json"],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
            timeout=120,
        )  # fmt: skip
        assert listed.returncode == 0, listed.stderr.decode()
        rows = json.loads(listed.stdout)
        assert {r["verifier"] for r in rows} == {"provenance", "location", "telemetry"}
        only = subprocess.run(
            [sys.executable, "-m", "accord.cli.main", "inspect", "list", "--url", server.url,
             "--declaration", str(rel)],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True,
            timeout=120,
        )  # fmt: skip
        assert only.returncode == 0 and prov["inspection_id"] in only.stdout.decode()
        assert opened["inspection_id"] not in only.stdout.decode()
        # without the evidence: one line naming what is missing, exit 2
        empty = tmp_path / "empty"
        empty.mkdir()
        out = _reproduce(server.url, prov["finding_leaf"], empty)
        assert out.returncode == 2
        said = out.stderr.decode()
        assert "lacks reference" in said and "weights (" in said and "Traceback" not in said
        assert httpx.get(f"{server.url}/healthz").json()["status"] == "ok"
    finally:
        stop_server(server)
