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
