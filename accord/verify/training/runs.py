"""Honest reference runs: train a small model on a repository task and record its transcript.

Used by ``accord training record-demo``, the tests, the benchmark and the attack harness,
so that every party exercises the same recorder the way a lab would.
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from accord.errors import AccordError
from accord.verify.training.loop import batch_schedule, build_optimizer, deterministic, train_step
from accord.verify.training.manifest import ModelSpec, OptimizerSpec, TaskSpec
from accord.verify.training.recorder import TranscriptRecorder
from accord.verify.training.tasks import (
    ARCHS,
    Dataset,
    build_model,
    default_model_kwargs,
    make_dataset,
)


@dataclass(frozen=True)
class RunConfig:
    task: str = "blobs"
    n_samples: int = 1024
    data_seed: int = 1
    init_seed: int = 0
    order_seed: int = 0
    steps: int = 200
    k: int = 20
    batch_size: int = 32
    threads: int = 1
    momentum: float = 0.9
    lr: float = 0.05

    def task_spec(self) -> TaskSpec:
        return TaskSpec.model_validate(
            {"name": self.task, "seed": self.data_seed, "n_samples": self.n_samples}
        )

    def model_spec(self) -> ModelSpec:
        return ModelSpec.model_validate(
            {
                "arch": ARCHS[self.task],
                "kwargs": default_model_kwargs(self.task),
                "init_seed": self.init_seed,
            }
        )

    def optimizer_spec(self) -> OptimizerSpec:
        if self.task == "charlm":
            return OptimizerSpec(name="adamw", lr=3e-3, weight_decay=0.01)
        return OptimizerSpec(name="sgd", lr=self.lr, momentum=self.momentum, weight_decay=1e-4)


def fresh(cfg: RunConfig) -> tuple[Any, Any]:
    """The declared model at its seeded initialisation and its optimizer."""
    spec = cfg.model_spec()
    model = build_model(spec.arch, dict(spec.kwargs), spec.init_seed)
    return model, build_optimizer(cfg.optimizer_spec(), model)


def record_honest_run(out_dir: Path | str, cfg: RunConfig, run_id: str | None = None) -> str:
    """Train ``cfg.steps`` steps with the recorder attached; return the chain head."""
    if cfg.batch_size > cfg.n_samples:
        raise AccordError("batch_size", "is larger than the dataset", "lower it")
    data = make_dataset(cfg.task, cfg.data_seed, cfg.n_samples)
    model, opt = fresh(cfg)
    schedule = batch_schedule(cfg.n_samples, cfg.batch_size, cfg.steps, cfg.order_seed)
    return record_training(out_dir, cfg, model, opt, schedule, data, run_id=run_id)


def recorder_for(
    out_dir: Path | str,
    cfg: RunConfig,
    model: Any,
    opt: Any,
    dataset: Dataset,
    run_id: str | None,
    **recipe: Any,
) -> TranscriptRecorder:
    """A recorder declaring ``cfg``'s task, model, batch size and segment length (and, for a
    recipe run, its ``scheduler``, ``scaler``, micro-batches, clipping and precision).

    Honest runs and every attack open their recorder here, so a cheating transcript declares
    exactly what an honest one of the same configuration would.
    """
    return TranscriptRecorder(
        out_dir,
        model,
        opt,
        task=cfg.task_spec(),
        model_spec=cfg.model_spec(),
        batch_size=cfg.batch_size,
        k=cfg.k,
        dataset=dataset,
        run_id=run_id,
        threads=cfg.threads,
        **recipe,
    )


def record_training(
    out_dir: Path | str,
    cfg: RunConfig,
    model: Any,
    opt: Any,
    schedule: Any,
    data: Dataset,
    *,
    committed: Dataset | None = None,
    run_id: str | None = None,
) -> str:
    """Train ``model`` on ``data`` along ``schedule`` with the recorder attached; return the head.

    ``committed`` is the dataset the transcript commits to (default: ``data``). They differ
    only for a spoofer who trains on crafted inputs while committing to the honest ones.
    """
    with deterministic(cfg.threads):
        rec = recorder_for(
            out_dir, cfg, model, opt, committed if committed is not None else data, run_id
        )
        for idx in schedule:
            rec.record_batch(idx)
            train_step(model, opt, data, idx)
            rec.after_step()
        return rec.finish()


@dataclass(frozen=True)
class RecipeConfig:
    """A run with a real recipe: AdamW (or another ``torch.optim`` class) with weight decay
    masked off biases and norms, linear warm-up then cosine decay, gradient accumulation,
    clipping and mixed precision."""

    run: RunConfig = RunConfig()
    optimizer: str = "AdamW"
    lr: float = 3e-3
    weight_decay: float = 0.05
    warmup: int = 5
    micro_batches: int = 2
    clip_grad_norm: float | None = 1.0
    precision: str = "fp32"
    grad_scaler: bool = False
    init_scale: float = 2.0**16


def recipe_parts(cfg: RecipeConfig, model: Any) -> tuple[Any, Any, Any]:
    """Optimizer (two groups: decayed weights, undecayed biases and norms), warm-up + cosine
    schedule and, for fp16, a grad scaler."""
    import torch
    from torch.optim import lr_scheduler

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    cls = getattr(torch.optim, cfg.optimizer)
    opt = cls(
        [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=cfg.lr,
    )
    warm = lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=cfg.warmup)
    cosine = lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.run.steps - cfg.warmup))
    sched = lr_scheduler.SequentialLR(opt, [warm, cosine], milestones=[cfg.warmup])
    scaler = (
        torch.amp.GradScaler("cpu", init_scale=cfg.init_scale, growth_interval=20)
        if cfg.grad_scaler
        else None
    )
    return opt, sched, scaler


def record_recipe_run(
    out_dir: Path | str, cfg: RecipeConfig, model: Any = None, run_id: str | None = None
) -> TranscriptRecorder:
    """Train with the recipe and the recorder attached, in the plain-loop style a lab would
    write; returns the finished recorder (``summary`` holds the ledger entry)."""
    from accord.verify.training.loop import batch_tensors, loss_of
    from accord.verify.training.recipe import StepParts, declared_step

    run = cfg.run
    data = make_dataset(run.task, run.data_seed, run.n_samples)
    if model is None:
        model, _ = fresh(run)
    opt, sched, scaler = recipe_parts(cfg, model)
    schedule = batch_schedule(run.n_samples, run.batch_size, run.steps, run.order_seed)
    with deterministic(run.threads):
        rec = recorder_for(
            out_dir,
            run,
            model,
            opt,
            data,
            run_id,
            scheduler=sched,
            scaler=scaler,
            micro_batches=cfg.micro_batches,
            clip_grad_norm=cfg.clip_grad_norm,
            precision=cfg.precision,
        )
        assert rec.recipe is not None
        parts = StepParts(model, opt, rec.recipe, sched, scaler)
        for idx in schedule:
            rec.record_batch(idx)
            x, y = batch_tensors(data, idx)
            declared_step(parts, x, y, loss_of)
            rec.after_step()
        rec.finish()
    return rec


DDP_MODES = ("honest", "misreport", "extra", "distil")


def _ddp_worker(
    rank: int,
    world: int,
    init_file: str,
    jobs: list[tuple[str, RecipeConfig, str]],
    heads: str,
    sharded: bool = False,
) -> None:
    """One rank of real DDP (or FSDP) runs (gloo, CPU), one after the other in one process
    group: its slice of each global batch, its own dropout stream, the all-reduce inside
    DistributedDataParallel (the reduce-scatter inside FSDP), the recorder on every rank."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        for n, (out_dir, cfg, mode) in enumerate(jobs):
            head, loop_s, own_s = _ddp_run(rank, world, out_dir, cfg, mode, sharded)
            Path(heads, f"{n}.rank{rank}").write_text(f"{loop_s} {own_s}")
            if rank == 0:
                Path(heads, str(n)).write_text(head)
    finally:
        # Every rank reaches this point before any tears its group down: a rank that
        # destroys gloo's threads while its peer is still in a collective aborts.
        with contextlib.suppress(Exception):
            dist.barrier()
        dist.destroy_process_group()
    # Done, and everything is on disk: leave without running C++ static destructors, where
    # gloo's leftover threads can still abort the process ("terminate called without an
    # active exception", seen under load) after the work itself succeeded.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _ddp_run(
    rank: int, world: int, out_dir: str, cfg: RecipeConfig, mode: str, sharded: bool = False
) -> tuple[str, float, float]:
    """One data-parallel run. ``mode`` is how the lab cheats, if it does: ``misreport``, the
    last rank trains on other samples than it records; ``extra``, every rank runs three
    unrecorded steps in the middle of the second segment and puts the scheduler and Adam's
    step counters back; ``distil``, the loss is a KL divergence to a teacher's soft labels
    (a model of another seed) while plain cross-entropy is declared. ``sharded`` trains
    under FSDP2 (``fully_shard``) instead of DDP. Returns the chain head, this rank's wall
    seconds for the whole run and its recorder seconds."""
    import time

    import torch
    from torch.nn.parallel import DistributedDataParallel

    from accord.verify.training.distributed import DistributedRecorder
    from accord.verify.training.loop import batch_tensors, loss_of
    from accord.verify.training.recipe import LossFn, StepParts, declared_step, recipe_of

    run = cfg.run
    data = make_dataset(run.task, run.data_seed, run.n_samples)
    model, _ = fresh(run)
    torch.manual_seed(1000 * (run.init_seed + 1) + rank)  # each rank its own dropout stream
    rec_kw: dict[str, Any] = {}
    if sharded:
        from torch.distributed.fsdp import fully_shard

        from accord.verify.training.fsdp import FsdpRecorder

        fwd = fully_shard(model)
        recorder: Any = FsdpRecorder
        rec_kw["shadow"] = fresh(run)[0] if rank == 0 else None
    else:
        fwd = DistributedDataParallel(model)
        recorder = DistributedRecorder
    opt, sched, scaler = recipe_parts(cfg, model)
    local = run.batch_size // world
    rows = batch_schedule(run.n_samples, run.batch_size, run.steps, run.order_seed)
    spare = batch_schedule(run.n_samples, run.batch_size, 8, run.order_seed + 7919)
    features: dict[str, Any] = {
        "scheduler": sched,
        "scaler": scaler,
        "micro_batches": cfg.micro_batches,
        "clip_grad_norm": cfg.clip_grad_norm,
        "precision": cfg.precision,
    }
    loss_fn: LossFn = loss_of
    if mode == "distil":
        teacher, _ = fresh(replace(run, init_seed=run.init_seed + 1))
        loss_fn = _soft_label_loss(teacher.eval())
    started = time.perf_counter()
    with deterministic(run.threads):
        rec = recorder(
            out_dir,
            model,
            opt,
            batch_size=local,
            k=run.k,
            task=run.task_spec(),
            model_spec=run.model_spec(),
            dataset=data,
            **rec_kw,
            **features,
        )
        parts = StepParts(model, opt, recipe_of(model, opt, **features), sched, scaler)
        for step, row in enumerate(rows):
            idx = row[rank * local : (rank + 1) * local]  # as DistributedSampler shards
            rec.record_batch(idx)
            used = (idx + 1) % run.n_samples if mode == "misreport" and rank == world - 1 else idx
            x, y = batch_tensors(data, used)
            declared_step(parts, x, y, loss_fn, model=fwd)
            if mode == "extra" and step == run.k + run.k // 2:
                _hidden_steps(parts, data, spare[:3, rank * local : (rank + 1) * local], fwd)
            rec.after_step()
        head = rec.finish()
    return head, time.perf_counter() - started, rec.overhead_seconds()


def _hidden_steps(parts: Any, data: Dataset, rows: Any, fwd: Any) -> None:
    """Unrecorded optimizer steps, with the schedule and Adam's step counters put back."""
    from accord.verify.training.loop import batch_tensors, loss_of
    from accord.verify.training.recipe import declared_step

    sched_state = parts.scheduler.state_dict()
    counters = {p: s["step"].clone() for p, s in parts.optimizer.state.items() if "step" in s}
    for idx in rows:
        declared_step(parts, *batch_tensors(data, idx), loss_of, model=fwd)
    parts.scheduler.load_state_dict(sched_state)
    for p, c in counters.items():
        parts.optimizer.state[p]["step"].copy_(c)
    for g, lr in zip(parts.optimizer.param_groups, parts.scheduler.get_last_lr(), strict=True):
        g["lr"] = lr


def _soft_label_loss(teacher: Any, temperature: float = 2.0) -> Any:
    import torch

    def loss(model: Any, x: Any, y: Any) -> Any:
        with torch.no_grad():
            soft = torch.softmax(teacher(x).float() / temperature, dim=-1)
        logp = torch.log_softmax(model(x).float() / temperature, dim=-1)
        v = logp.shape[-1]
        kl = torch.nn.functional.kl_div
        return kl(logp.reshape(-1, v), soft.reshape(-1, v), reduction="batchmean")

    return loss


def record_ddp_runs(
    jobs: list[tuple[Path, RecipeConfig]],
    world: int = 2,
    misreport: frozenset[int] = frozenset(),
    timings: list[list[tuple[float, float]]] | None = None,
    modes: dict[int, str] | None = None,
    sharded: bool = False,
) -> list[str]:
    """Record real ``world``-process DDP runs with the gloo backend, in one process group;
    return their chain heads. Jobs numbered in ``misreport`` have their last rank train on
    other samples than it records, and ``modes`` names other cheats per job (see
    :func:`_ddp_run`), for tests of the verifier. ``sharded`` runs FSDP2 instead of DDP.
    ``timings``, when given, receives per job and rank (wall seconds of the run, recorder
    seconds)."""
    import tempfile

    from torch.multiprocessing.spawn import spawn

    named = {n: "misreport" for n in misreport} | dict(modes or {})
    with tempfile.TemporaryDirectory(prefix="accord-ddp-") as tmp:
        spawn(  # type: ignore[no-untyped-call]
            _ddp_worker,
            args=(
                world,
                f"{tmp}/init",
                [(str(p), c, named.get(n, "honest")) for n, (p, c) in enumerate(jobs)],
                tmp,
                sharded,
            ),
            nprocs=world,
            join=True,
        )
        if timings is not None:
            for n in range(len(jobs)):
                rows = [Path(tmp, f"{n}.rank{r}").read_text().split() for r in range(world)]
                timings.append([(float(a), float(b)) for a, b in rows])
        return [Path(tmp, str(n)).read_text() for n in range(len(jobs))]


def record_ddp_run(out_dir: Path | str, cfg: RecipeConfig, world: int = 2) -> str:
    """Record one real ``world``-process DDP run (gloo); return the chain head."""
    return record_ddp_runs([(Path(out_dir), cfg)], world)[0]
