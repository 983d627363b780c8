"""The inspector's side: check a transcript without trusting the lab, and say how sure we are.

Order of checks, cheapest first, each one a reason to stop:

1. integrity — manifest parses, the hash chain recomputes and (optionally) equals the head
   the ledger recorded, batch indices match their Merkle roots, every checkpoint file
   matches its hash;
2. data — the verifier regenerates the declared dataset and recomputes the shard hashes;
3. initialisation — the verifier rebuilds the model from the declared seed; checkpoint 0
   must equal it bit for bit and carry no optimizer state;
4. compute — steps x samples x FLOPs per sample recomputed from the model; must match the
   manifest and the external declaration (6·N·D is reported alongside);
5. final model — the last checkpoint must be the model the lab declared (when its hash is
   given);
6. replay — the largest-update segment in each window, plus segments drawn with a beacon the
   lab could not predict, are re-executed and must land within the calibrated tolerance
   (per precision), with a recipe run's meta state (schedule, scaler, skipped steps) equal.

A run the verifier cannot replay (an optimizer, scheduler or custom autograd function it
cannot rebuild, or the lab's code failing in the sandbox) is inconclusive, naming why; a
transcript with the lab's own model code is verified in a sandbox subprocess.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from accord.errors import AccordError, IntegrityError
from accord.model.finding import Finding, Severity, Verdict
from accord.verify.training.calibration import (
    false_rejection_bound,
    stepcount_false_alarm_bound,
    tolerance_for,
)
from accord.verify.training.checkpoint import OPT_PREFIX, weights_digest
from accord.verify.training.handover import check_code, read_shards
from accord.verify.training.recipe import Unreplayable, rebuild
from accord.verify.training.replay import (
    SegmentResult,
    compare,
    model_functions,
    run_segment,
    state_tensors,
)
from accord.verify.training.sandbox import DEFAULT_MEMORY, DEFAULT_TIME_S, verify_in_sandbox
from accord.verify.training.selection import (
    min_forged_fraction,
    miss_probability,
    select_segments,
)
from accord.verify.training.stepcount import FlatState, StepCount, count_steps
from accord.verify.training.tasks import build_model, forward_flops_per_sample, make_dataset
from accord.verify.training.transcript import Transcript, load_transcript

VERIFIER = "verify.training"
FLOPS_REL_TOLERANCE = 0.01
Progress = Callable[[str, int, int], None]


def _noop(stage: str, done: int, total: int) -> None:
    return None


def _fail(
    subject: str,
    check: str,
    problem: str,
    stat: dict[str, Any],
    evidence: dict[str, str],
    severity: Severity = Severity.HIGH,
    error_bound: float = 0.0,
) -> Finding:
    stat = {**stat, "failed_check": check, "problem": problem}
    stat.setdefault("checks", {})[check] = "fail"
    return Finding(
        subject=subject,
        verifier=VERIFIER,
        verdict=Verdict.INCONSISTENT,
        severity=severity,
        statistic=stat,
        error_bound=error_bound,
        evidence=evidence,
        explanation=f"{check} check failed: {problem}",
    )


def _inconclusive(
    subject: str, reasons: list[str], stat: dict[str, Any], evidence: dict[str, str]
) -> Finding:
    stat = {**stat, "cannot_replay": reasons}
    stat.setdefault("checks", {})["replay"] = "not possible"
    return Finding(
        subject=subject,
        verifier=VERIFIER,
        verdict=Verdict.INCONCLUSIVE,
        severity=Severity.MEDIUM,
        statistic=stat,
        error_bound=0.0,
        evidence=evidence,
        explanation="the run cannot be replayed, so its training cannot be confirmed or "
        "refuted: " + "; ".join(reasons),
    )


def verify_training(
    transcript_dir: Path | str,
    beacon: bytes,
    *,
    expected_head: str | None = None,
    declared_flops: float | None = None,
    declared_weights_sha256: str | None = None,
    budget: float = 0.05,
    top_q: int | None = None,
    n_random: int | None = None,
    n_anomalous: int | None = None,
    tolerance: float | None = None,
    threads: int | None = None,
    progress: Progress | None = None,
    sandboxed: bool = False,
    sandbox_time_s: int = DEFAULT_TIME_S,
    sandbox_memory: int = DEFAULT_MEMORY,
) -> Finding:
    """Verify a training transcript; never raises for a bad transcript, only for bad arguments.

    A directory that does not exist raises :class:`NotFoundError`. Everything wrong *inside*
    the transcript is a finding: INCONSISTENT, naming the failed check.

    A transcript whose model is the lab's own code is verified in a sandbox subprocess
    (:mod:`accord.verify.training.sandbox`); ``sandboxed`` is set there.
    """
    report = progress or _noop
    evidence = {"beacon": hashlib.sha256(beacon).hexdigest()}
    stat: dict[str, Any] = {"checks": {}}
    subject = str(transcript_dir)

    report("integrity", 0, 1)
    try:
        tr = load_transcript(transcript_dir, expected_head)
    except IntegrityError as err:
        return _fail(subject, "integrity", err.message, stat, evidence, Severity.CRITICAL)
    m = tr.manifest
    subject = m.run_id
    precision = "fp32" if m.recipe is None else m.recipe.precision
    tol = tolerance_for(precision) if tolerance is None else tolerance
    stat["tolerance_relative"] = tol
    stat["precision"] = precision
    evidence.update(
        chain_head=tr.chain_head,
        manifest=tr.manifest_sha256,
        final_weights=m.final_weights_sha256,
        data_root=m.data.data_root,
        batches_root=m.batches.merkle_root,
    )
    if m.code is not None and not sandboxed:
        try:
            check_code(tr.root, m.code)
        except IntegrityError as err:
            return _fail(subject, "integrity", err.message, stat, evidence, Severity.CRITICAL)
        request = {
            "beacon": beacon.hex(),
            "expected_head": expected_head,
            "declared_flops": declared_flops,
            "declared_weights_sha256": declared_weights_sha256,
            "budget": budget,
            "top_q": top_q,
            "n_random": n_random,
            "n_anomalous": n_anomalous,
            "tolerance": tolerance,
            "threads": threads,
        }
        report("sandbox", 0, 1)
        return verify_in_sandbox(
            tr.root, subject, request, time_s=sandbox_time_s, memory=sandbox_memory
        )
    stat["checks"]["integrity"] = "pass"
    stat["steps"], stat["k"], stat["segments"] = m.steps, m.k, m.n_segments

    report("data", 0, 1)
    if m.shards is not None:
        try:
            data = read_shards(tr.root, m.shards)  # each file hashed as read
        except IntegrityError as err:
            return _fail(subject, "data", err.message, stat, evidence)
    else:
        data = make_dataset(m.task.name, m.task.seed, m.task.n_samples)
    if (
        len(data) != m.task.n_samples
        or data.shard_hashes(m.data.shard_size) != m.data.shard_hashes
        or (data.data_root(m.data.shard_size) != m.data.data_root)
    ):
        return _fail(
            subject,
            "data",
            "the regenerated dataset does not match the shard hashes "
            "(the run used data other than declared)",
            stat,
            evidence,
        )
    stat["checks"]["data"] = "pass"

    report("initialisation", 0, 1)
    try:
        model = build_model(m.model.arch, dict(m.model.kwargs), m.model.init_seed)
    except Exception as exc:
        if m.model.arch == "module":  # the lab's code failed: reported, not held against it
            return _inconclusive(
                subject, [f"the lab's model code raised {type(exc).__name__}: {exc}"], stat,
                evidence,
            )  # fmt: skip
        return _fail(
            subject, "initialisation", f"cannot build the declared model ({exc})", stat, evidence
        )
    init_weights = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    try:
        start = tr.checkpoint_tensors(0)
    except IntegrityError as err:
        return _fail(subject, "integrity", err.message, stat, evidence, Severity.CRITICAL)
    if weights_digest(init_weights) != m.checkpoints[0].weights_sha256:
        return _fail(
            subject,
            "initialisation",
            f"checkpoint 0 is not the model built from the declared init seed {m.model.init_seed}",
            stat,
            evidence,
        )
    cannot_replay: list[str] = []
    fresh_state: dict[str, Any] = {}
    if m.recipe is not None:
        # Some optimizers (Adagrad) hold state from construction: checkpoint 0 must carry
        # exactly what the declared optimizer holds when built. The registered architectures
        # hold no custom autograd function.
        try:
            fresh_model = build_model(m.model.arch, dict(m.model.kwargs), m.model.init_seed)
            parts = rebuild(m.recipe, fresh_model, model_functions(m, fresh_model, data))
            fresh_state = {
                k: v
                for k, v in state_tensors(parts.model, parts.optimizer).items()
                if k.startswith(OPT_PREFIX)
            }
        except Unreplayable as exc:
            cannot_replay = exc.reasons
        except IntegrityError as err:
            return _fail(subject, "integrity", err.message, stat, evidence, Severity.CRITICAL)
    start_opt = {k: v for k, v in start.items() if k.startswith(OPT_PREFIX)}
    if not cannot_replay and not _same_tensors(start_opt, fresh_state):
        return _fail(
            subject,
            "initialisation",
            "checkpoint 0 carries optimizer state other than the declared optimizer starts "
            "with (a run starts from its freshly built optimizer)",
            stat,
            evidence,
        )
    stat["checks"]["initialisation"] = "pass"

    report("compute", 0, 1)
    params = sum(int(p.numel()) for p in model.parameters())
    per_sample = 3 * forward_flops_per_sample(model, data.x[0])
    transcript_flops = float(m.steps * m.batch_size * per_sample)
    stat["compute"] = {
        "transcript_flops": transcript_flops,
        "manifest_declared_flops": m.declared_training_flops,
        "external_declared_flops": declared_flops,
        "six_n_d": 6.0 * params * m.steps * m.batch_size * m.tokens_per_sample,
        "parameter_count": params,
        "tokens": m.steps * m.batch_size * m.tokens_per_sample,
    }
    problems = []
    if params != m.parameter_count:
        problems.append(f"parameter count is {params}, manifest says {m.parameter_count}")
    if per_sample != m.training_flops_per_sample:
        problems.append(
            f"FLOPs per sample are {per_sample}, manifest says {m.training_flops_per_sample}"
        )
    if m.tokens_per_sample != data.tokens_per_sample:
        problems.append(
            f"tokens per sample are {data.tokens_per_sample}, manifest says {m.tokens_per_sample}"
        )
    for label, claim in (("manifest", m.declared_training_flops), ("declaration", declared_flops)):
        if (
            claim is not None
            and abs(claim - transcript_flops) > FLOPS_REL_TOLERANCE * transcript_flops
        ):
            problems.append(
                f"{label} claims {claim:.4g} FLOP, the transcript shows {transcript_flops:.4g}"
            )
    if problems:
        return _fail(subject, "compute", "; ".join(problems), stat, evidence)
    stat["checks"]["compute"] = "pass"

    if declared_weights_sha256 is not None:
        if declared_weights_sha256.lower() != m.final_weights_sha256:
            return _fail(
                subject,
                "final_model",
                "the declared model is not the transcript's final "
                "checkpoint (trained further, or another model)",
                stat,
                evidence,
            )
        stat["checks"]["final_model"] = "pass"
    else:
        stat["checks"]["final_model"] = "not given"

    if cannot_replay:
        return _inconclusive(subject, cannot_replay, stat, evidence)

    scanned = scan_checkpoints(tr, report, model)
    if isinstance(scanned, IntegrityError):
        return _fail(subject, "integrity", scanned.message, stat, evidence, Severity.CRITICAL)
    norms, counts, count_flops = scanned
    contradicted = [c for c in counts if c.contradicts]
    stat["step_count"] = {
        "segments_confirmed": sum(1 for c in counts if c.confirming > 0 and not c.contradicts),
        "segments_contradicted": [c.segment for c in contradicted],
        "cost_fraction": count_flops / transcript_flops,
        "false_contradiction_bound": stepcount_false_alarm_bound(len(counts)),
    }
    if contradicted:
        counted = contradicted[0]
        more = f" (and {len(contradicted) - 1} more segments)" if len(contradicted) > 1 else ""
        return _fail(
            subject,
            "step_count",
            f"undeclared optimizer steps: {counted.describe()}{more}",
            stat,
            evidence,
            error_bound=stepcount_false_alarm_bound(len(counts)),
        )
    stat["checks"]["step_count"] = "pass" if m.optimizer is not None else "not applied (recipe)"

    count_cost = count_flops / transcript_flops
    top, anomalous, rand = select_segments(
        norms,
        tr.chain_head,
        beacon,
        replay_budget(budget, count_cost),
        top_q,
        n_random,
        n_anomalous,
    )
    fixed = set(top) | set(anomalous)
    chosen = sorted(fixed | set(rand))
    pool = m.n_segments - len(fixed)
    stat["selection"] = {
        "top": top,
        "anomalous": anomalous,
        "random": rand,
        "beacon_sha256": evidence["beacon"],
    }
    stat["detection"] = {
        "random_draws": len(rand),
        "pool": pool,
        "p_detect_one_forged_segment": 1 - miss_probability(pool, len(rand), 1),
        "p_detect_10pct_forged": 1 - miss_probability(pool, len(rand), max(1, round(0.1 * pool))),
        "p_detect_50pct_forged": 1 - miss_probability(pool, len(rand), max(1, round(0.5 * pool))),
        "min_forged_fraction_caught_99pct": min_forged_fraction(pool, len(rand)),
    }
    replay_threads = threads or m.threads
    results: list[SegmentResult] = []
    for n, j in enumerate(chosen):
        report("replay", n, len(chosen))
        first, last = m.segment_bounds(j)
        try:
            s0, s1 = tr.checkpoint_tensors(j), tr.checkpoint_tensors(j + 1)
            replayed = run_segment(tr, data, j, s0, replay_threads)
            results.append(compare(j, first, last, s0, s1, replayed))
        except IntegrityError as err:
            return _fail(subject, "integrity", err.message, stat, evidence, Severity.CRITICAL)
        except (Unreplayable, AccordError) as exc:
            return _inconclusive(subject, [f"segment {j}: {exc}"], stat, evidence)
        except Exception as exc:  # a recorded state torch cannot run from (or a bug here)
            why = f"replaying segment {j} raised {type(exc).__name__}: {exc}"
            return _inconclusive(subject, [why[:500]], stat, evidence)
    report("replay", len(chosen), len(chosen))
    replayed_steps = sum(r.last_step - r.first_step for r in results)
    stat["replay_cost_fraction"] = replayed_steps / m.steps
    stat["verifier_cost_fraction"] = replayed_steps / m.steps + count_cost
    stat["replays"] = [
        {**r.__dict__, "kind": _kind(r.segment, top, anomalous), "pass": r.passes(tol)}
        for r in results
    ]
    stat["max_relative_distance"] = max((r.relative for r in results), default=0.0)
    frr = false_rejection_bound(len(results), None if m.recipe is None else precision)
    bad = [r for r in results if not r.passes(tol)]
    if bad:
        worst = max(bad, key=lambda r: r.relative)
        return _fail(
            subject,
            "replay",
            f"{len(bad)} of {len(results)} replayed segments missed the recorded state (worst: "
            f"segment {worst.segment}, relative distance {worst.relative:.3g} > {tol:.3g}"
            f"{'' if worst.rng_equal else ', RNG state differs'}"
            f"{'' if worst.state_equal else ', schedule/scaler/skipped-step state differs'})",
            stat,
            evidence,
            error_bound=frr,
        )
    stat["checks"]["replay"] = "pass"
    det = stat["detection"]
    return Finding(
        subject=subject,
        verifier=VERIFIER,
        verdict=Verdict.CONSISTENT,
        severity=Severity.INFO,
        statistic=stat,
        error_bound=frr,
        evidence=evidence,
        explanation=(
            f"Chain, data, initialisation and compute check out; {len(results)} segments "
            f"({stat['replay_cost_fraction']:.1%} of training) replayed within {tol:.3g} "
            f"(relative l2, calibrated for {precision}); "
            f"verifier cost {stat['verifier_cost_fraction']:.1%} of training in all. "
            f"The random draws catch a transcript with "
            f"{det['min_forged_fraction_caught_99pct']:.0%} "
            f"or more forged segments with probability >= 99 %."
        ),
    )


def replay_budget(budget: float, count_cost: float) -> float:
    """What is left of the budget for replay once the step count is paid for.

    A budget of 1 means "replay everything" and is kept as such; below that, the whole
    verification (count plus replay) is what the budget bounds, down to the smallest plan
    (see :func:`accord.verify.training.selection.plan_counts`).
    """
    if budget >= 1:
        return 1.0
    return max(budget - count_cost, 1e-9)


def _same_tensors(a: dict[str, Any], b: dict[str, Any]) -> bool:
    import torch

    return set(a) == set(b) and all(
        a[k].shape == b[k].shape and a[k].dtype == b[k].dtype and torch.equal(a[k], b[k]) for k in a
    )


def _kind(j: int, top: list[int], anomalous: list[int]) -> str:
    return "top" if j in top else "anomalous" if j in anomalous else "random"


def scan_checkpoints(
    tr: Transcript, report: Progress, model: Any = None
) -> tuple[list[float], list[StepCount], int] | IntegrityError:
    """One pass over every checkpoint (each read and hash-checked once): the l2 update of each
    segment, and the optimizer steps its zero-gradient coordinates count."""
    import numpy as np

    m = tr.manifest
    n = m.n_segments
    norms: list[float] = []
    if model is None:  # the verifier passes the one it already built
        model = build_model(m.model.arch, dict(m.model.kwargs), m.model.init_seed)
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    names = list(shapes)

    def states() -> Iterator[FlatState]:
        prev: np.ndarray | None = None
        for j in range(n + 1):
            report("checkpoints", j, n + 1)
            state = FlatState.of(tr.checkpoint_tensors(j), names, m.checkpoints[j].file, shapes)
            cur = state.weights
            if prev is not None:
                norms.append(float(np.linalg.norm(cur - prev)))
            prev = cur
            yield state

    declared = [last - first for first, last in (m.segment_bounds(j) for j in range(n))]
    try:
        if m.optimizer is None:
            # A recipe run (schedule, groups, accumulation, scaler) is outside the step
            # count's model of zero-gradient motion: no count, and the finding says so.
            for _ in states():
                pass
            counts: list[StepCount] = []
            flops = 0
        else:
            counts, flops = count_steps(m.optimizer, states(), declared)
    except IntegrityError as err:
        return err
    report("checkpoints", n + 1, n + 1)
    return norms, counts, flops
