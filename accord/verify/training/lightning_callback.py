"""Record a proof-of-training transcript from a Lightning ``Trainer.fit`` run.

Add the callback; nothing else in the script changes::

    cb = AccordLightningCallback(Handover(out_dir, model_code="net.py", shard_files=shards,
                                          model_kwargs={...}, init_seed=7, k=50), attr="net")
    pl.Trainer(callbacks=[cb], accumulate_grad_batches=2, gradient_clip_val=1.0,
               precision="bf16-mixed", ...).fit(module, DataLoader(ShardDataset(shards), ...))

``attr`` names the LightningModule's attribute holding the hand-over's model (the verifier
rebuilds that, not the LightningModule around it). Lightning's automatic optimisation is
the declared step when ``training_step`` returns the cross-entropy of that model's output
against the labels: one optimizer and at most one scheduler stepped every step
(``interval="step"``), norm clipping, ``32-true`` or ``bf16-mixed`` precision.
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl

from accord.errors import AccordError
from accord.verify.training.frameworks import FrameworkSession, Handover, StepDeclaration

_PRECISION = {"32-true": "fp32", "32": "fp32", "bf16-mixed": "bf16"}


class AccordLightningCallback(pl.Callback):
    """Opens the recorder at ``on_train_start``, records each optimizer step at the
    ``on_train_batch_end`` of its last micro-batch (after Lightning has stepped the
    optimizer and the scheduler) and writes the transcript at ``on_train_end``."""

    def __init__(self, handover: Handover, attr: str = "net") -> None:
        self.session = FrameworkSession(handover)
        self.attr = attr
        self.m = 1

    @property
    def head(self) -> str:
        return self.session.head

    @property
    def summary(self) -> dict[str, Any]:
        return self.session.summary

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        model = getattr(pl_module, self.attr, None)
        if model is None:
            raise AccordError("attr", f"the LightningModule has no {self.attr!r}", "name it")
        if len(trainer.optimizers) != 1 or len(trainer.lr_scheduler_configs) > 1:
            raise AccordError("optimizers", "one optimizer and at most one scheduler", None)
        sched = None
        for conf in trainer.lr_scheduler_configs:
            if conf.interval != "step" or conf.frequency != 1:
                raise AccordError(
                    "lr_scheduler", "must step every optimizer step", 'use interval="step"'
                )
            sched = conf.scheduler
        precision = _PRECISION.get(str(trainer.precision))
        if precision is None:
            raise AccordError(
                "precision", f"{trainer.precision} is not recorded", "use 32-true or bf16-mixed"
            )
        clip = trainer.gradient_clip_val
        if clip and str(trainer.gradient_clip_algorithm) not in ("None", "norm"):
            raise AccordError("gradient_clip_algorithm", "only norm clipping is declared", None)
        loader = trainer.train_dataloader
        self.m = int(trainer.accumulate_grad_batches)
        self.session.open(
            model,
            trainer.optimizers[0],
            sched,
            loader,
            StepDeclaration(
                per_micro_batch=int(loader.batch_size),
                micro_batches=self.m,
                clip_grad_norm=float(clip) if clip else None,
                precision=precision,
                clip_order="optimizer",  # Lightning clips its optimizer's parameters
            ),
        )

    def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, i: int) -> None:
        if i % self.m == 0:
            self.session.step_begins()

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, i: int
    ) -> None:
        if (i + 1) % self.m == 0:
            self.session.step_ended()

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self.session.close()
