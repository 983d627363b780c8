"""Recording a fully sharded (FSDP2, ``torch.distributed.fsdp.fully_shard``) run.

Under FSDP each rank holds a shard of every parameter and of the optimizer state, so no
rank has the state a checkpoint must hold. Every k steps all ranks gather the full model and
optimizer state (``torch.distributed.checkpoint.state_dict`` with ``full_state_dict``, to
rank 0's CPU) and rank 0 loads it into a *shadow*: an unsharded copy of the model, built by
the same code from the same seed, and an optimizer of the same class with the same groups.
The recorder snapshots the shadow; between checkpoints nothing is gathered. Everything else
is the DDP recorder's: every rank's share of each batch and its RNG state, gathered once a
segment, in one chain.

The arithmetic is data parallelism: each rank's gradient of its share, averaged over ranks
(here by reduce-scatter), then an element-wise optimizer step on each shard, which equals
the step on the whole tensor. So the verifier replays an FSDP transcript exactly as a DDP
one, in one process. It is not bit-exact: FSDP reduces every micro-batch (no ``no_sync``)
and computes the clipping norm from per-shard partial sums, so the last bits differ; the
measured distance is reported in ``docs/performance.md`` and is far inside the tolerance.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from accord.errors import AccordError
from accord.verify.training.distributed import DistributedRecorder


def shadow_optimizer(optimizer: Any, sharded: Any, shadow: Any) -> Any:
    """An optimizer of the same class over ``shadow``'s parameters, group for group."""
    names = {id(p): n for n, p in sharded.named_parameters()}
    mine = dict(shadow.named_parameters())
    groups = []
    for g in optimizer.param_groups:
        try:
            params = [mine[names[id(p)]] for p in g["params"]]
        except KeyError:
            raise AccordError(
                "optimizer", "holds a tensor that is not a model parameter", None
            ) from None
        groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": params})
    return type(optimizer)(groups)


class FsdpRecorder(DistributedRecorder):
    """Every rank's side of recording an FSDP run; rank 0 writes the transcript of its
    shadow, which every checkpoint refreshes from the gathered full state."""

    def __init__(
        self,
        out_dir: Path | str,
        model: Any,
        optimizer: Any,
        *,
        shadow: Any,
        batch_size: int,
        k: int,
        **kw: Any,
    ) -> None:
        import torch.distributed as dist

        self.sharded, self.real = model, optimizer
        self.shadow = shadow if dist.get_rank() == 0 else None
        self.shadow_opt = (
            None if self.shadow is None else shadow_optimizer(optimizer, model, self.shadow)
        )
        super().__init__(out_dir, self.shadow, self.shadow_opt, batch_size=batch_size, k=k, **kw)

    def _sync(self) -> None:
        """Collective: gather the full state to rank 0 and load it into the shadow."""
        import torch
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            get_model_state_dict,
            get_optimizer_state_dict,
        )

        opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
        weights = get_model_state_dict(self.sharded, options=opts)
        state: dict[str, Any] = dict(
            get_optimizer_state_dict(self.sharded, self.real, options=opts)
        )
        if self.shadow is None or self.shadow_opt is None:
            return
        self.shadow.load_state_dict(weights)
        params = dict(self.shadow.named_parameters())
        self.shadow_opt.state.clear()
        for name, entry in state["state"].items():
            self.shadow_opt.state[params[name]] = {
                key: val.clone() if isinstance(val, torch.Tensor) else val
                for key, val in entry.items()
            }
        for mine, theirs in zip(self.shadow_opt.param_groups, self.real.param_groups, strict=True):
            mine.update({k: v for k, v in theirs.items() if k != "params"})

    def after_step(self) -> None:
        if (self.step + 1) % self.k == 0:
            self._sync()
        super().after_step()

    def finish(self) -> str:
        if self.step % self.k:
            self._sync()
        return super().finish()
