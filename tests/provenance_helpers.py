"""Shared builders for the provenance tests: synthetic weight files and one tiny trained zoo."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np

from accord.verify.provenance.safetensors_io import write_safetensors


def random_tinygpt(
    rng: np.random.Generator, d: int = 32, d_ff: int = 96, layers: int = 2, vocab: int = 64
) -> dict[str, np.ndarray]:
    """Weights with Accord's tiny-GPT names, drawn i.i.d. like a fresh initialisation."""
    t: dict[str, np.ndarray] = {
        "tok_emb.weight": rng.normal(size=(vocab, d)).astype(np.float32),
        "lm_head.weight": rng.normal(size=(vocab, d)).astype(np.float32),
        "ln_f.weight": np.ones(d, np.float32),
    }
    for i in range(layers):
        t[f"blocks.{i}.ln2.weight"] = np.ones(d, np.float32)
        t[f"blocks.{i}.mlp.fc_in.weight"] = rng.normal(size=(d_ff, d)).astype(np.float32)
        t[f"blocks.{i}.mlp.fc_out.weight"] = rng.normal(size=(d, d_ff)).astype(np.float32)
    return t


def permuted(t: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Re-label residual coordinates and MLP units (a function-preserving evasion)."""
    d = t["tok_emb.weight"].shape[1]
    r = rng.permutation(d)
    out = dict(t)
    out["tok_emb.weight"] = t["tok_emb.weight"][:, r]
    out["lm_head.weight"] = t["lm_head.weight"][:, r]
    out["ln_f.weight"] = t["ln_f.weight"][r]
    i = 0
    while f"blocks.{i}.mlp.fc_in.weight" in t:
        w_in, w_out = t[f"blocks.{i}.mlp.fc_in.weight"], t[f"blocks.{i}.mlp.fc_out.weight"]
        u = rng.permutation(w_in.shape[0])
        out[f"blocks.{i}.mlp.fc_in.weight"] = w_in[u][:, r]
        out[f"blocks.{i}.mlp.fc_out.weight"] = w_out[r][:, u]
        out[f"blocks.{i}.ln2.weight"] = t[f"blocks.{i}.ln2.weight"][r]
        i += 1
    return out


def save(tmp: Path, name: str, tensors: dict[str, np.ndarray]) -> Path:
    path = tmp / f"{name}.safetensors"
    write_safetensors(path, tensors)
    return path


@functools.lru_cache(maxsize=1)
def tiny_zoo() -> object:
    """A real, trained zoo small enough for the test suite (about 40 s on 2 cores), built once."""
    import torch

    from accord.verify.provenance.zoo import QUICK_SPEC, build_zoo

    torch.set_num_threads(1)  # tiny models: threads cost more than they save, more so on a busy box

    spec = QUICK_SPEC
    root = Path(tempfile.mkdtemp(prefix="accord-zoo-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return build_zoo(root, spec)
