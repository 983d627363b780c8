"""Output-based provenance tests (black-box), after Nikolić, Baluta & Saxena 2025.

Only query access is assumed: for a list of prompts, each model returns its next-token
distribution (or, in ``greedy`` mode, only its greedy continuation, i.e. what a text API leaks).
Every p-value here needs **control models**: models known to be unrelated to the parent. The
similarity of unrelated models is not zero (they learn the same language), so "how similar is
similar" can only be judged against them. A p-value is only as good as its control pool.

* :func:`agreement_test` asks "does the suspect behave more like the parent than unrelated
  models do?" with two nulls, both of which must be rejected (an intersection-union test, so the
  final p-value is the larger of the two):

  1. *prompt level* (Nikolić et al.): on each prompt, is the suspect closer to the parent than to
     control k? An exact sign test per control; the suspect must beat every control, so the
     p-value is the maximum over controls (per-control p-values are reported Holm-adjusted too).
  2. *model level*: is the suspect–parent similarity an outlier among the similarities of pairs of
     independent models (parent–control and control–control pairs)? A Student-t prediction
     p-value. This guards against what prompt-level tests miss: unrelated models differ in how
     "typical" they are, and with enough prompts any difference becomes significant.

* :func:`distillation_test` asks "did the suspect inherit the parent's idiosyncrasies?": it
  correlates the suspect's deviation from the control consensus with the parent's deviation
  from it, and calibrates the correlation against the same statistic on independent pairs. A
  student trained on a teacher's outputs copies the teacher's quirks, not just the language.

* :func:`attribute_parent` tests several candidate parents at once with Holm's correction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from accord.errors import AccordError
from accord.verify.provenance.stats import binomial_sf, holm, student_t_sf

Array = npt.NDArray[np.float64]
MIN_CONTROLS = 3


class QueryModel(Protocol):
    """What the black-box tests need from a model: next-token log-probabilities."""

    def next_token_logprobs(self, contexts: Sequence[bytes]) -> npt.NDArray[Any]: ...


@dataclass
class Responses:
    """One model's answers to the shared prompts, queried once and reused across tests."""

    name: str
    probs: Array  # (n_prompts, vocab) next-token distribution
    greedy: list[bytes]  # greedy continuation of each prompt


def query(
    name: str, model: QueryModel, prompts: Sequence[bytes], continuation: int = 8
) -> Responses:
    """Ask ``model`` for next-token distributions and greedy continuations of every prompt."""
    if not prompts:
        raise AccordError("prompts", "no prompts given", "pass at least 30 prompts")
    first = np.asarray(model.next_token_logprobs(list(prompts)), dtype=np.float64)
    if first.ndim != 2 or first.shape[0] != len(prompts) or not np.isfinite(first).all():
        raise AccordError(name, f"returned log-probabilities of shape {first.shape}", None)
    probs = np.exp(first - first.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    texts = [bytes([int(i)]) for i in first.argmax(axis=1)]
    contexts = [p + t for p, t in zip(prompts, texts, strict=True)]
    for _ in range(continuation - 1):
        lp = np.asarray(model.next_token_logprobs(contexts))
        nxt = lp.argmax(axis=1)
        texts = [t + bytes([int(i)]) for t, i in zip(texts, nxt, strict=True)]
        contexts = [c + bytes([int(i)]) for c, i in zip(contexts, nxt, strict=True)]
    return Responses(name, probs, texts)


def similarity(a: Responses, b: Responses, mode: str = "distribution") -> Array:
    """Per-prompt similarity in [0, 1]: distribution overlap (1 - total variation), or the
    fraction of greedy continuation bytes that agree position by position."""
    if a.probs.shape != b.probs.shape:
        raise AccordError(
            b.name,
            f"answered {b.probs.shape} where {a.name} answered {a.probs.shape}",
            "both models must share the vocabulary and the prompt list",
        )
    if mode == "distribution":
        out: Array = 1.0 - 0.5 * np.abs(a.probs - b.probs).sum(axis=1)
        return out
    if mode == "greedy":
        return np.array(
            [
                sum(x == y for x, y in zip(s, t, strict=False)) / max(len(s), len(t), 1)
                for s, t in zip(a.greedy, b.greedy, strict=True)
            ]
        )
    raise AccordError("mode", f"unknown mode {mode!r}", "use 'distribution' or 'greedy'")


def prediction_pvalue(x: float, null: Sequence[float]) -> float:
    """P-value of x as a new draw above the null sample (Student-t prediction interval)."""
    n = len(null)
    if n < 3:
        raise AccordError("controls", "too few independent pairs to calibrate", None)
    arr = np.asarray(null, dtype=np.float64)
    sd = float(arr.std(ddof=1))
    if sd == 0.0:
        return 0.0 if x > arr[0] else 1.0
    t = (x - float(arr.mean())) / (sd * math.sqrt(1.0 + 1.0 / n))
    return student_t_sf(t, n - 1)


@dataclass
class BlackBoxResult:
    test: str
    p_value: float
    statistic: float
    null: list[float]
    details: dict[str, Any] = field(default_factory=dict)


def _check_controls(controls: Sequence[Responses]) -> None:
    if len(controls) < MIN_CONTROLS:
        raise AccordError(
            "controls",
            f"{len(controls)} control model(s); black-box p-values need at least {MIN_CONTROLS}",
            "add independently trained models of the same kind with --control",
        )


def agreement_test(
    suspect: Responses,
    parent: Responses,
    controls: Sequence[Responses],
    mode: str = "distribution",
) -> BlackBoxResult:
    _check_controls(controls)
    s_parent = similarity(suspect, parent, mode)
    per_control = []
    for c in controls:
        diff = s_parent - similarity(suspect, c, mode)
        wins, losses = int((diff > 1e-12).sum()), int((diff < -1e-12).sum())
        per_control.append(binomial_sf(wins, wins + losses, 0.5) if wins + losses else 1.0)
    p_prompt = max(per_control)
    pool = [parent, *controls]
    null = [float(similarity(a, b, mode).mean()) for a, b in combinations(pool, 2)]
    x = float(s_parent.mean())
    p_model = prediction_pvalue(x, null)
    rank_p = (1 + sum(v >= x for v in null)) / (len(null) + 1)
    return BlackBoxResult(
        "agreement",
        max(p_prompt, p_model),
        x,
        null,
        {
            "mode": mode,
            "prompts": len(s_parent),
            "p_prompt_level": p_prompt,
            "p_model_level": p_model,
            "p_rank_among_independent_pairs": rank_p,
            "per_control_p": dict(zip([c.name for c in controls], per_control, strict=True)),
            "per_control_p_holm": dict(
                zip([c.name for c in controls], holm(per_control), strict=True)
            ),
            "suspect_control_similarity": {
                c.name: float(similarity(suspect, c, mode).mean()) for c in controls
            },
        },
    )


def _residual_corr(a: Responses, b: Responses, refs: Sequence[Responses]) -> float:
    consensus = np.mean([r.probs for r in refs], axis=0)
    ra = (a.probs - consensus).ravel()
    rb = (b.probs - consensus).ravel()
    ra -= ra.mean()
    rb -= rb.mean()
    denom = float(np.linalg.norm(ra) * np.linalg.norm(rb))
    return float(ra @ rb) / denom if denom > 0 else 0.0


def distillation_test(
    suspect: Responses, teacher: Responses, controls: Sequence[Responses]
) -> BlackBoxResult:
    """Idiosyncrasy inheritance; null pairs use one fewer reference model (conservative)."""
    _check_controls(controls)
    x = _residual_corr(suspect, teacher, controls)
    pool = [teacher, *controls]
    null = []
    for i, j in combinations(range(len(pool)), 2):
        refs = [m for k, m in enumerate(pool) if k not in (i, j)]
        null.append(_residual_corr(pool[i], pool[j], refs))
    p = prediction_pvalue(x, null)
    rank_p = (1 + sum(v >= x for v in null)) / (len(null) + 1)
    return BlackBoxResult("distillation", p, x, null, {"p_rank_among_independent_pairs": rank_p})


def attribute_parent(
    suspect: Responses,
    candidates: Sequence[Responses],
    controls: Sequence[Responses],
    mode: str = "distribution",
) -> dict[str, float]:
    """Holm-adjusted agreement p-value for each candidate parent (family-wise error control)."""
    raw = [agreement_test(suspect, c, controls, mode).p_value for c in candidates]
    return dict(zip([c.name for c in candidates], holm(raw), strict=True))


def default_prompts(n: int = 256, length: int = 48, seed: int = 0) -> list[bytes]:
    """A fixed, pre-registered prompt set: windows of stdlib docs and code, half each."""
    from accord.verify.provenance.corpus import stdlib_text

    rng = np.random.default_rng(seed)
    out = []
    for k, domain in enumerate(("docs", "code")):
        text = stdlib_text(domain, 1_000_000)
        count = n // 2 + (n % 2 if k == 0 else 0)
        for s in rng.integers(0, len(text) - length, size=count):
            out.append(text[int(s) : int(s) + length])
    return out
