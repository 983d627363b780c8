"""Undo a relabelling of token ids, as the hidden-unit permutations are undone.

Permuting the vocabulary (the embedding rows and the output-head rows alike) and shipping the
tokenizer relabelled the same way leaves the model's function exact, but the residual
alignment reads coordinates through the token rows, so it would compare token 17 of one model
with token 17 of the other and find nothing. Token rows can be matched instead: a token's row,
*sorted*, does not depend on how the residual coordinates are labelled, so it identifies the
token across a coordinate permutation too. We match a sample of the suspect's tokens to the
parent's by the cosine of their sorted rows (centred over the vocabulary, so that the shape
all rows share does not dominate), keep the mutual nearest neighbours as anchors, and read the
residual coordinates through the anchors.
"""

from __future__ import annotations

import numpy as np

from accord.verify.provenance.layout import ModelWeights
from accord.verify.provenance.matching import IntArray, normalise_rows
from accord.verify.provenance.safetensors_io import FloatArray

ANCHOR_SAMPLE = 512  # suspect tokens tried as anchors; enough to read a few thousand coordinates
CHUNK = 8_192  # tokens read and compared at once, to bound memory on large vocabularies


def _quantiles(sorted_mat: FloatArray, points: int) -> FloatArray:
    """Resample sorted rows to ``points`` evenly spaced quantiles (linear interpolation), so
    that models with different residual widths give features of one length."""
    d = sorted_mat.shape[1]
    if d == points:
        return sorted_mat
    pos = np.linspace(0.0, d - 1.0, points)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, d - 1)
    w = (pos - lo).astype(np.float32)
    out: FloatArray = sorted_mat[:, lo] * (1 - w) + sorted_mat[:, hi] * w
    return out


def sorted_rows(*mats: FloatArray, points: int | None = None) -> FloatArray:
    """Per token, each matrix's row sorted (as ``points`` quantiles when given), concatenated."""
    parts = [np.sort(m, axis=1) for m in mats]
    if points is not None:
        parts = [_quantiles(x, points) for x in parts]
    out: FloatArray = np.concatenate(parts, axis=1)
    return out


class _Features:
    """One model's sorted-row token features, centred over its vocabulary, read in chunks."""

    def __init__(self, model: ModelWeights, kinds: list[str], points: int) -> None:
        self.model, self.kinds, self.points = model, kinds, points
        self.vocab = model.vocab_size()
        total = np.zeros(points * len(kinds), dtype=np.float64)
        for start in range(0, self.vocab, CHUNK):
            total += self._raw(start, start + CHUNK).sum(axis=0, dtype=np.float64)
        self.mean = (total / max(self.vocab, 1)).astype(np.float32)

    def _raw(self, start: int, stop: int) -> FloatArray:
        rows = [self.model.token_rows(k, start, stop) for k in self.kinds]
        return sorted_rows(*rows, points=self.points)

    def chunk(self, start: int, stop: int) -> FloatArray:
        return normalise_rows(self._raw(start, stop) - self.mean)

    def at(self, ids: IntArray) -> FloatArray:
        rows = [self.model.token_rows_at(k, ids) for k in self.kinds]
        return normalise_rows(sorted_rows(*rows, points=self.points) - self.mean)

    def best(self, query: FloatArray) -> IntArray:
        """For each (unit-norm) query row, the most similar token of this model."""
        best = np.zeros(query.shape[0], dtype=np.int64)
        score = np.full(query.shape[0], -np.inf, dtype=np.float32)
        for start in range(0, self.vocab, CHUNK):
            sim = query @ self.chunk(start, start + CHUNK).T
            idx = sim.argmax(axis=1)
            val = sim[np.arange(sim.shape[0]), idx]
            better = val > score
            best[better] = idx[better] + start
            score[better] = val[better]
        return best


def anchor_tokens(
    parent: ModelWeights, suspect: ModelWeights, kinds: list[str]
) -> tuple[IntArray, IntArray]:
    """Mutual nearest-neighbour token pairs (parent ids, suspect ids), sorted by parent id.

    Reads each vocabulary a few times in chunks of CHUNK tokens, never whole.
    """
    points = min(parent.residual_width(), suspect.residual_width())
    fp, fs = _Features(parent, kinds, points), _Features(suspect, kinds, points)
    n = fs.vocab
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(n, min(n, ANCHOR_SAMPLE), replace=False)).astype(np.int64)
    to_parent = fp.best(fs.at(sample))
    back = fs.best(fp.at(to_parent))
    mutual = back == sample
    p_tok, s_tok = to_parent[mutual], sample[mutual]
    # a parent token claimed twice cannot anchor anything
    uniq, counts = np.unique(p_tok, return_counts=True)
    keep = np.isin(p_tok, uniq[counts == 1])
    order = np.argsort(p_tok[keep])
    return p_tok[keep][order], s_tok[keep][order]
