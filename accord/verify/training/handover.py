"""The lab's own model code and data, handed over with the transcript and hashed.

A real run trains the lab's architecture on the lab's data, which the verifier cannot
regenerate. So the lab hands over its model as one importable Python module file
(``code/<name>.py``, SHA-256 in the manifest) and its data as shard files
(``data/shard_NNNNN.safetensors`` holding ``x`` and ``y``, SHA-256 of each file in the
manifest). Samples are numbered across shards in order, so the int64 sample indices already
committed per step fix each sample's shard and offset.

Shard files are read defensively and hashed as read (safetensors runs no code). The model
code is code: it is only ever imported inside the sandbox subprocess
(:mod:`accord.verify.training.sandbox`), never in the inspector's own process.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from accord.errors import AccordError, IntegrityError
from accord.verify.training.checkpoint import read_bounded
from accord.verify.training.manifest import CodeSpec, ShardFile
from accord.verify.training.tasks import Dataset

MAX_SHARD_BYTES = 1024**3
MAX_CODE_BYTES = 4 * 1024**2
_X_DTYPES = {"torch.float32", "torch.int64"}


def shard_name(i: int) -> str:
    return f"data/shard_{i:05d}.safetensors"


def write_shards(x: np.ndarray, y: np.ndarray, out_dir: Path, per_shard: int) -> list[Path]:
    """Split arrays into shard files (what a lab's data pipeline would already have)."""
    from safetensors.numpy import save_file

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, start in enumerate(range(0, len(x), per_shard)):
        path = out_dir / f"shard_{i:05d}.safetensors"
        xs = np.ascontiguousarray(x[start : start + per_shard])
        ys = np.ascontiguousarray(y[start : start + per_shard])
        save_file({"x": xs, "y": ys}, str(path))
        paths.append(path)
    return paths


def _parse_shard(raw: bytes, where: str) -> tuple[Any, Any]:
    from safetensors.torch import load

    try:
        tensors = load(raw)
    except Exception as exc:  # safetensors raises its own error types for any bad byte
        raise IntegrityError(where, f"is not a valid safetensors file ({exc})", None) from None
    if set(tensors) != {"x", "y"}:
        raise IntegrityError(where, f"holds {sorted(tensors)[:4]}, expected x and y", None)
    x, y = tensors["x"], tensors["y"]
    if str(x.dtype) not in _X_DTYPES or str(y.dtype) != "torch.int64":
        raise IntegrityError(where, f"x is {x.dtype}, y is {y.dtype}", "x float32/int64, y int64")
    if x.dim() < 1 or y.dim() < 1 or x.shape[0] != y.shape[0]:
        raise IntegrityError(where, "x and y do not hold the same number of samples", None)
    return x, y


def _dataset(xs: list[Any], ys: list[Any]) -> Dataset:
    import torch

    x, y = torch.cat(xs).numpy(), torch.cat(ys).numpy()
    tokens = int(x.shape[1]) if x.dtype == np.int64 and x.ndim == 2 else 1
    n_classes = int(y.max()) + 1 if y.size else 0
    return Dataset("shards", x, y, n_classes, tokens)


def load_shards(paths: list[Path]) -> Dataset:
    """Lab side: the samples of shard files, numbered across them in order (not hashed;
    the recorder hashes the files when it takes them over)."""
    xs, ys = [], []
    for path in paths:
        raw = read_bounded(Path(path), str(path), MAX_SHARD_BYTES, "check the path")
        x, y = _parse_shard(raw, str(path))
        xs.append(x)
        ys.append(y)
    return _dataset(xs, ys)


def read_shards(root: Path, files: list[ShardFile]) -> Dataset:
    """Read the handed-over shards, each hashed as read; IntegrityError names the first bad
    file (missing, altered, malformed or another sample count than declared)."""
    xs, ys = [], []
    for f in files:
        raw = read_bounded(root / f.file, f.file, MAX_SHARD_BYTES, "hand over every shard")
        if hashlib.sha256(raw).hexdigest() != f.sha256:
            raise IntegrityError(f.file, "SHA-256 differs from the manifest", "the data changed")
        x, y = _parse_shard(raw, f.file)
        if x.shape[0] != f.samples:
            raise IntegrityError(f.file, f"holds {x.shape[0]} samples, declared {f.samples}", None)
        xs.append(x)
        ys.append(y)
    return _dataset(xs, ys)


def take_shards(paths: list[Path], root: Path) -> tuple[list[ShardFile], Dataset]:
    """Lab side: copy the shard files into the transcript, hashing each as it is read, and
    return their manifest entries and the data they hold."""
    (root / "data").mkdir(parents=True, exist_ok=True)
    entries, xs, ys = [], [], []
    for i, path in enumerate(paths):
        raw = read_bounded(Path(path), str(path), MAX_SHARD_BYTES, "check the path")
        x, y = _parse_shard(raw, str(path))
        (root / shard_name(i)).write_bytes(raw)
        entries.append(
            ShardFile(file=shard_name(i), sha256=hashlib.sha256(raw).hexdigest(), samples=len(x))
        )
        xs.append(x)
        ys.append(y)
    if not entries:
        raise AccordError("shard_files", "is empty", "hand over at least one shard")
    return entries, _dataset(xs, ys)


def take_code(path: Path, root: Path, builder: str) -> CodeSpec:
    """Lab side: copy the model's module file into the transcript and hash it."""
    raw = read_bounded(Path(path), str(path), MAX_CODE_BYTES, "check the path")
    name = f"code/{Path(path).stem}.py"
    (root / "code").mkdir(parents=True, exist_ok=True)
    (root / name).write_bytes(raw)
    return CodeSpec(file=name, sha256=hashlib.sha256(raw).hexdigest(), builder=builder)


def check_code(root: Path, code: CodeSpec) -> Path:
    """The code file exists and is the one the manifest committed to (read, never run)."""
    raw = read_bounded(root / code.file, code.file, MAX_CODE_BYTES, "hand over the model code")
    if hashlib.sha256(raw).hexdigest() != code.sha256:
        raise IntegrityError(code.file, "SHA-256 differs from the manifest", "the code changed")
    return root / code.file


def import_module_file(path: Path) -> ModuleType:
    """Import a module file under a private name (lab side, or inside the sandbox)."""
    spec = importlib.util.spec_from_file_location(f"accord_lab_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise AccordError(str(path), "cannot be imported", "hand over a .py module file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_from_code(module: ModuleType, builder: str, kwargs: dict[str, Any], seed: int) -> Any:
    """Build the lab's model with its initial weights fixed by ``seed``: the same call on
    both sides, so checkpoint 0 can be compared bit for bit."""
    import torch

    fn = getattr(module, builder, None)
    if not callable(fn):
        raise AccordError("model code", f"has no function {builder}()", "define it")
    state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        return fn(**kwargs)
    finally:
        torch.set_rng_state(state)
