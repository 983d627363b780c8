"""Find the parts of a transformer that the weight tests compare, from tensor names alone.

Tensor naming differs by family, so each family is a small table of name templates. All we
need is: the token embedding (rows = vocabulary), optionally the output head and final norm,
and per block the MLP input matrices (rows = hidden units, after transposing GPT-2's Conv1D),
the MLP output matrix (columns = hidden units) and the norm whose gain feeds the MLP (folded
into the input matrix so that moving a scale between the gain and the weights changes nothing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from accord.errors import AccordError
from accord.verify.provenance.checkpoint import Checkpoint
from accord.verify.provenance.safetensors_io import FloatArray


@dataclass(frozen=True)
class Family:
    name: str
    embedding: tuple[str, ...]
    unembedding: tuple[str, ...]
    final_norm: tuple[str, ...]
    mlp_in: tuple[str, ...]  # templates with {i}; several for gated MLPs (gate, up)
    mlp_out: str
    mlp_norm: str | None
    conv1d: bool = False  # GPT-2 stores (in, out) instead of (out, in)


FAMILIES: tuple[Family, ...] = (
    Family(
        "accord-tinygpt",
        ("tok_emb.weight",),
        ("lm_head.weight",),
        ("ln_f.weight",),
        ("blocks.{i}.mlp.fc_in.weight",),
        "blocks.{i}.mlp.fc_out.weight",
        "blocks.{i}.ln2.weight",
    ),
    Family(
        "llama",
        ("model.embed_tokens.weight", "embed_tokens.weight"),
        ("lm_head.weight",),
        ("model.norm.weight", "norm.weight"),
        ("layers.{i}.mlp.gate_proj.weight", "layers.{i}.mlp.up_proj.weight"),
        "layers.{i}.mlp.down_proj.weight",
        "layers.{i}.post_attention_layernorm.weight",
    ),
    Family(
        "gpt2",
        ("wte.weight",),
        ("lm_head.weight",),
        ("ln_f.weight",),
        ("h.{i}.mlp.c_fc.weight",),
        "h.{i}.mlp.c_proj.weight",
        "h.{i}.ln_2.weight",
        conv1d=True,
    ),
    Family(
        "gpt-neox",
        ("gpt_neox.embed_in.weight", "embed_in.weight"),
        ("embed_out.weight",),
        ("final_layer_norm.weight",),
        ("layers.{i}.mlp.dense_h_to_4h.weight",),
        "layers.{i}.mlp.dense_4h_to_h.weight",
        "layers.{i}.post_attention_layernorm.weight",
    ),
    Family(
        "bert",
        ("embeddings.word_embeddings.weight",),
        (),
        (),
        ("encoder.layer.{i}.intermediate.dense.weight",),
        "encoder.layer.{i}.output.dense.weight",
        "encoder.layer.{i}.attention.output.LayerNorm.weight",
    ),
)


@dataclass(frozen=True)
class Block:
    index: int
    mlp_in: tuple[str, ...]
    mlp_out: str
    mlp_norm: str | None


@dataclass(frozen=True)
class Layout:
    family: Family
    embedding: str
    unembedding: str | None
    final_norm: str | None
    blocks: tuple[Block, ...] = field(default_factory=tuple)


def _find(names: set[str], suffix: str) -> str | None:
    """The unique name equal to ``suffix`` or ending in ``.suffix`` (prefixes vary by export)."""
    if suffix in names:
        return suffix
    hits = sorted(n for n in names if n.endswith("." + suffix))
    return hits[0] if len(hits) == 1 else None


def detect_layout(ckpt: Checkpoint) -> Layout:
    names = set(ckpt.names())
    for fam in FAMILIES:
        emb = next((h for s in fam.embedding if (h := _find(names, s))), None)
        if emb is None:
            continue
        pattern = re.compile(
            r"(?:^|.*\.)" + re.escape(fam.mlp_out).replace(r"\{i\}", r"(\d+)") + "$"
        )
        indices = sorted({int(m.group(1)) for n in names if (m := pattern.match(n))})
        blocks = []
        for i in indices:
            ins = tuple(_find(names, t.format(i=i)) for t in fam.mlp_in)
            out = _find(names, fam.mlp_out.format(i=i))
            if out is None or any(x is None for x in ins):
                continue
            norm = _find(names, fam.mlp_norm.format(i=i)) if fam.mlp_norm else None
            blocks.append(Block(i, tuple(x for x in ins if x is not None), out, norm))
        if not blocks:
            continue
        unemb = next((h for s in fam.unembedding if (h := _find(names, s))), None)
        fnorm = next((h for s in fam.final_norm if (h := _find(names, s))), None)
        return Layout(fam, emb, unemb, fnorm, tuple(blocks))
    raise AccordError(
        str(ckpt.path),
        "unrecognised architecture: found no token embedding plus MLP blocks with known names",
        "supported: Llama/Mistral/Qwen (gate/up/down_proj), GPT-2, GPT-NeoX/Pythia, BERT, and"
        " Accord's tiny GPT",
    )


class ModelWeights:
    """The tensors the weight tests need, read lazily from a checkpoint and cached per block."""

    def __init__(self, ckpt: Checkpoint) -> None:
        self.ckpt = ckpt
        self.layout = detect_layout(ckpt)

    @property
    def n_blocks(self) -> int:
        return len(self.layout.blocks)

    def _matrix(self, name: str, expect_2d: bool = True) -> FloatArray:
        w = self.ckpt.tensor(name)
        if expect_2d and w.ndim != 2:
            raise AccordError(
                str(self.ckpt.path), f"tensor {name!r} has shape {w.shape}, expected a matrix", None
            )
        if self.layout.family.conv1d and expect_2d:
            w = np.ascontiguousarray(w.T)
        return w

    def embedding(self) -> FloatArray:
        return self.ckpt.tensor(self.layout.embedding)

    def output_head(self) -> FloatArray | None:
        """The untied output head with the final norm gain folded in; None when absent/tied."""
        if self.layout.unembedding is None:
            return None
        head = self.ckpt.tensor(self.layout.unembedding)
        if head.ndim != 2 or head.shape[1] != self.residual_width():
            return None
        if self.layout.final_norm is not None:
            g = self.ckpt.tensor(self.layout.final_norm)
            if g.shape == (head.shape[1],):
                head = head * g[None, :]
        return head

    def token_matrices(self) -> list[str]:
        """ "embedding", plus "head" when an untied output head fits (checked on the header)."""
        kinds = ["embedding"]
        name = self.layout.unembedding
        if name is not None:
            shape = self.ckpt.shape(name)
            if len(shape) == 2 and shape == (self.vocab_size(), self.residual_width()):
                kinds.append("head")
        return kinds

    def token_rows(self, kind: str, start: int, stop: int) -> FloatArray:
        """Rows ``start:stop`` of the embedding or of the head (final norm gain folded in)."""
        if kind == "embedding":
            return self.ckpt.rows(self.layout.embedding, start, stop)
        assert self.layout.unembedding is not None
        head = self.ckpt.rows(self.layout.unembedding, start, stop)
        if self.layout.final_norm is not None:
            g = self.ckpt.tensor(self.layout.final_norm)
            if g.shape == (head.shape[1],):
                head = head * g[None, :]
        return head

    def token_rows_at(self, kind: str, ids: npt.NDArray[np.int64]) -> FloatArray:
        """The rows of the given token ids, in that order (one small read per id)."""
        d = self.residual_width()
        out = np.empty((len(ids), d), dtype=np.float32)
        for k, i in enumerate(ids):
            out[k] = self.token_rows(kind, int(i), int(i) + 1)[0]
        return out

    def mlp_in(self, b: int) -> list[FloatArray]:
        """Input matrices (d_ff, d) with hidden units as rows (gate then up for gated MLPs),
        the norm gain folded into the columns."""
        block = self.layout.blocks[b]
        mats = [self._matrix(n) for n in block.mlp_in]
        d = self.residual_width()
        for name, m in zip(block.mlp_in, mats, strict=True):
            if m.shape[1] != d or m.shape[0] != mats[0].shape[0]:
                raise AccordError(
                    str(self.ckpt.path),
                    f"{name!r} has shape {m.shape}, which does not fit residual width {d}",
                    "the file's MLP matrices do not fit its embedding: is it corrupted?",
                )
        if block.mlp_norm is not None:
            g = self.ckpt.tensor(block.mlp_norm)
            if g.shape == (d,):
                mats = [m * g[None, :] for m in mats]
        return mats

    def mlp_out(self, b: int) -> FloatArray:
        """(d_ff, d): hidden units as rows (the transpose of the output projection)."""
        block = self.layout.blocks[b]
        w = self._matrix(block.mlp_out)
        out: FloatArray = np.ascontiguousarray(w.T)
        if out.shape[1] != self.residual_width():
            raise AccordError(
                str(self.ckpt.path),
                f"{block.mlp_out!r} has shape {w.shape}, which does not fit residual width"
                f" {self.residual_width()}",
                None,
            )
        return out

    def units_declared(self, b: int) -> int:
        """Hidden units of block ``b`` as declared in the file header (nothing is read)."""
        shape = self.ckpt.shape(self.layout.blocks[b].mlp_in[0])
        if len(shape) != 2:
            return 0
        return shape[1] if self.layout.family.conv1d else shape[0]

    def residual_width(self) -> int:
        return self.ckpt.shape(self.layout.embedding)[1]

    def vocab_size(self) -> int:
        return self.ckpt.shape(self.layout.embedding)[0]
