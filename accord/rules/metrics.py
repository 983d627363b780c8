"""Turning items into the named metrics that rule conditions test.

Metric names are the vocabulary of the rule files (documented in docs/rules.md); a value
of ``None`` means *unknown*, which the three-valued evaluator carries through honestly.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict

from accord.compute.interval import Interval
from accord.errors import AccordError
from accord.hardware.catalog import Catalog, ChipSpec
from accord.hardware.metrics import (
    Metric,
    h100_equivalents,
    performance_density,
    process_node,
    tpp,
)
from accord.rules.countries import groups_of, normalise_country
from accord.rules.items import ChipCount, ModelItem, ShipmentItem
from accord.rules.logic import MetricValue, date_bounds


class PartyFacts(BaseModel):
    """Who is asking about a chip, and what attestations they hold (the foundry rule).

    No attestation is a fact (False), not an unknown: the front-end fabricator's
    presumption holds until an attestation overcomes it.
    """

    model_config = ConfigDict(frozen=True)

    party: str = "exporter"
    designer_attests: bool = False
    packager_attests: bool = False


class Derivation(BaseModel):
    """How a number was obtained, so a verdict can show its arithmetic."""

    model_config = ConfigDict(frozen=True)

    metric: str
    value: float | str | None
    derivation: str


def _has_hbm(chip: ChipSpec) -> bool | None:
    if chip.memory_type is None:
        return None
    return chip.memory_type.upper().startswith("HBM")


def chip_metrics(
    chip: ChipSpec, catalog: Catalog, party: PartyFacts | None = None
) -> tuple[dict[str, MetricValue], list[Derivation]]:
    t, pd, eq, node = (
        tpp(chip, catalog),
        performance_density(chip, catalog),
        h100_equivalents(chip, catalog),
        process_node(chip),
    )
    facts = party or PartyFacts()
    metrics: dict[str, MetricValue] = {
        "chip": chip.id,
        # A binned variant answers to its family's name too (guidance naming "910B" covers 910B3).
        "chips": frozenset({chip.id, *([chip.variant_of] if chip.variant_of else [])}),
        "released": chip.released,
        "process_node_nm": node.value,
        "transistors_billion": chip.transistors_billion,
        "hbm": _has_hbm(chip),
        "party": facts.party,
        "designer_attests_not_3a090a": facts.designer_attests,
        "packager_attests_transistors": facts.packager_attests,
        "vendor": chip.vendor,
        "tpp": t.value,
        "performance_density": pd.value,
        "h100_equivalents": eq.value,
        "interconnect_bandwidth_gbs": chip.interconnect_bandwidth_gbs,
        "memory_bandwidth_gbs": chip.memory_bandwidth_gbs,
        "datacenter": chip.datacenter,
    }
    derivations = [
        Derivation(metric="tpp", value=t.value, derivation=t.derivation),
        Derivation(metric="performance_density", value=pd.value, derivation=pd.derivation),
        Derivation(metric="h100_equivalents", value=eq.value, derivation=eq.derivation),
    ]
    if facts.party != "exporter":
        derivations.append(
            Derivation(metric="process_node_nm", value=node.value, derivation=node.derivation)
        )
    if chip.interconnect_bandwidth_gbs is None:
        derivations.append(
            Derivation(
                metric="interconnect_bandwidth_gbs",
                value=None,
                derivation=f"unknown: interconnect bandwidth of {chip.id} is not public",
            )
        )
    return metrics, derivations


def resolve_chips(counts: list[ChipCount], catalog: Catalog) -> list[tuple[ChipSpec, int]]:
    """Merge duplicate lines of the same chip and resolve names through the catalog."""
    merged: dict[str, tuple[ChipSpec, int]] = {}
    for i, line in enumerate(counts):
        try:
            spec = catalog.get(line.chip)
        except AccordError as err:
            raise type(err)(f"chips[{i}].chip", err.problem, err.fix) from None
        prev = merged.get(spec.id)
        merged[spec.id] = (spec, line.count + (prev[1] if prev else 0))
    return list(merged.values())


def _bounds(m: Metric) -> tuple[float, float] | None:
    if m.value is not None:
        return m.value, m.value
    if m.lo is not None and m.hi is not None:
        return m.lo, m.hi
    return None


def _value(lo: float, hi: float) -> float | Interval:
    """A point when the bounds meet (every chip's figure is one number), else an interval."""
    return lo if lo == hi else Interval(lo=lo, hi=hi)


def _peak_bounds(spec: ChipSpec, catalog: Catalog) -> tuple[float, float] | None:
    specs = [catalog.get(v) for v in spec.variants] if spec.variants else [spec]
    peaks = []
    for s in specs:
        vals = [v for v in s.dense_tops.values() if v is not None]
        if not vals:
            return None
        peaks.append(max(vals) * 1e12)
    return min(peaks), max(peaks)


def _show(v: float | Interval | None, fmt: str) -> str:
    if isinstance(v, Interval):
        return f"{format(v.lo, fmt)} to {format(v.hi, fmt)}"
    return "unknown" if v is None else format(v, fmt)


def _plain(v: float | Interval | None) -> float | str | None:
    return f"{v.lo:.6g}-{v.hi:.6g}" if isinstance(v, Interval) else v


def aggregate_metrics(
    chips: list[tuple[ChipSpec, int]], catalog: Catalog, prefix: str
) -> tuple[dict[str, MetricValue], list[Derivation]]:
    """Totals over many chips: TPP, H100-equivalents and peak operations per second.

    A chip sold in variants (a bare "910B") contributes its range, so a total is an
    interval and a threshold test on it is three-valued, as for any uncertain figure.
    """
    tpp_lo: float | None = 0.0
    tpp_hi = 0.0
    ops_lo: float | None = 0.0
    ops_hi = 0.0
    parts: list[str] = []
    missing: list[str] = []
    chip_bounds: list[tuple[float, float] | None] = []
    for spec, count in chips:
        b = _bounds(tpp(spec, catalog))
        chip_bounds.append(b)
        if b is None or tpp_lo is None:
            tpp_lo = None
            if b is None:
                missing.append(spec.id)
        else:
            tpp_lo += count * b[0]
            tpp_hi += count * b[1]
            shown = f"{b[0]:,.0f}" if b[0] == b[1] else f"{b[0]:,.0f} to {b[1]:,.0f}"
            parts.append(f"{count:,} x {spec.id} ({shown})")
        pk = _peak_bounds(spec, catalog)
        if pk is None or ops_lo is None:
            ops_lo = None
        else:
            ops_lo += count * pk[0]
            ops_hi += count * pk[1]
    total_tpp = _value(tpp_lo, tpp_hi) if tpp_lo is not None else None
    total_ops = _value(ops_lo, ops_hi) if ops_lo is not None else None
    bandwidths = [spec.memory_bandwidth_gbs for spec, _ in chips]
    ref = tpp(catalog.get("H100-SXM"), catalog).value
    h100e = _value(tpp_lo / ref, tpp_hi / ref) if tpp_lo is not None and ref else None
    count_all = sum(c for _, c in chips)
    known_bounds = [b for b in chip_bounds if b is not None]
    max_tpp = (
        None
        if len(known_bounds) < len(chip_bounds)
        else _value(max(b[0] for b in known_bounds), max(b[1] for b in known_bounds))
    )
    metrics: dict[str, MetricValue] = {
        f"{prefix}_tpp": total_tpp,
        f"{prefix}_h100_equivalents": h100e,
        f"{prefix}_peak_ops_per_s": total_ops,
        f"{prefix}_chip_count": count_all,
        "chips": frozenset(
            x
            for spec, _ in chips
            for x in (spec.id, *([spec.variant_of] if spec.variant_of else []))
        ),
        "max_chip_tpp": max_tpp,
        "max_memory_bandwidth_gbs": None
        if None in bandwidths
        else max(b for b in bandwidths if b is not None),
        "released": _latest_release([spec.released for spec, _ in chips]),
    }
    tpp_text = (
        f"{' + '.join(parts)} = {_show(total_tpp, ',.0f')}"
        if total_tpp is not None
        else f"unknown: no throughput figure for {', '.join(missing)}"
    )
    derivations = [
        Derivation(metric=f"{prefix}_tpp", value=_plain(total_tpp), derivation=tpp_text),
        Derivation(
            metric=f"{prefix}_h100_equivalents",
            value=_plain(h100e),
            derivation=(
                f"{_show(total_tpp, ',.0f')} / {ref:,.0f} = {_show(h100e, ',.1f')}"
                if h100e is not None and total_tpp is not None and ref
                else "unknown: aggregate TPP unknown"
            ),
        ),
        Derivation(
            metric=f"{prefix}_peak_ops_per_s",
            value=_plain(total_ops),
            derivation=(
                f"sum of count x highest dense peak = {_show(total_ops, '.3g')} op/s"
                if total_ops is not None
                else "unknown: a chip has no published peak"
            ),
        ),
    ]
    return metrics, derivations


def _latest_release(released: list[str | None]) -> str | None:
    """The release that may be latest, so "released by D" holds for every chip or is unknown."""
    latest: tuple[date, str] | None = None
    for r in released:
        bounds = date_bounds(r) if r is not None else None
        if r is None or bounds is None:
            return None
        if latest is None or bounds[1] > latest[0]:
            latest = (bounds[1], r)
    return latest[1] if latest else None


def shipment_place_metrics(item: ShipmentItem, group_set_ids: list[str]) -> dict[str, MetricValue]:
    destination = normalise_country(item.destination, "destination")
    hq = normalise_country(item.end_user_hq, "end_user_hq") if item.end_user_hq else None
    return {
        "destination": destination,
        "destination_groups": groups_of(destination, group_set_ids),
        "end_user_hq": hq,
        "end_user_hq_groups": groups_of(hq, group_set_ids) if hq else None,
        # Not being a validated end user is a fact (False); only an unknown end user is None.
        "validated_end_user": item.validated_end_user or "none",
    }


def model_metrics(item: ModelItem) -> dict[str, MetricValue]:
    share: Interval | None = None
    base = item.base_compute
    if base is not None and base.lo > 0:
        tc = item.training_compute
        share = Interval(lo=tc.lo / base.hi, hi=tc.hi / base.lo)
    cumulative = item.training_compute + base if base is not None else item.training_compute
    return {
        # Laws count cumulative compute: a fine-tune is measured with its original model.
        "training_compute": cumulative,
        # A modification's compute as a share of the original model's (EU GPAI guidelines).
        "modification_share": share,
        "compute_cost_usd": item.compute_cost_usd,
        "open_weights": item.open_weights,
    }
