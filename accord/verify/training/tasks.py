"""Training tasks that both sides can regenerate bit for bit: data and model architectures.

The verifier never takes the lab's word for the data: it regenerates the dataset from the
declared task name, seed and size, recomputes the shard hashes and compares them with the
transcript. Everything here is generated in the repository (numpy's PCG64 generator) or
taken from text that ships with every Python (the Zen of Python in the ``this`` module), so
nothing is downloaded. Models are small on purpose: the whole protocol runs on a laptop CPU.
"""

from __future__ import annotations

import codecs
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from accord.errors import AccordError
from accord.verify.training.hashing import array_digest, merkle_root

TASKS = ("blobs", "shapes", "charlm")
ARCHS = {"blobs": "mlp", "shapes": "cnn", "charlm": "transformer"}
SHARD_SIZE = 256
MAX_SAMPLES = 200_000


@dataclass(frozen=True)
class Dataset:
    """A regenerated dataset: inputs, targets and its commitment."""

    task: str
    x: np.ndarray
    y: np.ndarray
    n_classes: int
    tokens_per_sample: int

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def shard_hashes(self, shard_size: int = SHARD_SIZE) -> list[str]:
        return [
            array_digest({"x": self.x[i : i + shard_size], "y": self.y[i : i + shard_size]})
            for i in range(0, len(self), shard_size)
        ]

    def data_root(self, shard_size: int = SHARD_SIZE) -> str:
        return merkle_root([bytes.fromhex(h) for h in self.shard_hashes(shard_size)])


def _blobs(seed: int, n: int) -> Dataset:
    rng = np.random.Generator(np.random.PCG64(seed))
    n_classes, dim = 4, 16
    centres = rng.normal(0.0, 1.0, size=(n_classes, dim))
    y = rng.integers(0, n_classes, size=n)
    x = centres[y] + rng.normal(0.0, 1.2, size=(n, dim))
    return Dataset("blobs", x.astype(np.float32), y.astype(np.int64), n_classes, 1)


def _shapes(seed: int, n: int) -> Dataset:
    """8x8 grey images of a bar, a column, a diagonal or a box, at random places, plus noise."""
    rng = np.random.Generator(np.random.PCG64(seed))
    y = rng.integers(0, 4, size=n)
    x = rng.normal(0.0, 0.3, size=(n, 1, 8, 8))
    offs = rng.integers(0, 5, size=(n, 2))
    for i in range(n):
        r, c = int(offs[i, 0]), int(offs[i, 1])
        if y[i] == 0:
            x[i, 0, r + 1, c : c + 4] += 1.0
        elif y[i] == 1:
            x[i, 0, r : r + 4, c + 1] += 1.0
        elif y[i] == 2:
            for d in range(4):
                x[i, 0, r + d, c + d] += 1.0
        else:
            x[i, 0, r : r + 3, c : c + 3] += 0.6
    return Dataset("shapes", x.astype(np.float32), y.astype(np.int64), 4, 1)


def zen_text() -> str:
    """The Zen of Python, decoded from the rot13 string every CPython ships in ``this``."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        import this
    return codecs.decode(this.s, "rot13")


CHARLM_CONTEXT = 32


def _charlm(seed: int, n: int) -> Dataset:
    text = zen_text()
    vocab = sorted(set(text))
    ids = np.array([vocab.index(ch) for ch in text], dtype=np.int64)
    rng = np.random.Generator(np.random.PCG64(seed))
    starts = rng.integers(0, len(ids) - CHARLM_CONTEXT - 1, size=n)
    windows = np.stack([ids[s : s + CHARLM_CONTEXT + 1] for s in starts])
    return Dataset("charlm", windows[:, :-1].copy(), windows[:, 1:].copy(), len(vocab), 32)


def make_dataset(task: str, seed: int, n_samples: int) -> Dataset:
    if task not in TASKS:
        raise AccordError("task.name", f"unknown task {task!r}", f"use one of {', '.join(TASKS)}")
    if not 1 <= n_samples <= MAX_SAMPLES:
        raise AccordError("task.n_samples", f"{n_samples} is out of range", "use 1..200000")
    if task == "blobs":
        return _blobs(seed, n_samples)
    if task == "shapes":
        return _shapes(seed, n_samples)
    return _charlm(seed, n_samples)


def default_model_kwargs(task: str) -> dict[str, int | float]:
    if task == "blobs":
        return {"in_dim": 16, "hidden": 64, "out_dim": 4}
    if task == "shapes":
        return {"channels": 8, "out_dim": 4}
    return {"vocab": len(set(zen_text())), "dim": 32, "heads": 2, "context": CHARLM_CONTEXT}


_LAB_CODE: list[tuple[Any, str]] = []  # (module, builder), set only inside the sandbox


def use_lab_code(module: Any, builder: str) -> None:
    """Let ``build_model('module', ...)`` build from the lab's imported code. Called only
    by the sandbox subprocess (:mod:`accord.verify.training.sandbox`)."""
    _LAB_CODE[:] = [(module, builder)]


def build_model(arch: str, kwargs: dict[str, Any], init_seed: int) -> Any:
    """Build a registered architecture with its initial weights fixed by ``init_seed``.

    Binding the initialisation to a declared seed replaces PoL's statistical test of the
    initial weights: a spoofer cannot start near the stolen model, because the verifier
    rebuilds the exact starting point itself.
    """
    import torch

    from accord.verify.training import models

    if arch == "module":
        if not _LAB_CODE:
            raise AccordError(
                "model.arch", "the lab's module is built only inside the sandbox", None
            )
        from accord.verify.training.handover import build_from_code

        module, builder = _LAB_CODE[0]
        return build_from_code(module, builder, kwargs, init_seed)
    builders = {"mlp": models.MLP, "cnn": models.SmallCNN, "transformer": models.TinyTransformer}
    if arch not in builders:
        raise AccordError(
            "model.arch", f"unknown architecture {arch!r}", "use mlp, cnn or transformer"
        )
    gen_state = torch.get_rng_state()
    torch.manual_seed(init_seed)
    try:
        model = builders[arch](**kwargs)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise AccordError(
            "model.kwargs", f"cannot build {arch}: {exc}", "check the manifest"
        ) from None
    finally:
        torch.set_rng_state(gen_state)
    return model


def forward_flops_per_sample(model: Any, sample: np.ndarray) -> int:
    """Count multiply-adds of Linear and Conv2d layers on one sample (x2 for FLOPs).

    Attention score products are left out, as in the 6·N·D rule; for the tiny context used
    here they are a few per cent of the total.
    """
    import torch

    total = [0]

    def hook(mod: Any, inp: Any, out: Any) -> None:
        if isinstance(mod, torch.nn.Linear):
            total[0] += 2 * mod.in_features * mod.out_features * (out.numel() // out.shape[-1])
        elif isinstance(mod, torch.nn.Conv2d):
            k = math.prod(mod.kernel_size) * mod.in_channels // mod.groups
            total[0] += 2 * k * out.numel()

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with torch.no_grad():
            was = model.training
            model.eval()
            model(torch.from_numpy(sample[None]))
            model.train(was)
    finally:
        for h in handles:
            h.remove()
    return total[0]
