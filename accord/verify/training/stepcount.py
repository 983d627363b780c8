"""Count the optimizer steps between two checkpoints without replaying them.

Replay catches a segment that hides extra steps only when that segment is drawn, so at a 5 %
budget a lab that hides a few steps in one segment is caught about 5 % of the time. Most
models, though, carry coordinates whose gradient is exactly zero for a stretch: weights into a
ReLU unit that is dead on the data, embedding rows of tokens a batch never contains, reserved
tokens. The optimizer still moves them every step (weight decay, the momentum it carries, Adam's
decaying moments) and nothing else does, so their end value is a known function of the number
of steps taken. Simulating that function costs a few floating-point operations per coordinate
per step, far below one training step, and it can be done for every segment.

Honest segments confirm the declared count on such coordinates; a segment that hid ``e`` steps
lands them at the declared count plus ``e``. An optimizer that keeps its own step counter
(Adam) is checked too. Both are tripwires, not guarantees: a lab that knows which coordinates
had no gradient can rewrite them, and an edited Adam counter is not visible. Against that lab
only replay is evidence (see :mod:`accord.verify.training.selection`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from accord.errors import IntegrityError
from accord.verify.training.checkpoint import MODEL_PREFIX, OPT_PREFIX
from accord.verify.training.manifest import OptimizerSpec

# A coordinate simulated in float64 lands within a few float32 roundings per step of the
# recorded value; neighbouring counts are thousands of roundings apart for any weight decay a
# real run uses (lr * wd >= 1e-6 per step), so the count is unambiguous.
ROUNDING = 2.0**-24
MIN_WITNESSES = 3
# Simulating one step and testing where it lands (difference, scale, three comparisons).
FLOPS_PER_COORDINATE_STEP = {"sgd": 4 + 8, "adamw": 12 + 8}


@dataclass(frozen=True)
class StepCount:
    """What the zero-gradient coordinates and the optimizer's counter say about one segment."""

    segment: int
    declared: int
    confirming: int
    counted: int | None
    witnesses: int
    counter_delta: int | None

    @property
    def contradicts(self) -> bool:
        by_counter = self.counter_delta is not None and self.counter_delta != self.declared
        by_coordinates = (
            self.counted is not None
            and self.witnesses >= MIN_WITNESSES
            and self.witnesses > self.confirming
        )
        return by_counter or by_coordinates

    def describe(self) -> str:
        if self.counter_delta is not None and self.counter_delta != self.declared:
            return (
                f"segment {self.segment}: the optimizer's step counter advanced "
                f"{self.counter_delta} steps, {self.declared} declared"
            )
        return (
            f"segment {self.segment}: {self.witnesses} coordinates with no gradient moved as "
            f"{self.counted} optimizer steps move them, {self.declared} declared "
            f"({self.confirming} agree with the declaration)"
        )


@dataclass
class FlatState:
    """One checkpoint's weights and optimizer buffers, flattened in parameter order (float64)."""

    weights: np.ndarray
    buffers: dict[str, np.ndarray]
    steps: np.ndarray | None  # Adam's per-parameter counter, broadcast to coordinates

    @classmethod
    def of(
        cls,
        tensors: dict[str, Any],
        names: list[str],
        where: str = "checkpoint",
        shapes: dict[str, tuple[int, ...]] | None = None,
    ) -> FlatState:
        """Flatten a checkpoint's tensors (the lab's bytes, already hash-checked, not trusted:
        a missing, misshapen or non-numeric tensor is an :class:`IntegrityError`)."""
        for n in names:
            t = tensors.get(MODEL_PREFIX + n)
            if t is None:
                raise IntegrityError(
                    where, f"has no tensor for parameter {n}", "the model does not match"
                )
            if not t.is_floating_point():
                raise IntegrityError(where, f"tensor {n} is {t.dtype}, not floating point", None)
            if shapes is not None and tuple(t.shape) != shapes[n]:
                raise IntegrityError(
                    where, f"tensor {n} has shape {tuple(t.shape)}, the model {shapes[n]}", None
                )
        try:
            return cls._flatten(tensors, names)
        except (RuntimeError, TypeError, ValueError, OverflowError) as exc:
            raise IntegrityError(
                where, f"a tensor cannot be read as numbers ({exc})", None
            ) from None

    @classmethod
    def _flatten(cls, tensors: dict[str, Any], names: list[str]) -> FlatState:
        sizes = [int(tensors[MODEL_PREFIX + n].numel()) for n in names]
        weights = np.concatenate(
            [tensors[MODEL_PREFIX + n].detach().double().reshape(-1).numpy() for n in names]
        )
        buffers: dict[str, np.ndarray] = {}
        steps: np.ndarray | None = None
        for key in ("momentum_buffer", "exp_avg", "exp_avg_sq"):
            parts = [_opt(tensors, i, key, size) for i, size in enumerate(sizes)]
            if any(p is not None for p in parts):
                buffers[key] = np.concatenate(
                    [p if p is not None else np.zeros(s) for p, s in zip(parts, sizes, strict=True)]
                )
        if any(f"{OPT_PREFIX}{i}/step" in tensors for i in range(len(names))):
            steps = np.concatenate(
                [
                    np.full(size, _counter(tensors, i), dtype=np.float64)
                    for i, size in enumerate(sizes)
                ]
            )
        return cls(weights, buffers, steps)

    def counter(self) -> int | None:
        """The largest Adam step counter (parameters that never had a gradient have none);
        None when there is none or it is not a finite number."""
        if self.steps is None or self.steps.size == 0:
            return None
        top = float(self.steps.max())
        return int(top) if math.isfinite(top) else None


def _opt(tensors: dict[str, Any], idx: int, key: str, size: int) -> np.ndarray | None:
    t = tensors.get(f"{OPT_PREFIX}{idx}/{key}")
    if t is None or int(t.numel()) != size or not t.is_floating_point():
        return None
    out: np.ndarray = t.detach().double().reshape(-1).numpy()
    return out


def _counter(tensors: dict[str, Any], idx: int) -> float:
    t = tensors.get(f"{OPT_PREFIX}{idx}/step")
    if t is None or int(t.numel()) != 1:
        return 0.0
    return math.nan if t.is_complex() else float(t.reshape(-1)[0])


def zero_gradient_walk(spec: OptimizerSpec, start: FlatState, idx: np.ndarray) -> Iterator[Any]:
    """Weights of coordinates ``idx`` after each further optimizer step with zero gradient.

    Follows PyTorch's SGD (momentum, coupled weight decay) and AdamW (decoupled decay,
    bias-corrected moments) update rules, in float64. Yields forever; the caller stops.
    """
    w = start.weights[idx].copy()
    if spec.name == "sgd":
        b = start.buffers.get("momentum_buffer", np.zeros_like(start.weights))[idx].copy()
        while True:
            b = spec.momentum * b + spec.weight_decay * w
            w = w - spec.lr * b
            yield w
    m = start.buffers.get("exp_avg", np.zeros_like(start.weights))[idx].copy()
    v = start.buffers.get("exp_avg_sq", np.zeros_like(start.weights))[idx].copy()
    t = (start.steps if start.steps is not None else np.zeros_like(start.weights))[idx].copy()
    b1, b2 = spec.betas
    while True:
        t = t + 1
        w = w * (1 - spec.lr * spec.weight_decay)
        m = b1 * m
        v = b2 * v
        denom = np.sqrt(v) / np.sqrt(1 - b2**t) + spec.eps
        w = w - (spec.lr / (1 - b1**t)) * m / denom
        yield w


def _windows(
    spec: OptimizerSpec, start: FlatState, idx: np.ndarray, horizon: int
) -> Iterator[tuple[int, Any, Any, Any]]:
    """(s, weights after s-1, s and s+1 steps) for s = 1..horizon."""
    walk = zero_gradient_walk(spec, start, idx)
    prev, cur = start.weights[idx], next(walk)
    for s in range(1, horizon + 1):
        nxt = next(walk)
        yield s, prev, cur, nxt
        prev, cur = cur, nxt


def tolerance(steps: int) -> float:
    """Relative distance within which a simulated coordinate counts as landing on the record."""
    return 16 * ROUNDING * math.sqrt(max(steps, 1)) + 4 * ROUNDING


def scale(start: np.ndarray, end: np.ndarray) -> Any:
    """What float32 rounding is relative to: the weight, or its movement if that is larger
    (a weight near zero still carries the rounding of the momentum that moves it)."""
    return np.maximum(np.maximum(np.abs(start), np.abs(end)) + np.abs(end - start), 1e-30)


def lands_on(simulated: np.ndarray, recorded: np.ndarray, size: np.ndarray, s: int) -> Any:
    """Per coordinate: is the s-step simulation the recorded value, up to float32 rounding?"""
    return np.abs(simulated - recorded) <= tolerance(s) * size


def _matches(
    path_s: np.ndarray, prev: np.ndarray, nxt: np.ndarray, end: np.ndarray, size: Any, s: int
) -> Any:
    """Coordinates that land on the record after s steps and would not after s-1 or s+1."""
    tol = tolerance(s) * size
    hit = lands_on(path_s, end, size, s)
    informative = (np.abs(path_s - prev) > 4 * tol) & (np.abs(nxt - path_s) > 4 * tol)
    return hit & informative


def confirmed(
    spec: OptimizerSpec, start: FlatState, end: FlatState, declared: int
) -> tuple[np.ndarray, int]:
    """Indices of coordinates whose end value is exactly ``declared`` zero-gradient steps on,
    and the floating-point operations spent finding them.

    Every coordinate is tested, so this is the part whose cost scales with the model. SGD's
    zero-gradient step is linear, so its k-th power is applied in closed form (a few
    operations a coordinate, whatever k); AdamW is walked step by step.
    """
    if spec.name == "sgd":
        w0 = start.weights
        b0 = start.buffers.get("momentum_buffer", np.zeros_like(w0))
        step = np.array(
            [
                [1 - spec.lr * spec.weight_decay, -spec.lr * spec.momentum],
                [spec.weight_decay, spec.momentum],
            ]
        )
        (a0, c0), (a1, c1), (a2, c2) = (
            np.linalg.matrix_power(step, s)[0] for s in (declared - 1, declared, declared + 1)
        )
        w1 = end.weights
        # A coarse pass over every coordinate (a weight near zero that moved far can be missed
        # here, which only loses a confirmation), then the exact test on the few that land.
        near = np.abs(a1 * w0 + c1 * b0 - w1) <= 2 * tolerance(declared) * np.abs(w1)
        hit = np.flatnonzero(near)
        w, b, e = w0[hit], b0[hit], w1[hit]
        keep = _matches(a1 * w + c1 * b, a0 * w + c0 * b, a2 * w + c2 * b, e, scale(w, e), declared)
        landed: np.ndarray = hit[keep]
        # 3 operations to predict and 4 to compare a coordinate, ~30 for the exact test.
        return landed, 7 * w0.size + 30 * hit.size
    idx = np.arange(start.weights.size)
    size = scale(start.weights, end.weights)
    flops = FLOPS_PER_COORDINATE_STEP[spec.name] * idx.size * (declared + 1)
    for s, prev, cur, nxt in _windows(spec, start, idx, declared):
        if s == declared:
            return np.flatnonzero(_matches(cur, prev, nxt, end.weights, size, s)), flops
    return np.array([], dtype=np.int64), flops


def count_segment(
    spec: OptimizerSpec,
    segment: int,
    start: FlatState,
    end: FlatState,
    declared: int,
    candidates: np.ndarray,
    confirming: int,
    horizon: int,
) -> StepCount:
    """Search counts 1..horizon for the candidates (coordinates with no gradient next door)."""
    counter_delta = None
    if end.steps is not None:
        before = start.counter() or 0
        after = end.counter()
        counter_delta = None if after is None else after - before
    counted, witnesses = None, 0
    if candidates.size:
        ends = end.weights[candidates]
        size = scale(start.weights[candidates], ends)
        for s, prev, cur, nxt in _windows(spec, start, candidates, horizon):
            if s == declared:
                continue
            n = int(np.count_nonzero(_matches(cur, prev, nxt, ends, size, s)))
            if n > witnesses:
                counted, witnesses = s, n
    return StepCount(segment, declared, confirming, counted, witnesses, counter_delta)


def count_steps(
    spec: OptimizerSpec,
    states: Iterable[FlatState],
    declared: list[int],
    horizon_factor: int = 2,
) -> tuple[list[StepCount], int]:
    """Count every segment's steps; returns the counts and the floating-point operations spent.

    ``states`` yields checkpoints 0..n in order (only three are held at a time), ``declared``
    holds the n segment lengths. The coordinates that confirm the neighbouring segments'
    counts but not this one's are searched over 1..``horizon_factor`` x declared steps, so a
    stretch hidden in one segment shows up against the run around it.
    """
    n = len(declared)
    per = FLOPS_PER_COORDINATE_STEP[spec.name]
    flops = 0
    window: list[FlatState] = []
    conf: list[np.ndarray] = []
    out: list[StepCount] = []

    def settle(j: int, start: FlatState, end: FlatState) -> None:
        nonlocal flops
        near = [conf[i] for i in (j - 1, j + 1) if 0 <= i < len(conf)]
        pool = np.unique(np.concatenate(near)) if near else np.array([], dtype=np.int64)
        cand = np.setdiff1d(pool, conf[j])
        # Searched only where more of the neighbours' zero-gradient coordinates fail to
        # confirm this segment than confirm it: in an honest run the dead set is stable and
        # the search is rarely needed; a hidden stretch moves them all.
        if cand.size < MIN_WITNESSES or cand.size <= conf[j].size:
            cand = cand[:0]
        horizon = horizon_factor * declared[j]
        out.append(count_segment(spec, j, start, end, declared[j], cand, conf[j].size, horizon))
        flops += per * cand.size * (horizon + 1)

    for i, state in enumerate(states):
        if i > n:
            raise ValueError(f"more than {n + 1} checkpoints for {n} segments")
        window = [*window[-2:], state]
        if i >= 1:
            landed, spent = confirmed(spec, window[-2], window[-1], declared[i - 1])
            conf.append(landed)
            flops += spent
        if i >= 2:
            settle(i - 2, window[0], window[1])
    if len(conf) != n:
        raise ValueError(f"{len(conf) + 1} checkpoints for {n} segments")
    settle(n - 1, window[-2], window[-1])
    return out, flops
