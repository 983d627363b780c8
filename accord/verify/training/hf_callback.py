"""Record a proof-of-training transcript from a Hugging Face ``Trainer`` run.

Add the callback; nothing else in the script changes::

    cb = AccordTrainerCallback(Handover(out_dir, model_code="net.py", shard_files=shards,
                                        model_kwargs={...}, init_seed=7, k=50))
    Trainer(model=model, args=args, train_dataset=ShardDataset(shards), callbacks=[cb]).train()
    cb.head          # chain head for the ledger; cb.summary the ledger entry

The Trainer's own step is the declared step when the model's ``forward(input_ids,
labels)`` returns ``{"loss": cross-entropy of forward(input_ids) against labels, ...}`` and
takes no ``**kwargs`` (so the Trainer divides each micro-batch's loss by the accumulation
steps, as the declared step does): micro-batches of ``per_device_train_batch_size``,
``gradient_accumulation_steps`` of them, ``max_grad_norm`` clipping over
``model.parameters()``, ``bf16`` as CPU autocast, then optimizer, scheduler, zero_grad. The
Trainer's default schedules are ``LambdaLR`` over a function of ``transformers``; the
recorder declares which (:data:`accord.verify.training.recipe.NAMED_LAMBDAS`) so the
verifier rebuilds them with its own copy of the formula.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from accord.errors import AccordError
from accord.verify.training.frameworks import FrameworkSession, Handover, StepDeclaration


class AccordTrainerCallback(TrainerCallback):
    """Opens the recorder at ``on_train_begin``, records each optimizer step at
    ``on_step_end`` and writes the transcript at ``on_train_end``."""

    def __init__(self, handover: Handover) -> None:
        self.session = FrameworkSession(handover)

    @property
    def head(self) -> str:
        return self.session.head

    @property
    def summary(self) -> dict[str, Any]:
        return self.session.summary

    def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        if args.fp16:
            raise AccordError("fp16", "under the Trainer is not recorded yet", "use bf16")
        if getattr(args, "world_size", 1) != 1:
            raise AccordError("world_size", "the Trainer callback records one process", None)
        opt = kw["optimizer"]
        sched = kw.get("lr_scheduler")
        self.session.open(
            kw["model"],
            getattr(opt, "optimizer", opt),
            getattr(sched, "scheduler", sched),
            kw["train_dataloader"],
            StepDeclaration(
                per_micro_batch=args.per_device_train_batch_size,
                micro_batches=args.gradient_accumulation_steps,
                clip_grad_norm=args.max_grad_norm if args.max_grad_norm > 0 else None,
                precision="bf16" if args.bf16 else "fp32",
            ),
        )

    def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.session.step_begins()

    def on_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.session.optimizer_stepped()

    def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.session.step_ended()

    def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.session.close()
