"""Seconds per model pair for the weight tests at ~100M parameters (measured, not asserted).

    python -m benchmarks.bench_provenance [--scale 1.0] [--keep DIR]

Writes three ~110M-parameter safetensors files (12 blocks, d=768, d_ff=3072, vocab 16k, with
attention weights so the files are realistic even though the MLP tests skip them) to a temp
dir: a parent, a derived suspect (noised, then residual- and unit-permuted) and an independent
model. Then times, side by side in one run:

* baseline: streaming every tensor the tests read (pure I/O + decode);
* the robust test (scipy LAP, and the greedy fallback), the constrained test, and the full
  ``compare_weights`` (both tests, HuRef score, SHA-256 of both files);

and prints ratios against the baseline.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from accord.verify.provenance.api import compare_weights
from accord.verify.provenance.checkpoint import Checkpoint
from accord.verify.provenance.layout import ModelWeights
from accord.verify.provenance.safetensors_io import write_safetensors
from accord.verify.provenance.whitebox import constrained_test, robust_test


def make_parent(
    rng: np.random.Generator, d: int, d_ff: int, layers: int, vocab: int
) -> dict[str, np.ndarray]:
    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(size=shape, dtype=np.float32) * 0.02).astype(np.float32)

    t = {
        "tok_emb.weight": w(vocab, d),
        "pos_emb": w(1024, d),
        "lm_head.weight": w(vocab, d),
        "ln_f.weight": np.ones(d, np.float32),
        "ln_f.bias": np.zeros(d, np.float32),
    }
    for i in range(layers):
        p = f"blocks.{i}."
        t.update(
            {
                p + "ln1.weight": np.ones(d, np.float32),
                p + "ln1.bias": np.zeros(d, np.float32),
                p + "attn.qkv.weight": w(3 * d, d),
                p + "attn.qkv.bias": np.zeros(3 * d, np.float32),
                p + "attn.proj.weight": w(d, d),
                p + "attn.proj.bias": np.zeros(d, np.float32),
                p + "ln2.weight": np.ones(d, np.float32),
                p + "ln2.bias": np.zeros(d, np.float32),
                p + "mlp.fc_in.weight": w(d_ff, d),
                p + "mlp.fc_in.bias": np.zeros(d_ff, np.float32),
                p + "mlp.fc_out.weight": w(d, d_ff),
                p + "mlp.fc_out.bias": np.zeros(d, np.float32),
            }
        )
    return t


def derived_copy(t: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Noise at 50% of each tensor's std (a heavy fine-tune stand-in), then permute."""
    d = t["tok_emb.weight"].shape[1]
    r = rng.permutation(d)
    out = {}
    for k, v in t.items():
        noisy = v + (0.5 * float(v.std()) * rng.standard_normal(size=v.shape, dtype=np.float32))
        out[k] = noisy.astype(np.float32)
    for k in ("tok_emb.weight", "pos_emb", "lm_head.weight"):
        out[k] = out[k][:, r]
    i = 0
    while f"blocks.{i}.mlp.fc_in.weight" in out:
        p = f"blocks.{i}."
        u = rng.permutation(out[p + "mlp.fc_in.weight"].shape[0])
        out[p + "mlp.fc_in.weight"] = out[p + "mlp.fc_in.weight"][u][:, r]
        out[p + "mlp.fc_in.bias"] = out[p + "mlp.fc_in.bias"][u]
        out[p + "mlp.fc_out.weight"] = out[p + "mlp.fc_out.weight"][r][:, u]
        for k in (
            "ln1.weight",
            "ln1.bias",
            "ln2.weight",
            "ln2.bias",
            "mlp.fc_out.bias",
            "attn.proj.bias",
        ):
            out[p + k] = out[p + k][r]
        out[p + "attn.qkv.weight"] = out[p + "attn.qkv.weight"][:, r]
        out[p + "attn.proj.weight"] = out[p + "attn.proj.weight"][r]
        i += 1
    return out


def read_everything_used(a: Path, b: Path) -> float:
    total = 0.0
    for path in (a, b):
        with Checkpoint(path) as ck:
            m = ModelWeights(ck)
            total += float(m.embedding().sum())
            for blk in range(m.n_blocks):
                total += float(sum(x.sum() for x in m.mlp_in(blk))) + float(m.mlp_out(blk).sum())
    return total


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", type=float, default=1.0, help="shrink widths for a quick run")
    ap.add_argument("--keep", type=Path, default=None, help="write files here and keep them")
    args = ap.parse_args(argv)
    d = int(768 * args.scale) // 4 * 4
    d_ff, layers, vocab = 4 * d, 12, 16_000
    root = args.keep or Path(tempfile.mkdtemp(prefix="accord-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        rng = np.random.default_rng(0)
        parent = make_parent(rng, d, d_ff, layers, vocab)
        n_params = sum(v.size for v in parent.values())
        paths = {
            "parent": root / "parent.safetensors",
            "derived": root / "derived.safetensors",
            "independent": root / "independent.safetensors",
        }
        write_safetensors(paths["parent"], parent)
        write_safetensors(paths["derived"], derived_copy(parent, rng))
        del parent
        write_safetensors(
            paths["independent"], make_parent(np.random.default_rng(1), d, d_ff, layers, vocab)
        )
        print(
            f"{n_params / 1e6:.1f}M parameters per model,"
            f" {os.path.getsize(paths['parent']) / 2**20:.0f} MiB per file;"
            f" {os.cpu_count()} cores visible"
        )
        rows = []
        for label in ("derived", "independent"):
            a, b = paths[label], paths["parent"]
            base_s, _ = timed(lambda a=a, b=b: read_everything_used(a, b))

            def run(
                test: Callable[..., object], exact: bool | None, a: Path = a, b: Path = b
            ) -> object:
                with Checkpoint(a) as ca, Checkpoint(b) as cb:
                    return test(ModelWeights(cb), ModelWeights(ca), exact)

            cases = [
                ("robust (scipy LAP)", lambda: run(robust_test, True)),
                ("robust (greedy)", lambda: run(robust_test, False)),
                ("constrained (scipy LAP)", lambda: run(constrained_test, True)),
                (
                    "compare_weights (both + HuRef + SHA-256)",
                    lambda a=a, b=b: compare_weights(a, b),
                ),
            ]
            rows.append((label, "baseline: stream the tensors used", base_s, None))
            for name, fn in cases:
                secs, res = timed(fn)
                p = getattr(res, "p_value", None)
                rows.append((label, name, secs, p))
        print(f"\n{'pair':12s} {'what':45s} {'seconds':>9s} {'x baseline':>10s} {'p-value':>10s}")
        base = {}
        for label, name, secs, p in rows:
            if p is None and name.startswith("baseline"):
                base[label] = secs
            ratio = secs / base[label]
            ptxt = "" if p is None else f"{p:.3g}"
            print(f"{label:12s} {name:45s} {secs:9.2f} {ratio:10.1f} {ptxt:>10s}")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
