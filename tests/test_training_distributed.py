"""Distributed training for real: two gloo processes on CPU under DistributedDataParallel,
recorded on every rank, verified by replaying both ranks in one process."""

from __future__ import annotations

from pathlib import Path

import torch

from accord.model.finding import Verdict
from accord.verify.training.checkpoint import RNG_KEY, rank_rng_key
from accord.verify.training.runs import RecipeConfig, RunConfig, record_ddp_runs
from accord.verify.training.transcript import load_transcript
from accord.verify.training.verifier import verify_training


def test_two_rank_ddp_runs_replay_exactly_and_a_misreported_rank_is_caught(tmp_path: Path) -> None:
    # The transformer has dropout, so each rank's RNG matters; fp16 adds the grad scaler,
    # whose initial scale 2^24 overflows so that steps are skipped on both ranks.
    charlm = RunConfig(task="charlm", n_samples=128, steps=12, k=4, batch_size=8)
    cfg = RecipeConfig(run=charlm, precision="fp16", grad_scaler=True, init_scale=2.0**24, warmup=3)
    jobs = [(tmp_path / "charlm", cfg), (tmp_path / "misreported", cfg)]
    heads = record_ddp_runs(jobs, world=2, misreport=frozenset({1}))
    for (path, _), head in zip(jobs[:1], heads[:1], strict=True):
        tr = load_transcript(path, head)
        assert tr.manifest.world_size == 2 and tr.manifest.batch_size == 8
        end = tr.checkpoint_tensors(1)
        assert not torch.equal(end[RNG_KEY], end[rank_rng_key(1)])  # two dropout streams
        finding = verify_training(path, b"beacon", expected_head=head, budget=1.0)
        assert finding.verdict is Verdict.CONSISTENT, finding.explanation
        replays = finding.statistic["replays"]
        assert len(replays) == 3
        assert all(r["relative"] == 0.0 and r["rng_equal"] for r in replays)
    # Rank 1 trained on samples other than the ones it committed: caught by replay (a
    # segment whose steps the overflowing scaler all skipped moves nothing and still passes).
    finding = verify_training(jobs[1][0], b"beacon", expected_head=heads[1], budget=1.0)
    assert finding.verdict is Verdict.INCONSISTENT
    assert finding.statistic["failed_check"] == "replay"
    assert not finding.statistic["replays"][-1]["pass"]


def test_a_rank_missing_from_a_checkpoint_is_refused(tmp_path: Path) -> None:
    """A world size the checkpoints do not back (rank 1's RNG state absent) is refused as
    broken evidence, before any replay is trusted."""
    import pytest

    from accord.errors import IntegrityError
    from accord.verify.training.replay import _rank_states

    start = {RNG_KEY: torch.get_rng_state()}
    with pytest.raises(IntegrityError, match="rank 1"):
        _rank_states(start, 2, "ckpt/step_00000000.safetensors")


def test_fsdp_runs_replay_within_tolerance_and_ddp_cheats_are_caught(tmp_path: Path) -> None:
    """Under FSDP2 (``fully_shard``, gloo, two processes) the checkpoints hold the gathered
    full state and replay as a DDP run does: not to the bit (FSDP reduces every micro-batch
    and clips from per-shard partial norms) but to ~1e-7, far inside the tolerance. Under
    DDP, a lab that hides three steps in one segment, or distils from a teacher and declares
    cross-entropy, or forges its checkpoints after the fact, is refused on replay."""
    from accord.verify.training.forgery import FORGERIES, forge_named

    run = RunConfig(task="charlm", n_samples=128, steps=12, k=4, batch_size=8)
    cfg = RecipeConfig(run=run, precision="bf16", warmup=3)
    (fsdp_head,) = record_ddp_runs([(tmp_path / "fsdp", cfg)], world=2, sharded=True)
    finding = verify_training(tmp_path / "fsdp", b"beacon", expected_head=fsdp_head, budget=1.0)
    assert finding.verdict is Verdict.CONSISTENT, finding.explanation
    replays = finding.statistic["replays"]
    assert len(replays) == 3 and all(r["rng_equal"] for r in replays)
    assert max(r["relative"] for r in replays) < 1e-5 < finding.statistic["tolerance_relative"]

    jobs = [(tmp_path / name, cfg) for name in ("honest", "extra", "distil")]
    heads = record_ddp_runs(jobs, world=2, modes={1: "extra", 2: "distil"})
    honest = verify_training(jobs[0][0], b"beacon", expected_head=heads[0], budget=1.0)
    assert honest.verdict is Verdict.CONSISTENT
    for (path, _), head in zip(jobs[1:], heads[1:], strict=True):
        cheat = verify_training(path, b"beacon", expected_head=head, budget=1.0)
        assert cheat.verdict is Verdict.INCONSISTENT, path.name
        assert cheat.statistic["failed_check"] == "replay"
    for name in FORGERIES:
        attack = forge_named(name, jobs[0][0], tmp_path / f"forged_{name}")
        forged = verify_training(
            attack.transcript,
            b"beacon",
            expected_head=attack.notes["head"],
            declared_weights_sha256=attack.declared_weights_sha256,
            budget=1.0,
        )
        assert forged.verdict is Verdict.INCONSISTENT, name
        assert forged.statistic["failed_check"] == "replay", name
