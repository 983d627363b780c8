"""Real training recipes: schedules, parameter groups, accumulation, clipping, mixed precision.

Every run here is recorded through the real recorder in the plain-loop style a lab writes,
and verified by the real verifier replaying every segment (budget 1).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch

from accord.model.finding import Verdict
from accord.verify.training.loop import batch_schedule, batch_tensors, deterministic, loss_of
from accord.verify.training.models import MLP
from accord.verify.training.recipe import StepParts, declared_step, parse_meta
from accord.verify.training.recorder import TranscriptRecorder
from accord.verify.training.runs import (
    RecipeConfig,
    RunConfig,
    fresh,
    recipe_parts,
    record_recipe_run,
)
from accord.verify.training.tasks import make_dataset
from accord.verify.training.transcript import load_transcript
from accord.verify.training.verifier import verify_training

SMALL = RunConfig(task="blobs", n_samples=256, steps=40, k=10, batch_size=16)


def _verify(path: Path, head: str) -> Any:
    return verify_training(path, b"beacon", expected_head=head, budget=1.0)


@pytest.mark.parametrize(
    ("precision", "scaler"), [("fp32", False), ("bf16", False), ("fp16", True)]
)
def test_honest_recipe_runs_replay_exactly(tmp_path: Path, precision: str, scaler: bool) -> None:
    cfg = RecipeConfig(run=SMALL, precision=precision, grad_scaler=scaler)
    rec = record_recipe_run(tmp_path / "run", cfg)
    finding = _verify(tmp_path / "run", rec.summary["chain_head"])
    assert finding.verdict is Verdict.CONSISTENT, finding.explanation
    assert finding.statistic["precision"] == precision
    assert f"calibrated for {precision}" in finding.explanation
    assert len(finding.statistic["replays"]) == 4
    assert all(r["state_equal"] and r["relative"] == 0.0 for r in finding.statistic["replays"])
    assert finding.statistic["checks"]["step_count"] == "not applied (recipe)"


def test_schedule_and_groups_are_in_every_checkpoint(tmp_path: Path) -> None:
    rec = record_recipe_run(tmp_path / "run", RecipeConfig(run=SMALL, warmup=5))
    tr = load_transcript(tmp_path / "run")
    assert tr.manifest.recipe is not None and tr.manifest.optimizer is None
    assert [len(g.params) for g in tr.manifest.recipe.groups] == [3, 3]
    assert [g.hyper["weight_decay"] for g in tr.manifest.recipe.groups] == [0.05, 0.0]
    lrs = [parse_meta(tr.checkpoint_tensors(j), "t")["groups"][0]["lr"] for j in range(5)]
    # warm-up from 0.1 x lr over 5 steps, then cosine over the other 35 down to 0
    assert lrs[0] == pytest.approx(3e-4)
    assert lrs[1] == pytest.approx(3e-3 * 0.5 * (1 + math.cos(math.pi * 5 / 35)))
    assert lrs[1] > lrs[2] > lrs[3] > lrs[4] == pytest.approx(0.0, abs=1e-12)
    assert rec.summary["steps"] == 40


def test_fp16_skipped_steps_are_recorded_and_replayed_as_skipped(tmp_path: Path) -> None:
    # An initial scale of 2^30 overflows fp16 gradients: the scaler skips steps and backs off.
    cfg = RecipeConfig(run=SMALL, precision="fp16", grad_scaler=True, init_scale=2.0**30)
    rec = record_recipe_run(tmp_path / "run", cfg)
    tr = load_transcript(tmp_path / "run")
    skipped = [parse_meta(tr.checkpoint_tensors(j), "t")["skipped"] for j in range(1, 5)]
    assert skipped[0], "the overflowing scale must have skipped steps in segment 0"
    finding = _verify(tmp_path / "run", rec.summary["chain_head"])
    assert finding.verdict is Verdict.CONSISTENT, finding.explanation


def _train(
    path: Path,
    model: Any,
    opt: Any,
    *,
    sched: Any = None,
    declared_clip: float | None = None,
    used_clip: float | None = None,
) -> str:
    """A plain loop; ``declared_clip`` is what the recorder is told, ``used_clip`` what the
    loop does (they differ only for a lab that misdeclares its recipe)."""
    data = make_dataset("blobs", SMALL.data_seed, SMALL.n_samples)
    schedule = batch_schedule(SMALL.n_samples, SMALL.batch_size, SMALL.steps, 0)
    with deterministic(1):
        rec = TranscriptRecorder(
            path,
            model,
            opt,
            task=SMALL.task_spec(),
            model_spec=SMALL.model_spec(),
            batch_size=SMALL.batch_size,
            k=SMALL.k,
            dataset=data,
            scheduler=sched,
            clip_grad_norm=declared_clip,
        )
        assert rec.recipe is not None
        used = rec.recipe.model_copy(update={"clip_grad_norm": used_clip})
        parts = StepParts(model, opt, used, sched, None)
        for idx in schedule:
            rec.record_batch(idx)
            x, y = batch_tensors(data, idx)
            declared_step(parts, x, y, loss_of)
            rec.after_step()
        return rec.finish()


def test_a_misdeclared_recipe_fails_replay(tmp_path: Path) -> None:
    """Declaring clipping the run did not do is caught: the replay clips and lands elsewhere."""
    model, _ = fresh(SMALL)
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    head = _train(tmp_path / "run", model, opt, declared_clip=0.01, used_clip=None)
    finding = _verify(tmp_path / "run", head)
    assert finding.verdict is Verdict.INCONSISTENT
    assert finding.statistic["failed_check"] == "replay"


class _HomeMadeSGD(torch.optim.SGD):
    """An optimizer outside torch.optim, as a lab might write one."""


class _Square(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx: Any, grad: Any) -> Any:
        (x,) = ctx.saved_tensors
        return 2 * x * grad


class _CustomMLP(MLP):
    def forward(self, x: Any) -> Any:
        return self.fc3(torch.relu(self.fc2(_Square.apply(self.fc1(x)))))


def test_unknown_optimizer_is_inconclusive_naming_it(tmp_path: Path) -> None:
    model, _ = fresh(SMALL)
    head = _train(tmp_path / "run", model, _HomeMadeSGD(model.parameters(), lr=0.05))
    finding = _verify(tmp_path / "run", head)
    assert finding.verdict is Verdict.INCONCLUSIVE
    assert "_HomeMadeSGD" in finding.explanation
    assert finding.statistic["checks"]["replay"] == "not possible"


def test_custom_autograd_function_is_inconclusive_naming_it(tmp_path: Path) -> None:
    torch.manual_seed(SMALL.init_seed)  # the declared init, as build_model makes it
    model = _CustomMLP(**SMALL.model_spec().kwargs)  # type: ignore[arg-type]
    head = _train(tmp_path / "run", model, torch.optim.SGD(model.parameters(), lr=0.05))
    tr = load_transcript(tmp_path / "run")
    assert tr.manifest.recipe is not None
    assert tr.manifest.recipe.custom_autograd == ["_Square"]
    finding = _verify(tmp_path / "run", head)
    assert finding.verdict is Verdict.INCONCLUSIVE
    assert "_Square" in finding.explanation


def test_lambda_schedule_is_inconclusive(tmp_path: Path) -> None:
    model, _ = fresh(SMALL)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 / (1 + s))
    finding = _verify(tmp_path / "run", _train(tmp_path / "run", model, opt, sched=sched))
    assert finding.verdict is Verdict.INCONCLUSIVE
    assert "LambdaLR" in finding.explanation


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "NAdam", "Adagrad"])
def test_other_torch_optimizers_replay(tmp_path: Path, name: str) -> None:
    cfg = RecipeConfig(run=SMALL, optimizer=name, lr=1e-2, micro_batches=4)
    rec = record_recipe_run(tmp_path / "run", cfg)
    finding = _verify(tmp_path / "run", rec.summary["chain_head"])
    assert finding.verdict is Verdict.CONSISTENT, finding.explanation


def test_honest_recipe_runs_over_seeds_are_never_rejected(tmp_path: Path) -> None:
    """All features on (groups, warm-up + cosine, 2 micro-batches, clipping, bf16), five seeds
    of data order and init, each verified with the default 5 % budget and fresh beacons."""
    for seed in range(5):
        run = RunConfig(
            task="blobs",
            n_samples=256,
            steps=60,
            k=5,
            batch_size=16,
            init_seed=seed,
            order_seed=seed,
        )
        rec = record_recipe_run(tmp_path / str(seed), RecipeConfig(run=run, precision="bf16"))
        finding = verify_training(
            tmp_path / str(seed), bytes([seed]) * 8, expected_head=rec.summary["chain_head"]
        )
        assert finding.verdict is Verdict.CONSISTENT, finding.explanation


def test_hidden_extra_steps_in_a_recipe_run_fail_replay(tmp_path: Path) -> None:
    """A lab that runs unrecorded steps inside a segment of a recipe run (schedule, groups,
    accumulation, bf16): the step count does not apply to recipe runs, so replay must and
    does catch it, in the weights and in the schedule's position."""
    data = make_dataset("blobs", SMALL.data_seed, SMALL.n_samples)
    cfg = RecipeConfig(run=SMALL, precision="bf16")
    model, _ = fresh(SMALL)
    opt, sched, _ = recipe_parts(cfg, model)
    schedule = batch_schedule(SMALL.n_samples, SMALL.batch_size, SMALL.steps, 0)
    with deterministic(1):
        rec = TranscriptRecorder(
            tmp_path / "run",
            model,
            opt,
            task=SMALL.task_spec(),
            model_spec=SMALL.model_spec(),
            batch_size=SMALL.batch_size,
            k=SMALL.k,
            dataset=data,
            scheduler=sched,
            micro_batches=2,
            clip_grad_norm=1.0,
            precision="bf16",
        )
        assert rec.recipe is not None
        parts = StepParts(model, opt, rec.recipe, sched, None)
        for step, idx in enumerate(schedule):
            rec.record_batch(idx)
            x, y = batch_tensors(data, idx)
            declared_step(parts, x, y, loss_of)
            if step == 15:  # two unrecorded steps in segment 1
                for _ in range(2):
                    declared_step(parts, x, y, loss_of)
            rec.after_step()
        head = rec.finish()
    finding = _verify(tmp_path / "run", head)
    assert finding.verdict is Verdict.INCONSISTENT
    bad = [r for r in finding.statistic["replays"] if not r["pass"]]
    assert [r["segment"] for r in bad] == [1]
    assert not bad[0]["state_equal"]  # the schedule is two steps ahead of the committed one


@pytest.mark.parametrize(
    "edit",
    [
        lambda m: m["scheduler"].update(last_epoch="soon"),
        lambda m: m["groups"][0].update(lr=[1, 2]),
        lambda m: m.update(optimizer_scalars={"99": {"step": 1}}),
        lambda m: m.update(scaler={"scale": 1.0}),
    ],
)
def test_a_well_chained_but_hostile_meta_state_never_crashes_the_verifier(
    tmp_path: Path, edit: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lab writes odd values into the meta state through the real recorder, so hashes and
    chain are in order: the verifier answers with a finding, never an exception."""
    from accord.verify.training import recorder as recorder_module
    from accord.verify.training.recipe import meta_state

    def hostile(parts: StepParts) -> dict[str, Any]:
        meta = meta_state(parts)
        edit(meta)
        return meta

    monkeypatch.setattr(recorder_module, "meta_state", hostile)
    rec = record_recipe_run(tmp_path / "run", RecipeConfig(run=SMALL))
    finding = _verify(tmp_path / "run", rec.summary["chain_head"])
    assert finding.verdict in (Verdict.INCONCLUSIVE, Verdict.INCONSISTENT)
    assert finding.explanation
