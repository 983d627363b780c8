"""Fine-tuning the lab's own (pretrained) model on its own shards, in a plain loop, with
the recorder attached: the reference for real-model runs, and the cheats that need training.

The recipe is what a lab fine-tuning a small language model uses: AdamW with weight decay
masked off biases and norms, linear warm-up then cosine decay, gradient accumulation, norm
clipping and bf16 autocast. Two cheats train for real, each written by the same recorder:

* ``extra``: after some declared steps the lab runs more, unrecorded, optimizer steps on
  other samples, and covers its tracks (puts the scheduler and Adam's step counters back);
* ``teacher``: the lab trains on a teacher's soft labels (distillation) and declares plain
  cross-entropy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from accord.verify.training.handover import build_from_code, import_module_file, load_shards
from accord.verify.training.loop import batch_schedule, deterministic, loss_of
from accord.verify.training.manifest import ModelSpec, TaskSpec
from accord.verify.training.recipe import LossFn, StepParts, declared_step
from accord.verify.training.recorder import TranscriptRecorder


@dataclass(frozen=True)
class FinetuneConfig:
    model_code: Path
    shard_files: tuple[Path, ...]
    model_kwargs: dict[str, int | float] = field(default_factory=dict)
    steps: int = 24
    k: int = 4
    batch_size: int = 8
    micro_batches: int = 2
    lr: float = 5e-5
    warmup: int = 3
    weight_decay: float = 0.01
    clip_grad_norm: float | None = 1.0
    precision: str = "bf16"
    init_seed: int = 0
    order_seed: int = 0
    dropout_seed: int = 0
    threads: int = 1


def build(cfg: FinetuneConfig) -> Any:
    module = import_module_file(Path(cfg.model_code))
    return build_from_code(module, "build_model", dict(cfg.model_kwargs), cfg.init_seed)


def recipe_objects(cfg: FinetuneConfig, model: Any) -> tuple[Any, Any]:
    """AdamW over two groups (decayed matrices; undecayed biases, norms) and warm-up+cosine."""
    import torch
    from torch.optim import lr_scheduler

    params = list(model.named_parameters())
    opt = torch.optim.AdamW(
        [
            {"params": [p for _, p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
            {"params": [p for _, p in params if p.dim() < 2], "weight_decay": 0.0},
        ],
        lr=cfg.lr,
    )
    warm = lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=cfg.warmup)
    cosine = lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.steps - cfg.warmup))
    return opt, lr_scheduler.SequentialLR(opt, [warm, cosine], milestones=[cfg.warmup])


def shard_data(cfg: FinetuneConfig) -> Any:
    return load_shards(list(cfg.shard_files))


@dataclass
class FinetuneRun:
    recorder: TranscriptRecorder
    loop_cpu_s: float  # process CPU time of the training loop, recorder included


def record_finetune(
    out_dir: Path | str,
    cfg: FinetuneConfig,
    *,
    extra: dict[int, int] | None = None,
    teacher: Any = None,
    temperature: float = 2.0,
    run_id: str | None = None,
) -> FinetuneRun:
    """Fine-tune with the recorder attached; ``extra`` maps a step to the number of hidden
    steps run after it, ``teacher`` makes the run a distillation. Returns the finished
    recorder (``summary`` holds the ledger entry) and the loop's CPU time."""
    import time

    import torch

    data = shard_data(cfg)
    n = int(data.x.shape[0])
    model = build(cfg)
    opt, sched = recipe_objects(cfg, model)
    rows = batch_schedule(n, cfg.batch_size, cfg.steps, cfg.order_seed)
    spare = batch_schedule(n, cfg.batch_size, 4 * cfg.steps, cfg.order_seed + 7919)
    loss_fn: LossFn = loss_of if teacher is None else _distil_loss(teacher, temperature)
    started = time.process_time()
    with deterministic(cfg.threads):
        torch.manual_seed(cfg.dropout_seed)
        rec = TranscriptRecorder(
            out_dir,
            model,
            opt,
            task=TaskSpec(name="shards", seed=0, n_samples=n),
            model_spec=ModelSpec(
                arch="module", kwargs=dict(cfg.model_kwargs), init_seed=cfg.init_seed
            ),
            batch_size=cfg.batch_size,
            k=cfg.k,
            run_id=run_id,
            threads=cfg.threads,
            scheduler=sched,
            micro_batches=cfg.micro_batches,
            clip_grad_norm=cfg.clip_grad_norm,
            precision=cfg.precision,
            model_code=cfg.model_code,
            shard_files=list(cfg.shard_files),
        )
        assert rec.recipe is not None
        parts = StepParts(model, opt, rec.recipe, sched, None)
        used = 0
        for step, idx in enumerate(rows):
            rec.record_batch(idx)
            declared_step(parts, *_batch(data, idx), loss_fn)
            hidden = (extra or {}).get(step, 0)
            if hidden:
                sched_state = sched.state_dict()
                counters = {p: s["step"].clone() for p, s in opt.state.items() if "step" in s}
                for _ in range(hidden):
                    declared_step(parts, *_batch(data, spare[used]), loss_fn)
                    used += 1
                sched.load_state_dict(sched_state)  # the schedule shows no extra step
                for p, c in counters.items():
                    opt.state[p]["step"].copy_(c)
                for g, lr in zip(opt.param_groups, sched.get_last_lr(), strict=True):
                    g["lr"] = lr
            rec.after_step()
        rec.finish()
    return FinetuneRun(rec, time.process_time() - started)


def _batch(data: Any, idx: np.ndarray) -> tuple[Any, Any]:
    import torch

    return torch.from_numpy(data.x[idx]), torch.from_numpy(data.y[idx])


def _distil_loss(teacher: Any, temperature: float) -> LossFn:
    import torch

    teacher.eval()

    def loss(model: Any, x: Any, y: Any) -> Any:
        with torch.no_grad():
            soft = torch.softmax(teacher(x).float() / temperature, dim=-1)
        logp = torch.log_softmax(model(x).float() / temperature, dim=-1)
        return torch.nn.functional.kl_div(
            logp.reshape(-1, logp.shape[-1]),
            soft.reshape(-1, soft.shape[-1]),
            reduction="batchmean",
        )

    return loss
