"""What the Trainer and Lightning callbacks share: the hand-over, the data order, the checks.

A framework runs the training step itself, so the callback cannot call ``record_batch``
before each step the way a plain loop does. It learns each step's samples by tapping the
train loader's sampler (every index it yields, in order; the loader may fetch ahead, so the
tap is a FIFO and each optimizer step takes the next ``batch × micro-batches`` indices), and
it records the step when the framework has stepped the optimizer and the scheduler.

Two things a framework does by default would make an honest run fail replay, so the session
fixes or refuses them before the first step rather than let the verifier accuse the lab
later:

* drawing the data order from the global RNG (``RandomSampler`` and ``DataLoader`` without a
  generator draw a seed at each epoch's start), which moves the dropout stream between
  steps: the tap gives them generators of their own, seeded from the hand-over;
* a last step of an epoch with fewer samples or micro-batches than declared.

and after every step it checks that nothing else drew from the global RNG between steps.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from accord.errors import AccordError
from accord.verify.training.handover import build_from_code, import_module_file, load_shards
from accord.verify.training.manifest import ModelSpec, TaskSpec
from accord.verify.training.recorder import TranscriptRecorder


@dataclass
class Handover:
    """What the lab hands over with the transcript: its model code (``builder(**kwargs)``
    under ``torch.manual_seed(init_seed)`` must give the model the framework trains) and its
    data shards (the framework's train dataset must be :class:`ShardDataset` over them)."""

    out_dir: Path
    model_code: Path
    shard_files: list[Path]
    model_kwargs: dict[str, int | float] = field(default_factory=dict)
    init_seed: int = 0
    k: int = 50
    builder: str = "build_model"
    data_seed: int = 0
    run_id: str | None = None
    threads: int = 1


class ShardDataset:
    """The hand-over's shards as a map-style dataset of ``{x_key: x[i], y_key: y[i]}``, the
    samples numbered across shards in order (the numbering the transcript commits to)."""

    def __init__(
        self, shard_files: list[Path], x_key: str = "input_ids", y_key: str = "labels"
    ) -> None:
        import torch

        data = load_shards([Path(f) for f in shard_files])
        self.x, self.y = torch.from_numpy(data.x), torch.from_numpy(data.y)
        self.x_key, self.y_key = x_key, y_key

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {self.x_key: self.x[i], self.y_key: self.y[i]}


class IndexTap:
    """Wraps a sampler: yields what it yields and keeps every index, in order, until a step
    takes it. Forwards everything else (``set_epoch``, ``__len__``) to the sampler."""

    def __init__(self, sampler: Any) -> None:
        self.inner = sampler
        self.queue: collections.deque[int] = collections.deque()

    def __iter__(self) -> Iterator[int]:
        for i in self.inner:
            self.queue.append(int(i))
            yield i

    def __len__(self) -> int:
        return len(self.inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def take(self, n: int) -> np.ndarray:
        if len(self.queue) < n:
            raise AccordError(
                "recorder", f"the loader yielded {len(self.queue)} indices, a step needs {n}", None
            )
        return np.array([self.queue.popleft() for _ in range(n)], dtype=np.int64)


def tap_loader(loader: Any, seed: int) -> IndexTap:
    """Put an :class:`IndexTap` on the sampler under ``loader`` (a DataLoader, or a wrapper
    that holds one as ``base_dataloader``) and give any shuffling sampler and the loader
    generators of their own, so the data order never draws from the global RNG."""
    import torch

    loader = getattr(loader, "base_dataloader", loader)  # accelerate's DataLoaderAdapter
    batch_sampler = getattr(loader, "batch_sampler", None)
    if batch_sampler is None or not hasattr(batch_sampler, "sampler"):
        raise AccordError(
            "train dataloader", "has no batch sampler over a sampler", "use a map-style dataset"
        )
    inner = getattr(batch_sampler, "batch_sampler", None)
    if inner is not None and hasattr(inner, "sampler"):  # accelerate's BatchSamplerShard
        batch_sampler = inner
    sampler = batch_sampler.sampler
    if isinstance(sampler, IndexTap):
        return sampler
    # accelerate's SeedableRandomSampler, a subclass, already keeps a generator of its own.
    if type(sampler) is torch.utils.data.RandomSampler and sampler.generator is None:
        sampler.generator = torch.Generator().manual_seed(seed)
    if getattr(loader, "generator", "absent") is None:
        loader.generator = torch.Generator().manual_seed(seed + 1)
    tap = IndexTap(sampler)
    batch_sampler.sampler = tap
    return tap


@dataclass
class StepDeclaration:
    """The step a framework runs, read off its configuration."""

    per_micro_batch: int
    micro_batches: int
    clip_grad_norm: float | None
    precision: str
    clip_order: str = "model"


class FrameworkSession:
    """One recorded run under a framework: opened before the first step, one call per
    optimizer step, closed after the last."""

    def __init__(self, handover: Handover) -> None:
        self.h = handover
        self.rec: TranscriptRecorder | None = None
        self.tap: IndexTap | None = None
        self.head = ""
        self.summary: dict[str, Any] = {}
        self._rng_after: Any = None
        self._rng_stepped: Any = None
        self.batch = 0
        # Seconds in the session's calls: the one-time model check (wall time), and every
        # hook (the wrapped recorder's setup, per-step calls and checkpoint copies included)
        # as this thread's CPU time, as the recorder counts its own.
        self.cost = {"model_check_s": 0.0, "hooks_s": 0.0}

    def open(
        self, model: Any, optimizer: Any, scheduler: Any, loader: Any, step: StepDeclaration
    ) -> None:
        import torch

        h = self.h
        self.batch = step.per_micro_batch * step.micro_batches
        t = time.perf_counter()
        self._check_model(model)
        self.cost["model_check_s"] = time.perf_counter() - t
        t = time.thread_time()  # CPU, as the recorder counts its own setup
        self.tap = tap_loader(loader, h.data_seed)
        n = len(self.tap)
        per_epoch = n // step.per_micro_batch
        if n % step.per_micro_batch and not _drops_last(loader):
            raise AccordError(
                "train dataset",
                f"{n} samples leave a short last batch of {n % step.per_micro_batch}",
                "drop the last batch (dataloader_drop_last / drop_last=True) or resize the data",
            )
        if per_epoch % step.micro_batches:
            raise AccordError(
                "gradient accumulation",
                f"{per_epoch} batches an epoch end on a step of fewer than "
                f"{step.micro_batches} micro-batches",
                "make the batches per epoch a multiple of the accumulation steps",
            )
        self.rec = TranscriptRecorder(
            h.out_dir,
            model,
            optimizer,
            task=TaskSpec(name="shards", seed=0, n_samples=n),
            model_spec=ModelSpec(arch="module", kwargs=dict(h.model_kwargs), init_seed=h.init_seed),
            batch_size=self.batch,
            k=h.k,
            run_id=h.run_id,
            threads=h.threads,
            scheduler=scheduler,
            micro_batches=step.micro_batches,
            clip_grad_norm=step.clip_grad_norm,
            clip_order=step.clip_order,
            precision=step.precision,
            recipe=True,
            model_code=h.model_code,
            code_builder=h.builder,
            shard_files=list(h.shard_files),
        )
        self._rng_after = torch.get_rng_state()
        self.cost["hooks_s"] += time.thread_time() - t

    def _check_model(self, model: Any) -> None:
        """The model must be the hand-over's ``builder(**kwargs)`` at ``init_seed``: checked
        here, so a lab learns it before training rather than from a verifier's finding."""
        import torch

        h = self.h
        built = build_from_code(
            import_module_file(Path(h.model_code)), h.builder, dict(h.model_kwargs), h.init_seed
        )
        ours, theirs = model.state_dict(), built.state_dict()
        if set(ours) != set(theirs) or not all(torch.equal(ours[k], theirs[k]) for k in ours):
            raise AccordError(
                "model",
                f"is not {h.builder}(**model_kwargs) of {h.model_code} at seed {h.init_seed}",
                "build it with accord.verify.training.handover.build_from_code",
            )

    def step_begins(self) -> None:
        """Before the step's first forward: the global RNG must be where the last step
        left it, or the recorded dropout stream would not be the one the step used."""
        import torch

        t = time.thread_time()
        same = self._rng_after is None or torch.equal(torch.get_rng_state(), self._rng_after)
        self.cost["hooks_s"] += time.thread_time() - t
        if not same:
            raise AccordError(
                "global RNG",
                "was drawn from between two training steps (a sampler, loader or callback "
                "without its own generator), so the recorded RNG state would not replay",
                "give that component its own torch.Generator",
            )

    def optimizer_stepped(self) -> None:
        """Right after the optimizer step, where a framework offers a hook: from here to
        :meth:`step_ended` nothing may draw from the global RNG either."""
        import torch

        t = time.thread_time()
        self._rng_stepped = torch.get_rng_state()
        self.cost["hooks_s"] += time.thread_time() - t

    def step_ended(self) -> None:
        import torch

        assert self.rec is not None and self.tap is not None
        if self._rng_stepped is not None:
            self._rng_after, self._rng_stepped = self._rng_stepped, None
            self.step_begins()  # the same check: the RNG is where the step left it
        t = time.thread_time()
        self.rec.record_batch(self.tap.take(self.batch))
        self.rec.after_step()
        self._rng_after = torch.get_rng_state()
        self.cost["hooks_s"] += time.thread_time() - t

    def close(self) -> str:
        if self.rec is None:
            raise AccordError("recorder", "was never opened", "train at least one step")
        self.head = self.rec.finish()
        self.summary = self.rec.summary
        return self.head

    def overhead_seconds(self) -> float:
        """What recording added to training: the hooks' CPU time, the writer thread's CPU and
        ``finish``; the one-time model check is in ``cost["model_check_s"]``, apart."""
        assert self.rec is not None
        return self.cost["hooks_s"] + self.rec.cost["worker_cpu_s"] + self.rec.cost["finish_s"]


def _drops_last(loader: Any) -> bool:
    loader = getattr(loader, "base_dataloader", loader)
    bs = getattr(loader, "batch_sampler", None)
    inner = getattr(bs, "batch_sampler", None)
    for obj in (inner, bs, loader):
        if obj is not None and hasattr(obj, "drop_last"):
            return bool(obj.drop_last)
    return False
