"""Recording a ``DistributedDataParallel`` run: every rank's batches and RNG, one transcript.

Under DDP each rank draws its own share of the batch and runs its own dropout; the
all-reduce makes the gradients, and so the weights and optimizer state, the same on every
rank. So the transcript needs, beyond a one-process run's, each rank's sample indices for
every step and each rank's RNG state at every checkpoint. Every rank calls this recorder;
each rank keeps its indices until the segment closes, and then one ``all_gather`` every k
steps brings every rank's RNG state and index block to rank 0, which alone writes: a step's
committed row is the ranks' shares in rank order, so the chain, the batch Merkle roots and
the ledger head commit to all ranks.

The verifier replays a segment in one process by running the ranks' shares in turn, each
with its own RNG state, and averaging their gradients as the all-reduce does
(:func:`accord.verify.training.recipe.emulated_ddp_step`): exact for two ranks, whose sum
does not depend on order.

Usage (in each rank, after ``dist.init_process_group``)::

    ddp = DistributedDataParallel(model)
    rec = DistributedRecorder(out_dir, model, optimizer, batch_size=per_rank, k=50, ...)
    for idx in my_rank_schedule:
        rec.record_batch(idx)
        declared_step(parts, x, y, loss_of, model=ddp)
        rec.after_step()
    head = rec.finish()          # the chain head on every rank
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from accord.errors import AccordError
from accord.verify.training.recorder import TranscriptRecorder


class DistributedRecorder:
    """Every rank's side of recording a DDP run; rank 0 writes the transcript."""

    def __init__(
        self, out_dir: Path | str, model: Any, optimizer: Any, *, batch_size: int, k: int, **kw: Any
    ) -> None:
        import torch.distributed as dist

        if not dist.is_initialized():
            raise AccordError("torch.distributed", "is not initialised", "init_process_group")
        started = time.perf_counter()
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        # Wall seconds in this recorder's calls on this rank (collectives included; on rank 0
        # also the wrapped recorder's calls); the writer thread's CPU time is in rec.cost.
        self.cost_s = 0.0
        self.local, self.k, self.step = batch_size, k, 0
        self.rec: TranscriptRecorder | None = None
        self._block: list[np.ndarray] = []
        self._placeholder = np.zeros(batch_size * self.world, dtype=np.int64)
        rngs = self._gather_rng()
        if self.rank == 0:
            self.rec = TranscriptRecorder(
                out_dir,
                model,
                optimizer,
                batch_size=batch_size * self.world,
                k=k,
                world_size=self.world,
                rank_rng=rngs[1:],
                recipe=True,
                **kw,
            )
        self.head = ""
        self.cost_s += time.perf_counter() - started

    def overhead_seconds(self) -> float:
        """This rank's recorder time: its calls, plus rank 0's writer thread."""
        worker = 0.0 if self.rec is None else self.rec.cost["worker_cpu_s"]
        return self.cost_s + worker

    @property
    def recipe(self) -> Any:
        return None if self.rec is None else self.rec.recipe

    def _gather_segment(self) -> list[Any]:
        """One collective per segment: every rank's RNG state and its block of indices for
        the steps since the last checkpoint (rank 0 gets them in rank order)."""
        import torch
        import torch.distributed as dist

        rng = torch.get_rng_state()
        idx = np.concatenate(self._block) if self._block else np.zeros(0, dtype=np.int64)
        block = torch.from_numpy(idx)
        payload = torch.cat([rng, block.view(torch.uint8)])
        out = [torch.empty_like(payload) for _ in range(self.world)]
        dist.all_gather(out, payload)
        self._block = []
        if self.rec is not None:
            n = rng.numel()
            rows = [o[n:].view(torch.int64).view(-1, self.local) for o in out]
            self.rec.fill_rows(torch.cat(rows, dim=1).numpy())
            self.rec.rank_rng = [o[:n].clone() for o in out[1:]]
        return out

    def _gather_rng(self) -> list[Any]:
        import torch
        import torch.distributed as dist

        mine = torch.get_rng_state()
        out = [torch.empty_like(mine) for _ in range(self.world)]
        dist.all_gather(out, mine)
        return out

    def record_batch(self, indices: Any) -> None:
        """This rank's sample indices for the step about to run (kept until the segment
        closes: no collective per step)."""
        t = time.perf_counter()
        row = np.asarray(indices, dtype=np.int64).reshape(-1)
        if row.shape[0] != self.local:
            raise AccordError("indices", f"batch of {row.shape[0]}, declared {self.local}", None)
        self._block.append(row.copy())
        if self.rec is not None:
            self.rec.record_batch(self._placeholder)  # replaced by fill_rows at the close
        self.cost_s += time.perf_counter() - t

    def after_step(self) -> None:
        t = time.perf_counter()
        self.step += 1
        if self.step % self.k == 0:
            self._gather_segment()
        if self.rec is not None:
            self.rec.after_step()
        self.cost_s += time.perf_counter() - t

    def finish(self) -> str:
        """Close the transcript on rank 0; every rank gets the chain head back."""
        import torch.distributed as dist

        t = time.perf_counter()
        if self.step % self.k:
            self._gather_segment()
        head = [""]
        if self.rec is not None:
            head = [self.rec.finish()]
        dist.broadcast_object_list(head, src=0)
        self.head = str(head[0])
        self.cost_s += time.perf_counter() - t
        return self.head
