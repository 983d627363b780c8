"""Honest reference runs: train a small model on a repository task and record its transcript.

Used by ``accord training record-demo``, the tests, the benchmark and the attack harness,
so that every party exercises the same recorder the way a lab would.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    out_dir: Path | str, cfg: RunConfig, model: Any, opt: Any, dataset: Dataset, run_id: str | None
) -> TranscriptRecorder:
    """A recorder declaring ``cfg``'s task, model, batch size and segment length.

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
