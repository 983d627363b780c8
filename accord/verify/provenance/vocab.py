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
import numpy.typing as npt

from accord.verify.provenance.matching import IntArray, normalise_rows
from accord.verify.provenance.safetensors_io import FloatArray

ANCHOR_SAMPLE = 512  # suspect tokens tried as anchors; enough to read a few thousand coordinates
CHUNK = 16_384  # parent tokens compared at once, to bound memory on large vocabularies


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
    """Per token, each matrix's row sorted (as ``points`` quantiles when given), concatenated,
    centred over tokens, unit norm."""
    parts = [np.sort(m, axis=1) for m in mats]
    if points is not None:
        parts = [_quantiles(x, points) for x in parts]
    feat = np.concatenate(parts, axis=1)
    feat -= feat.mean(axis=0, keepdims=True)
    return normalise_rows(feat)


def _best(query: FloatArray, pool: FloatArray) -> tuple[IntArray, npt.NDArray[np.float32]]:
    """For each query row, the most similar pool row (both unit-norm) and its cosine."""
    best = np.zeros(query.shape[0], dtype=np.int64)
    score = np.full(query.shape[0], -np.inf, dtype=np.float32)
    for start in range(0, pool.shape[0], CHUNK):
        sim = query @ pool[start : start + CHUNK].T
        idx = sim.argmax(axis=1)
        val = sim[np.arange(sim.shape[0]), idx]
        better = val > score
        best[better] = idx[better] + start
        score[better] = val[better]
    return best, score


def anchor_tokens(parent_feat: FloatArray, suspect_feat: FloatArray) -> tuple[IntArray, IntArray]:
    """Mutual nearest-neighbour token pairs (parent ids, suspect ids), sorted by parent id."""
    n = suspect_feat.shape[0]
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(n, min(n, ANCHOR_SAMPLE), replace=False)).astype(np.int64)
    to_parent, _ = _best(suspect_feat[sample], parent_feat)
    back, _ = _best(parent_feat[to_parent], suspect_feat)
    mutual = back == sample
    p_tok, s_tok = to_parent[mutual], sample[mutual]
    # a parent token claimed twice cannot anchor anything
    uniq, counts = np.unique(p_tok, return_counts=True)
    keep = np.isin(p_tok, uniq[counts == 1])
    order = np.argsort(p_tok[keep])
    return p_tok[keep][order], s_tok[keep][order]
