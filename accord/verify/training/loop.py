"""The training step both the lab and the inspector run, and the determinism it needs.

Replay only means something if an honest re-execution lands on the recorded weights. On CPU,
with deterministic algorithms, fixed thread counts and the RNG state restored, it lands
exactly (bit for bit) on the same machine; across thread counts or machines, reduction order
can differ in the last bits. The tolerance is set from that measured noise (see
:mod:`accord.verify.training.calibration`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from accord.verify.training.manifest import OptimizerSpec
from accord.verify.training.tasks import Dataset


@contextlib.contextmanager
def deterministic(threads: int = 1) -> Iterator[None]:
    """Deterministic kernels and a fixed thread count for the duration, restored afterwards."""
    import torch

    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(old_det)
        torch.set_num_threads(old_threads)


def build_optimizer(spec: OptimizerSpec, model: Any) -> Any:
    import torch

    if spec.name == "sgd":
        return torch.optim.SGD(
            model.parameters(), lr=spec.lr, momentum=spec.momentum, weight_decay=spec.weight_decay
        )
    return torch.optim.AdamW(
        model.parameters(),
        lr=spec.lr,
        betas=spec.betas,
        eps=spec.eps,
        weight_decay=spec.weight_decay,
        foreach=False,
    )


def optimizer_spec_of(optimizer: Any) -> OptimizerSpec:
    """Read the declared optimizer configuration back from a live optimizer."""
    import torch

    group = optimizer.param_groups[0]
    if isinstance(optimizer, torch.optim.AdamW):
        b1, b2 = group["betas"]
        return OptimizerSpec(
            name="adamw",
            lr=float(group["lr"]),
            weight_decay=float(group["weight_decay"]),
            betas=(float(b1), float(b2)),
            eps=float(group["eps"]),
        )
    if type(optimizer) is torch.optim.SGD:
        return OptimizerSpec(
            name="sgd",
            lr=float(group["lr"]),
            momentum=float(group["momentum"]),
            weight_decay=float(group["weight_decay"]),
        )
    from accord.errors import AccordError

    raise AccordError(
        "optimizer", f"{type(optimizer).__name__} is not supported", "use SGD or AdamW"
    )


def batch_tensors(data: Dataset, indices: np.ndarray) -> tuple[Any, Any]:
    import torch

    return torch.from_numpy(data.x[indices]), torch.from_numpy(data.y[indices])


def loss_of(model: Any, x: Any, y: Any) -> Any:
    import torch

    out = model(x)
    return torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))


def train_step(model: Any, optimizer: Any, data: Dataset, indices: np.ndarray) -> float:
    """One declared step: cross-entropy on the indexed batch, backward, optimizer step."""
    model.train()
    x, y = batch_tensors(data, indices)
    optimizer.zero_grad(set_to_none=True)
    loss = loss_of(model, x, y)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def batch_schedule(n_samples: int, batch_size: int, steps: int, seed: int) -> np.ndarray:
    """Shuffled epochs of sample indices, one row per step (the lab's data order)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    rows: list[np.ndarray] = []
    per_epoch = max(1, n_samples // batch_size)
    while len(rows) < steps:
        perm = rng.permutation(n_samples)
        for i in range(per_epoch):
            if len(rows) == steps:
                break
            rows.append(perm[i * batch_size : (i + 1) * batch_size])
    return np.stack(rows).astype(np.int64)


def flat_params(state: dict[str, Any]) -> Any:
    import torch

    return torch.cat([state[k].detach().reshape(-1).double() for k in sorted(state)])
