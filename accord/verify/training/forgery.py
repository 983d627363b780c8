"""Forging attacks on any recorded transcript: recipe runs, framework runs, DDP runs.

:mod:`accord.verify.training.attacks` builds its cheats by training the registered toy
models in its own loop. A lab that trains a real model with a schedule, accumulation, mixed
precision or several processes cheats on *that* transcript, and it controls the recorder:
it can rewrite any checkpoint and re-seal the files, the manifest and the chain so that
every hash checks out. These functions do exactly that to an honest transcript:

* :func:`spoofed_checkpoints` (Fang et al. 2023): every checkpoint after the first is pulled
  part of the way toward a stolen model, so the run ends exactly on it;
* :func:`fabricated_transcript`: the lab trained nothing it shows; every checkpoint lies on
  the straight line from the declared initialisation to the released model;
* :func:`short_as_long`: the lab trained only the first ``fraction`` of the run and
  fabricates small moves for the rest (with the schedule's honest meta state);

The optimizer state and the meta state (learning rates, scheduler) are left as the honest
run had them, the best a forger can do without training. Hidden extra steps and a distilled
run presented as training from scratch need real training; they are in the lab-side loops
(:mod:`accord.verify.training.finetune`, :mod:`accord.verify.training.runs`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from accord.verify.training.attacks import Attack
from accord.verify.training.checkpoint import MODEL_PREFIX, file_digest, weights_digest
from accord.verify.training.manifest import parse_manifest
from accord.verify.training.recorder import write_chain
from accord.verify.training.transcript import MANIFEST, expected_records, load_transcript

FORGERIES = ("spoofed_checkpoints", "fabricated_transcript", "short_as_long")


def _weights(tensors: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in tensors.items() if k.startswith(MODEL_PREFIX)}


def reseal(root: Path, replaced: dict[int, dict[str, Any]]) -> tuple[str, str]:
    """Overwrite checkpoints ``j -> tensors`` of the transcript at ``root`` and re-seal it as
    its recorder would: file and weights hashes, manifest, chain. Returns (chain head, final
    weights hash)."""
    from safetensors.torch import save

    m = parse_manifest((root / MANIFEST).read_bytes())
    entries = list(m.checkpoints)
    for j, tensors in replaced.items():
        raw = save({k: v.contiguous() for k, v in tensors.items()})
        (root / entries[j].file).write_bytes(raw)
        weights = {k[len(MODEL_PREFIX) :]: v.numpy() for k, v in _weights(tensors).items()}
        entries[j] = entries[j].model_copy(
            update={"sha256": file_digest(raw), "weights_sha256": weights_digest(weights)}
        )
    m = m.model_copy(
        update={"checkpoints": entries, "final_weights_sha256": entries[-1].weights_sha256}
    )
    raw_manifest = m.model_dump_json(indent=2).encode()
    (root / MANIFEST).write_bytes(raw_manifest)
    head = write_chain(root, m.run_id, expected_records(m, file_digest(raw_manifest)))
    return head, m.final_weights_sha256


def _copy(src: Path, dst: Path) -> Any:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    return load_transcript(dst)


def stolen_weights(tr: Any, seed: int) -> dict[str, Any]:
    """A model the lab did not train: the honest final weights moved, in a random direction,
    by as much as the whole run moved them (another lab's fine-tune of the same model)."""
    import torch

    first, last = tr.checkpoint_tensors(0), tr.checkpoint_tensors(len(tr.manifest.checkpoints) - 1)
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in _weights(last).items():
        moved = float(torch.linalg.vector_norm(v.double() - first[k].double()))
        noise = torch.randn(v.shape, generator=g, dtype=torch.float64)
        scale = moved / max(float(torch.linalg.vector_norm(noise)), 1e-30)
        out[k] = (v.double() + scale * noise).to(v.dtype)
    return out


def spoofed_checkpoints(src: Path, dst: Path, seed: int = 0) -> Attack:
    """Checkpoint j of n is moved j/n of the way from the honest run's end to a stolen model:
    every segment carries a pull of 1/n of the gap, and the last checkpoint is the stolen
    model."""
    tr = _copy(src, dst)
    n = len(tr.manifest.checkpoints) - 1
    target = stolen_weights(tr, seed)
    honest_end = _weights(tr.checkpoint_tensors(n))
    replaced = {}
    for j in range(1, n + 1):
        t = tr.checkpoint_tensors(j)
        for k, v in target.items():
            t[k] = (t[k].double() + (j / n) * (v.double() - honest_end[k].double())).to(v.dtype)
        replaced[j] = t
    head, final = reseal(dst, replaced)
    return Attack("spoofed_checkpoints", dst, final, notes={"head": head, "pulled": n})


def fabricated_transcript(src: Path, dst: Path, seed: int = 0) -> Attack:
    """Only the endpoints are real: checkpoint j lies j/n of the way from the declared
    initialisation to a stolen model (optimizer and meta state copied from an honest run)."""
    tr = _copy(src, dst)
    n = len(tr.manifest.checkpoints) - 1
    target = stolen_weights(tr, seed)
    init = _weights(tr.checkpoint_tensors(0))
    replaced = {}
    for j in range(1, n + 1):
        t = tr.checkpoint_tensors(j)
        for k, v in target.items():
            w0 = init[k].double()
            t[k] = (w0 + (j / n) * (v.double() - w0)).to(v.dtype)
        replaced[j] = t
    head, final = reseal(dst, replaced)
    return Attack("fabricated_transcript", dst, final, notes={"head": head})


def short_as_long(src: Path, dst: Path, fraction: float = 0.25, seed: int = 0) -> Attack:
    """Only the first ``fraction`` of the segments were trained; each later checkpoint is
    the previous one plus a random move a twentieth the size of the last real segment's."""
    import torch

    tr = _copy(src, dst)
    n = len(tr.manifest.checkpoints) - 1
    real = max(1, int(fraction * n))
    prev = _weights(tr.checkpoint_tensors(real))
    before = _weights(tr.checkpoint_tensors(real - 1))
    last_move = sum(float(((prev[k] - before[k]).double() ** 2).sum()) for k in prev) ** 0.5
    g = torch.Generator().manual_seed(seed)
    replaced = {}
    for j in range(real + 1, n + 1):
        t = tr.checkpoint_tensors(j)
        noise = {k: torch.randn(v.shape, generator=g) for k, v in prev.items()}
        size = sum(float((z.double() ** 2).sum()) for z in noise.values()) ** 0.5
        scale = 0.05 * last_move / max(size, 1e-30)
        nxt = {k: (prev[k] + scale * noise[k]).to(prev[k].dtype) for k in prev}
        t.update(nxt)
        replaced[j] = t
        prev = nxt
    head, final = reseal(dst, replaced)
    return Attack("short_as_long", dst, final, notes={"head": head, "trained_fraction": real / n})


def forge_named(name: str, src: Path, dst: Path, seed: int = 0) -> Attack:
    if name == "spoofed_checkpoints":
        return spoofed_checkpoints(src, dst, seed)
    if name == "fabricated_transcript":
        return fabricated_transcript(src, dst, seed)
    if name == "short_as_long":
        return short_as_long(src, dst, seed=seed)
    raise ValueError(name)
