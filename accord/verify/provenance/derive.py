"""Ways to hide where a model came from: the derivations the provenance tests must see through.

Each function returns a new :class:`TinyGPT`; the parent is left untouched. ``permute`` and
``rescale`` are exact symmetries (the function is unchanged, checked in the tests); the others
change the function the way real model laundering does.
"""

from __future__ import annotations

import copy

import torch

from accord.verify.provenance.tinygpt import TinyConfig, TinyGPT, train


def clone(model: TinyGPT) -> TinyGPT:
    return copy.deepcopy(model)


def finetune(model: TinyGPT, text: bytes, steps: int, seed: int, lr: float = 1e-3) -> TinyGPT:
    child = clone(model)
    train(child, text, steps, seed, lr=lr)
    return child


@torch.no_grad()
def prune_magnitude(model: TinyGPT, fraction: float) -> TinyGPT:
    """Zero the smallest-magnitude ``fraction`` of every weight matrix inside the blocks."""
    child = clone(model)
    for name, p in child.named_parameters():
        if name.startswith("blocks.") and p.ndim == 2:
            k = int(fraction * p.numel())
            if k > 0:
                threshold = p.abs().flatten().kthvalue(k).values
                p[p.abs() <= threshold] = 0.0
    return child


@torch.no_grad()
def quantise_int8(model: TinyGPT) -> TinyGPT:
    """Symmetric per-row int8 round trip of every matrix (what a Q8 export does to weights)."""
    child = clone(model)
    for p in child.parameters():
        if p.ndim == 2:
            scale = p.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127.0
            p.copy_(torch.round(p / scale).clamp(-127, 127) * scale)
    return child


@torch.no_grad()
def merge(a: TinyGPT, b: TinyGPT, weight: float = 0.5) -> TinyGPT:
    """Linear weight average (a "model soup"); shapes must agree."""
    child = clone(a)
    sb = b.state_dict()
    for name, p in child.state_dict().items():
        p.copy_(weight * p + (1.0 - weight) * sb[name])
    return child


@torch.no_grad()
def permute(model: TinyGPT, seed: int) -> TinyGPT:
    """Function-preserving re-labelling: residual coordinates, heads, head dims, MLP units."""
    child = clone(model)
    g = torch.Generator().manual_seed(seed)
    d = child.cfg.d_model
    h = child.cfg.n_head
    hd = d // h
    r = torch.randperm(d, generator=g)  # new coord i holds old coord r[i]
    child.tok_emb.weight.copy_(child.tok_emb.weight[:, r])
    child.pos_emb.copy_(child.pos_emb[:, r])
    child.lm_head.weight.copy_(child.lm_head.weight[:, r])
    for ln in [child.ln_f] + [m for blk in child.block_list() for m in (blk.ln1, blk.ln2)]:
        ln.weight.copy_(ln.weight[r])
        ln.bias.copy_(ln.bias[r])
    for blk in child.block_list():
        attn, mlp = blk.attn, blk.mlp
        # attention: permute heads, and dims within heads (q,k share one, v its own)
        heads = torch.randperm(h, generator=g)
        qk_dims = torch.randperm(hd, generator=g)
        v_dims = torch.randperm(hd, generator=g)
        qk_idx = torch.cat([heads[i] * hd + qk_dims for i in range(h)])
        v_idx = torch.cat([heads[i] * hd + v_dims for i in range(h)])
        rows = torch.cat([qk_idx, d + qk_idx, 2 * d + v_idx])
        attn.qkv.weight.copy_(attn.qkv.weight[rows][:, r])
        attn.qkv.bias.copy_(attn.qkv.bias[rows])
        attn.proj.weight.copy_(attn.proj.weight[r][:, v_idx])
        attn.proj.bias.copy_(attn.proj.bias[r])
        u = torch.randperm(mlp.fc_in.weight.shape[0], generator=g)
        mlp.fc_in.weight.copy_(mlp.fc_in.weight[u][:, r])
        mlp.fc_in.bias.copy_(mlp.fc_in.bias[u])
        mlp.fc_out.weight.copy_(mlp.fc_out.weight[r][:, u])
        mlp.fc_out.bias.copy_(mlp.fc_out.bias[r])
    return child


@torch.no_grad()
def relabel_vocab(model: TinyGPT, seed: int) -> tuple[TinyGPT, torch.Tensor]:
    """Function-preserving token-id relabelling: new id j is old id ``sigma[j]``.

    Embedding and output-head rows move together, so with the tokenizer relabelled the same
    way the model computes exactly what the parent did: ``child(x)[..., j] ==
    parent(sigma[x])[..., sigma[j]]``. Returns the child and ``sigma``.
    """
    child = clone(model)
    g = torch.Generator().manual_seed(seed)
    sigma = torch.randperm(child.cfg.vocab, generator=g)
    child.tok_emb.weight.copy_(child.tok_emb.weight[sigma])
    child.lm_head.weight.copy_(child.lm_head.weight[sigma])
    return child, sigma


@torch.no_grad()
def rescale(model: TinyGPT, seed: int) -> TinyGPT:
    """Function-preserving rescaling: MLP units (ReLU homogeneity) and LayerNorm gains."""
    child = clone(model)
    g = torch.Generator().manual_seed(seed)
    for blk in child.block_list():
        mlp, ln2 = blk.mlp, blk.ln2
        c = torch.exp(torch.randn(mlp.fc_in.weight.shape[0], generator=g))
        mlp.fc_in.weight.mul_(c[:, None])
        mlp.fc_in.bias.mul_(c)
        mlp.fc_out.weight.div_(c[None, :])
        s = torch.exp(0.5 * torch.randn(ln2.weight.shape[0], generator=g))
        ln2.weight.mul_(s)
        ln2.bias.mul_(s)
        mlp.fc_in.weight.div_(s[None, :])
    return child


@torch.no_grad()
def prune_units(model: TinyGPT, keep_fraction: float) -> TinyGPT:
    """Structured width pruning: keep the MLP units with the largest weight norms."""
    widths = []
    keeps = []
    for blk in model.block_list():
        mlp = blk.mlp
        score = mlp.fc_in.weight.norm(dim=1) * mlp.fc_out.weight.norm(dim=0)
        k = max(1, int(keep_fraction * len(score)))
        keep = torch.sort(torch.topk(score, k).indices).values
        keeps.append(keep)
        widths.append(k)
    child = TinyGPT(model.cfg, widths)
    sd = model.state_dict()
    new = child.state_dict()
    for name in new:
        src = sd[name]
        parts = name.split(".")
        if parts[0] == "blocks" and parts[2] == "mlp":
            keep = keeps[int(parts[1])]
            if parts[3] == "fc_in":
                src = src[keep]
            elif parts[3] == "fc_out" and parts[4] == "weight":
                src = src[:, keep]
        new[name].copy_(src)
    return child


@torch.no_grad()
def drop_blocks(model: TinyGPT, keep: list[int]) -> TinyGPT:
    """Depth pruning: keep only the listed blocks (as MiniLM-L6 was cut from a deeper model)."""
    widths = [model.mlp_widths()[i] for i in keep]
    cfg = TinyConfig(**{**model.cfg.__dict__, "n_layer": len(keep), "layers_kept": tuple(keep)})
    child = TinyGPT(cfg, widths)
    for new_i, old_i in enumerate(keep):
        child.blocks[new_i].load_state_dict(model.blocks[old_i].state_dict())
    for name in ("tok_emb", "ln_f", "lm_head"):
        getattr(child, name).load_state_dict(getattr(model, name).state_dict())
    child.pos_emb.copy_(model.pos_emb)
    return child


def distil(
    teacher: TinyGPT, text: bytes, steps: int, seed: int, hard_labels: bool = False
) -> TinyGPT:
    """A fresh-seed student trained only on the teacher's outputs."""
    torch.manual_seed(seed)
    student = TinyGPT(teacher.cfg)
    train(student, text, steps, seed, teacher=teacher, hard_labels=hard_labels)
    return student


def teacher_corpus(
    teacher: TinyGPT, public: bytes, n_bytes: int, seed: int, length: int = 96, prompt: int = 32
) -> bytes:
    """``n_bytes`` of text the teacher wrote, as an API user would collect it: public prompts
    (windows of ``public``), the teacher's sampled continuations kept, the prompts dropped."""
    import numpy as np

    from accord.verify.provenance.sequence import sample

    rng = np.random.default_rng(seed)
    count = max(1, -(-n_bytes // length))
    starts = rng.integers(0, len(public) - prompt, size=count)
    prompts = [public[int(s) : int(s) + prompt] for s in starts]
    out = sample("teacher", teacher, prompts, length, seed)
    return b"\n".join(out.texts)[:n_bytes]


def distil_sequences(
    teacher: TinyGPT, public: bytes, n_bytes: int, steps: int, seed: int
) -> TinyGPT:
    """A fresh-seed student trained only on ``n_bytes`` of the teacher's sampled text
    (sequence-level distillation: no probabilities, no true next bytes)."""
    corpus = teacher_corpus(teacher, public, n_bytes, seed)
    torch.manual_seed(seed)
    student = TinyGPT(teacher.cfg)
    train(student, corpus, steps, seed)
    return student
