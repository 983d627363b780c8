"""Training-compute estimators, each giving an interval rather than a point.

Two independent routes, as Epoch AI uses them: from the architecture (about 6 FLOP per
parameter per token for a dense transformer, counting only the *active* parameters of a
mixture-of-experts model) and from the hardware (chips x peak FLOP/s x utilisation x
time). A declared figure that falls outside what both routes allow is worth a question.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from accord.compute.interval import Interval
from accord.errors import AccordError
from accord.hardware.catalog import Catalog, ChipSpec, default_catalog

# 6ND counts the matrix multiplies of forward (2ND) and backward (4ND) passes. It omits
# attention-score FLOPs (a few to ~30 % more at long context) and may count embedding
# parameters that do no matmul work, so the default band is asymmetric around 6ND.
ARCH_LOW_FACTOR = 0.9
ARCH_HIGH_FACTOR = 1.3
# What an honest lab may *report* is wider than the model FLOPs above, in two known ways:
# * Labs that recompute activations (full checkpointing) run the forward pass twice and often
#   report the hardware FLOPs actually executed, 8ND instead of 6ND: Narayanan et al. 2021
#   ("Efficient Large-Scale Language Model Training on GPU Clusters", arXiv:2104.04473, eq. 3,
#   96·B·s·l·h² counts four passes) and Korthikanti et al. 2022 (arXiv:2205.05198, model vs
#   hardware FLOPs). BloombergGPT (2.36e23 FLOP = 8.2·N·D), Yuan 1.0 (8.0·N·D) and OPT-175B
#   (8.2·N·D) report such totals.
# * Kaplan et al. 2020 count non-embedding parameters only; embeddings are up to about a
#   fifth of the parameters of small large-vocabulary models (Gemma 2B), so 6·N·D over the
#   total count can be that much above an honest 6·N_non-embedding·D.
RECOMPUTE_FACTOR = 8.0 / 6.0
REPORT_LOW_FACTOR = 0.75
REPORT_HIGH_FACTOR = ARCH_HIGH_FACTOR * RECOMPUTE_FACTOR
# Model FLOP utilisation of large dense runs: typically 30-50 % of peak (Epoch AI).
DEFAULT_UTILISATION = (0.3, 0.5)
TRAINING_PRECISIONS = ("bf16", "fp16", "tf32", "fp32")


class Estimate(BaseModel):
    """An interval estimate of training compute with the arithmetic that produced it."""

    model_config = ConfigDict(frozen=True)

    method: str
    flop: Interval
    inputs: dict[str, float | str]
    derivation: str
    assumptions: list[str] = Field(default_factory=list)
    reportable: Interval | None = Field(
        default=None,
        description="Declared totals an honest report could give under this route's inputs "
        "(wider than ``flop``: counting conventions, idle chips); outside it the inputs and "
        "the declaration contradict each other.",
    )
    warnings: list[str] = Field(default_factory=list)


def _positive(value: float, field: str) -> float:
    if not value > 0:
        raise AccordError(field, f"must be a positive number, got {value!r}")
    return float(value)


def from_architecture(
    params: float,
    tokens: float,
    *,
    active_params: float | None = None,
    low_factor: float = ARCH_LOW_FACTOR,
    high_factor: float = ARCH_HIGH_FACTOR,
) -> Estimate:
    """C ≈ 6·N·D with N the parameters active per token."""
    n_total = _positive(params, "params")
    d = _positive(tokens, "tokens")
    n = n_total
    if active_params is not None:
        n = _positive(active_params, "active_params")
        if n > n_total:
            raise AccordError(
                "active_params", "exceeds total params", "active must be <= total parameters"
            )
    if not (0 < low_factor <= 1 <= high_factor):
        raise AccordError("low_factor/high_factor", "need 0 < low <= 1 <= high")
    central = 6.0 * n * d
    flop = Interval(lo=central * low_factor, hi=central * high_factor, central=central)
    moe = f" (active {n:.3g} of {n_total:.3g})" if active_params is not None else ""
    warnings = []
    if active_params is None:
        warnings.append(
            f"all {n_total:.3g} parameters are counted as active for every token: right for a "
            "dense model; for a mixture-of-experts model give the active parameters, or the "
            "estimate is too high by total/active (about 18x for DeepSeek-V3, 37B of 671B)"
        )
    reportable = Interval(
        lo=central * min(low_factor, REPORT_LOW_FACTOR),
        hi=central * max(high_factor, REPORT_HIGH_FACTOR),
        central=central,
    )
    return Estimate(
        method="architecture",
        flop=flop,
        inputs={"params": n_total, "active_params": n, "tokens": d},
        derivation=f"6 x {n:.3g} params{moe} x {d:.3g} tokens = {central:.3g} FLOP",
        assumptions=[
            "dense-transformer rule 6·N·D (Kaplan et al. 2020; Epoch AI)",
            f"band x{low_factor:g} to x{high_factor:g} for attention FLOPs and embedding "
            "parameters",
            f"a declared total may lie anywhere in x{reportable.lo / central:.2g} to "
            f"x{reportable.hi / central:.2g}: reports that count activation recomputation "
            "(8ND) or leave out embedding parameters are honest",
        ],
        reportable=reportable,
        warnings=warnings,
    )


def training_peak(chip: ChipSpec, precision: str | None = None) -> tuple[str, float]:
    """The dense peak FLOP/s a run would be measured against, and its precision."""
    order = (precision,) if precision else TRAINING_PRECISIONS
    for p in order:
        tops = chip.dense_tops.get(p) if p else None
        if tops:
            return p, tops * 1e12
    wanted = precision or "/".join(TRAINING_PRECISIONS)
    raise AccordError(
        "precision",
        f"no dense {wanted} throughput is published for {chip.id}",
        f"choose one of {sorted(k for k, v in chip.dense_tops.items() if v)}",
    )


def _peak_text(lo: float, hi: float) -> str:
    return f"{hi / 1e12:g}" if lo == hi else f"{lo / 1e12:g} to {hi / 1e12:g} (by variant)"


def max_float_peak(chip: ChipSpec) -> float:
    """The fastest dense floating-point rate the chip publishes, in FLOP/s (0 if none).

    The physical ceiling of a run uses this rather than the BF16 peak, because a run trained
    in FP8 (DeepSeek-V3) honestly does more FLOP per second than BF16 allows.
    """
    rates = [v for k, v in chip.dense_tops.items() if v and k.startswith(("fp", "bf", "tf"))]
    return max(rates, default=0.0) * 1e12


def from_hardware(
    chip: str | ChipSpec,
    count: int,
    hours: float,
    *,
    utilisation: tuple[float, float] = DEFAULT_UTILISATION,
    precision: str | None = None,
    catalog: Catalog | None = None,
) -> Estimate:
    """C ≈ chips x peak FLOP/s x utilisation x seconds (wall-clock hours per chip)."""
    spec = chip if isinstance(chip, ChipSpec) else (catalog or default_catalog()).get(chip)
    if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
        raise AccordError("count", f"must be a positive whole number, got {count!r}")
    h = _positive(hours, "hours")
    lo_u, hi_u = utilisation
    if not (0 < lo_u <= hi_u <= 1):
        raise AccordError("utilisation", f"need 0 < low <= high <= 1, got {utilisation}")
    cat = catalog or default_catalog()
    # A name sold in variants (a bare "910B"): the band spans the slowest to the fastest.
    members = [cat.get(v) for v in spec.variants] if spec.variants else [spec]
    peaks = [training_peak(m, precision) for m in members]
    used = peaks[0][0]
    peak_lo, peak = min(p for _, p in peaks), max(p for _, p in peaks)
    chip_seconds = count * h * 3600.0
    flop = Interval(lo=chip_seconds * peak_lo * lo_u, hi=chip_seconds * peak * hi_u)
    fastest = max(max_float_peak(m) for m in members)
    ceiling = chip_seconds * max(peak, fastest)
    return Estimate(
        method="hardware",
        flop=flop,
        inputs={
            "chip": spec.id,
            "count": count,
            "hours": h,
            "precision": used,
            "utilisation_low": lo_u,
            "utilisation_high": hi_u,
        },
        derivation=(
            f"{count:,} x {spec.id} x {_peak_text(peak_lo, peak)} TFLOP/s ({used}) x {h:g} h "
            f"x 3600 s x utilisation {lo_u:g}-{hi_u:g} = {flop}"
        ),
        assumptions=[
            f"utilisation (MFU) between {lo_u:.0%} and {hi_u:.0%} of dense {used} peak",
            "hours are wall-clock per chip (chip-hours = count x hours)",
            f"no run on these chip-hours can exceed {ceiling:.3g} FLOP (every chip at its "
            "fastest dense floating-point peak for every second); a lower total proves "
            "nothing, since chips may idle",
        ],
        reportable=Interval(lo=0.0, hi=ceiling),
    )


def from_chip_hours(
    chip: str | ChipSpec,
    chip_hours: float,
    *,
    utilisation: tuple[float, float] = DEFAULT_UTILISATION,
    precision: str | None = None,
    catalog: Catalog | None = None,
) -> Estimate:
    """As :func:`from_hardware` when only total chip-hours are published (e.g. DeepSeek-V3)."""
    return from_hardware(
        chip,
        1,
        _positive(chip_hours, "chip_hours"),
        utilisation=utilisation,
        precision=precision,
        catalog=catalog,
    )
