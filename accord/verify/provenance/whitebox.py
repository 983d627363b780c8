"""Weight-based independence tests (white-box), after Zhu et al. 2025 and HuRef (Zeng et al. 2024).

Null hypothesis H0 for both tests: the suspect and the parent were trained from *independent
random initialisations* (whatever data they saw). Rejecting H0 says the suspect's weights
share an origin with the parent's: fine-tuned, pruned, merged, quantised or re-arranged copies.
A student *distilled* from the parent's outputs starts from a fresh initialisation, so it is
independent under this H0 and these tests are, by construction, blind to it (see blackbox.py).

* :func:`constrained_test` (Zhu et al.'s CSU statistic): in each block, match the suspect's MLP
  hidden units to the parent's by the cosine of their input weights and take the Spearman
  correlation of the matching with the identity. If training is equivariant to permuting
  hidden units and initial weights are i.i.d., then under H0 the matching is a uniformly random
  permutation, whatever the matching rule, so the p-value is exact (up to the normal
  approximation of Spearman's null distribution) and blocks are independent (Fisher). It
  assumes nobody re-permuted the units: a permuted copy evades it.
* :func:`robust_test` (in the spirit of Zhu et al.'s unconstrained test): first align the
  residual streams by matching embedding columns (and output-head columns), then in each block
  match hidden units twice, once by input weights and once by output weights, and take the
  Spearman correlation between the two matchings. Permuting or rescaling hidden units, or
  permuting residual coordinates, changes neither. For a derived model both matchings recover
  the same permutation; for independent models they should be unrelated. This p-value is
  *not* exact: models trained on the same data can grow similar units, which would correlate
  the two matchings. Its false-positive rate is measured on independently trained models in
  docs/provenance.md.
Units that carry no direction (all-zero, near-zero or constant rows: shape-keeping structured
pruning, zero-padded widths, dead ReLU units), units whose output weights are zero (they
contribute nothing, whatever their input weights) and units that are near-copies of another
unit of the same model are dropped from each model *before* matching, by rules that look at
one model at a time (:func:`~.matching.informative_rows`, :func:`~.matching.duplicated_rows`),
and the remaining ties are broken at random. Dead units would otherwise tie with every unit and line
up by index in two unrelated models. Ranks are taken over the surviving units' original
indices, so the exact test stays exact: the live units of an independent model are still
exchangeable among themselves.

Both tests stream: each block's matrices are read, used and dropped, so peak memory is a few
MLP matrices whatever the depth (a re-read is one file read, cheap beside the matching).

* :func:`huref_similarity`: the HuRef-style invariant X·W_inᵀ·W_out·Xᵀ on the first tokens'
  embeddings X, compared by cosine. Invariant to hidden permutation/rescaling and residual
  rotation. A similarity score, not a p-value, and it has no threshold: independent pairs have
  scored up to 0.91 and derived pairs as low as 0.06, so it never enters a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from accord.errors import AccordError
from accord.verify.provenance.layout import ModelWeights
from accord.verify.provenance.matching import (
    IntArray,
    duplicated_rows,
    informative_rows,
    live_from_sums,
    match_similarity,
    match_units,
    row_strength,
)
from accord.verify.provenance.safetensors_io import FloatArray
from accord.verify.provenance.stats import fisher_combine, spearman, spearman_pvalue_greater
from accord.verify.provenance.vocab import anchor_tokens

MIN_UNITS = 32
# Robust-test safeguard: null z-scores measured on independently initialised models had standard
# deviations 0.93-1.08 with shared and with separate data orders (docs/provenance.md); dividing
# by 1.5 keeps the level for nulls half again as spread, and costs derived models nothing
# measurable (their per-block z is ρ√(n−1) ≈ √n, 11 and more at the 128 units of our smallest).
ROBUST_Z_INFLATION = 1.5


@dataclass(frozen=True)
class BlockEvidence:
    parent_block: int
    suspect_block: int
    units: int
    rho: float
    p_value: float
    dead_units: tuple[int, int] = (0, 0)  # (parent, suspect) units dropped as dead/constant


@dataclass(frozen=True)
class WeightTestResult:
    method: str
    p_value: float
    blocks: list[BlockEvidence]
    notes: list[str] = field(default_factory=list)
    residual_alignment_cosine: float | None = None
    alignment: Alignment | None = None
    z_inflation: float = 1.0

    @property
    def conclusive(self) -> bool:
        """False when no block had enough live units to test: the p-value then means nothing."""
        return bool(self.blocks)

    def as_statistic(self) -> dict[str, object]:
        return {
            "method": self.method,
            "p_value": self.p_value,
            "conclusive": self.conclusive,
            "blocks": [
                {
                    "parent_block": b.parent_block,
                    "suspect_block": b.suspect_block,
                    "units": b.units,
                    "dead_units_dropped": {"parent": b.dead_units[0], "suspect": b.dead_units[1]},
                    "spearman_rho": round(b.rho, 6),
                    "p_value": b.p_value,
                }
                for b in self.blocks
            ],
            "residual_alignment_cosine": self.residual_alignment_cosine,
            "null_z_inflation": self.z_inflation,
            "notes": self.notes,
        }


def _pairs(
    parent_units: FloatArray,
    suspect_units: FloatArray,
    exact: bool | None,
    tie_seed: int,
) -> IntArray:
    """For each unit of the smaller side (in index order), its partner on the other side."""
    p_idx, s_idx = match_units(parent_units, suspect_units, exact, tie_seed)
    if parent_units.shape[0] <= suspect_units.shape[0]:
        return s_idx
    return p_idx


def _check_blocks(parent: ModelWeights, suspect: ModelWeights) -> None:
    if parent.n_blocks == 0 or suspect.n_blocks == 0:
        raise AccordError("model", "no MLP blocks found", None)
    check_mlp_kinds(parent, suspect)


def check_mlp_kinds(parent: ModelWeights, suspect: ModelWeights) -> None:
    """Gated (gate + up) and plain MLPs have no unit-by-unit correspondence: refuse early."""
    kp, ks = len(parent.layout.blocks[0].mlp_in), len(suspect.layout.blocks[0].mlp_in)
    if kp != ks:

        def kind(k: int) -> str:
            return "a gated MLP (gate and up projections)" if k > 1 else "a plain MLP"

        raise AccordError(
            str(suspect.ckpt.path),
            f"the suspect has {kind(ks)} but the parent {parent.ckpt.path} has {kind(kp)};"
            " a fine-tune, pruning or merge keeps the MLP kind, so the weight tests cannot"
            " compare them",
            "compare against a parent of the same architecture family, or use the black-box"
            " test (--blackbox with --control models) for a cross-architecture question",
        )


def _live_units(w_in: FloatArray, w_out: FloatArray) -> IntArray:
    """Units that can carry evidence: alive on both sides (strength = |w_in|·|w_out|, which
    ignores ReLU-style rescaling; a unit whose output is zero contributes nothing, whatever its
    input weights) and not a near-copy of another unit of the same model."""
    strength = row_strength(w_in) * row_strength(w_out)
    live = informative_rows(w_in, strength) & informative_rows(w_out, strength)
    live &= ~duplicated_rows(w_in) & ~duplicated_rows(w_out)
    return np.flatnonzero(live).astype(np.int64)


def _skip_note(where: str, live_p: int, live_s: int) -> str:
    return (
        f"{where}: only {min(live_p, live_s)} live MLP units (parent {live_p}, suspect"
        f" {live_s}, after dropping dead or constant units); at least {MIN_UNITS} are needed,"
        " so this block gives no evidence"
    )


def _combine(method: str, blocks: list[BlockEvidence], notes: list[str]) -> float:
    if not blocks:
        notes.append(f"{method} test: no block had {MIN_UNITS} live units; no evidence")
        return 1.0
    return fisher_combine([x.p_value for x in blocks])


def constrained_test(
    parent: ModelWeights, suspect: ModelWeights, exact_matching: bool | None = None
) -> WeightTestResult:
    """Zhu et al.'s exact test; assumes no re-permutation of hidden units (see module doc)."""
    _check_blocks(parent, suspect)
    if parent.residual_width() != suspect.residual_width():
        raise AccordError(
            "suspect",
            f"residual width {suspect.residual_width()} differs from the parent's"
            f" {parent.residual_width()}; the constrained test compares weights coordinate by"
            " coordinate",
            "use the robust test (method='robust'), which aligns the residual streams first",
        )
    blocks: list[BlockEvidence] = []
    n = min(parent.n_blocks, suspect.n_blocks)
    notes = []
    if parent.n_blocks != suspect.n_blocks:
        notes.append(
            f"block counts differ ({parent.n_blocks} vs {suspect.n_blocks}); compared the first {n}"
        )
    for b in range(n):
        p_in = np.concatenate(parent.mlp_in(b), axis=1)
        s_in = np.concatenate(suspect.mlp_in(b), axis=1)
        lp, ls = _live_units(p_in, parent.mlp_out(b)), _live_units(s_in, suspect.mlp_out(b))
        units = min(lp.size, ls.size)
        if units < MIN_UNITS:
            notes.append(_skip_note(f"block {b}", lp.size, ls.size))
            continue
        pi, si = match_units(p_in[lp], s_in[ls], exact_matching, tie_seed=b)
        del p_in, s_in
        rho = spearman(lp[pi], ls[si])
        dead = (parent.units_declared(b) - lp.size, suspect.units_declared(b) - ls.size)
        blocks.append(BlockEvidence(b, b, units, rho, spearman_pvalue_greater(rho, units), dead))
    return WeightTestResult("constrained", _combine("constrained", blocks, notes), blocks, notes)


@dataclass(frozen=True)
class Alignment:
    """How the suspect's residual coordinates and token ids were lined up with the parent's."""

    parent_coords: IntArray
    suspect_coords: IntArray
    cosine: float  # mean cosine of the matched coordinate columns
    parent_tokens: IntArray  # token pairs the coordinates were read through
    suspect_tokens: IntArray
    relabelled: bool
    notes: list[str]


RELABEL_TRY_BELOW = 0.9  # the identity token map is kept outright when it aligns this well
MIN_ANCHORS = 32
TOKEN_CHUNK = 8_192  # token rows read at once while aligning coordinates


@dataclass
class _CoordStats:
    """Coordinates read through tokens, accumulated chunk by chunk: the cross products of the
    two models' coordinate columns, and each column's sum and sum of squares."""

    cross: npt.NDArray[np.float64]
    p_sq: npt.NDArray[np.float64]
    p_sum: npt.NDArray[np.float64]
    s_sq: npt.NDArray[np.float64]
    s_sum: npt.NDArray[np.float64]
    tokens: int = 0

    @staticmethod
    def empty(d_p: int, d_s: int) -> _CoordStats:
        z = np.zeros
        return _CoordStats(z((d_p, d_s)), z(d_p), z(d_p), z(d_s), z(d_s))

    def add(self, p_rows: FloatArray, s_rows: FloatArray) -> None:
        self.cross += p_rows.T.astype(np.float64) @ s_rows.astype(np.float64)
        self.p_sq += np.square(p_rows).sum(axis=0, dtype=np.float64)
        self.p_sum += p_rows.sum(axis=0, dtype=np.float64)
        self.s_sq += np.square(s_rows).sum(axis=0, dtype=np.float64)
        self.s_sum += s_rows.sum(axis=0, dtype=np.float64)
        self.tokens += p_rows.shape[0]


def _token_kinds(parent: ModelWeights, suspect: ModelWeights) -> list[str]:
    kp, ks = parent.token_matrices(), suspect.token_matrices()
    return kp if kp == ks else ["embedding"]


def _stats_by_id(parent: ModelWeights, suspect: ModelWeights, kinds: list[str]) -> _CoordStats:
    st = _CoordStats.empty(parent.residual_width(), suspect.residual_width())
    v = min(parent.vocab_size(), suspect.vocab_size())
    for kind in kinds:
        for start in range(0, v, TOKEN_CHUNK):
            stop = min(v, start + TOKEN_CHUNK)
            st.add(parent.token_rows(kind, start, stop), suspect.token_rows(kind, start, stop))
    return st


def _stats_at(
    parent: ModelWeights, suspect: ModelWeights, kinds: list[str], p_tok: IntArray, s_tok: IntArray
) -> _CoordStats:
    st = _CoordStats.empty(parent.residual_width(), suspect.residual_width())
    for kind in kinds:
        st.add(parent.token_rows_at(kind, p_tok), suspect.token_rows_at(kind, s_tok))
    return st


def align_tokens_and_coords(
    parent: ModelWeights, suspect: ModelWeights, exact_matching: bool | None = None
) -> Alignment:
    """Match residual coordinates through token rows, undoing a token-id relabelling if any.

    First the token ids are taken at face value (the coordinates are matched by their
    embedding and output-head columns). If that aligns poorly, the token rows themselves are
    matched (:mod:`.vocab`) and the coordinates are read through the matched tokens; the
    better of the two alignments is used, and the notes say which. Token rows are read in
    chunks, so memory does not grow with the vocabulary.
    """
    notes: list[str] = []
    vp, vs = parent.vocab_size(), suspect.vocab_size()
    v = min(vp, vs)
    kinds = _token_kinds(parent, suspect)
    ident = np.arange(v, dtype=np.int64)
    pc, sc, cos = _match_coords(_stats_by_id(parent, suspect, kinds), exact_matching, notes)
    best = Alignment(pc, sc, cos, ident, ident, False, notes)
    if cos < RELABEL_TRY_BELOW:
        p_tok, s_tok = anchor_tokens(parent, suspect, kinds)
        if p_tok.size >= MIN_ANCHORS:
            rel_notes: list[str] = []
            stats = _stats_at(parent, suspect, kinds, p_tok, s_tok)
            pc2, sc2, cos2 = _match_coords(stats, exact_matching, rel_notes)
            if cos2 > cos:
                moved = int(np.sum(p_tok != s_tok))
                rel_notes.append(
                    f"token ids look relabelled: {moved} of {p_tok.size} anchor tokens matched"
                    " by their sorted embedding rows have different ids in the two models;"
                    f" coordinates aligned through the anchors (mean cosine {cos2:.3f} against"
                    f" {cos:.3f} with the ids at face value)"
                )
                best = Alignment(pc2, sc2, cos2, p_tok, s_tok, True, rel_notes)
    if vp != vs and not best.relabelled:
        best.notes.append(
            f"vocabularies differ in size ({vp} vs {vs}); aligned on the first {v} token ids,"
            " which is only meaningful if they are the same tokens"
        )
    return best


def align_residual(
    parent: ModelWeights, suspect: ModelWeights, exact_matching: bool | None = None
) -> tuple[IntArray, IntArray, float, list[str]]:
    """(parent_coords, suspect_coords, mean matched cosine, notes); see align_tokens_and_coords."""
    a = align_tokens_and_coords(parent, suspect, exact_matching)
    return a.parent_coords, a.suspect_coords, a.cosine, a.notes


def _match_coords(
    st: _CoordStats, exact: bool | None, notes: list[str]
) -> tuple[IntArray, IntArray, float]:
    lp = np.flatnonzero(live_from_sums(st.p_sq, st.p_sum, st.tokens))
    ls = np.flatnonzero(live_from_sums(st.s_sq, st.s_sum, st.tokens))
    d_p, d_s = st.p_sq.size, st.s_sq.size
    if lp.size < d_p or ls.size < d_s:
        notes.append(
            f"dropped {d_p - lp.size} parent and {d_s - ls.size} suspect residual coordinates"
            " that are zero or constant over the vocabulary"
        )
    if lp.size == 0 or ls.size == 0:
        raise AccordError(
            "model",
            "the token embedding is zero or constant in every coordinate",
            "check that the file holds trained or initialised weights",
        )
    norm_p, norm_s = np.sqrt(st.p_sq[lp]), np.sqrt(st.s_sq[ls])
    sim = st.cross[np.ix_(lp, ls)] / np.outer(norm_p, norm_s)
    pi, si = match_similarity(sim, exact, tie_seed=7919)
    cos = float(np.mean(sim[pi, si]))
    return lp[pi].astype(np.int64), ls[si].astype(np.int64), cos


def robust_test(
    parent: ModelWeights,
    suspect: ModelWeights,
    exact_matching: bool | None = None,
    z_inflation: float = ROBUST_Z_INFLATION,
) -> WeightTestResult:
    """Permutation- and rescaling-invariant test (approximate p-value; see module doc).

    Each block's z = ρ√(n−1) is divided by ``z_inflation`` before its p-value is taken, so the
    test keeps its level under any null whose z has a standard deviation up to that factor
    (independent models that converge to similar units, e.g. trained on the same data order).
    """
    _check_blocks(parent, suspect)
    alignment = align_tokens_and_coords(parent, suspect, exact_matching)
    pc, sc, align_cos = alignment.parent_coords, alignment.suspect_coords, alignment.cosine
    notes = list(alignment.notes)
    if parent.residual_width() != suspect.residual_width():
        notes.append(
            f"residual widths differ ({parent.residual_width()} vs {suspect.residual_width()});"
            f" compared on {len(pc)} matched coordinates"
        )

    def units(model: ModelWeights, coords: IntArray, b: int) -> tuple[FloatArray, FloatArray]:
        w_in = np.concatenate([m[:, coords] for m in model.mlp_in(b)], axis=1)
        w_out = model.mlp_out(b)[:, coords]
        return w_in, w_out

    same_depth = parent.n_blocks == suspect.n_blocks
    if not same_depth:
        notes.append(
            f"block counts differ ({parent.n_blocks} vs {suspect.n_blocks}); each suspect block is"
            " tested against every parent block (Bonferroni over parent blocks)"
        )
    blocks: list[BlockEvidence] = []
    for sb in range(suspect.n_blocks):
        s_in, s_out = units(suspect, sc, sb)
        ls = _live_units(s_in, s_out)
        candidates = [sb] if same_depth else list(range(parent.n_blocks))
        best: BlockEvidence | None = None
        for pb in candidates:
            p_in, p_out = units(parent, pc, pb)  # re-read per use: memory stays a few blocks
            lp = _live_units(p_in, p_out)
            n = min(lp.size, ls.size)
            if n < MIN_UNITS:
                notes.append(
                    _skip_note(f"parent block {pb} / suspect block {sb}", lp.size, ls.size)
                )
                continue
            seed = 2 * (sb * max(parent.n_blocks, 1) + pb)
            by_in = _pairs(p_in[lp], s_in[ls], exact_matching, seed)
            by_out = _pairs(p_out[lp], s_out[ls], exact_matching, seed + 1)
            del p_in, p_out
            rho = spearman(by_in, by_out)
            p = min(1.0, spearman_pvalue_greater(rho / z_inflation, n) * len(candidates))
            dead = (parent.units_declared(pb) - lp.size, suspect.units_declared(sb) - ls.size)
            if best is None or p < best.p_value:
                best = BlockEvidence(pb, sb, n, rho, p, dead)
        del s_in, s_out
        if best is not None:
            blocks.append(best)
    return WeightTestResult(
        "robust",
        _combine("robust", blocks, notes),
        blocks,
        notes,
        align_cos,
        alignment,
        z_inflation,
    )


def huref_similarity(
    parent: ModelWeights,
    suspect: ModelWeights,
    n_tokens: int = 256,
    tokens: tuple[IntArray, IntArray] | None = None,
) -> float:
    """Mean over blocks of cos(X_p W_inᵀ W_out X_pᵀ, X_s W_inᵀ W_out X_sᵀ) on shared tokens.

    A score in [-1, 1], not a p-value. ``tokens`` gives matched (parent, suspect) token ids
    (from the robust test's alignment, which undoes a relabelling); by default the first ids.
    Compares block i with block i.
    """
    if tokens is None:
        k = min(n_tokens, parent.vocab_size(), suspect.vocab_size())
        tp = ts = np.arange(k, dtype=np.int64)
    else:
        tp, ts = tokens[0][:n_tokens], tokens[1][:n_tokens]
    xp, xs = parent.token_rows_at("embedding", tp), suspect.token_rows_at("embedding", ts)
    sims = []
    for b in range(min(parent.n_blocks, suspect.n_blocks)):
        mp = (xp @ parent.mlp_in(b)[-1].T) @ (parent.mlp_out(b) @ xp.T)
        ms = (xs @ suspect.mlp_in(b)[-1].T) @ (suspect.mlp_out(b) @ xs.T)
        a, c = mp.ravel(), ms.ravel()
        denom = float(np.linalg.norm(a) * np.linalg.norm(c))
        sims.append(float(a @ c) / denom if denom > 0 else 0.0)
    return float(np.mean(sims)) if sims else 0.0
