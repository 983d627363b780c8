"""The injection evaluation on a small SYNTHETIC trace (the real trace: test_telemetry_openb)."""

from __future__ import annotations

import numpy as np

from accord.verify.telemetry.evaluate import synthetic_evaluation
from accord.verify.telemetry.synthetic import HELIOS_LIKE, background, inject


def test_synthetic_background_matches_its_calibration() -> None:
    days = 10
    table, pop = background(HELIOS_LIKE, days=days, seed=3)
    n = table.num_rows
    assert abs(n - HELIOS_LIKE.gpu_jobs_per_day * days) <= 1
    cols = table.to_pydict()
    gpu_s = sum(
        (e - s) * c for s, e, c in zip(cols["start"], cols["end"], cols["chip_count"], strict=True)
    )
    busy = gpu_s / (HELIOS_LIKE.cluster_gpus * days * 86400)
    # the mean is set for 70 % busy; clipping the long tail at 14 days lowers it a little
    assert 0.35 < busy < 0.9
    assert len(set(cols["account"])) <= len(pop.accounts)
    assert set(cols["source"]) == {"synthetic"}


def test_injected_runs_have_the_requested_size_and_evidence() -> None:
    rng = np.random.default_rng(1)
    run = inject(
        "undeclared", 1, threshold=1e22, profile=HELIOS_LIKE, days=30, rng=rng,
        evidence=["payment"],
    )  # fmt: skip
    assert 1.2e22 * 0.99 <= run.flop_lo <= 3e22 * 1.01
    assert len({j["payment"] for j in run.jobs}) == 1
    assert len({j["account"] for j in run.jobs}) == len(run.accounts) >= 2
    assert len({j["country"] for j in run.jobs}) >= 2
    small = inject("subthreshold", 2, threshold=1e22, profile=HELIOS_LIKE, days=30, rng=rng)
    assert small.flop_hi < 1e22


def test_split_runs_are_found_in_a_synthetic_trace() -> None:
    result = synthetic_evaluation(seed=5, days=10, undeclared=8, declared=2, subthreshold=3)
    s = result.summary()
    assert s["synthetic"] is True
    assert s["any_flag"]["positives"] == 8
    # measured on this seed; the benchmark reports the spread over seeds
    assert s["any_flag"]["recall"] >= 0.75
    assert s["any_flag"]["precision"] >= 0.6
    declared = {i.id for i in result.injected if i.kind == "declared"}
    flagged_accounts = {a for f in result.scan.flagged for a in f.statistic["accounts"]}
    for inj in result.injected:
        if inj.id in declared:
            assert not set(inj.accounts) & flagged_accounts
