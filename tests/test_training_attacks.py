"""Every attack is built for real and must be caught; honest runs must pass, over many seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("safetensors")

from accord.model.finding import Verdict
from accord.verify.training.attacks import ATTACKS, Attack, run_attack
from accord.verify.training.runs import RunConfig, record_honest_run
from accord.verify.training.verifier import verify_training

CFG = RunConfig(task="blobs", steps=120, k=10, n_samples=512)
BEACONS = [b"beacon-a", b"beacon-b", b"beacon-c"]
# Which check is expected to catch each attack (the first failing check).
EXPECTED = {
    "adversarial_spoof": {"replay"},
    "adversarial_spoof_committed_data": {"data"},
    "tolerance_exploit": {"replay"},
    "tolerance_exploit_capped": {"final_model"},
    "backwards_fabrication": {"initialisation"},
    "backwards_fabrication_spliced_init": {"replay"},
    "short_run_claimed_long": {"replay"},
    "undeclared_extra_steps_hidden": {"step_count"},
    "undeclared_extra_steps_evading": {"replay"},
    "undeclared_extra_steps_after_end": {"final_model"},
    "distillation": {"replay"},
}
# A lab that evades the step count leaves only replay, which catches it when the hidden
# segment is drawn (about the budget's share of the time; see docs/training.md); the test
# replays everything to show the segment does fail.
BUDGET = {"undeclared_extra_steps_evading": 1.0}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("attacks")


@pytest.fixture(scope="module")
def built(workdir: Path) -> dict[str, Attack]:
    return {name: run_attack(name, workdir, CFG) for name in ATTACKS}


@pytest.mark.parametrize("name", ATTACKS)
def test_attack_is_detected_for_every_beacon(built: dict[str, Attack], name: str) -> None:
    attack = built[name]
    for beacon in BEACONS:
        f = verify_training(
            attack.transcript,
            beacon,
            declared_weights_sha256=attack.declared_weights_sha256,
            budget=BUDGET.get(name, 0.05),
        )
        assert f.verdict == Verdict.INCONSISTENT, (name, f.explanation)
        assert f.statistic["failed_check"] in EXPECTED[name], (name, f.explanation)
        if f.statistic["failed_check"] == "replay":
            worst = max(r["relative"] for r in f.statistic["replays"])
            assert worst > 10 * f.statistic["tolerance_relative"]


def test_tolerance_attack_would_pass_pol_absolute_threshold(built: dict[str, Attack]) -> None:
    """Fang et al.'s point: PoL's published l2 threshold (10) hides the pull toward the target."""
    notes = built["tolerance_exploit"].notes
    assert notes["passes_pol_default_l2_threshold_10"]
    assert notes["final_distance_to_stolen_relative"] == 0.0
    capped = built["tolerance_exploit_capped"].notes
    # Under our calibrated tolerance the pull is too weak to reach the stolen model.
    assert capped["final_distance_to_stolen_relative"] > 0.5


def test_random_segments_are_what_catch_a_short_run(built: dict[str, Attack]) -> None:
    """Top-Q alone (PoL) accepts the fabricated tail; the beacon-keyed draws reject it."""
    attack = built["short_run_claimed_long"]
    top_only = verify_training(attack.transcript, b"x", n_random=0, n_anomalous=0, top_q=1)
    assert top_only.verdict == Verdict.CONSISTENT
    with_random = verify_training(attack.transcript, b"x", n_anomalous=0, top_q=1, n_random=2)
    assert with_random.verdict == Verdict.INCONSISTENT


def test_spoof_replays_on_its_own_crafted_data(built: dict[str, Attack]) -> None:
    """The crafted run is internally consistent: only the data commitment exposes it."""
    from accord.verify.training import attacks as atk

    assert atk.LAST_CRAFTED is not None
    from accord.verify.training.replay import compare, run_segment
    from accord.verify.training.transcript import load_transcript

    tr = load_transcript(built["adversarial_spoof_committed_data"].transcript)
    s0, s1 = tr.checkpoint_tensors(3), tr.checkpoint_tensors(4)
    res = compare(3, 30, 40, s0, s1, run_segment(tr, atk.LAST_CRAFTED, 3, s0))
    assert res.relative == 0.0


HONEST = (
    [
        RunConfig(task="blobs", steps=80, k=10, n_samples=512, init_seed=s, order_seed=s)
        for s in range(6)
    ]
    + [
        RunConfig(task="shapes", steps=40, k=10, n_samples=256, init_seed=s, order_seed=s)
        for s in range(2)
    ]
    + [
        RunConfig(task="charlm", steps=30, k=10, n_samples=256, init_seed=s, order_seed=s)
        for s in range(2)
    ]
)


def test_honest_runs_are_never_rejected(tmp_path: Path) -> None:
    """Every segment of 10 honest runs (3 tasks) replays: false rejections 0 of 10."""
    rejected = 0
    for n, cfg in enumerate(HONEST):
        head = record_honest_run(tmp_path / f"h{n}", cfg)
        f = verify_training(tmp_path / f"h{n}", b"beacon", expected_head=head, budget=1.0)
        rejected += f.verdict != Verdict.CONSISTENT
        assert f.statistic["replay_cost_fraction"] == 1.0
        assert 1.0 < f.statistic["verifier_cost_fraction"] < 1.05
    assert rejected == 0


def test_cross_thread_replay_stays_within_calibrated_tolerance(tmp_path: Path) -> None:
    """An inspector with another thread count still accepts (the tolerance covers it)."""
    cfg = RunConfig(task="charlm", steps=40, k=10, n_samples=256, init_seed=3)
    record_honest_run(tmp_path / "c", cfg)
    f = verify_training(tmp_path / "c", b"b", budget=1.0, threads=2)
    assert f.verdict == Verdict.CONSISTENT, f.explanation
