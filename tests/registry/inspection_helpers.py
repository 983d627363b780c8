"""Real evidence for inspection tests: a recorded training transcript and tiny GPT weights."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import tarfile
from pathlib import Path
from typing import Any

from accord.ledger import Signer
from accord.registry.demo_evidence import SACCT_HEADER
from accord.registry.inspections import upload_message
from accord.registry.signing import utc_text


def record_transcript(out: Path, run_id: str = "R-1", steps: int = 40, seed: int = 0) -> dict:
    """Train the small MLP task on CPU with the recorder attached; its ledger summary."""
    from accord.verify.training.runs import RunConfig, record_honest_run
    from accord.verify.training.transcript import load_transcript

    cfg = RunConfig(task="blobs", steps=steps, k=10, init_seed=seed, order_seed=seed)
    record_honest_run(out, cfg, run_id=run_id)
    return load_transcript(out).ledger_summary()


def tar_dir(src: Path, gz: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if gz else "w") as tar:
        tar.add(src, arcname=".")
    return buf.getvalue()


def tar_members(members: dict[str, bytes], symlink: tuple[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo(symlink[0])
            info.type = tarfile.SYMTYPE
            info.linkname = symlink[1]
            tar.addfile(info)
    return buf.getvalue()


def tiny_models(out: Path) -> dict[str, Path]:
    """A parent, a model derived from it (permuted units, small noise) and an independent one."""
    import torch

    from accord.verify.provenance.derive import permute
    from accord.verify.provenance.tinygpt import TinyConfig, TinyGPT, save_model

    out.mkdir(parents=True, exist_ok=True)
    cfg = TinyConfig(d_model=32, n_layer=2, n_head=4, d_ff=64, ctx=16)
    torch.manual_seed(1)
    parent = TinyGPT(cfg)
    torch.manual_seed(2)
    other = TinyGPT(cfg)
    child = permute(parent, seed=3)
    with torch.no_grad():
        for p in child.parameters():
            p.add_(0.01 * p.std() * torch.randn_like(p))
    paths = {}
    for name, model in (("parent", parent), ("derived", child), ("independent", other)):
        paths[name] = out / f"{name}.safetensors"
        save_model(model, paths[name])
    return paths


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upload_headers(
    key: Signer, inspection_id: str, name: str, data: bytes, when: dt.datetime
) -> dict[str, Any]:
    issued = utc_text(when)
    msg = upload_message(inspection_id, name, sha256(data), len(data), key.name, issued)
    return {
        "accord-party": key.name,
        "accord-issued-at": issued,
        "accord-signature": base64.b64encode(key.sign(msg)).decode(),
        "content-type": "application/octet-stream",
    }


def completion(summary: dict, date: str = "2026-05-30", **extra: Any) -> dict[str, Any]:
    return {
        "run_id": summary["run_id"],
        "phase": "completion",
        "date": date,
        "facility_id": "f-lab",
        "chip": "H100-SXM",
        "chip_count": 8,
        "chip_hours": 1.0,
        "compute_flop": summary["declared_training_flops"],
        "chain_head": summary["chain_head"],
        "final_weights_sha256": summary["final_weights_sha256"],
        **extra,
    }


LANDMARKS = {  # id: (lat, lon, country) — public places, positions to ~1 km
    "sin": (1.352, 103.820, "SG"),
    "kul": (3.139, 101.687, "MY"),
    "hkg": (22.320, 114.170, "HK"),
    "can": (23.129, 113.264, "CN"),
    "bkk": (13.756, 100.502, "TH"),
    "mnl": (14.600, 120.984, "PH"),
}


def location_evidence(
    beacon: bytes, responder: Signer, at: tuple[float, float], nonces: Any = None
) -> tuple[bytes, bytes]:
    """(landmarks JSON, measurement records JSONL): each landmark challenges the responder
    twice with this inspection's nonces; RTTs are 1.3x the fibre time of the great-circle
    distance from ``at`` plus 0.3 ms, which the physical bound (100 km per ms) accepts. The
    landmarks' RTTs to each other (the same model) let the locator check their positions."""
    import json

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from accord.registry.verify_location import challenge_nonce
    from accord.verify.location.geodesy import distance_km
    from accord.verify.location.protocol import (
        Challenge,
        LandmarkStation,
        TargetResponder,
        public_bytes,
    )

    nonce_of = nonces or challenge_nonce
    target = TargetResponder(Ed25519PrivateKey.from_private_bytes(responder.seed))
    rows, records = [], []
    for n, (ident, (lat, lon, country)) in enumerate(LANDMARKS.items()):
        key = Ed25519PrivateKey.from_private_bytes(bytes([n + 1]) * 32)
        station = LandmarkStation(ident, key)
        rows.append({"id": ident, "lat": lat, "lon": lon, "country": country,
                     "key": public_bytes(key).hex()})  # fmt: skip
        dist = float(distance_km(at[0], at[1], lat, lon))
        rtt_ns = int((0.013 * dist + 0.3) * 1e6)
        for i in range(2):
            challenge = Challenge(ident, nonce_of(beacon, ident, i))
            station._pending.add(challenge.nonce)
            frame = target.respond(challenge.encode())
            sent = 1_000_000_000 * (n * 10 + i)
            rec = station.complete(challenge, frame, target.public_key, sent, sent + rtt_ns)
            records.append(rec.to_json())
    calibration = [
        {"landmark_id": a, "peer_id": b,
         "rtt_ms": 0.013 * float(distance_km(*LANDMARKS[a][:2], *LANDMARKS[b][:2])) + 0.3}
        for a in LANDMARKS for b in LANDMARKS if a != b
    ]  # fmt: skip
    doc = {"landmarks": rows, "calibration": calibration}
    return json.dumps(doc).encode(), ("\n".join(records) + "\n").encode()


def split_run_export() -> tuple[bytes, bytes]:
    """(sacct export, customer CSV): one customer's pre-training run split over two accounts,
    16,384 H100 for 200 days then 139 more, each part under the 1e26 FLOP threshold, the
    two together above it; both accounts belong to the same customer ``nimbus``."""
    tres = "billing=16384,cpu=16384,gres/gpu:h100=16384,gres/gpu=16384,node=2048"
    lines = [
        SACCT_HEADER,
        f"9001|titan-pretrain|u1|nimbus-a|gpu|COMPLETED|2025-06-01T00:00:00|"
        f"2025-12-18T00:00:00|200-00:00:00|{tres}|h[0001-2048]|jb1",
        f"9002|titan-pretrain-cont|u2|nimbus-b|gpu|COMPLETED|2025-12-18T01:00:00|"
        f"2026-05-06T01:00:00|139-00:00:00|{tres}|h[0001-2048]|jb1",
        "9003|notebook|u3|lab-x|gpu|COMPLETED|2026-04-02T09:00:00|2026-04-02T11:30:00|"
        "02:30:00|billing=8,cpu=8,gres/gpu:a100=1,gres/gpu=1,mem=64G,node=1|a017|jb1",
    ]
    kyc = (
        "account,org,payment,ip,country\n"
        "nimbus-a,nimbus,,,SG\nnimbus-b,nimbus,,,SG\nlab-x,lab-x,,,MY\n"
    )
    return ("\n".join(lines) + "\n").encode(), kyc.encode()
