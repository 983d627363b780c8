"""Replay tolerance, set from measured honest reproduction noise.

On the same software stack with the declared thread count, deterministic CPU replay lands on
the recorded state bit for bit, so honest noise is exactly zero. The tolerance must still
cover an inspector whose machine differs (another thread count, another CPU), so it is set
from the worst relative distance measured when replaying honest runs with a different thread
count, times a safety factor. ``calibration.json`` holds the measurement (written by
``python -m benchmarks.bench_training``); the verifier reads it, so the threshold is data,
not a constant buried in code.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

SAFETY_FACTOR = 10.0
FLOOR = 1e-6


@lru_cache(maxsize=1)
def calibration() -> dict[str, Any]:
    raw = resources.files("accord.verify.training").joinpath("calibration.json").read_text()
    data: dict[str, Any] = json.loads(raw)
    return data


def default_tolerance() -> float:
    return float(calibration()["tolerance_relative"])


def tolerance_for(precision: str) -> float:
    """The replay tolerance for runs at ``precision`` (fp32, bf16, fp16), each calibrated from
    its own honest replays; fp32's is the default where a precision has none yet."""
    by = calibration().get("tolerance_by_precision", {})
    return float(by.get(precision, default_tolerance()))


def false_rejection_bound(replayed_segments: int, precision: str | None = None) -> float:
    """Upper 95 % bound on the chance an honest transcript fails at least one replay.

    With zero exceedances among N honest calibration segments, the per-segment rate is below
    3/N (rule of three); a union bound over the replayed segments gives the run-level bound.
    A recipe run (``precision`` given) counts that precision's honest recipe segments.
    """
    cal = calibration()
    by = cal.get("honest_recipe_segments_by_precision", {})
    n = int(by.get(precision, 0) if precision is not None else cal["honest_segments_measured"])
    return min(1.0, replayed_segments * 3.0 / max(n, 1))


def tolerance_from_noise(max_noise: float) -> float:
    return max(FLOOR, SAFETY_FACTOR * max_noise)


def stepcount_false_alarm_bound(segments: int) -> float:
    """Upper 95 % bound on the chance the step count wrongly contradicts an honest transcript.

    Rule of three over the honest segments counted without a single contradiction (recorded
    in ``calibration.json``), union-bounded over the transcript's segments.
    """
    n = int(calibration().get("honest_stepcount_segments_measured", 0))
    return min(1.0, segments * 3.0 / max(n, 1))
