"""Tensor-name layouts of real model families: Llama (gated MLP), GPT-2 (Conv1D), BERT."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.errors import AccordError
from accord.verify.provenance.api import compare_weights
from accord.verify.provenance.checkpoint import Checkpoint
from accord.verify.provenance.layout import ModelWeights
from accord.verify.provenance.safetensors_io import write_safetensors

D, FF, V, L = 32, 64, 50, 2


def llama(rng: np.random.Generator) -> dict[str, np.ndarray]:
    t = {
        "model.embed_tokens.weight": rng.normal(size=(V, D)),
        "lm_head.weight": rng.normal(size=(V, D)),
        "model.norm.weight": np.ones(D),
    }
    for i in range(L):
        p = f"model.layers.{i}."
        t[p + "post_attention_layernorm.weight"] = rng.uniform(0.5, 1.5, size=D)
        t[p + "mlp.gate_proj.weight"] = rng.normal(size=(FF, D))
        t[p + "mlp.up_proj.weight"] = rng.normal(size=(FF, D))
        t[p + "mlp.down_proj.weight"] = rng.normal(size=(D, FF))
    return {k: v.astype(np.float32) for k, v in t.items()}


def permute_llama(t: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    r = rng.permutation(D)
    out = {k: v.copy() for k, v in t.items()}
    out["model.embed_tokens.weight"] = t["model.embed_tokens.weight"][:, r]
    out["lm_head.weight"] = t["lm_head.weight"][:, r]
    out["model.norm.weight"] = t["model.norm.weight"][r]
    for i in range(L):
        p = f"model.layers.{i}."
        u = rng.permutation(FF)
        out[p + "post_attention_layernorm.weight"] = t[p + "post_attention_layernorm.weight"][r]
        out[p + "mlp.gate_proj.weight"] = t[p + "mlp.gate_proj.weight"][u][:, r]
        out[p + "mlp.up_proj.weight"] = t[p + "mlp.up_proj.weight"][u][:, r]
        out[p + "mlp.down_proj.weight"] = t[p + "mlp.down_proj.weight"][r][:, u]
    return out


def test_llama_gated_mlp_with_norm_gain_folding(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    base = llama(rng)
    child = permute_llama(base, rng)
    # move scale between the norm gain and the MLP inputs: invisible after folding
    for i in range(L):
        p = f"model.layers.{i}."
        s = rng.uniform(0.2, 5.0, size=D).astype(np.float32)
        child[p + "post_attention_layernorm.weight"] *= s
        for k in ("gate_proj", "up_proj"):
            child[p + f"mlp.{k}.weight"] /= s[None, :]
    write_safetensors(tmp_path / "p.safetensors", base)
    write_safetensors(tmp_path / "c.safetensors", child)
    write_safetensors(tmp_path / "o.safetensors", llama(rng))
    with Checkpoint(tmp_path / "p.safetensors") as ck:
        m = ModelWeights(ck)
        assert m.layout.family.name == "llama" and len(m.mlp_in(0)) == 2
    derived = compare_weights(tmp_path / "c.safetensors", tmp_path / "p.safetensors")
    assert derived.p_value is not None and derived.p_value < 1e-10
    assert derived.statistic["huref_invariant_cosine"] > 0.99
    other = compare_weights(tmp_path / "o.safetensors", tmp_path / "p.safetensors")
    assert other.p_value is not None and other.p_value > 1e-3


def test_gpt2_conv1d_weights_are_transposed(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    t = {"transformer.wte.weight": rng.normal(size=(V, D)).astype(np.float32)}
    for i in range(L):
        t[f"transformer.h.{i}.mlp.c_fc.weight"] = rng.normal(size=(D, FF)).astype(np.float32)
        t[f"transformer.h.{i}.mlp.c_proj.weight"] = rng.normal(size=(FF, D)).astype(np.float32)
    write_safetensors(tmp_path / "g.safetensors", t)
    with Checkpoint(tmp_path / "g.safetensors") as ck:
        m = ModelWeights(ck)
        assert m.layout.family.name == "gpt2"
        np.testing.assert_array_equal(m.mlp_in(1)[0], t["transformer.h.1.mlp.c_fc.weight"].T)
        np.testing.assert_array_equal(m.mlp_out(1), t["transformer.h.1.mlp.c_proj.weight"])


def test_bert_names_and_post_ln_gain(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    t = {"embeddings.word_embeddings.weight": rng.normal(size=(V, D)).astype(np.float32)}
    for i in range(L):
        p = f"encoder.layer.{i}."
        t[p + "attention.output.dense.weight"] = rng.normal(size=(D, D)).astype(np.float32)
        t[p + "attention.output.LayerNorm.weight"] = np.full(D, 2.0, np.float32)
        t[p + "intermediate.dense.weight"] = rng.normal(size=(FF, D)).astype(np.float32)
        t[p + "output.dense.weight"] = rng.normal(size=(D, FF)).astype(np.float32)
    write_safetensors(tmp_path / "b.safetensors", t)
    with Checkpoint(tmp_path / "b.safetensors") as ck:
        m = ModelWeights(ck)
        assert m.layout.family.name == "bert" and m.n_blocks == L
        # the attention output projection must not be mistaken for the MLP output
        np.testing.assert_array_equal(m.mlp_out(0), t["encoder.layer.0.output.dense.weight"].T)
        np.testing.assert_allclose(
            m.mlp_in(0)[0], 2.0 * t["encoder.layer.0.intermediate.dense.weight"]
        )


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.text(max_size=80),
        st.dictionaries(
            st.sampled_from(["d_model", "n_layer", "n_head", "d_ff", "ctx", "vocab", "x"]),
            st.one_of(st.integers(-3, 300), st.text(max_size=3), st.none()),
            max_size=7,
        ).map(json.dumps),
    )
)
def test_model_config_metadata_is_parsed_defensively(text: str) -> None:
    from accord.verify.provenance.tinygpt import TinyConfig

    try:
        cfg = TinyConfig.from_json(text)
    except AccordError:
        return
    assert cfg.d_model > 0 and cfg.d_model % cfg.n_head == 0
