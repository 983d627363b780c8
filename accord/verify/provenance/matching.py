"""Matching hidden units of two models: cosine similarities and the assignment problem.

scipy's ``linear_sum_assignment`` (exact, O(n^3) in C) is used when scipy is installed.
Otherwise a greedy matching takes the most similar remaining pair first. The fallback is
justified by what the tests need: (1) the exact (constrained) test stays exact with *any*
matching rule that is equivariant to relabelling the suspect's units, which greedy is (ties
broken by a fixed order are measure-zero for real weights); (2) for derived models the true
pairs have cosine near 1 and dominate every other pair, so greedy recovers the same matching
as the exact solver. Greedy loses power only in the murky middle, never validity.

Ties are where both rules stop being harmless. An all-zero or constant unit has the same cosine
with every unit, so a solver that breaks ties in index order lines up the dead units of two
unrelated models (structured pruning that keeps shapes, zero-padded widths and dead ReLU units
all make such rows, often at the same indices). Two defences: :func:`informative_rows` drops
units that carry no direction before any matching, and :func:`match_units` breaks the remaining
ties in a random order (a seeded relabelling of both sides), so a tie can never create a match.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from accord.verify.provenance.safetensors_io import FloatArray

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# A row is "dead" when its norm is below this fraction of the matrix's 90th-percentile row norm
# (exact zeros, and the float dust that zeroed-then-quantised rows keep) ...
DEAD_NORM = 1e-4
# ... or "constant" when its centred norm is below this fraction of its norm: constant rows all
# point the same way, so they tie with each other exactly as zero rows do.
CONSTANT_RATIO = 1e-3


def row_strength(x: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Euclidean norm of each row, in float64."""
    out: npt.NDArray[np.float64] = np.linalg.norm(np.asarray(x, dtype=np.float64), axis=1)
    return out


def informative_rows(
    x: npt.NDArray[np.floating], strength: npt.NDArray[np.floating] | None = None
) -> BoolArray:
    """Rows that point somewhere: not (near) zero and not (near) constant.

    ``strength`` replaces the row norm in the magnitude check, so that a caller can use a
    rescaling-invariant strength (input norm times output norm for a ReLU unit). The rule looks
    at one model's rows only, so it treats every unit of that model alike and keeps the
    exchangeability the exact test relies on.
    """
    a = np.asarray(x, dtype=np.float32)
    if a.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    # sums in float64 without a float64 copy of the matrix (these can be vocabulary-sized)
    sq = np.square(a).sum(axis=1, dtype=np.float64)
    total = a.sum(axis=1, dtype=np.float64)
    return live_from_sums(sq, total, a.shape[1], strength)


DUPLICATE_COSINE = 0.999  # rows this close to another row of the same model are duplicates
DUPLICATE_CHUNK = 2048


def duplicated_rows(x: npt.NDArray[np.floating]) -> BoolArray:
    """Rows with a near-copy (cosine above DUPLICATE_COSINE) elsewhere in the same matrix.

    A group of copies (all the dead units of a model, say, each a scaled norm gain) ties as a
    block: it matches another model's group as a block, and if both groups sit at the same
    indices (a masked or padded tail) the ranks line up. Copies say nothing about one unit's
    origin, so every member of a group is dropped; the rule looks at one model at a time.
    """
    r = normalise_rows(x)
    n = r.shape[0]
    dup = np.zeros(n, dtype=bool)
    for start in range(0, n, DUPLICATE_CHUNK):
        g = r[start : start + DUPLICATE_CHUNK] @ r.T
        idx = np.arange(g.shape[0])
        g[idx, start + idx] = -np.inf
        dup[start : start + g.shape[0]] = g.max(axis=1) > DUPLICATE_COSINE
    return dup


def live_from_sums(
    sq: npt.NDArray[np.float64],
    total: npt.NDArray[np.float64],
    ncols: int,
    strength: npt.NDArray[np.floating] | None = None,
) -> BoolArray:
    """:func:`informative_rows` from each row's sum of squares and sum, for rows too long to
    hold (residual coordinates read through a whole vocabulary, chunk by chunk)."""
    if sq.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    norms = np.sqrt(sq)
    centred = np.sqrt(np.maximum(sq - total * total / max(ncols, 1), 0.0))
    size = norms if strength is None else np.asarray(strength, dtype=np.float64)
    ref = float(np.quantile(size, 0.9))
    live: BoolArray = (size > DEAD_NORM * ref) & (ref > 0)
    if ncols >= 2:  # a single column cannot be "constant"
        live &= centred > CONSTANT_RATIO * norms
    return live


def normalise_rows(x: npt.NDArray[np.floating]) -> FloatArray:
    """Unit-norm rows, so that matching ignores per-unit rescaling."""
    a = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    out: FloatArray = a / norms
    return out


def cosine_matrix(a: npt.NDArray[np.floating], b: npt.NDArray[np.floating]) -> FloatArray:
    """cos(a_i, b_j) for rows of a and b (same number of columns)."""
    out: FloatArray = normalise_rows(a) @ normalise_rows(b).T
    return out


def have_scipy() -> bool:
    try:
        import scipy.optimize  # noqa: F401
    except ImportError:
        return False
    return True


def match_rows(similarity: npt.NDArray[np.floating], exact: bool | None = None) -> IntArray:
    """For each row i of a (n, m) similarity with n <= m, the column it is matched to.

    Maximises total similarity with an injective map. ``exact=None`` uses scipy if installed.
    """
    sim = np.asarray(similarity, dtype=np.float64)
    n, m = sim.shape
    if n > m:
        raise ValueError("match_rows needs no more rows than columns")
    if exact is None:
        exact = have_scipy()
    if exact:
        from scipy.optimize import linear_sum_assignment

        rows, cols = linear_sum_assignment(sim, maximize=True)
        out = np.empty(n, dtype=np.int64)
        out[rows] = cols
        return out
    return _greedy(sim)


def _greedy(sim: npt.NDArray[np.float64]) -> IntArray:
    """Greedy matching (most similar remaining pair first), vectorised.

    Taking the global best pair first and repeating is the same as repeatedly matching every
    *mutually* best pair at once (each such pair would be picked by the sequential greedy before
    anything that conflicts with it), so each round is two argmax passes, and for derived models
    nearly every unit is mutually best in the first round.
    """
    n, m = sim.shape
    out = np.full(n, -1, dtype=np.int64)
    rows = np.arange(n)
    cols = np.arange(m)
    while rows.size:
        sub = sim[np.ix_(rows, cols)]
        best_col = sub.argmax(axis=1)
        best_row = sub.argmax(axis=0)
        mutual = best_row[best_col] == np.arange(rows.size)
        out[rows[mutual]] = cols[best_col[mutual]]
        keep_cols = np.ones(cols.size, dtype=bool)
        keep_cols[best_col[mutual]] = False
        rows, cols = rows[~mutual], cols[keep_cols]
    return out


def match_units(
    parent_units: npt.NDArray[np.floating],
    suspect_units: npt.NDArray[np.floating],
    exact: bool | None = None,
    tie_seed: int = 0,
) -> tuple[IntArray, IntArray]:
    """Match units (rows) of two models; returns index pairs (parent_idx, suspect_idx).

    The smaller side is matched completely, so pruned models (fewer units) still match. Both
    sides are relabelled by a random permutation (seeded by ``tie_seed``) before solving and
    the answer is mapped back, so exact ties are broken at random instead of in index order.
    """
    return match_similarity(cosine_matrix(parent_units, suspect_units), exact, tie_seed)


def match_similarity(
    similarity: npt.NDArray[np.floating], exact: bool | None = None, tie_seed: int = 0
) -> tuple[IntArray, IntArray]:
    """:func:`match_units` on a precomputed (parent x suspect) similarity matrix."""
    n_p, n_s = similarity.shape
    rng = np.random.default_rng(tie_seed)
    rp = rng.permutation(n_p)
    rs = rng.permutation(n_s)
    sim = np.asarray(similarity)[np.ix_(rp, rs)]
    if sim.shape[0] <= sim.shape[1]:
        cols = match_rows(sim, exact)
        p_idx, s_idx = rp, rs[cols]
    else:
        rows = match_rows(sim.T, exact)
        p_idx, s_idx = rp[rows], rs
    del sim
    order = np.argsort(p_idx if n_p <= n_s else s_idx)
    return p_idx[order].astype(np.int64), s_idx[order].astype(np.int64)
