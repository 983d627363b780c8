"""Evaluation of the sequence-level distillation test (minutes on 2 cores; not in the suite).

    python -m benchmarks.eval_provenance_sequence OUT_DIR [--bases 10] [--quick]

Two pools of independently initialised byte-level GPTs trained on the same public text (the
stdlib docstrings): one where every model has its own batch order, one where all share a
single order. Students are fresh-seed models trained only on text a pool model sampled (no
probabilities, no true bytes), at several corpus sizes. Every directed pair of pool models is a
null pair (controls: other models of the same pool); so are masked pool models (a quarter of
the MLP units zeroed, which changes the function), students of a model that is not the parent
under test, and, reported apart, same-order pairs tested against different-order controls
(controls not of the suspect's kind: outside the test's assumptions). Writes
``sequence.json`` and ``sequence.md`` to OUT_DIR.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from itertools import permutations
from pathlib import Path
from typing import Any

import numpy as np

ALPHA = 0.001  # the black-box default level
OUTSIDE = "same_order_pair_vs_diff_order_controls"
NULL_GROUPS = {
    "different data order": ("independent_diff_order",),
    "same data order": ("independent_same_order",),
    "masked / student of another": (
        "independent_masked_diff",
        "independent_masked_same",
        "student_of_other",
    ),
}
SIZES = (5_000, 20_000, 80_000, 320_000)


@dataclass(frozen=True)
class SeqSpec:
    d_model: int = 32
    n_layer: int = 2
    n_head: int = 2
    d_ff: int = 128
    ctx: int = 32
    steps: int = 400
    batch: int = 32
    corpus_bytes: int = 1_000_000
    bases: int = 10
    parents: int = 2
    sizes: tuple[int, ...] = SIZES
    prompts: int = 256
    length: int = 48
    controls: int = 5


QUICK = SeqSpec(bases=6, parents=1, steps=200, sizes=(5_000, 80_000), prompts=64)


def _train_pool(spec: SeqSpec, docs: bytes, same_order: bool, offset: int) -> dict[str, Any]:
    import torch

    from accord.verify.provenance.tinygpt import TinyConfig, TinyGPT, train

    cfg = TinyConfig(spec.d_model, spec.n_layer, spec.n_head, spec.d_ff, spec.ctx)
    tag = "same" if same_order else "diff"
    out: dict[str, Any] = {}
    for i in range(spec.bases):
        torch.manual_seed(offset + i)
        m = TinyGPT(cfg)
        train(m, docs, spec.steps, 7 if same_order else offset + i, batch=spec.batch)
        out[f"{tag}{i}"] = m
    return out


def _masked(model: Any) -> Any:
    """Zero the last quarter of every MLP's units in place (a shape-keeping prune)."""
    import torch

    from accord.verify.provenance.derive import clone

    child = clone(model)
    with torch.no_grad():
        for b in child.block_list():
            k = int(b.mlp.fc_in.weight.shape[0] * 0.75)
            b.mlp.fc_in.weight[k:] = 0.0
            b.mlp.fc_in.bias[k:] = 0.0
            b.mlp.fc_out.weight[:, k:] = 0.0
    return child


def run(spec: SeqSpec, say: Any = print, dump: Path | None = None) -> dict[str, Any]:
    import torch

    from accord.verify.provenance import derive
    from accord.verify.provenance.blackbox import default_prompts
    from accord.verify.provenance.corpus import stdlib_text
    from accord.verify.provenance.sequence import sample, score_text, sequence_test
    from accord.verify.provenance.tinygpt import eval_loss

    torch.set_num_threads(1)
    docs = stdlib_text("docs", spec.corpus_bytes)
    t0 = time.perf_counter()
    pools = {
        "diff": _train_pool(spec, docs, False, 0),
        "same": _train_pool(spec, docs, True, 1000),
    }
    train_s = time.perf_counter() - t0
    say(f"pools trained in {train_s:.0f} s")
    models: dict[str, Any] = {k: v for pool in pools.values() for k, v in pool.items()}
    meta: dict[str, dict[str, Any]] = {k: {"kind": "base"} for k in models}
    t0 = time.perf_counter()
    for pool in pools.values():
        names = list(pool)
        for j in range(spec.parents):
            for n in spec.sizes:
                name = f"{names[j]}-seq{n // 1000}k"
                models[name] = derive.distil_sequences(
                    pool[names[j]], docs, n, spec.steps, 5000 + 7 * j + n
                )
                meta[name] = {"kind": "sequence_student", "teacher": names[j], "bytes": n}
        # a student of the last pool model: a null for every other parent
        other = names[-1]
        name = f"{other}-seq{spec.sizes[-1] // 1000}k"
        models[name] = derive.distil_sequences(pool[other], docs, spec.sizes[-1], spec.steps, 77)
        meta[name] = {"kind": "student_of_other", "teacher": other, "bytes": spec.sizes[-1]}
        name = f"{names[0]}-hard"
        models[name] = derive.distil(pool[names[0]], docs, spec.steps, 91, hard_labels=True)
        meta[name] = {"kind": "top1_student", "teacher": names[0]}
        for k in names[spec.parents : spec.parents + 3]:
            models[f"{k}-masked"] = _masked(pool[k])
            meta[f"{k}-masked"] = {"kind": "masked", "of": k}
    students_s = time.perf_counter() - t0
    say(f"students and variants in {students_s:.0f} s")
    losses = {k: round(eval_loss(m, docs), 3) for k, m in models.items()}
    prompts = default_prompts(spec.prompts)
    t0 = time.perf_counter()
    gen = {k: sample(k, m, prompts, spec.length, 1 + i) for i, (k, m) in enumerate(models.items())}
    sample_s = time.perf_counter() - t0
    diff, same = list(pools["diff"]), list(pools["same"])
    mixed = same[:4]  # same-order pairs tested against different-order controls

    def scorers_for(name: str) -> list[str]:
        home = same if name.startswith("same") else diff
        if name in diff:
            return home + mixed
        if name in mixed:
            return home + diff
        return home

    t0 = time.perf_counter()
    texts = {
        g: score_text({m: models[m] for m in scorers_for(g)}, s, chunk=1024) for g, s in gen.items()
    }
    score_s = time.perf_counter() - t0
    if dump is not None:  # every text's scores: other tests can be tried on them offline
        import pickle

        dump.write_bytes(pickle.dumps({"texts": texts, "meta": meta, "losses": losses}))
    cells = sum(len(t.observed) for t in texts.values())
    say(f"sampled in {sample_s:.0f} s, scored in {score_s:.0f} s ({cells} cells)")
    rng = np.random.default_rng(0)
    rows: list[dict[str, Any]] = []

    def test(suspect: str, parent: str, eligible: list[str], kind: str, derived: bool) -> None:
        t1 = time.perf_counter()
        row: dict[str, Any] = {"suspect": suspect, "parent": parent, "kind": kind}
        row["derived"] = derived
        pick = [str(c) for c in rng.permutation(eligible)]
        for k in (spec.controls, spec.controls + 2):
            r = sequence_test(texts, suspect, parent, pick[:k])
            row[f"p_k{k}"] = r.p_value
            row[f"rank_p_k{k}"] = r.details["p_rank_among_independent_pairs"]
            row[f"u_k{k}"] = r.statistic
            row[f"outside_k{k}"] = bool(r.details["outside_support"])
        row["seconds"] = time.perf_counter() - t1
        row.update({k: v for k, v in meta[suspect].items() if k != "kind"})
        rows.append(row)

    for tag, pool in pools.items():
        names = list(pool)
        for t, s in permutations(names, 2):
            rest = [c for c in names if c not in (t, s)]
            test(s, t, rest, f"independent_{tag}_order", False)
        for name, m in meta.items():
            teacher = m.get("teacher")
            if teacher not in pool:
                continue
            if m["kind"] in ("sequence_student", "top1_student"):
                rest = [c for c in names if c != teacher]
                test(name, teacher, rest, m["kind"], True)
            elif m["kind"] == "student_of_other":
                for parent in names[: spec.parents]:
                    rest = [c for c in names if c not in (teacher, parent)]
                    test(name, parent, rest, "student_of_other", False)
        for name, m in meta.items():
            if m["kind"] == "masked" and m["of"] in pool:
                for parent in names[: spec.parents]:
                    rest = [c for c in names if c not in (m["of"], parent)]
                    test(name, parent, rest, f"independent_masked_{tag}", False)
    for t, s in permutations(mixed, 2):
        test(s, t, diff, OUTSIDE, False)
    return {
        "spec": asdict(spec),
        "rows": rows,
        "losses": losses,
        "seconds": {
            "train_pools": round(train_s, 1),
            "students": round(students_s, 1),
            "sample": round(sample_s, 1),
            "score": round(score_s, 1),
            "models": len(models),
            "cells": cells,
        },
    }


def markdown(res: dict[str, Any], alpha: float = ALPHA) -> str:
    spec = res["spec"]
    rows = res["rows"]
    k = spec["controls"]
    ks = sorted({int(key[3:]) for key in rows[0] if key.startswith("p_k")})
    lines = [
        f"Level alpha = {alpha}; p from the Student-t prediction against the pool's"
        f" independent pairs, with {' and '.join(map(str, ks))} controls per test. A cell"
        " reads accused / referred: p < alpha on text within the null's support, and p <"
        " alpha on text outside it (which alone decides nothing: inconclusive).\n",
        "| pair kind | derived? | pairs | "
        + " | ".join(f"p < {alpha} ({c} controls)" for c in ks)
        + f" | outside support ({k}) | smallest p ({k}) | median p ({k}) |",
        "|---|---|---|" + "---|" * (len(ks) + 3),
    ]

    def hits(rs: list[dict[str, Any]], c: int, outside: bool) -> int:
        return sum(r[f"p_k{c}"] < alpha and r.get(f"outside_k{c}", False) == outside for r in rs)

    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        key = r["kind"] + (f" {r['bytes'] // 1000} kB" if r["kind"] == "sequence_student" else "")
        groups.setdefault(key, []).append(r)

    def order(key: str) -> tuple[int, int, str]:
        rs = groups[key]
        size = rs[0].get("bytes", 0) if rs[0]["kind"] == "sequence_student" else 0
        return (int(rs[0]["derived"]), int(size), key)

    for key in sorted(groups, key=order):
        rs = groups[key]
        ps = [r[f"p_k{k}"] for r in rs]
        counts = " | ".join(f"{hits(rs, c, False)} / {hits(rs, c, True)}" for c in ks)
        out = sum(r.get(f"outside_k{k}", False) for r in rs)
        lines.append(
            f"| {key} | {'yes' if rs[0]['derived'] else 'no'} | {len(rs)} | {counts}"
            f" | {out} | {min(ps):.2g} | {float(np.median(ps)):.2g} |"
        )
    null = [r for r in rows if not r["derived"] and r["kind"] != OUTSIDE]
    accused = ", ".join(
        f"{hits(null, c, False)} with {c} ({hits(null, c, True)} referred)" for c in ks
    )
    lines.append(
        f"\nIndependent pairs within the test's assumptions: {len(null)}, accused at {alpha}:"
        f" {accused} controls."
    )
    for label, kinds in NULL_GROUPS.items():
        ps = [r[f"p_k{k}"] for r in rows if r["kind"] in kinds]
        if len(ps) >= 5:
            from scipy.stats import kstest

            lines.append(
                f"KS of null p-values vs U(0,1), {label}: p = {kstest(ps, 'uniform').pvalue:.2g}"
                f" ({len(ps)} pairs)."
            )
    s = res["seconds"]
    lines.append(
        f"\nCost: {s['models']} models; training the two pools {s['train_pools']} s, students"
        f" {s['students']} s; sampling {s['sample']} s; scoring {s['cells']} cells"
        f" {s['score']} s."
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--bases", type=int, default=10)
    ap.add_argument("--summarise-only", action="store_true")
    args = ap.parse_args(argv)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    path = args.out_dir / "sequence.json"
    if args.summarise_only:
        res = json.loads(path.read_text())
    else:
        from dataclasses import replace

        spec = QUICK if args.quick else replace(SeqSpec(), bases=args.bases)
        res = run(spec, dump=args.out_dir / "texts.pkl")
        path.write_text(json.dumps(res, indent=1))
    md = markdown(res)
    (args.out_dir / "sequence.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
