"""Refuse, from the declared shapes alone, weight tests that would exhaust memory or time.

A model file is untrusted: a 5 MB file can declare a 20,000-unit MLP (an assignment problem of
hours) and a sparse file can declare a 128 GiB tensor. Both must be refused before any tensor
is read, with one line saying what the file declares, what it would cost and how to allow it.

The estimates are deliberately simple upper-bound-ish models of what the tests do:

* memory: the largest float32 copy of a tensor the tests read, the residual-alignment features
  (embedding and head, both models, with a working copy each), and per compared block pair the
  two models' MLP matrices (three working copies) plus the similarity matrix (float32, the
  float64 copy the assignment solver takes, and its own workspace: 20 bytes a cell);
* time: the assignment problem is cubic; on the 2-core reference machine scipy's solver took
  5.4e-11 s per n_parent * n_suspect * min(n) (n = 2,000, docs/performance.md), so we charge
  1e-10 s per such cell and per multiply-add of the similarity products, plus reading and
  hashing the files at 0.5 GB/s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from accord.errors import AccordError
from accord.verify.provenance.layout import ModelWeights
from accord.verify.provenance.vocab import ANCHOR_SAMPLE

GIB = 1 << 30
SECONDS_PER_CUBIC_CELL = 1e-10
BYTES_PER_SIMILARITY_CELL = 20
HASH_BYTES_PER_SECOND = 0.5e9


@dataclass(frozen=True)
class Limits:
    """What one weight comparison may use; raise them for models you know to be large."""

    max_memory_bytes: int = 4 * GIB
    max_seconds: float = 600.0


@dataclass(frozen=True)
class Cost:
    memory_bytes: int
    seconds: float
    widest_block: int  # most hidden units in one block, either model
    largest_tensor: tuple[str, str, int]  # (file, tensor name, float32 bytes)


def _f32(shape: tuple[int, ...]) -> int:
    return 4 * math.prod(shape)


def _mlp_shapes(m: ModelWeights) -> list[tuple[int, int]]:
    """(units, input columns of all input matrices together) per block, from the header."""
    out = []
    for b, block in enumerate(m.layout.blocks):
        cols = 0
        for name in block.mlp_in:
            shape = m.ckpt.shape(name)
            cols += shape[0] if m.layout.family.conv1d and len(shape) == 2 else shape[-1]
        out.append((m.units_declared(b), cols))
    return out


def _widest(m: ModelWeights) -> int:
    return max((m.units_declared(b) for b in range(m.n_blocks)), default=0)


def _tensor_names(m: ModelWeights) -> list[str]:
    lay = m.layout
    names = [lay.embedding]
    names += [n for n in (lay.unembedding, lay.final_norm) if n is not None]
    for block in lay.blocks:
        names += [*block.mlp_in, block.mlp_out]
        names += [block.mlp_norm] if block.mlp_norm else []
    return names


def estimate(
    parent: ModelWeights,
    suspect: ModelWeights,
    method: str,
    file_bytes: int = 0,
) -> Cost:
    biggest = max(
        (
            (_f32(m.ckpt.shape(n)), str(m.ckpt.path), n)
            for m in (parent, suspect)
            for n in _tensor_names(m)
        ),
    )
    largest = biggest[0]
    align = 0
    for m in (parent, suspect):
        # rows, features (coords x tokens) and the sorted rows a relabelling check needs
        align += 3 * _f32(m.ckpt.shape(m.layout.embedding))
        if m.layout.unembedding is not None:
            align += 3 * _f32(m.ckpt.shape(m.layout.unembedding))
    ps, ss = _mlp_shapes(parent), _mlp_shapes(suspect)
    same_depth = len(ps) == len(ss)
    d_p, d_s = parent.residual_width(), suspect.residual_width()
    block_mem = 0
    vocab = parent.vocab_size() + suspect.vocab_size()
    # alignment: solve + similarity, and matching anchor tokens when ids look relabelled
    cubic = float(min(d_p, d_s)) ** 3 + float(vocab) * d_p * d_s
    cubic += 2.0 * ANCHOR_SAMPLE * vocab * 2 * min(d_p, d_s)
    for sb, (ns, cs) in enumerate(ss):
        candidates = [ps[sb]] if same_depth else ps
        for np_, cp in candidates:
            cells = np_ * ns
            mats = 3 * 4 * (np_ * (cp + d_p) + ns * (cs + d_s))
            block_mem = max(block_mem, mats + BYTES_PER_SIMILARITY_CELL * cells)
            matchings = 2 if method in ("both", "robust") else 0
            if method in ("both", "constrained") and same_depth:
                matchings += 1
            cubic += matchings * float(cells) * (min(np_, ns) + cp + cs)
            # near-copy scans of both models' units (input and output rows)
            cubic += 2.0 * (np_ * np_ * (cp + d_p) + ns * ns * (cs + d_s))
    memory = largest + max(align, block_mem)
    seconds = cubic * SECONDS_PER_CUBIC_CELL + file_bytes / HASH_BYTES_PER_SECOND
    widest = max([n for n, _ in ps + ss], default=0)
    return Cost(memory, seconds, widest, (biggest[1], biggest[2], largest))


def check(
    parent: ModelWeights,
    suspect: ModelWeights,
    method: str,
    limits: Limits,
    file_bytes: int = 0,
) -> Cost:
    """Raise one clear AccordError when the declared shapes exceed the limits."""
    cost = estimate(parent, suspect, method, file_bytes)
    over = []
    if cost.memory_bytes > limits.max_memory_bytes:
        over.append(
            f"about {cost.memory_bytes / GIB:.1f} GiB of memory (limit"
            f" {limits.max_memory_bytes / GIB:g} GiB)"
        )
    if cost.seconds > limits.max_seconds:
        over.append(
            f"about {cost.seconds / 60:.0f} minutes (limit {limits.max_seconds / 60:g} minutes)"
        )
    if over:
        file, tensor, nbytes = cost.largest_tensor
        if nbytes > limits.max_memory_bytes // 2:
            raise AccordError(
                file,
                f"tensor {tensor!r} is declared {nbytes / GIB:.1f} GiB as float32, and the test"
                f" would need " + " and ".join(over),
                "if the model really is this large, raise --max-memory-gib (library:"
                " limits=Limits(...)); otherwise the file is not what it claims",
            )
        which = max((parent, suspect), key=_widest)
        raise AccordError(
            str(which.ckpt.path),
            f"the declared shapes (widest MLP {cost.widest_block} units,"
            f" {parent.n_blocks} and {suspect.n_blocks} blocks) would need " + " and ".join(over),
            "if the model really is this large, raise --max-memory-gib / --max-minutes"
            " (library: limits=Limits(...)); otherwise the file is not what it claims",
        )
    return cost
