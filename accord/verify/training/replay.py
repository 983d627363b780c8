"""Re-execute one k-step segment from its recorded start and measure how far it lands.

The whole replayed state is compared, not only the weights: a forged momentum buffer or Adam
moment at a checkpoint would otherwise let a spoofer steer every segment while each one still
replays (the weights follow from the forged buffer). The RNG state after the segment must
also equal the recorded one, so dropout masks cannot be chosen freely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accord.verify.training.checkpoint import (
    META_KEY,
    MODEL_PREFIX,
    OPT_PREFIX,
    RNG_KEY,
    rank_rng_key,
    restore,
)
from accord.verify.training.loop import (
    batch_tensors,
    build_optimizer,
    deterministic,
    loss_of,
    train_step,
)
from accord.verify.training.recipe import (
    custom_autograd_functions,
    declared_step,
    emulated_ddp_step,
    meta_state,
    meta_tensor,
    parse_meta,
    rebuild,
    restore_meta,
    same_meta,
)
from accord.verify.training.tasks import Dataset, build_model
from accord.verify.training.transcript import Transcript


@dataclass(frozen=True)
class SegmentResult:
    segment: int
    first_step: int
    last_step: int
    update_l2: float
    l1: float
    l2: float
    linf: float
    cosine_distance: float
    relative: float
    optimizer_relative: float
    rng_equal: bool
    state_equal: bool = True  # a recipe run's meta state (schedule, scaler, skipped steps)

    def passes(self, tolerance: float) -> bool:
        return (
            self.relative <= tolerance
            and self.optimizer_relative <= tolerance
            and self.rng_equal
            and self.state_equal
        )


def _flat(tensors: dict[str, Any], prefix: str) -> Any:
    import torch

    keys = sorted(k for k in tensors if k.startswith(prefix))
    if not keys:
        return torch.zeros(0, dtype=torch.float64)
    return torch.cat([tensors[k].detach().reshape(-1).double() for k in keys])


def state_tensors(model: Any, optimizer: Any) -> dict[str, Any]:
    import torch

    out = {MODEL_PREFIX + k: v for k, v in model.state_dict().items()}
    for idx, st in optimizer.state_dict()["state"].items():
        for key, val in st.items():
            if isinstance(val, torch.Tensor):
                out[f"{OPT_PREFIX}{idx}/{key}"] = val
    out[RNG_KEY] = torch.get_rng_state()
    return out


def run_segment(
    tr: Transcript, data: Dataset, j: int, start: dict[str, Any], threads: int = 1
) -> dict[str, Any]:
    """Replay segment j from the tensors of its start checkpoint; return the end state."""
    m = tr.manifest
    model = build_model(m.model.arch, dict(m.model.kwargs), m.model.init_seed)
    if m.recipe is not None:
        return _run_recipe_segment(tr, data, j, start, threads, model)
    assert m.optimizer is not None  # the manifest declares one of the two
    optimizer = build_optimizer(m.optimizer, model)
    first, last = m.segment_bounds(j)
    with deterministic(threads):
        rng_before = _save_rng()
        try:
            restore(start, model, optimizer, m.checkpoints[j].file)
            for step in range(first, last):
                train_step(model, optimizer, data, tr.indices[step])
            return {k: v.detach().clone() for k, v in state_tensors(model, optimizer).items()}
        finally:
            _load_rng(rng_before)


def _run_recipe_segment(
    tr: Transcript, data: Dataset, j: int, start: dict[str, Any], threads: int, model: Any
) -> dict[str, Any]:
    """Replay a recipe run's segment: rebuild optimizer, scheduler and scaler, restore the
    start's meta state, run the declared steps, and return the end state with its meta."""
    m = tr.manifest
    assert m.recipe is not None
    where = m.checkpoints[j].file
    parts = rebuild(m.recipe, model, model_functions(m, model, data))
    first, last = m.segment_bounds(j)
    with deterministic(threads):
        rng_before = _save_rng()
        try:
            restore(start, model, parts.optimizer, where)
            restore_meta(parse_meta(start, where), parts, where)
            ranks = _rank_states(start, m.world_size, where)
            for step in range(first, last):
                x, y = batch_tensors(data, tr.indices[step])
                if m.world_size > 1:
                    _, skipped = emulated_ddp_step(parts, x, y, loss_of, ranks)
                else:
                    _, skipped = declared_step(parts, x, y, loss_of)
                if skipped:
                    parts.skipped.append(step)
            out = {k: v.detach().clone() for k, v in state_tensors(model, parts.optimizer).items()}
            out[META_KEY] = meta_tensor(meta_state(parts))
            if m.world_size > 1:
                out.update({rank_rng_key(r): t for r, t in enumerate(ranks)})
            return out
        finally:
            _load_rng(rng_before)


def _rank_states(start: dict[str, Any], world: int, where: str) -> list[Any]:
    """Every rank's RNG state at the segment's start (rank 0's is the process's own)."""
    import torch

    from accord.errors import IntegrityError

    states = []
    for r in range(world):
        t = start.get(rank_rng_key(r))
        if t is None or t.dtype != torch.uint8 or t.dim() != 1:
            raise IntegrityError(where, f"has no valid RNG state for rank {r}", None)
        states.append(t.clone())
    return states


def model_functions(m: Any, model: Any, data: Dataset) -> list[str]:
    """Custom autograd functions the rebuilt model holds: the lab's handed-over code may
    define its own (they are then rebuilt with it); the registered architectures hold none."""
    import torch

    if m.model.arch != "module":
        return []
    return custom_autograd_functions(model, torch.from_numpy(data.x[:1]))


def _save_rng() -> Any:
    import torch

    return torch.get_rng_state()


def _load_rng(state: Any) -> None:
    import torch

    torch.set_rng_state(state)


def compare(
    j: int,
    first: int,
    last: int,
    start: dict[str, Any],
    recorded: dict[str, Any],
    replayed: dict[str, Any],
) -> SegmentResult:
    import torch

    w0 = _flat(start, MODEL_PREFIX)
    w1 = _flat(recorded, MODEL_PREFIX)
    wr = _flat(replayed, MODEL_PREFIX)
    if w1.shape != wr.shape or w0.shape != w1.shape:
        inf = float("inf")
        return SegmentResult(j, first, last, inf, inf, inf, inf, 1.0, inf, inf, False)
    diff = wr - w1
    update = float(torch.linalg.vector_norm(w1 - w0))
    l2 = float(torch.linalg.vector_norm(diff))
    cos = float(torch.nn.functional.cosine_similarity(wr - w0, w1 - w0, dim=0, eps=1e-30))
    o1, orp = _flat(recorded, OPT_PREFIX), _flat(replayed, OPT_PREFIX)
    if o1.shape != orp.shape:
        opt_rel = float("inf")
    else:
        denom = max(float(torch.linalg.vector_norm(o1)), 1e-12)
        opt_rel = float(torch.linalg.vector_norm(o1 - orp)) / denom if o1.numel() else 0.0
    rng_keys = {k for k in (*recorded, *replayed) if k.startswith("rng/")}
    rng_equal = all(
        k in recorded and k in replayed and torch.equal(recorded[k], replayed[k]) for k in rng_keys
    )
    state_equal = True
    if META_KEY in recorded or META_KEY in replayed:
        where = f"checkpoint at step {last}"
        state_equal = META_KEY in replayed and same_meta(
            parse_meta(recorded, where), parse_meta(replayed, where)
        )
    return SegmentResult(
        segment=j,
        first_step=first,
        last_step=last,
        update_l2=update,
        l1=float(diff.abs().sum()),
        l2=l2,
        linf=float(diff.abs().max()) if diff.numel() else 0.0,
        cosine_distance=max(0.0, 1.0 - cos),
        relative=l2 / max(update, 1e-12),
        optimizer_relative=opt_rel,
        rng_equal=rng_equal,
        state_equal=state_equal,
    )


def replay_segment(tr: Transcript, data: Dataset, j: int, threads: int = 1) -> SegmentResult:
    start = tr.checkpoint_tensors(j)
    recorded = tr.checkpoint_tensors(j + 1)
    replayed = run_segment(tr, data, j, start, threads)
    first, last = tr.manifest.segment_bounds(j)
    return compare(j, first, last, start, recorded, replayed)
