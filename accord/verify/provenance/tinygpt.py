"""A small byte-level GPT, trained on CPU, used to build the provenance model zoo.

Pre-LayerNorm blocks with a ReLU MLP: ReLU is positively homogeneous, so scaling a hidden
unit's input weights by c and its output weights by 1/c leaves the function unchanged; this
gives the zoo an exact "rescaled" evasion to test against. Requires torch (extra ``torch``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from accord.errors import AccordError
from accord.verify.provenance.checkpoint import Checkpoint
from accord.verify.provenance.safetensors_io import write_safetensors

VOCAB = 256
CONFIG_KEY = "accord_tinygpt"


@dataclass(frozen=True)
class TinyConfig:
    d_model: int = 64
    n_layer: int = 2
    n_head: int = 4
    d_ff: int = 256
    ctx: int = 64
    vocab: int = VOCAB
    layers_kept: tuple[int, ...] | None = None  # set by depth pruning, for the record

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @staticmethod
    def from_json(text: str) -> TinyConfig:
        """Parse untrusted metadata; sizes are checked before any tensor is allocated."""
        try:
            raw = json.loads(text)
        except ValueError as err:
            raise AccordError(CONFIG_KEY, f"model config is not JSON ({err})", None) from None
        if not isinstance(raw, dict):
            raise AccordError(CONFIG_KEY, "model config is not a JSON object", None)
        sizes = ("d_model", "n_layer", "n_head", "d_ff", "ctx", "vocab")
        for key in sizes:
            value = raw.get(key)
            if key in raw and (
                not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= 1 << 16
            ):
                raise AccordError(CONFIG_KEY, f"{key} must be an integer in 1..65536", None)
        kept = raw.get("layers_kept")
        if kept is not None:
            if not isinstance(kept, list) or not all(
                isinstance(i, int) and not isinstance(i, bool) for i in kept
            ):
                raise AccordError(CONFIG_KEY, "layers_kept must be a list of integers", None)
            raw["layers_kept"] = tuple(kept)
        unknown = set(raw) - {*sizes, "layers_kept"}
        if unknown:
            raise AccordError(CONFIG_KEY, f"unknown config keys {sorted(unknown)}", None)
        cfg = TinyConfig(**raw)
        if cfg.d_model % cfg.n_head:
            raise AccordError(CONFIG_KEY, "d_model must be divisible by n_head", None)
        if cfg.vocab < 256:
            raise AccordError(CONFIG_KEY, "byte-level models need vocab >= 256", None)
        return cfg


class Attention(nn.Module):
    def __init__(self, cfg: TinyConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        shape = (b, t, self.n_head, d // self.n_head)
        q, k, v = (z.view(shape).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        out: torch.Tensor = self.proj(y.transpose(1, 2).reshape(b, t, d))
        return out


class Mlp(nn.Module):
    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.fc_in = nn.Linear(d_model, d_ff)
        self.fc_out = nn.Linear(d_ff, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc_out(F.relu(self.fc_in(x)))
        return out


class Block(nn.Module):
    def __init__(self, cfg: TinyConfig, d_ff: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = Attention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = Mlp(cfg.d_model, d_ff)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        out: torch.Tensor = x + self.mlp(self.ln2(x))
        return out


class TinyGPT(nn.Module):
    def __init__(self, cfg: TinyConfig, d_ffs: Sequence[int] | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        widths = list(d_ffs) if d_ffs is not None else [cfg.d_ff] * cfg.n_layer
        self.tok_emb = nn.Embedding(cfg.vocab, cfg.d_model)
        self.pos_emb = nn.Parameter(torch.zeros(cfg.ctx, cfg.d_model))
        self.blocks = nn.ModuleList([Block(cfg, w) for w in widths])
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab, bias=False)
        nn.init.normal_(self.pos_emb, std=0.02)

    def block_list(self) -> list[Block]:
        """The blocks with their concrete type (ModuleList items are typed as Module)."""
        return [cast(Block, b) for b in self.blocks]

    def mlp_widths(self) -> list[int]:
        return [int(b.mlp.fc_in.weight.shape[0]) for b in self.block_list()]

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        x = self.tok_emb(idx) + self.pos_emb[:t]
        for block in self.blocks:
            x = block(x)
        out: torch.Tensor = self.lm_head(self.ln_f(x))
        return out

    @torch.no_grad()
    def next_token_logprobs(self, contexts: Sequence[bytes]) -> np.ndarray[Any, np.dtype[Any]]:
        """Log-probabilities of the next byte after each context (last ``ctx`` bytes used)."""
        self.eval()
        rows = []
        for i in range(0, len(contexts), 256):
            chunk = contexts[i : i + 256]
            length = max(1, min(self.cfg.ctx, max(len(c) for c in chunk)))
            batch = torch.zeros((len(chunk), length), dtype=torch.long)
            last = []
            for j, c in enumerate(chunk):
                tail = c[-length:] or b" "
                batch[j, : len(tail)] = torch.tensor(list(tail), dtype=torch.long)
                last.append(len(tail) - 1)
            logits = self(batch)[torch.arange(len(chunk)), torch.tensor(last)]
            rows.append(F.log_softmax(logits, dim=-1).numpy())
        return np.concatenate(rows, axis=0)


def tensors_of(model: TinyGPT) -> dict[str, np.ndarray[Any, np.dtype[np.float32]]]:
    return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()}


def save_model(model: TinyGPT, path: str | Path, extra: Mapping[str, str] | None = None) -> None:
    widths = model.mlp_widths()
    meta = {CONFIG_KEY: model.cfg.to_json(), "d_ffs": json.dumps(widths), **(extra or {})}
    write_safetensors(path, tensors_of(model), meta)


def load_model(path: str | Path) -> TinyGPT:
    """Rebuild a TinyGPT from a safetensors file written by :func:`save_model`."""
    with Checkpoint(path) as ckpt:
        raw = ckpt.metadata.get(CONFIG_KEY)
        if raw is None:
            raise AccordError(
                str(path),
                "black-box queries need a model Accord can run; this file has no"
                f" {CONFIG_KEY!r} metadata",
                "for other models, implement the QueryModel protocol around your own runtime",
            )
        cfg = TinyConfig.from_json(raw)
        try:
            widths = [int(w) for w in json.loads(ckpt.metadata.get("d_ffs", "null"))]
        except (TypeError, ValueError):
            widths = [cfg.d_ff] * cfg.n_layer
        if len(widths) != cfg.n_layer or not all(0 < w <= 1 << 16 for w in widths):
            raise AccordError(str(path), "d_ffs metadata does not fit the config", None)
        model = TinyGPT(cfg, widths)
        expected = model.state_dict()
        state = {}
        for name, ref in expected.items():
            if name not in ckpt:
                raise AccordError(str(path), f"missing tensor {name!r}", None)
            arr = ckpt.tensor(name)
            if tuple(arr.shape) != tuple(ref.shape):
                raise AccordError(
                    str(path), f"tensor {name!r} has shape {arr.shape}, expected {tuple(ref.shape)}"
                )
            state[name] = torch.from_numpy(arr)
    model.load_state_dict(state)
    model.eval()
    return model


def batches(
    text: bytes, ctx: int, batch: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    data = np.frombuffer(text, dtype=np.uint8)
    starts = rng.integers(0, len(data) - ctx - 1, size=batch)
    x = np.stack([data[s : s + ctx] for s in starts]).astype(np.int64)
    y = np.stack([data[s + 1 : s + ctx + 1] for s in starts]).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def train(
    model: TinyGPT,
    text: bytes,
    steps: int,
    seed: int,
    batch: int = 32,
    lr: float = 3e-3,
    teacher: TinyGPT | None = None,
    hard_labels: bool = False,
) -> float:
    """Train in place (next-byte loss, or distillation from ``teacher``); returns the last loss.

    With a teacher, the student never sees the true next byte: only the teacher's full
    distribution (soft, KL) or its top-1 byte (hard, what a text API leaks).
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / max(steps, 1)))
    )
    model.train()
    loss_value = float("nan")
    for _ in range(steps):
        x, y = batches(text, model.cfg.ctx, batch, rng)
        logits = model(x)
        if teacher is None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        else:
            with torch.no_grad():
                t_logits = teacher(x)
            if hard_labels:
                target = t_logits.argmax(dim=-1)
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))
            else:
                loss = (
                    F.kl_div(
                        F.log_softmax(logits, -1),
                        F.log_softmax(t_logits, -1),
                        log_target=True,
                        reduction="batchmean",
                    )
                    / x.shape[1]
                )
        opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        loss_value = float(loss.detach())
    model.eval()
    return loss_value


@torch.no_grad()
def eval_loss(model: TinyGPT, text: bytes, batches_n: int = 8, seed: int = 12345) -> float:
    rng = np.random.default_rng(seed)
    total = 0.0
    for _ in range(batches_n):
        x, y = batches(text, model.cfg.ctx, 32, rng)
        total += float(F.cross_entropy(model(x).reshape(-1, model.cfg.vocab), y.reshape(-1)))
    return total / batches_n
