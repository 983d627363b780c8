"""Checkpoints: model weights, optimizer state and RNG state in one safetensors file.

Replay must restart a segment exactly where the lab was, so a checkpoint carries everything
that influences the next k steps: the weights, the optimizer's buffers (momentum, Adam
moments and step counts) and the CPU generator state that drives dropout. safetensors is used
because loading it executes no code (unlike pickle), which matters for files from a party
with a motive to attack the inspector.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from accord.errors import AccordError, IntegrityError
from accord.verify.training.hashing import array_digest, canonical_json, sha256_hex

MODEL_PREFIX = "model/"
OPT_PREFIX = "opt/"
RNG_KEY = "rng/torch"
META_KEY = "meta/state"
RANK_RNG_PREFIX = "rng/rank/"


def rank_rng_key(rank: int) -> str:
    """Rank 0's generator is ``rng/torch``; rank r > 0's is ``rng/rank/<r>``."""
    return RNG_KEY if rank == 0 else f"{RANK_RNG_PREFIX}{rank}"


MAX_CHECKPOINT_BYTES = 2 * 1024**3


# torch dtype -> (safetensors tag, item size, numpy dtype string or None where numpy has no
# such type), in the order safetensors itself lays tensors out (widest first), so that a file
# written here is byte for byte what ``safetensors.torch.save`` would write.
_DTYPES: dict[str, tuple[str, int, str | None]] = {
    "torch.int64": ("I64", 8, "<i8"),
    "torch.float64": ("F64", 8, "<f8"),
    "torch.float32": ("F32", 4, "<f4"),
    "torch.int32": ("I32", 4, "<i4"),
    "torch.bfloat16": ("BF16", 2, None),
    "torch.float16": ("F16", 2, "<f2"),
    "torch.int16": ("I16", 2, "<i2"),
    "torch.int8": ("I8", 1, "|i1"),
    "torch.uint8": ("U8", 1, "|u1"),
    "torch.bool": ("BOOL", 1, "|b1"),
}
_RANK = {dtype: i for i, dtype in enumerate(_DTYPES)}


def collect_state(
    model: Any, optimizer: Any, meta: Any = None, extra: list[tuple[str, Any]] | None = None
) -> list[tuple[str, Any]]:
    """Everything a checkpoint must hold, as (name, live tensor) pairs; ``meta`` is a recipe
    run's meta state as a byte tensor (:mod:`accord.verify.training.recipe`)."""
    import torch

    items: list[tuple[str, Any]] = [
        (MODEL_PREFIX + name, t) for name, t in model.state_dict(keep_vars=False).items()
    ]
    # Same numbering as optimizer.state_dict(): parameters in param-group order.
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for idx, p in enumerate(params):
        for key, val in optimizer.state.get(p, {}).items():
            if isinstance(val, torch.Tensor):
                items.append((f"{OPT_PREFIX}{idx}/{key}", val))
    items.append((RNG_KEY, torch.get_rng_state()))
    if meta is not None:
        items.append((META_KEY, meta))
    items.extend(extra or [])  # other ranks' RNG states in a distributed run
    return items


class Layout:
    """Where each tensor of a checkpoint lies in its safetensors data section.

    Computed once per set of names, dtypes and shapes (the optimizer adds its buffers after
    the first step, so a run sees two or three layouts), then every snapshot is a copy into a
    reused buffer laid out exactly as the file's data section: no per-snapshot allocation
    (fresh pages cost more than the copy itself) and no serialisation step.
    """

    def __init__(self, signature: tuple[tuple[str, str, tuple[int, ...]], ...]) -> None:
        if sys.byteorder != "little":
            raise AccordError("host", "is big-endian", "record on a little-endian machine")
        for name, dtype, _ in signature:
            if dtype not in _DTYPES:
                raise AccordError(name, f"dtype {dtype} cannot be checkpointed", None)
        order = sorted(signature, key=lambda e: (_RANK[e[1]], e[0]))
        self.entries: list[tuple[str, str, tuple[int, ...], int, int]] = []
        header: dict[str, Any] = {}
        offset = 0
        for name, dtype, shape in order:
            tag, size, _ = _DTYPES[dtype]
            end = offset + size * math.prod(shape)
            self.entries.append((name, dtype, shape, offset, end))
            header[name] = {"dtype": tag, "shape": list(shape), "data_offsets": [offset, end]}
            offset = end
        self.nbytes = offset
        body = json.dumps(header, separators=(",", ":"), ensure_ascii=False)[1:]
        self._header_tail = ("," + body if header else "}").encode()
        self.position = {name: i for i, (name, *_) in enumerate(self.entries)}
        self.collected = [name for name, _, _ in signature]  # collect_state's order
        self.free: list[tuple[Any, list[Any]]] = []
        # What weights_digest() feeds SHA-256 for each weight, less the bytes themselves:
        # worked out once here rather than once per tensor per checkpoint.
        self.weight_plan: list[tuple[bytes, int, int]] | None = []
        for name, dtype, shape, start, end in sorted(self.entries):
            if not name.startswith(MODEL_PREFIX):
                continue
            np_dtype = _DTYPES[dtype][2]
            if np_dtype is None:
                self.weight_plan = None  # numpy cannot hold it; weights() will say so
                break
            # array_digest goes through np.ascontiguousarray, which makes a scalar 1-d.
            dims = list(shape) or [1]
            head = canonical_json(
                {"name": name[len(MODEL_PREFIX) :], "dtype": np_dtype, "shape": dims}
            )
            self.weight_plan.append((len(head).to_bytes(8, "big") + head, start, end))

    def header(self, step: int) -> bytes:
        """The safetensors header (length prefix, JSON, space padding) for ``step``."""
        text = b'{"__metadata__":{"step":"' + str(step).encode() + b'"}' + self._header_tail
        text += b" " * (-len(text) % 8)
        return len(text).to_bytes(8, "little") + text

    def buffer(self) -> tuple[Any, list[Any]]:
        """A data-section buffer and typed views of it in entry order, reused when free."""
        import torch

        if self.free:
            return self.free.pop()
        raw = torch.empty(max(self.nbytes, 1), dtype=torch.uint8)
        views = []
        for _, dtype, shape, start, end in self.entries:
            dt = getattr(torch, dtype.removeprefix("torch."))
            views.append(raw[start:end].view(dt).view(shape))
        return raw, views


@dataclass
class Snapshot:
    """A copy of the state at one step, in a buffer laid out as the checkpoint file's data.

    The training thread fills it (one memcpy per tensor); the writer thread hashes and
    writes it, then hands the buffer back with :meth:`release`.
    """

    step: int
    layout: Layout
    raw: Any
    views: list[Any]

    @property
    def tensors(self) -> dict[str, Any]:
        """The snapshot's tensors by checkpoint name (views of the buffer, valid until
        :meth:`release`)."""
        pos = self.layout.position
        return {name: self.views[pos[name]] for name in self.layout.collected}

    def header(self) -> bytes:
        return self.layout.header(self.step)

    def data(self) -> memoryview:
        return memoryview(self.raw.numpy())[: self.layout.nbytes]

    def weights(self) -> dict[str, np.ndarray]:
        return {
            name[len(MODEL_PREFIX) :]: view.numpy()
            for (name, *_), view in zip(self.layout.entries, self.views, strict=True)
            if name.startswith(MODEL_PREFIX)
        }

    def weights_sha256(self) -> str:
        """``weights_digest(self.weights())``, straight from the buffer."""
        plan = self.layout.weight_plan
        if plan is None:
            return weights_digest(self.weights())
        data = self.data()
        h = hashlib.sha256()
        for head, start, end in plan:
            h.update(head)
            h.update(data[start:end])
        return h.hexdigest()

    def to_bytes(self) -> bytes:
        return self.header() + bytes(self.data())

    def release(self) -> None:
        self.layout.free.append((self.raw, self.views))


class Snapshotter:
    """Takes snapshots on the training thread, reusing layouts and buffers across steps."""

    def __init__(self) -> None:
        import torch

        # One dispatch for all tensors where this torch has it (a loop of copy_ otherwise).
        self._foreach_copy = getattr(torch, "_foreach_copy_", None)
        self._layouts: dict[tuple[tuple[str, str, tuple[int, ...]], ...], Layout] = {}

    def take(
        self,
        step: int,
        model: Any,
        optimizer: Any,
        meta: Any = None,
        extra: list[tuple[str, Any]] | None = None,
    ) -> Snapshot:
        import torch

        items = collect_state(model, optimizer, meta, extra)
        sig = tuple((name, str(t.dtype), tuple(t.shape)) for name, t in items)
        layout = self._layouts.get(sig)
        if layout is None:
            layout = self._layouts[sig] = Layout(sig)
        raw, views = layout.buffer()
        pos = layout.position
        targets = [views[pos[name]] for name, _ in items]
        sources = [t for _, t in items]
        with torch.no_grad():
            if self._foreach_copy is not None:
                self._foreach_copy(targets, sources)
            else:
                for dst, src in zip(targets, sources, strict=True):
                    dst.copy_(src)
        return Snapshot(step, layout, raw, views)


def take_snapshot(step: int, model: Any, optimizer: Any) -> Snapshot:
    """A one-off snapshot in its own buffer (the recorder keeps a :class:`Snapshotter`)."""
    return Snapshotter().take(step, model, optimizer)


def weights_digest(weights: dict[str, np.ndarray]) -> str:
    return array_digest(weights)


def load_checkpoint_bytes(raw: bytes, where: str) -> dict[str, Any]:
    """Parse a safetensors file from an untrusted party into tensors, or raise IntegrityError."""
    from safetensors.torch import load

    if len(raw) > MAX_CHECKPOINT_BYTES:
        raise IntegrityError(where, "checkpoint is larger than 2 GiB", "split the model")
    if len(raw) < 8:
        raise IntegrityError(where, "is truncated (no safetensors header)", "re-export it")
    header_len = int.from_bytes(raw[:8], "little")
    if header_len > len(raw) - 8:
        raise IntegrityError(where, "safetensors header runs past the end of the file", None)
    try:
        tensors: dict[str, Any] = load(raw)
    except Exception as exc:  # safetensors raises its own error types for any bad byte
        raise IntegrityError(where, f"is not a valid safetensors file ({exc})", None) from None
    if RNG_KEY not in tensors:
        raise IntegrityError(where, "has no RNG state", "checkpoints must include rng/torch")
    return tensors


def read_bounded(path: Path, what: str, limit: int, missing_fix: str) -> bytes:
    """Read a file the lab handed over, refusing it by its size before reading it."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise IntegrityError(what, f"is {size} bytes, over the {limit}-byte limit", None)
        return path.read_bytes()
    except FileNotFoundError:
        raise IntegrityError(what, "is missing", missing_fix) from None
    except OSError as exc:
        raise IntegrityError(what, f"cannot be read ({exc.strerror})", None) from None


def read_checkpoint(path: Path, where: str) -> tuple[bytes, dict[str, Any]]:
    raw = read_bounded(path, where, MAX_CHECKPOINT_BYTES, "the lab must hand over every checkpoint")
    return raw, load_checkpoint_bytes(raw, where)


def restore(tensors: dict[str, Any], model: Any, optimizer: Any, where: str) -> None:
    """Load weights, optimizer buffers and RNG into live objects, checking names and shapes."""
    import torch

    expected = model.state_dict()
    weights = {k[len(MODEL_PREFIX) :]: v for k, v in tensors.items() if k.startswith(MODEL_PREFIX)}
    if set(weights) != set(expected):
        missing = sorted(set(expected) - set(weights))[:3]
        extra = sorted(set(weights) - set(expected))[:3]
        raise IntegrityError(
            where, f"weights do not match the model (missing {missing}, extra {extra})", None
        )
    for name, t in weights.items():
        if t.shape != expected[name].shape or t.dtype != expected[name].dtype:
            raise IntegrityError(where, f"tensor {name} has shape {tuple(t.shape)}", "wrong model")
    model.load_state_dict(weights)
    state: dict[int, dict[str, Any]] = {}
    n_params = sum(len(g["params"]) for g in optimizer.state_dict()["param_groups"])
    for key, val in tensors.items():
        if not key.startswith(OPT_PREFIX):
            continue
        parts = key[len(OPT_PREFIX) :].split("/")
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) >= n_params:
            raise IntegrityError(where, f"bad optimizer entry {key}", None)
        state.setdefault(int(parts[0]), {})[parts[1]] = val
    try:
        optimizer.load_state_dict(
            {"state": state, "param_groups": optimizer.state_dict()["param_groups"]}
        )
    except (ValueError, KeyError, RuntimeError) as exc:
        raise IntegrityError(where, f"optimizer state does not fit ({exc})", None) from None
    rng = tensors[RNG_KEY]
    if rng.dtype != torch.uint8 or rng.dim() != 1:
        raise IntegrityError(where, "RNG state is not a uint8 vector", None)
    try:
        torch.set_rng_state(rng)
    except RuntimeError as exc:
        raise IntegrityError(where, f"RNG state is invalid ({exc})", None) from None


def file_digest(raw: bytes) -> str:
    return sha256_hex(raw)
