"""Proof of training: recorder overhead, verifier cost and detection, honest false rejection.

1. Recorder overhead — the same training loop with and without the recorder, interleaved
   and repeated, on the three tasks (MLP, CNN, transformer); median ratio.
2. Honest runs — >= 50 honest transcripts (3 tasks, distinct init and data-order seeds),
   every segment replayed (budget 1.0), and also replayed at another thread count to
   measure reproduction noise; the noise calibrates the tolerance (calibration.json).
3. Attacks — each attack built for several attack seeds on a 1,000-step run (100
   segments of k=10) and verified with many beacons at the default 5 % budget; detection
   rate and verifier cost, beside the top-Q-only baseline (PoL's selection rule).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from accord.errors import IntegrityError
from accord.model.finding import Verdict
from accord.verify.training.attacks import ATTACKS, run_attack
from accord.verify.training.calibration import SAFETY_FACTOR, tolerance_from_noise
from accord.verify.training.loop import batch_schedule, deterministic, train_step
from accord.verify.training.recipe import parse_meta
from accord.verify.training.recorder import TranscriptRecorder
from accord.verify.training.replay import replay_segment
from accord.verify.training.runs import (
    RecipeConfig,
    RunConfig,
    record_honest_run,
    record_recipe_run,
)
from accord.verify.training.selection import select_segments, top_updates
from accord.verify.training.tasks import build_model, make_dataset
from accord.verify.training.transcript import Transcript, load_transcript
from accord.verify.training.verifier import replay_budget, scan_checkpoints, verify_training

QUICK = "--quick" in sys.argv
CALIBRATION = Path(__file__).resolve().parent.parent / "accord/verify/training/calibration.json"


OVERHEAD_MODELS = {
    # (task, model kwargs, batch size, steps): sized so a step takes milliseconds, as in real
    # training where a step is never sub-millisecond; the tiny defaults are reported too.
    "mlp-512": ("blobs", {"in_dim": 16, "hidden": 512, "out_dim": 4}, 128, 600),
    "cnn-32": ("shapes", {"channels": 32, "out_dim": 4}, 64, 400),
    "transformer": ("charlm", None, 32, 300),
    "mlp-64 (tiny)": ("blobs", None, 32, 1500),
}


def _loop(
    task: str,
    kwargs: dict[str, int | float] | None,
    batch: int,
    steps: int,
    k: int,
    out: Path | None,
) -> tuple[float, float, float, float]:
    """Train ``steps`` steps (recorder attached when ``out`` is given).

    Returns process CPU seconds, wall seconds, the recorder's own accounted seconds and
    the part of those spent on the training thread.
    """
    from accord.verify.training.loop import build_optimizer
    from accord.verify.training.manifest import ModelSpec
    from accord.verify.training.tasks import ARCHS, default_model_kwargs

    cfg = RunConfig(task=task, steps=steps, k=k, n_samples=1024, batch_size=batch)
    spec = ModelSpec.model_validate(
        {"arch": ARCHS[task], "kwargs": kwargs or default_model_kwargs(task), "init_seed": 0}
    )
    data = make_dataset(cfg.task, cfg.data_seed, cfg.n_samples)
    model = build_model(spec.arch, dict(spec.kwargs), 0)
    opt = build_optimizer(cfg.optimizer_spec(), model)
    sched = batch_schedule(cfg.n_samples, batch, steps, 0)
    with deterministic(1):
        wall, cpu = time.perf_counter(), time.process_time()
        if out is None:
            for idx in sched:
                train_step(model, opt, data, idx)
            return time.process_time() - cpu, time.perf_counter() - wall, 0.0, 0.0
        else:
            rec = TranscriptRecorder(
                out,
                model,
                opt,
                task=cfg.task_spec(),
                model_spec=spec,
                batch_size=batch,
                k=k,
                dataset=data,
            )
            for idx in sched:
                rec.record_batch(idx)
                train_step(model, opt, data, idx)
                rec.after_step()
            rec.finish()
        return (
            time.process_time() - cpu,
            time.perf_counter() - wall,
            rec.overhead_seconds(),
            rec.training_thread_seconds(),
        )


def recorder_overhead(tmp: Path) -> list[dict[str, object]]:
    """CPU time of both threads (the recorder's real cost) and wall-clock, paired runs."""
    rows: list[dict[str, object]] = []
    for label, (task, kwargs, batch, steps) in OVERHEAD_MODELS.items():
        steps = steps // (3 if QUICK else 1)
        for k in (200, 100):
            base, cpu_r, wall_r, acc_r, thread_r = [], [], [], [], []
            for rep in range(3):
                out = tmp / f"ovh_{label}_{k}_{rep}"
                if rep % 2:  # alternate which run goes first, so drift does not bias the pair
                    rc, rw, own, on_thread = _loop(task, kwargs, batch, steps, k, out)
                    bc, bw, _, _ = _loop(task, kwargs, batch, steps, k, None)
                else:
                    bc, bw, _, _ = _loop(task, kwargs, batch, steps, k, None)
                    rc, rw, own, on_thread = _loop(task, kwargs, batch, steps, k, out)
                base.append(bc)
                cpu_r.append(100 * (rc - bc) / bc)
                wall_r.append(100 * (rw - bw) / bw)
                acc_r.append(100 * own / (rc - own))
                thread_r.append(100 * on_thread / (rc - own))
            row = {
                "model": label,
                "k": k,
                "steps": steps,
                "cpu_ms_per_step": 1e3 * statistics.median(base) / steps,
                "overhead_accounted_pct_median": statistics.median(acc_r),
                "overhead_accounted_pct_max": max(acc_r),
                "overhead_training_thread_pct_median": statistics.median(thread_r),
                "overhead_training_thread_pct_max": max(thread_r),
                "overhead_cpu_pct_median": statistics.median(cpu_r),
                "overhead_wall_pct_median": statistics.median(wall_r),
                "overhead_cpu_pct_runs": [round(x, 2) for x in cpu_r],
            }
            rows.append(row)
            print(
                f"  recorder {label:14s} k={k:3d}: {row['cpu_ms_per_step']:.3f} CPU-ms/step; "
                f"recorder's own time {row['overhead_accounted_pct_median']:.2f} % of training "
                f"(max {row['overhead_accounted_pct_max']:.2f} %), of which on the training "
                f"thread {row['overhead_training_thread_pct_median']:.2f} % "
                f"(max {row['overhead_training_thread_pct_max']:.2f} %); paired difference: CPU "
                f"{row['overhead_cpu_pct_median']:+.2f} % "
                f"(runs {row['overhead_cpu_pct_runs']}), "
                f"wall {row['overhead_wall_pct_median']:+.2f} %"
            )
    return rows


def _scan(tr: Transcript) -> tuple[list[float], int]:
    """Update norms and the number of segments whose step count is contradicted."""
    scanned = scan_checkpoints(tr, lambda *_: None)
    if isinstance(scanned, IntegrityError):
        raise scanned
    norms, counts, _ = scanned
    return norms, sum(c.contradicts for c in counts)


def _int(value: object) -> int:
    assert isinstance(value, int)
    return value


def stepcount_runs(tmp: Path) -> dict[str, object]:
    """Honest runs only counted, not replayed: the step count is a verdict, so its false-alarm
    rate needs its own (larger) sample; counting costs under 1 % of training."""
    cfgs = [
        RunConfig(task="blobs", steps=1000, k=10, n_samples=512, init_seed=s, order_seed=s)
        for s in range(100, 130)
    ]
    cfgs += [
        RunConfig(task="shapes", steps=300, k=10, n_samples=512, init_seed=s, order_seed=s)
        for s in range(100, 110)
    ]
    cfgs += [
        RunConfig(task="charlm", steps=300, k=10, n_samples=512, init_seed=s, order_seed=s)
        for s in range(100, 110)
    ]
    if QUICK:
        cfgs = cfgs[::10]
    segments = contradicted = 0
    for n, cfg in enumerate(cfgs):
        out = tmp / f"count_{n}"
        record_honest_run(out, cfg)
        tr = load_transcript(out)
        _, bad = _scan(tr)
        segments += tr.manifest.n_segments
        contradicted += bad
    print(
        f"  step count on {len(cfgs)} more honest runs: {contradicted} of {segments} contradicted"
    )
    return {"runs": len(cfgs), "segments": segments, "contradicted": contradicted}


def honest_runs(tmp: Path) -> dict[str, object]:
    cfgs = [
        RunConfig(task="blobs", steps=200, k=10, n_samples=512, init_seed=s, order_seed=s)
        for s in range(34)
    ]
    cfgs += [
        RunConfig(task="shapes", steps=100, k=10, n_samples=512, init_seed=s, order_seed=s)
        for s in range(8)
    ]
    cfgs += [
        RunConfig(task="charlm", steps=100, k=20, n_samples=512, init_seed=s, order_seed=s)
        for s in range(8)
    ]
    if QUICK:
        cfgs = cfgs[::5]
    rejected, segments, noise_same, noise_cross = 0, 0, 0.0, 0.0
    counted = contradicted = 0
    per_task: dict[str, float] = {}
    for n, cfg in enumerate(cfgs):
        out = tmp / f"honest_{n}"
        head = record_honest_run(out, cfg)
        f = verify_training(out, f"beacon-{n}".encode(), expected_head=head, budget=1.0)
        rejected += f.verdict != Verdict.CONSISTENT
        segments += len(f.statistic.get("replays", []))
        counted += f.statistic["steps"] // f.statistic["k"]
        contradicted += len(f.statistic["step_count"]["segments_contradicted"])
        noise_same = max(noise_same, f.statistic.get("max_relative_distance", float("inf")))
        tr = load_transcript(out)
        data = make_dataset(cfg.task, cfg.data_seed, cfg.n_samples)
        for j in range(tr.manifest.n_segments):
            r = replay_segment(tr, data, j, threads=2)
            noise_cross = max(noise_cross, r.relative, r.optimizer_relative)
            per_task[cfg.task] = max(per_task.get(cfg.task, 0.0), r.relative, r.optimizer_relative)
    print(
        f"  honest: {len(cfgs)} runs, {segments} segments replayed, false rejections {rejected}; "
        f"max relative noise same threads {noise_same:.3g}, other thread count {noise_cross:.3g} "
        f"{ {k: f'{v:.3g}' for k, v in per_task.items()} }; step count contradicted "
        f"{contradicted} of {counted} segments"
    )
    return {
        "stepcount_segments": counted,
        "stepcount_contradicted": contradicted,
        "runs": len(cfgs),
        "segments": segments,
        "false_rejections": rejected,
        "noise_same_threads": noise_same,
        "noise_cross_threads": noise_cross,
        "noise_cross_by_task": per_task,
    }


def _outcomes(att_dir: Path, declared: str, tol: float) -> tuple[dict[int, bool] | str, float]:
    """Replay every segment once: a failed pre-replay check, or pass/fail per segment; and
    the cost of the checks every verification pays before replay (the step count)."""
    f = verify_training(
        att_dir, b"all", declared_weights_sha256=declared, tolerance=tol, budget=1.0
    )
    fixed = float(f.statistic.get("step_count", {}).get("cost_fraction", 0.0))
    if f.verdict == Verdict.INCONSISTENT and f.statistic["failed_check"] != "replay":
        return str(f.statistic["failed_check"]), fixed
    return {r["segment"]: bool(r["pass"]) for r in f.statistic["replays"]}, fixed


def attacks(tmp: Path, tolerance: float) -> list[dict[str, object]]:
    """Detection per attack over attack seeds x beacons at the default 5 % budget.

    Replay is deterministic, so each segment's outcome is computed once (all segments) and
    each beacon's verdict follows from the segments it selects; this is spot-checked against
    the full verifier for two beacons per transcript (any mismatch is printed and counted).
    """
    cfg = RunConfig(task="blobs", steps=1000, k=10, n_samples=512)
    seeds = 2 if QUICK else 4
    beacons = 20 if QUICK else 200
    rows: list[dict[str, object]] = []
    mismatches = 0
    for name in ATTACKS:
        caught = caught_topq = total = 0
        cost: list[float] = []
        build: list[float] = []
        checks: dict[str, int] = {}
        n_seeds = 1 if name.startswith("adversarial_spoof") else seeds
        if name.startswith("undeclared_extra_steps_"):
            n_seeds = 2 * seeds
        for seed in range(n_seeds):
            t = time.perf_counter()
            att = run_attack(name, tmp, cfg, seed=seed)
            build.append(time.perf_counter() - t)
            outcome, fixed = _outcomes(att.transcript, att.declared_weights_sha256, tolerance)
            tr = load_transcript(att.transcript)
            norms, _ = _scan(tr)
            for b in range(beacons):
                beacon = f"{name}-{seed}-{b}".encode()
                total += 1
                if isinstance(outcome, str):
                    caught += 1
                    checks[outcome] = checks.get(outcome, 0) + 1
                    cost.append(fixed)
                    detected = True
                else:
                    top, anom, rand = select_segments(
                        norms, tr.chain_head, beacon, replay_budget(0.05, fixed)
                    )
                    chosen = set(top) | set(anom) | set(rand)
                    detected = any(not outcome[j] for j in chosen)
                    caught += detected
                    if detected:
                        checks["replay"] = checks.get("replay", 0) + 1
                    cost.append(fixed + len(chosen) * cfg.k / cfg.steps)
                if b < 2:
                    f = verify_training(
                        att.transcript,
                        beacon,
                        declared_weights_sha256=att.declared_weights_sha256,
                        tolerance=tolerance,
                    )
                    if (f.verdict == Verdict.INCONSISTENT) != detected:
                        mismatches += 1
                        print(f"  MISMATCH {name} seed {seed} beacon {b}")
            if isinstance(outcome, str):
                caught_topq += 1
            else:
                caught_topq += any(not outcome[j] for j in top_updates(norms, 5))
        rows.append(
            {
                "attack": name,
                "transcripts": n_seeds,
                "verifications": total,
                "detection_rate": caught / total,
                "caught_by": checks,
                "verifier_cost_pct_max": 100 * max(cost),
                "topq_only_detection_rate": caught_topq / n_seeds,
                "attack_build_s": statistics.mean(build),
            }
        )
        print(
            f"  {name:36s} detected {caught}/{total} ({100 * caught / total:.1f} %) at cost "
            f"<= {100 * max(cost):.1f} % [by {checks}]; PoL top-5 only (same cost): "
            f"{caught_topq}/{n_seeds} transcripts"
        )
    print(f"  spot checks against the full verifier: {mismatches} mismatches")
    return rows


PROBE_CASES = (
    # (task, steps, k, extra steps hidden in one segment, lab evades the step count)
    ("blobs", 1000, 10, 1, False),
    ("blobs", 1000, 10, 2, False),
    ("blobs", 1000, 10, 10, False),
    ("blobs", 1000, 10, 50, False),
    ("charlm", 1000, 10, 1, False),
    ("blobs", 1000, 10, 2, True),
    ("blobs", 1000, 10, 10, True),
    ("blobs", 1000, 10, 100, True),
    ("charlm", 1000, 10, 2, True),
)


def hidden_probe(tmp: Path, tolerance: float, first_seed: int = 100) -> list[dict[str, object]]:
    """Extra steps hidden in one segment, on fresh attack seeds (from ``first_seed``, unseen
    while tuning), against a lab that does not know about the step count and one that does."""
    from accord.verify.training.attacks import undeclared_extra_steps

    n_seeds, beacons = (2, 20) if QUICK else (8, 200)
    rows: list[dict[str, object]] = []
    for task, steps, k, extra, evade in PROBE_CASES:
        cfg = RunConfig(task=task, steps=steps, k=k, n_samples=512)
        caught = caught_topq = total = 0
        by: dict[str, int] = {}
        cost: list[float] = []
        for seed in range(first_seed, first_seed + n_seeds):
            att = undeclared_extra_steps(
                tmp / "subtle" / task,
                cfg,
                extra_per_segment=extra,
                seed=seed,
                evade_step_count=evade,
            )
            outcome, fixed = _outcomes(att.transcript, att.declared_weights_sha256, tolerance)
            tr = load_transcript(att.transcript)
            norms, _ = _scan(tr)
            for b in range(beacons):
                total += 1
                if isinstance(outcome, str):
                    caught += 1
                    by[outcome] = by.get(outcome, 0) + 1
                    cost.append(fixed)
                    continue
                top, anom, rand = select_segments(
                    norms, tr.chain_head, f"s-{seed}-{b}".encode(), replay_budget(0.05, fixed)
                )
                chosen = set(top) | set(anom) | set(rand)
                hit = any(not outcome[j] for j in chosen)
                caught += hit
                by["replay"] = by.get("replay", 0) + hit
                cost.append(fixed + len(chosen) * k / steps)
            # PoL's rule at the same cost, on replay alone (PoL has no step count).
            data = make_dataset(cfg.task, cfg.data_seed, cfg.n_samples)
            caught_topq += any(
                not replay_segment(tr, data, j).passes(tolerance) for j in top_updates(norms, 5)
            )
        label = f"{task} {extra} extra step(s) in 1 of {steps // k} segments" + (
            ", lab evades the step count" if evade else ""
        )
        print(
            f"  {label:58s} detected {caught}/{total} ({100 * caught / total:.1f} %) at cost "
            f"<= {100 * max(cost):.1f} % [by {by}]; PoL top-5: {caught_topq}/{n_seeds}"
        )
        rows.append(
            {
                "case": label,
                "detection_rate": caught / total,
                "verifications": total,
                "caught_by": by,
                "verifier_cost_pct_max": 100 * max(cost),
                "topq_only_detected_transcripts": caught_topq,
                "transcripts": n_seeds,
            }
        )
    return rows


def precision_runs(tmp: Path, seeds: int) -> dict[str, object]:
    """Honest recipe runs with every feature on (two parameter groups with a weight-decay
    mask, warm-up + cosine, 2 micro-batches, clipping at 1.0) at each precision (fp16 with a
    grad scaler whose initial scale 2^24 overflows, so steps are skipped), on the MLP (40
    steps) and the transformer (20 steps), ``seeds`` init/data-order seeds each. Each run
    is verified in full (budget 1, same thread count) and every segment is replayed again
    at 2 threads: that noise, per precision, calibrates the tolerance."""
    out: dict[str, dict[str, object]] = {}
    for precision in ("fp32", "bf16", "fp16"):
        runs = rejected = segments = skipped = state_diff = 0
        noise_same = noise_cross = 0.0
        for task in ("blobs", "charlm"):
            for seed in range(seeds):
                small = task == "charlm"  # the transformer: shorter runs, same features
                run = RunConfig(
                    task=task, n_samples=256, steps=20 if small else 40, k=5 if small else 10,
                    batch_size=8 if small else 16, init_seed=seed, order_seed=seed,
                )  # fmt: skip
                cfg = RecipeConfig(
                    run=run, precision=precision, grad_scaler=precision == "fp16",
                    init_scale=2.0**24,
                )  # fmt: skip
                path = tmp / f"prec_{precision}_{task}_{seed}"
                rec = record_recipe_run(path, cfg)
                f = verify_training(
                    path, f"b{seed}".encode(), expected_head=rec.summary["chain_head"], budget=1.0
                )
                runs += 1
                rejected += f.verdict != Verdict.CONSISTENT
                segments += len(f.statistic.get("replays", []))
                noise_same = max(noise_same, f.statistic.get("max_relative_distance", 0.0))
                tr = load_transcript(path)
                data = make_dataset(task, run.data_seed, run.n_samples)
                for j in range(tr.manifest.n_segments):
                    skipped += len(parse_meta(tr.checkpoint_tensors(j + 1), "bench")["skipped"])
                    r = replay_segment(tr, data, j, threads=2)
                    noise_cross = max(noise_cross, r.relative, r.optimizer_relative)
                    state_diff += not r.state_equal
        out[precision] = {
            "runs": runs,
            "segments": segments,
            "false_rejections": rejected,
            "noise_same_threads": noise_same,
            "noise_cross_threads": noise_cross,
            "skipped_steps": skipped,
            "state_differs_cross_threads": state_diff,
        }
        print(
            f"  {precision}: {runs} runs, {segments} segments, false rejections {rejected}, "
            f"noise same threads {noise_same:.3g}, 2 threads {noise_cross:.3g}, "
            f"scaler-skipped steps {skipped}, meta state differing at 2 threads {state_diff}"
        )
    return out


def recipe_overhead(tmp: Path) -> list[dict[str, object]]:
    """The recorder's own CPU time (as ``recorder_overhead`` accounts it: setup, per-step
    calls, checkpoint copies, writer thread, finish) over the rest of a recipe run's CPU
    time: the transformer with two groups, warm-up + cosine, 4 micro-batches, clipping, at
    bf16 and at fp16 with the grad scaler (whose scale the recorder reads every step)."""
    rows: list[dict[str, object]] = []
    steps = 60 if QUICK else 200
    for precision in ("fp32", "bf16", "fp16"):
        run = RunConfig(task="charlm", steps=steps, k=50, n_samples=1024, batch_size=32)
        cfg = RecipeConfig(
            run=run, precision=precision, grad_scaler=precision == "fp16", micro_batches=4
        )
        cpu = time.process_time()
        rec = record_recipe_run(tmp / f"rovh_{precision}", cfg)
        total = time.process_time() - cpu
        own, thread = rec.overhead_seconds(), rec.training_thread_seconds()
        row = {
            "precision": precision,
            "steps": steps,
            "k": 50,
            "cpu_ms_per_step": 1e3 * (total - own) / steps,
            "overhead_accounted_pct": 100 * own / (total - own),
            "overhead_training_thread_pct": 100 * thread / (total - own),
        }
        rows.append(row)
        print(
            f"  recipe transformer {precision}: {row['cpu_ms_per_step']:.1f} CPU-ms/step, "
            f"recorder {row['overhead_accounted_pct']:.2f} % of training "
            f"({row['overhead_training_thread_pct']:.2f} % on the training thread)"
        )
    return rows


def ddp_runs(tmp: Path, seeds: int) -> dict[str, object]:
    """Honest 2-process DDP runs, each verified in full, and the recorder's overhead per
    rank (:func:`benchmarks.bench_training_real.distributed_runs`)."""
    from benchmarks.bench_training_real import distributed_runs

    return distributed_runs(tmp, seeds, QUICK, sharded=False)


def _write_precision(result: dict[str, object]) -> None:
    """Per-precision tolerance: the fp32 tolerance, or 10x the precision's own measured
    cross-thread noise where that is larger (low-precision runs keep fp32 master weights, so
    never less than fp32's)."""
    cal = json.loads(CALIBRATION.read_text())
    base = float(cal["tolerance_relative"])
    prev = dict(cal.get("noise_cross_threads_by_precision", {}))
    for precision, row in result.items():
        noise = float(row["noise_cross_threads"])  # type: ignore[index]
        prev[precision] = max(noise, float(prev.get(precision, 0.0)))
    cal["noise_cross_threads_by_precision"] = prev
    cal["tolerance_by_precision"] = {p: max(base, tolerance_from_noise(n)) for p, n in prev.items()}
    cal["honest_recipe_segments_by_precision"] = {
        p: _int(row["segments"])  # type: ignore[index]
        for p, row in result.items()
    }
    cal["precision_note"] = (
        f"Written {time.strftime('%Y-%m-%d')} by python -m benchmarks.bench_training "
        "--only=precision: recipe runs (two parameter groups, warm-up + cosine, 2 "
        "micro-batches, clipping at 1.0; fp16 with a grad scaler) of the MLP and the "
        "transformer recorded at 1 thread and replayed at 2; tolerance per precision = "
        "max(fp32 tolerance, safety factor x that precision's largest noise)."
    )
    CALIBRATION.write_text(json.dumps(cal, indent=2) + "\n")


def main() -> None:
    parts = {"overhead", "honest", "attacks", "probe"}
    seeds = 20
    for arg in sys.argv[1:]:
        if arg.startswith("--only="):
            parts = set(arg[len("--only=") :].split(","))
        if arg.startswith("--seeds="):
            seeds = int(arg[len("--seeds=") :])
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if "recipe_overhead" in parts:
            print("recorder overhead, recipe runs (1 training thread, k=50):")
            print(json.dumps({"recipe_overhead": recipe_overhead(tmp)}))
        if "ddp" in parts:
            print("distributed (DDP, gloo, 2 processes):")
            print(json.dumps({"ddp": ddp_runs(tmp, seeds)}))
        if parts & {"real", "trainer", "fsdp", "forge"}:
            from benchmarks import bench_training_real as real

            extra: dict[str, object] = {}
            if "real" in parts and real.available():
                print(f"real pretrained model (MiniLM-L6, {seeds} seeds):")
                extra["real"] = real.real_model(tmp, seeds, QUICK)
            if "trainer" in parts and real.available():
                print("Trainer callback overhead (MiniLM-L6):")
                extra["trainer"] = real.trainer_overhead(tmp, QUICK)
            if "fsdp" in parts:
                print(f"FSDP2 (gloo, 2 processes, {seeds} seeds):")
                extra["fsdp"] = real.fsdp(tmp, seeds, QUICK)
            if "forge" in parts:
                print("forgeries of recipe and DDP transcripts (default 5 % budget):")
                extra["forge"] = real.forgeries(tmp, QUICK)
            print(json.dumps(extra, default=str))
        if "precision" in parts:
            print(f"recipe runs per precision ({seeds} seeds x 2 tasks):")
            prec = precision_runs(tmp, seeds)
            if not QUICK:
                _write_precision(prec)
            print(json.dumps({"precision": prec}))
        if not parts & {"overhead", "probe", "honest", "attacks"}:
            return
        ovh: list[dict[str, object]] = []
        if "overhead" in parts:
            print("recorder overhead (median of interleaved repeats, 1 training thread):")
            ovh = recorder_overhead(tmp)
        if "probe" in parts:
            print("hard case:")
            (tmp / "subtle").mkdir()
            tol_cal = float(json.loads(CALIBRATION.read_text())["tolerance_relative"])
            hidden_probe(tmp, tol_cal)
        if not parts & {"honest", "attacks"}:
            print(json.dumps({"recorder": ovh}))
            return
        print("honest runs:")
        honest = honest_runs(tmp)
        counting = stepcount_runs(tmp)
        stepcount_segments = _int(honest["stepcount_segments"]) + _int(counting["segments"])
        stepcount_contradicted = _int(honest["stepcount_contradicted"]) + _int(
            counting["contradicted"]
        )
        # Two-thread reduction order is not fixed, so the noise differs between runs: keep
        # the largest ever measured here, per task, rather than the latest.
        previous = json.loads(CALIBRATION.read_text()) if CALIBRATION.exists() else {}
        by_task = dict(previous.get("noise_cross_threads_by_task", {}))
        for task, value in honest["noise_cross_by_task"].items():  # type: ignore[attr-defined]
            by_task[task] = max(float(value), float(by_task.get(task, 0.0)))
        noise = max(by_task.values())
        tol = tolerance_from_noise(noise)
        print(
            f"  this run's noise {honest['noise_cross_threads']:.3g}; largest measured "
            f"{noise:.3g}; calibrated tolerance: {SAFETY_FACTOR:g} x {noise:.3g} = {tol:.3g}"
        )
        if not QUICK:
            CALIBRATION.write_text(
                json.dumps(
                    {
                        "note": "Written by python -m benchmarks.bench_training: honest runs "
                        "recorded at 1 thread and replayed at 2 threads; tolerance = safety "
                        "factor x the largest noise measured by any run on this machine.",
                        "honest_segments_measured": honest["segments"],
                        "max_relative_noise_cross_threads": noise,
                        "max_relative_noise_same_threads": honest["noise_same_threads"],
                        "noise_cross_threads_by_task": by_task,
                        "honest_stepcount_segments_measured": stepcount_segments,
                        "honest_stepcount_contradictions": stepcount_contradicted,
                        "safety_factor": SAFETY_FACTOR,
                        "tolerance_relative": tol,
                        **{
                            key: previous[key]
                            for key in (
                                "noise_cross_threads_by_precision",
                                "tolerance_by_precision",
                                "honest_recipe_segments_by_precision",
                                "precision_note",
                            )
                            if key in previous
                        },
                    },
                    indent=2,
                )
                + "\n"
            )
        rows: list[dict[str, object]] = []
        if "attacks" in parts:
            print("attacks (1,000 steps, k=10, default 5 % budget):")
            rows = attacks(tmp, tol)
        print(
            json.dumps(
                {"recorder": ovh, "honest": honest, "step_count": counting, "attacks": rows},
                default=str,
            )
        )


if __name__ == "__main__":
    main()
