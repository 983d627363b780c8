"""Checkpoints: model weights, optimizer state and RNG state in one safetensors file.

Replay must restart a segment exactly where the lab was, so a checkpoint carries everything
that influences the next k steps: the weights, the optimizer's buffers (momentum, Adam
moments and step counts) and the CPU generator state that drives dropout. safetensors is used
because loading it executes no code (unlike pickle), which matters for files from a party
with a motive to attack the inspector.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from accord.errors import IntegrityError
from accord.verify.training.hashing import array_digest, sha256_hex

MODEL_PREFIX = "model/"
OPT_PREFIX = "opt/"
RNG_KEY = "rng/torch"
MAX_CHECKPOINT_BYTES = 2 * 1024**3


@dataclass
class Snapshot:
    """Detached CPU copies of the state at one step, ready to be serialised off-thread."""

    step: int
    tensors: dict[str, Any]

    def weights(self) -> dict[str, np.ndarray]:
        return {
            k[len(MODEL_PREFIX) :]: v.numpy()
            for k, v in self.tensors.items()
            if k.startswith(MODEL_PREFIX)
        }


def take_snapshot(step: int, model: Any, optimizer: Any) -> Snapshot:
    """Copy state on the training thread (cheap: a memcpy), serialise later."""
    import torch

    tensors: dict[str, Any] = {}
    with torch.no_grad():
        for name, t in model.state_dict(keep_vars=False).items():
            tensors[MODEL_PREFIX + name] = t.detach().clone()
        # Same numbering as optimizer.state_dict(): parameters in param-group order.
        params = [p for group in optimizer.param_groups for p in group["params"]]
        for idx, p in enumerate(params):
            for key, val in optimizer.state.get(p, {}).items():
                if isinstance(val, torch.Tensor):
                    tensors[f"{OPT_PREFIX}{idx}/{key}"] = val.detach().clone()
    tensors[RNG_KEY] = torch.get_rng_state().clone()
    return Snapshot(step, tensors)


def weights_digest(weights: dict[str, np.ndarray]) -> str:
    return array_digest(weights)


def serialise(snapshot: Snapshot) -> bytes:
    from safetensors.torch import save

    data: bytes = save(snapshot.tensors, metadata={"step": str(snapshot.step)})
    return data


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


def read_checkpoint(path: Path, where: str) -> tuple[bytes, dict[str, Any]]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise IntegrityError(
            where, "is missing", "the lab must hand over every checkpoint"
        ) from None
    except OSError as exc:
        raise IntegrityError(where, f"cannot be read ({exc.strerror})", None) from None
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
    n_params = len(optimizer.state_dict()["param_groups"][0]["params"])
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
