"""Total Processing Performance and performance density as the US rules define them.

ECCN 3A090's technical notes define TPP = 2 x MacTOPS x bit length, the maximum over the
precisions the chip supports, aggregated over its processing units; a MAC is two
operations, so with dense vendor TOPS this is ``TOPS x bit length``. Performance density
is TPP divided by the applicable die area. Where an input is not public the metric is
*unknown*: we never fill the gap with a guess, because a guessed density can flip a
classification.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pydantic import BaseModel, ConfigDict

from accord.hardware.catalog import Catalog, ChipSpec, default_catalog

REFERENCE_CHIP = "H100-SXM"


class Metric(BaseModel):
    """A derived figure with the arithmetic that produced it, or why it is unknown."""

    model_config = ConfigDict(frozen=True)

    name: str
    value: float | None
    unit: str
    derivation: str
    lo: float | None = None
    hi: float | None = None
    """Bounds when the value is not one number (a chip sold in variants), else None."""

    @property
    def known(self) -> bool:
        return self.value is not None


def variant_range(
    chip: ChipSpec, catalog: Catalog | None, metric: Callable[[ChipSpec, Catalog], Metric]
) -> Metric | None:
    """For a name sold in variants: the metric's range over them (None when not a family)."""
    if not chip.variants or chip.dense_tops:
        return None
    cat = catalog or default_catalog()
    parts = [(v, metric(cat.get(v), cat)) for v in chip.variants]
    values = [m.value for _, m in parts]
    first = parts[0][1]
    listed = "; ".join(f"{v} {m.value:,.4g}" if m.value is not None else f"{v} ?" for v, m in parts)
    if any(v is None for v in values):
        return Metric(
            name=first.name,
            value=None,
            unit=first.unit,
            derivation=f"unknown: depends on the variant, and one is unknown ({listed})",
        )
    known = [v for v in values if v is not None]
    return Metric(
        name=first.name,
        value=None,
        unit=first.unit,
        lo=min(known),
        hi=max(known),
        derivation=f"depends on the variant: {min(known):,.4g} to {max(known):,.4g} ({listed})",
    )


def tpp(chip: ChipSpec, catalog: Catalog | None = None) -> Metric:
    """TPP = max over precisions of dense TOPS x bit length."""
    family = variant_range(chip, catalog, tpp)
    if family is not None:
        return family
    bits = (catalog or default_catalog()).bit_lengths
    best: tuple[float, str] | None = None
    # On a tie (TF32 at half the 16-bit rate ties it exactly) report the common format.
    ordered = sorted(chip.dense_tops.items(), key=lambda kv: kv[0] == "tf32")
    for precision, tops in ordered:
        if tops is None or precision not in bits:
            continue
        value = tops * bits[precision]
        if best is None or value > best[0]:
            best = (value, f"{tops:g} dense TOPS {precision} x {bits[precision]} bits")
    if best is None:
        return Metric(
            name="TPP",
            value=None,
            unit="",
            derivation=f"unknown: no dense throughput figure published for {chip.id}",
        )
    return Metric(name="TPP", value=best[0], unit="", derivation=f"{best[1]} = {best[0]:,.0f}")


def performance_density(chip: ChipSpec, catalog: Catalog | None = None) -> Metric:
    """PD = TPP / applicable die area (mm^2)."""
    family = variant_range(chip, catalog, performance_density)
    if family is not None:
        return family
    total = tpp(chip, catalog)
    if total.value is None:
        return Metric(name="PD", value=None, unit="TPP/mm²", derivation=total.derivation)
    if not chip.die_area_mm2:
        return Metric(
            name="PD",
            value=None,
            unit="TPP/mm²",
            derivation=f"unknown: die area of {chip.id} is not public",
        )
    value = total.value / chip.die_area_mm2
    return Metric(
        name="PD",
        value=value,
        unit="TPP/mm²",
        derivation=f"{total.value:,.0f} / {chip.die_area_mm2:g} mm² = {value:.2f}",
    )


def h100_equivalents(chip: ChipSpec, catalog: Catalog | None = None) -> Metric:
    """TPP relative to an H100 SXM — the unit the AI-diffusion rule's caps were explained in."""
    cat = catalog or default_catalog()
    ours = tpp(chip, cat)
    ref = tpp(cat.get(REFERENCE_CHIP), cat)
    if ours.value is None and ours.lo is not None and ours.hi is not None and ref.value:
        lo, hi = ours.lo / ref.value, ours.hi / ref.value
        return Metric(
            name="H100e",
            value=None,
            unit="",
            lo=lo,
            hi=hi,
            derivation=f"TPP {ours.lo:,.0f} to {ours.hi:,.0f} / H100-SXM TPP {ref.value:,.0f} "
            f"= {lo:.3f} to {hi:.3f}",
        )
    if ours.value is None or ref.value is None:
        return Metric(name="H100e", value=None, unit="", derivation=ours.derivation)
    value = ours.value / ref.value
    return Metric(
        name="H100e",
        value=value,
        unit="",
        derivation=f"TPP {ours.value:,.0f} / H100-SXM TPP {ref.value:,.0f} = {value:.3f}",
    )


_NODE_PATTERNS = (
    re.compile(r"(\d+(?:\.\d+)?)\s*nm", re.IGNORECASE),  # "7nm", "SMIC N+1 (7nm-class)"
    re.compile(r"\bN(\d+)"),  # TSMC "N7", "N5", "N3P"
    re.compile(r"\b(\d+)NP?\b"),  # NVIDIA's TSMC "4N", "4NP" (5 nm family, named 4)
)


def process_node(chip: ChipSpec) -> Metric:
    """The smallest logic node named for the chip's dies, in nm (the foundry rule's test).

    An explicit ``process_node_nm`` wins; otherwise the catalogue's ``process`` text is read
    ("TSMC N5 (8 XCD) + N6 (4 IOD)" gives 5). Unknown when neither names a node.
    """
    if chip.process_node_nm is not None:
        return Metric(
            name="node",
            value=chip.process_node_nm,
            unit="nm",
            derivation=f"catalogue: {chip.process_node_nm:g} nm",
        )
    found = [float(m.group(1)) for p in _NODE_PATTERNS for m in p.finditer(chip.process or "")]
    if not found:
        return Metric(
            name="node",
            value=None,
            unit="nm",
            derivation=f"unknown: no process node published for {chip.id}",
        )
    return Metric(
        name="node",
        value=min(found),
        unit="nm",
        derivation=f"read from process {chip.process!r}: {min(found):g} nm",
    )


def peak_flops(chip: ChipSpec, precision: str) -> float | None:
    """Dense peak operations per second at a precision, or None when not published."""
    tops = chip.dense_tops.get(precision)
    return None if tops is None else tops * 1e12
