"""The full training step of a real run, declared once and replayed step for step.

A lab's step is more than ``loss.backward(); optimizer.step()``: a learning-rate schedule
with warm-up, several parameter groups (weight decay masked off biases and norms), gradient
accumulation over micro-batches, clipping, bf16 autocast or an fp16 grad scaler whose skipped
steps must be skipped again. The *recipe* (in the manifest) says which; the *meta state* (one
JSON tensor in every checkpoint, so it is hashed with the weights) holds what changes as the
run goes: every group's hyper-parameters, the scheduler's and the scaler's state, optimizer
state that is not a tensor, and which steps of the segment the scaler skipped.

Replay rebuilds the optimizer, scheduler and scaler from the recipe, restores the meta state
of the segment's start and runs :func:`declared_step`. What the verifier cannot rebuild (an
optimizer outside ``torch.optim``, a ``LambdaLR`` whose function is not in the transcript, a
custom autograd function) is :class:`Unreplayable`: the finding is inconclusive and names it,
because a replay with a substitute would accuse an honest lab.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from accord.errors import AccordError, IntegrityError
from accord.verify.training.checkpoint import META_KEY
from accord.verify.training.manifest import GroupSpec, RecipeSpec, SchedulerSpec

MAX_META_BYTES = 4 * 1024 * 1024
_META_PAD = 1024  # meta is padded so a run's checkpoints keep one layout
OPTIM = "torch.optim."
SCHED = "torch.optim.lr_scheduler."
# torch.optim classes whose step needs nothing beyond parameters, gradients and their state
# (LBFGS needs a closure, SparseAdam sparse gradients, Muon matrix-shaped groups only).
REPLAYABLE_OPTIMIZERS = frozenset(
    {
        "SGD",
        "Adam",
        "AdamW",
        "Adamax",
        "NAdam",
        "RAdam",
        "RMSprop",
        "Rprop",
        "Adagrad",
        "Adadelta",
        "ASGD",
        "Adafactor",
    }
)
# Schedulers whose whole state is in state_dict() (LambdaLR and MultiplicativeLR keep a
# Python function that is not; ReduceLROnPlateau needs the lab's validation metric).
REPLAYABLE_SCHEDULERS = frozenset(
    {
        "LinearLR",
        "ConstantLR",
        "CosineAnnealingLR",
        "CosineAnnealingWarmRestarts",
        "StepLR",
        "ExponentialLR",
        "PolynomialLR",
        "SequentialLR",
        "ChainedScheduler",
    }
)
_NOT_ARGS = {"self", "optimizer", "last_epoch", "verbose", "schedulers"}
LAMBDA_LR = SCHED + "LambdaLR"


# Learning-rate multipliers of well-known libraries that a LambdaLR may run: the recorder
# names the function and its keyword arguments, and the verifier runs its own copy of the
# formula (never the library's code). The arithmetic is written in the library's order, so
# the learning rates come out to the bit and the meta state compares equal.
def _warmup(step: int, warmup: int) -> float:
    return float(step) / float(max(1, warmup))


def _linear_with_warmup(
    current_step: int, *, num_warmup_steps: int, num_training_steps: int
) -> float:
    if current_step < num_warmup_steps:
        return _warmup(current_step, num_warmup_steps)
    left = float(num_training_steps - current_step)
    return max(0.0, left / float(max(1, num_training_steps - num_warmup_steps)))


def _cosine_with_warmup(
    current_step: int,
    *,
    num_warmup_steps: int,
    num_training_steps: int,
    num_cycles: float,
    min_lr_rate: float = 0.0,
) -> float:
    if current_step < num_warmup_steps:
        return _warmup(current_step, num_warmup_steps)
    span = float(max(1, num_training_steps - num_warmup_steps))
    progress = float(current_step - num_warmup_steps) / span
    factor = 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress))
    return max(0, factor * (1 - min_lr_rate) + min_lr_rate)


def _constant_with_warmup(current_step: int, *, num_warmup_steps: int) -> float:
    if current_step < num_warmup_steps:
        return float(current_step) / float(max(1.0, num_warmup_steps))
    return 1.0


_HF = "transformers.optimization."
NAMED_LAMBDAS: dict[str, Callable[..., float]] = {
    _HF + "_get_linear_schedule_with_warmup_lr_lambda": _linear_with_warmup,
    _HF + "_get_cosine_schedule_with_warmup_lr_lambda": _cosine_with_warmup,
    _HF + "_get_constant_schedule_with_warmup_lr_lambda": _constant_with_warmup,
}


class Unreplayable(Exception):
    """The transcript uses something the verifier cannot rebuild; ``reasons`` names each."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = reasons


@dataclass
class StepParts:
    """The live objects one declared step uses."""

    model: Any
    optimizer: Any
    recipe: RecipeSpec
    scheduler: Any = None
    scaler: Any = None
    skipped: list[int] = field(default_factory=list)


# -- the lab's side: read the recipe off live objects -----------------------------------------
def _jsonable(value: Any, where: str) -> Any:
    try:
        out = json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise AccordError(where, f"cannot be recorded ({exc})", "use plain numbers") from None
    return out


def _qualified(obj: Any, home: str) -> str:
    cls = type(obj)
    short = cls.__name__
    module = home.rstrip(".")
    import importlib

    if getattr(importlib.import_module(module), short, None) is cls:
        return home + short
    return f"{cls.__module__}.{cls.__qualname__}"


def scheduler_spec_of(scheduler: Any) -> SchedulerSpec:
    """The scheduler's class and constructor arguments, read from its own state."""
    state = scheduler.state_dict()
    name = _qualified(scheduler, SCHED)
    if name == LAMBDA_LR:
        return SchedulerSpec(name=name, args={"lr_lambda": _named_lambda(scheduler)})
    children = [scheduler_spec_of(s) for s in getattr(scheduler, "_schedulers", [])]
    args: dict[str, Any] = {}
    for pname in inspect.signature(type(scheduler).__init__).parameters:
        if pname in _NOT_ARGS:
            continue
        if pname in state:
            args[pname] = state[pname]
        elif "_" + pname in state:
            args[pname] = state["_" + pname]
    return SchedulerSpec.model_validate(
        {"name": name, "args": _jsonable(args, "scheduler"), "children": children}
    )


def _named_lambda(scheduler: Any) -> Any:
    """The LambdaLR's function, as ``{"function": qualified name, "keywords": {...}}`` when
    it is one partial of a named library function for every group; otherwise its name
    alone (the verifier then cannot rebuild it, and says so)."""
    fns = scheduler.lr_lambdas
    fn = fns[0]
    if isinstance(fn, functools.partial) and not fn.args and all(f is fn for f in fns):
        inner = fn.func
        qual = f"{getattr(inner, '__module__', '?')}.{getattr(inner, '__qualname__', '?')}"
        return {"function": qual, "keywords": _jsonable(dict(fn.keywords), "LambdaLR")}
    return {"function": f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', '?')}"}


def custom_autograd_functions(model: Any, sample: Any) -> list[str]:
    """Names of custom ``torch.autograd.Function``s in one forward pass of ``model``.

    The forward runs in eval mode with the RNG state put back, so recording does not change
    the run. A custom function's backward is the lab's code, which a verifier rebuilding a
    registered architecture does not have.
    """
    import torch

    rng = torch.get_rng_state()
    was = model.training
    model.eval()
    try:
        with torch.enable_grad():
            out = model(sample)
    finally:
        model.train(was)
        torch.set_rng_state(rng)
    found: set[str] = set()
    seen: set[int] = set()
    stack = [getattr(out, "grad_fn", None)]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, torch.autograd.function.BackwardCFunction):
            found.add(type(node).__name__.removesuffix("Backward"))
        stack.extend(nxt for nxt, _ in node.next_functions)
    return sorted(found)


def recipe_of(
    model: Any,
    optimizer: Any,
    *,
    scheduler: Any = None,
    scaler: Any = None,
    micro_batches: int = 1,
    clip_grad_norm: float | None = None,
    precision: str = "fp32",
    custom_autograd: list[str] | None = None,
    clip_order: str = "model",
) -> RecipeSpec:
    """Declare the run's step from the live objects the lab trains with."""
    names = {id(p): n for n, p in model.named_parameters()}
    groups = []
    for i, g in enumerate(optimizer.param_groups):
        missing = [p for p in g["params"] if id(p) not in names]
        if missing:
            raise AccordError(
                f"optimizer.param_groups[{i}]", "holds a tensor that is not a model parameter", None
            )
        hyper = _jsonable({k: v for k, v in g.items() if k != "params"}, f"param group {i}")
        groups.append(GroupSpec(params=[names[id(p)] for p in g["params"]], hyper=hyper))
    return RecipeSpec(
        optimizer=_qualified(optimizer, OPTIM),
        groups=groups,
        scheduler=None if scheduler is None else scheduler_spec_of(scheduler),
        micro_batches=micro_batches,
        clip_grad_norm=clip_grad_norm,
        clip_order=clip_order,  # type: ignore[arg-type]  # validated by the model
        precision=precision,  # type: ignore[arg-type]  # validated by the model
        grad_scaler=scaler is not None and bool(scaler.is_enabled()),
        custom_autograd=custom_autograd or [],
    )


# -- meta state: what changes as the run goes, beside the tensors ----------------------------
def meta_state(parts: StepParts) -> dict[str, Any]:
    import torch

    opt = parts.optimizer
    params = [p for g in opt.param_groups for p in g["params"]]
    scalars = {}
    for i, p in enumerate(params):
        plain = {k: v for k, v in opt.state.get(p, {}).items() if not isinstance(v, torch.Tensor)}
        if plain:
            scalars[str(i)] = plain
    scaler = parts.scaler
    meta: dict[str, Any] = _jsonable(
        {
            "groups": [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups],
            "optimizer_scalars": scalars,
            "scheduler": None if parts.scheduler is None else parts.scheduler.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
            "skipped": list(parts.skipped),
        },
        "meta state",
    )
    return meta


def meta_bytes(meta: dict[str, Any]) -> bytes:
    raw = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
    return raw + b" " * (-len(raw) % _META_PAD)


def meta_tensor(meta: dict[str, Any]) -> Any:
    import torch

    return torch.frombuffer(bytearray(meta_bytes(meta)), dtype=torch.uint8)


def parse_meta(tensors: dict[str, Any], where: str) -> dict[str, Any]:
    """The meta state of a checkpoint from the lab, or IntegrityError naming what is wrong."""
    import torch

    t = tensors.get(META_KEY)
    if t is None:
        raise IntegrityError(
            where, f"has no {META_KEY}", "a recipe run records it every checkpoint"
        )
    if t.dtype != torch.uint8 or t.dim() != 1 or t.numel() > MAX_META_BYTES:
        raise IntegrityError(where, f"{META_KEY} is not a bounded byte vector", None)
    try:
        meta = json.loads(bytes(t.numpy()).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise IntegrityError(where, f"{META_KEY} is not JSON ({exc})", None) from None
    keys = {"groups", "optimizer_scalars", "scheduler", "scaler", "skipped"}
    if not isinstance(meta, dict) or set(meta) != keys:
        raise IntegrityError(where, f"{META_KEY} must hold exactly {sorted(keys)}", None)
    if not isinstance(meta["groups"], list) or not all(isinstance(g, dict) for g in meta["groups"]):
        raise IntegrityError(where, f"{META_KEY}.groups is not a list of objects", None)
    return meta


def restore_meta(meta: dict[str, Any], parts: StepParts, where: str) -> None:
    opt = parts.optimizer
    if len(meta["groups"]) != len(opt.param_groups):
        raise IntegrityError(where, "meta state has another number of parameter groups", None)
    try:
        for group, hyper in zip(opt.param_groups, meta["groups"], strict=True):
            for key, val in hyper.items():
                group[key] = tuple(val) if isinstance(val, list) else val
        params = [p for g in opt.param_groups for p in g["params"]]
        for idx, plain in dict(meta["optimizer_scalars"]).items():
            opt.state[params[int(idx)]].update(plain)
        if (meta["scheduler"] is None) != (parts.scheduler is None):
            raise IntegrityError(where, "meta state and recipe disagree on the scheduler", None)
        if parts.scheduler is not None:
            parts.scheduler.load_state_dict(meta["scheduler"])
        if (meta["scaler"] is None) != (parts.scaler is None):
            raise IntegrityError(where, "meta state and recipe disagree on the grad scaler", None)
        if parts.scaler is not None:
            parts.scaler.load_state_dict(meta["scaler"])
    except IntegrityError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError, RuntimeError) as exc:
        raise IntegrityError(where, f"meta state does not fit the recipe ({exc})", None) from None
    parts.skipped = []


def same_meta(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Exact equality: every value in the meta state is computed in Python or read from a
    scalar, deterministically, so honest replay reproduces it to the bit."""
    return meta_bytes(a) == meta_bytes(b)


# -- the declared step -----------------------------------------------------------------------
def autocast(precision: str) -> contextlib.AbstractContextManager[Any]:
    import torch

    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    if precision == "fp16":
        return torch.autocast("cpu", dtype=torch.float16)
    return contextlib.nullcontext()


LossFn = Callable[[Any, Any, Any], Any]


def declared_step(
    parts: StepParts, x: Any, y: Any, loss_fn: LossFn, model: Any = None
) -> tuple[float, bool]:
    """One optimizer step as the recipe declares it; the lab and the verifier both run this.

    The batch is split into ``micro_batches`` equal contiguous chunks (so the sample -> micro
    batch mapping is fixed by the committed index row), each chunk's loss is divided by their
    number, gradients are accumulated, unscaled (fp16), clipped, and the optimizer, scaler and
    scheduler step in that order. Returns the loss and whether the scaler skipped the
    update (inf/NaN gradients). ``model`` is the module to run forward, when it is a wrapper
    of ``parts.model`` (``DistributedDataParallel``).
    """
    parts.model.train()
    parts.optimizer.zero_grad(set_to_none=True)
    loss = accumulate(parts, x, y, loss_fn, model)
    return loss, apply_update(parts)


def accumulate(parts: StepParts, x: Any, y: Any, loss_fn: LossFn, model: Any = None) -> float:
    """Forward and backward over the micro-batches, gradients summed into ``.grad``. Under
    DDP, gradients are synchronised once, after the last micro-batch (``no_sync`` before)."""
    r = parts.recipe
    fwd = parts.model if model is None else model
    scaler = parts.scaler
    total = 0.0
    chunks = list(zip(x.chunk(r.micro_batches), y.chunk(r.micro_batches), strict=True))
    for i, (xm, ym) in enumerate(chunks):
        no_sync = getattr(fwd, "no_sync", None)
        ctx = no_sync() if no_sync is not None and i < len(chunks) - 1 else contextlib.nullcontext()
        with ctx:
            with autocast(r.precision):
                loss = loss_fn(fwd, xm, ym) / r.micro_batches
            (scaler.scale(loss) if scaler is not None else loss).backward()
        total += float(loss.detach())
    return total


def apply_update(parts: StepParts) -> bool:
    """Unscale, clip, step optimizer, scaler and scheduler; True when the scaler skipped."""
    import torch

    r = parts.recipe
    opt, scaler = parts.optimizer, parts.scaler
    skipped = False
    if scaler is not None:
        before = scaler.get_scale()
        if r.clip_grad_norm is not None:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(_clipped(parts), r.clip_grad_norm)
        scaler.step(opt)
        scaler.update()
        skipped = scaler.get_scale() < before
    else:
        if r.clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(_clipped(parts), r.clip_grad_norm)
        opt.step()
    if parts.scheduler is not None:
        with _quiet():
            parts.scheduler.step()
    return skipped


def _clipped(parts: StepParts) -> list[Any]:
    if parts.recipe.clip_order == "optimizer":
        return [p for g in parts.optimizer.param_groups for p in g["params"]]
    return list(parts.model.parameters())


def emulated_ddp_step(
    parts: StepParts, x: Any, y: Any, loss_fn: LossFn, rng_states: list[Any]
) -> tuple[float, bool]:
    """Replay one DDP step of ``len(rng_states)`` ranks in this one process.

    Rank r's share of the batch is the r-th equal slice of the committed row; it runs with
    rank r's RNG state (its dropout), and its accumulated gradient is divided by the world
    size and summed over ranks in rank order, as DDP's all-reduce does. For two ranks the sum
    of two terms is the same in any order, so the emulation is exact; for more ranks the
    all-reduce's summation order may differ in the last bits (within the tolerance).
    ``rng_states`` is updated in place.
    """
    import torch

    world = len(rng_states)
    parts.model.train()
    params = list(parts.model.parameters())
    summed: list[Any] = [None] * len(params)
    total = 0.0
    for rank, (xr, yr) in enumerate(zip(x.chunk(world), y.chunk(world), strict=True)):
        torch.set_rng_state(rng_states[rank])
        for p in params:
            p.grad = None
        total += accumulate(parts, xr, yr, loss_fn)
        rng_states[rank] = torch.get_rng_state()
        for i, p in enumerate(params):
            if p.grad is not None:
                share = p.grad / world
                summed[i] = share if summed[i] is None else summed[i] + share
    for p, g in zip(params, summed, strict=True):
        p.grad = g
    return total / world, apply_update(parts)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """A skipped fp16 step makes torch warn that the scheduler stepped before the optimizer:
    that is the declared behaviour (the schedule follows steps, not successful updates)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


# -- the verifier's side: rebuild ---------------------------------------------------------------
def unreplayable(recipe: RecipeSpec, rebuilt_functions: list[str] | None = None) -> list[str]:
    """Everything in ``recipe`` the verifier cannot rebuild, one sentence each."""
    reasons = []
    short = recipe.optimizer.removeprefix(OPTIM)
    if not recipe.optimizer.startswith(OPTIM) or short not in REPLAYABLE_OPTIMIZERS:
        reasons.append(
            f"optimizer {recipe.optimizer} is not one the verifier can rebuild "
            f"(torch.optim: {', '.join(sorted(REPLAYABLE_OPTIMIZERS))})"
        )

    def walk(spec: SchedulerSpec) -> None:
        name = spec.name.removeprefix(SCHED)
        if spec.name == LAMBDA_LR:
            fn = _lambda_of(spec)
            if fn is None:
                reasons.append(
                    f"scheduler LambdaLR runs {spec.args.get('lr_lambda')!r}, not a function the "
                    f"verifier can rebuild ({', '.join(sorted(NAMED_LAMBDAS))})"
                )
        elif not spec.name.startswith(SCHED) or name not in REPLAYABLE_SCHEDULERS:
            reasons.append(
                f"scheduler {spec.name} is not one the verifier can rebuild (its state is not "
                "all in the transcript)"
            )
        for child in spec.children:
            walk(child)

    if recipe.scheduler is not None:
        walk(recipe.scheduler)
    missing = sorted(set(recipe.custom_autograd) - set(rebuilt_functions or []))
    if missing:
        reasons.append(
            f"custom autograd function(s) {', '.join(missing)} are not in the model code the "
            "verifier rebuilds"
        )
    if recipe.grad_scaler and recipe.precision != "fp16":
        reasons.append(f"a grad scaler with {recipe.precision} is not a declared recipe")
    return reasons


def _lambda_of(spec: SchedulerSpec) -> Callable[[int], float] | None:
    """The verifier's own copy of a declared named LambdaLR function, bound to its declared
    keywords; None when it is not one it knows."""
    arg = spec.args.get("lr_lambda")
    if not isinstance(arg, dict) or set(arg) != {"function", "keywords"}:
        return None
    fn, kw = NAMED_LAMBDAS.get(str(arg["function"])), arg["keywords"]
    if fn is None or not isinstance(kw, dict):
        return None
    try:
        inspect.signature(fn).bind(0, **kw)
    except TypeError:
        return None
    return functools.partial(fn, **kw)


def _build_scheduler(spec: SchedulerSpec, opt: Any) -> Any:
    from torch.optim import lr_scheduler

    if spec.name == LAMBDA_LR:
        fn = _lambda_of(spec)
        assert fn is not None  # unreplayable() refused it otherwise
        return lr_scheduler.LambdaLR(opt, fn)
    cls = getattr(lr_scheduler, spec.name.removeprefix(SCHED))
    args = {k: (list(v) if isinstance(v, list) else v) for k, v in spec.args.items()}
    if spec.children:
        children = [_build_scheduler(c, opt) for c in spec.children]
        if cls is lr_scheduler.ChainedScheduler:
            return cls(children, optimizer=opt)
        return cls(opt, children, **args)
    return cls(opt, **args)


def rebuild(recipe: RecipeSpec, model: Any, functions: list[str] | None = None) -> StepParts:
    """Optimizer, scheduler and scaler as the recipe declares them, for ``model``.

    Raises :class:`Unreplayable` for what cannot be rebuilt (also when the declared
    constructor arguments do not build) and IntegrityError for groups that do not partition
    the model's parameters.
    """
    import torch

    reasons = unreplayable(recipe, functions)
    if reasons:
        raise Unreplayable(reasons)
    named = dict(model.named_parameters())
    listed = [n for g in recipe.groups for n in g.params]
    if sorted(listed) != sorted(named):
        raise IntegrityError(
            "manifest.json:recipe.groups",
            "parameter groups do not list every model parameter exactly once",
            None,
        )
    cls = getattr(torch.optim, recipe.optimizer.removeprefix(OPTIM))
    groups = [
        {
            **{k: (tuple(v) if isinstance(v, list) else v) for k, v in g.hyper.items()},
            "params": [named[n] for n in g.params],
        }
        for g in recipe.groups
    ]
    try:
        opt = cls(groups)
        sched = None if recipe.scheduler is None else _build_scheduler(recipe.scheduler, opt)
        scaler = torch.amp.GradScaler("cpu") if recipe.grad_scaler else None
    except (TypeError, ValueError, KeyError, RuntimeError) as exc:
        raise Unreplayable(
            [f"the declared optimizer or scheduler does not build ({exc})"]
        ) from None
    return StepParts(model, opt, recipe, sched, scaler)
