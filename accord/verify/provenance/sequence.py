"""Sequence-level distillation test: did SUSPECT learn from text PARENT generated?

A student trained on a teacher's *sampled text* (what copying a model through a text API
gives) never sees the teacher's probabilities, so next-token comparisons miss it. What it does
inherit is the teacher's idiosyncrasies in what it writes (Sun et al. 2025 show generated text
identifies its source model). This test asks only for the suspect's **sampled text**: no
log-probabilities, no weights. The parent and the controls are run by the verifier.

Statistic. The parent and each control c score the suspect's text byte by byte, giving
log-probabilities l_m. At each position, the parent's log-likelihood ratio against the controls'
consensus, r = l_parent - mean_c l_c, is taken at the byte the suspect wrote, minus its
expectation had the consensus written it (sum_v q(v) r(v), q the controls' mean distribution).
U is the mean over positions. A student of the parent writes what the parent would write a
little more often than independent models do, so U is positive; subtracting the expectation at
every position removes how predictable each context was, which otherwise swamps the signal.

Null (Nikolić et al. 2025 compare the suspect-parent similarity with similarities among
unrelated models): every ordered pair (t, s) of pool models is an independent pair, so U(t, s)
on s's own sampled text, with the remaining pool models as consensus, is a draw of the statistic
under H0 "the suspect is one more independent model of the same kind". The p-value is the
Student-t prediction p-value of the suspect's U against those draws, with the empirical rank
reported beside it. U has a positive bias that shrinks with the consensus size (both terms share
the consensus's own noise), so the tested value uses consensus sets of the same size as the null
draws (one control left out, averaged over which). The controls must be trained the way the
suspect would have been without the parent (same public data, and the same data order where
that is shared); the evaluation measures the false-positive rate for both orders, and shows
what happens when the controls are not of the suspect's kind.

Support. A suspect whose text is much less typical of the pool than any pool model's own text
(a damaged model: units zeroed, layers dropped) is outside what the null's draws cover, and
its text leans towards whichever pool model spreads its probability most widely: one such,
an independent model with a quarter of its MLP zeroed, reached p = 3.8e-4 in the evaluation.
So the test first asks whether the suspect's text is of the pool's kind: its mean
log-likelihood per byte under the pool, against the pool models' own texts under the other
pool models (Student-t prediction, lower tail). Below ``SUPPORT_P`` the result is marked
``outside_support``: its p-value is reported, but it may not make a confident verdict on its
own (:func:`accord.verify.provenance.api.compare_outputs` says ``inconclusive``). Students of
sampled text are usually outside too (they write the teacher's kind of text less well than
the pool writes its own), so they are referred rather than accused: the evaluation found no
measure of the text alone that separates them from damaged independent models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import permutations

import numpy as np
import numpy.typing as npt

from accord.errors import AccordError
from accord.verify.provenance.blackbox import (
    BlackBoxResult,
    QueryModel,
    prediction_pvalue,
)

Array = npt.NDArray[np.float64]
# With 3 controls the null has 12 draws and the evaluation saw independent pairs at p < 1e-5;
# with 5 (30 draws) the smallest within the test's assumptions was 3.8e-4 (docs/provenance.md).
MIN_CONTROLS = 5
# A suspect text less typical of the pool than this (lower-tail prediction p-value against the
# pool's own texts) is outside what the null covers: the result alone decides nothing.
SUPPORT_P = 0.01
# Each byte is sampled from the model's full distribution at this temperature: what an API
# returns at its default settings, and what a student distilled through the API was trained on.
TEMPERATURE = 1.0


@dataclass(frozen=True)
class Samples:
    """One model's sampled continuations of the shared prompts (all a text API returns)."""

    name: str
    prompts: tuple[bytes, ...]
    texts: tuple[bytes, ...]


def _probs(model: QueryModel, contexts: Sequence[bytes], name: str) -> Array:
    lp = np.asarray(model.next_token_logprobs(list(contexts)), dtype=np.float64)
    if lp.ndim != 2 or lp.shape[0] != len(contexts) or lp.shape[1] < 256:
        raise AccordError(name, f"returned log-probabilities of shape {lp.shape}", None)
    if np.isnan(lp).any():
        raise AccordError(name, "returned NaN log-probabilities", "check the model")
    return lp


def _check_controls(n: int) -> None:
    if n < MIN_CONTROLS:
        raise AccordError(
            "controls",
            f"{n} control model(s); the sequence test needs at least {MIN_CONTROLS}",
            "add independently trained models of the same kind with --control",
        )


def sample(
    name: str,
    model: QueryModel,
    prompts: Sequence[bytes],
    length: int = 48,
    seed: int = 0,
    temperature: float = TEMPERATURE,
) -> Samples:
    """Sample ``length`` bytes after each prompt, byte by byte (seeded, reproducible)."""
    if not prompts:
        raise AccordError("prompts", "no prompts given", "pass at least 30 prompts")
    if length < 1 or temperature <= 0:
        raise AccordError("length", "length and temperature must be positive", None)
    rng = np.random.default_rng(seed)
    texts = [b""] * len(prompts)
    for _ in range(length):
        lp = _probs(model, [p + t for p, t in zip(prompts, texts, strict=True)], name)[:, :256]
        logits = lp / temperature
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        u = rng.random(len(prompts))
        nxt = (p.cumsum(axis=1) < u[:, None]).sum(axis=1).clip(0, 255)
        texts = [t + bytes([int(i)]) for t, i in zip(texts, nxt, strict=True)]
    return Samples(name, tuple(prompts), tuple(texts))


@dataclass(frozen=True)
class TextScores:
    """What the verifier's models say about one generator's text, reduced to what the test
    needs: per scorer m, the mean log-probability of the bytes actually written (L[m]); per
    pair of scorers (a, b), the mean over positions of sum_v q_a(v) log q_b(v) (X[a, b]), i.e.
    what b's log-probability of the next byte would be on average if a had written it."""

    generator: str
    observed: dict[str, float]
    cross: dict[tuple[str, str], float]


def score_text(
    scorers: Mapping[str, QueryModel], samples: Samples, chunk: int = 2048
) -> TextScores:
    """Run every scorer over ``samples`` once (teacher forcing), in chunks of positions."""
    contexts: list[bytes] = []
    targets: list[int] = []
    for prompt, text in zip(samples.prompts, samples.texts, strict=True):
        for k, byte in enumerate(text):
            contexts.append(prompt + text[:k])
            targets.append(byte)
    if not contexts:
        raise AccordError(samples.name, "has no generated text to score", "sample some text")
    names = list(scorers)
    obs = np.zeros(len(names))
    cross = np.zeros((len(names), len(names)))
    for i in range(0, len(contexts), chunk):
        ctx = contexts[i : i + chunk]
        tg = np.asarray(targets[i : i + chunk])
        lp = np.stack([_probs(scorers[n], ctx, n)[:, :256] for n in names])
        lp = np.maximum(lp, -1e3)  # a zero probability would make the sums infinite
        obs += lp[:, np.arange(len(ctx)), tg].sum(axis=1)
        cross += np.einsum("anv,bnv->ab", np.exp(lp), lp)
    n = len(contexts)
    return TextScores(
        samples.name,
        {m: float(obs[a] / n) for a, m in enumerate(names)},
        {(a, b): float(cross[i, j] / n) for i, a in enumerate(names) for j, b in enumerate(names)},
    )


def statistic(text: TextScores, t: str, consensus: Sequence[str]) -> float:
    """U: t's log-likelihood ratio against the consensus models on this text, minus what it
    would be on average had the consensus written the text.

    Per position, with l_m = log q_m and the consensus q = mean of the q_c (c in consensus)::

        U = mean_i [ (l_t - mean_c l_c)(x_i) - sum_v q(v) (l_t - mean_c l_c)(v) ]

    Text whose author was trained on t's samples tilts towards t's idiosyncrasies, so the
    first term exceeds the second. Subtracting the expectation at each position, rather than
    comparing with other texts, removes how predictable the contexts were.
    """
    if t in consensus or not consensus:
        raise AccordError("controls", "the consensus must be other models than the parent", None)
    lt = text.observed[t] - float(np.mean([text.observed[c] for c in consensus]))
    expected = float(np.mean([text.cross[(c, t)] for c in consensus])) - float(
        np.mean([text.cross[(c2, c)] for c in consensus for c2 in consensus])
    )
    return lt - expected


def sequence_test(
    texts: Mapping[str, TextScores],
    suspect: str,
    parent: str,
    controls: Sequence[str],
) -> BlackBoxResult:
    """Does the suspect's text lean towards the parent more than independent models' text does?

    ``texts`` holds the scores of the suspect's text and of every pool model's text, each
    scored by the parent and every control (:func:`score_text`). Each null value U(t, s) takes
    t and s from {parent} + controls and the remaining K - 1 models as consensus; the tested
    value averages U(parent, suspect) over the K ways of leaving one control out, so both use
    consensus sets of the same size (the statistic's bias depends on that size).
    """
    _check_controls(len(controls))
    names = [parent, *controls]
    if suspect in names or len(set(names)) != len(names):
        raise AccordError("controls", "the suspect, parent and controls must be distinct", None)
    for g in [suspect, *names]:
        if g not in texts:
            raise AccordError(g, "has no scored text", "score every model's samples first")
        missing = [m for m in names if m not in texts[g].observed]
        if missing:
            raise AccordError(g, f"text was not scored by {missing}", "score it with the pool")
    own = [float(np.mean([texts[g].observed[m] for m in names if m != g])) for g in names]
    typical = float(np.mean([texts[suspect].observed[m] for m in names]))
    support_p = prediction_pvalue(-typical, [-v for v in own])
    support = {
        "suspect_text_loglik_per_byte": typical,
        "pool_text_loglik_per_byte": own,
        "support_p": support_p,
        "outside_support": support_p < SUPPORT_P,
    }
    x = float(
        np.mean(
            [statistic(texts[suspect], parent, [c for c in controls if c != d]) for d in controls]
        )
    )
    null = [
        statistic(texts[s], t, [c for c in names if c not in (t, s)])
        for t, s in permutations(names, 2)
    ]
    p = prediction_pvalue(x, null)
    rank_p = (1 + sum(v >= x for v in null)) / (len(null) + 1)
    details = {
        "p_rank_among_independent_pairs": rank_p,
        "parent_loglik_per_byte_of_suspect_text": texts[suspect].observed[parent],
        **support,
    }
    return BlackBoxResult("sequence", p, x, null, details)


@dataclass(frozen=True)
class SequencePool:
    """The parent and the controls, each model's own sampled text scored by all of them:
    prepared once, then any number of suspects are tested against it."""

    parent: str
    controls: tuple[str, ...]
    scorers: Mapping[str, QueryModel]
    prompts: tuple[bytes, ...]
    texts: Mapping[str, TextScores]


def prepare_pool(
    parent: tuple[str, QueryModel],
    controls: Sequence[tuple[str, QueryModel]],
    prompts: Sequence[bytes],
    length: int = 48,
    seed: int = 0,
) -> SequencePool:
    """Sample every pool model's text on ``prompts`` and score it with every pool model."""
    pool = [parent, *controls]
    names = [n for n, _ in pool]
    _check_controls(len(controls))
    if len(set(names)) != len(names):
        raise AccordError("controls", "the parent and the controls must be distinct", None)
    scorers = dict(pool)
    texts = {
        n: score_text(scorers, sample(n, m, prompts, length, seed + 1 + i))
        for i, (n, m) in enumerate(pool)
    }
    return SequencePool(parent[0], tuple(names[1:]), scorers, tuple(prompts), texts)


def pooled_sequence_test(pool: SequencePool, suspect: Samples) -> BlackBoxResult:
    """Score the suspect's text with the pool and test it. Only the suspect's *text* is used,
    and it must continue the pool's prompts (the null draws were sampled on them)."""
    if suspect.name in pool.texts:
        raise AccordError("suspect", f"the suspect's name {suspect.name!r} is a pool model's", None)
    if tuple(suspect.prompts) != pool.prompts:
        raise AccordError(
            suspect.name, "continues other prompts than the pool's", "sample the pool's prompts"
        )
    if not any(suspect.texts):
        raise AccordError(suspect.name, "has no generated text", "sample some text")
    texts = {**pool.texts, suspect.name: score_text(pool.scorers, suspect)}
    return sequence_test(texts, suspect.name, pool.parent, list(pool.controls))


def run_sequence_test(
    suspect: Samples,
    parent: tuple[str, QueryModel],
    controls: Sequence[tuple[str, QueryModel]],
    seed: int = 0,
) -> BlackBoxResult:
    """One suspect: prepare the pool on the suspect's prompts (as long as its text) and test."""
    length = max((len(t) for t in suspect.texts), default=0)
    if length == 0:
        raise AccordError(suspect.name, "has no generated text", "sample some text")
    if suspect.name in [parent[0], *(n for n, _ in controls)]:
        raise AccordError("suspect", f"the suspect's name {suspect.name!r} is a pool model's", None)
    return pooled_sequence_test(
        prepare_pool(parent, controls, suspect.prompts, length, seed), suspect
    )
