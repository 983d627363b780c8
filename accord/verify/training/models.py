"""The three small architectures a transcript may declare (MLP, CNN, transformer)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, in_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(int(in_dim), int(hidden))
        self.fc2 = nn.Linear(int(hidden), int(hidden))
        self.fc3 = nn.Linear(int(hidden), int(out_dim))

    def forward(self, x: Any) -> Any:
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


class SmallCNN(nn.Module):
    def __init__(self, channels: int, out_dim: int) -> None:
        super().__init__()
        c = int(channels)
        self.conv1 = nn.Conv2d(1, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, 2 * c, 3, padding=1)
        self.fc = nn.Linear(2 * c * 4 * 4, int(out_dim))

    def forward(self, x: Any) -> Any:
        h = torch.relu(self.conv1(x))
        h = torch.nn.functional.avg_pool2d(torch.relu(self.conv2(h)), 2)
        return self.fc(h.flatten(1))


class TinyTransformer(nn.Module):
    """One pre-norm decoder block with dropout, so replay must restore the RNG state."""

    def __init__(self, vocab: int, dim: int, heads: int, context: int) -> None:
        super().__init__()
        v, d, self.heads, self.context = int(vocab), int(dim), int(heads), int(context)
        self.tok = nn.Embedding(v, d)
        self.pos = nn.Embedding(self.context, d)
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.ff1 = nn.Linear(d, 4 * d)
        self.ff2 = nn.Linear(4 * d, d)
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, v)
        self.drop = nn.Dropout(0.1)

    def forward(self, idx: Any) -> Any:
        b, t = idx.shape
        h = self.tok(idx) + self.pos(torch.arange(t))
        q, k, v = self.qkv(self.ln1(h)).split(h.shape[-1], dim=-1)
        hd = h.shape[-1] // self.heads
        q, k, v = (z.view(b, t, self.heads, hd).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / hd**0.5
        mask = torch.ones(t, t, dtype=torch.bool).triu(1)
        att = self.drop(att.masked_fill(mask, float("-inf")).softmax(-1))
        y = (att @ v).transpose(1, 2).reshape(b, t, -1)
        h = h + self.drop(self.proj(y))
        h = h + self.drop(self.ff2(torch.relu(self.ff1(self.ln2(h)))))
        return self.head(self.ln_f(h))
