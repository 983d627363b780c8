"""Turning items into the named metrics that rule conditions test.

Metric names are the vocabulary of the rule files (documented in docs/rules.md); a value
of ``None`` means *unknown*, which the three-valued evaluator carries through honestly.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from accord.errors import AccordError
from accord.hardware.catalog import Catalog, ChipSpec
from accord.hardware.metrics import h100_equivalents, performance_density, process_node, tpp
from accord.rules.countries import groups_of, normalise_country
from accord.rules.items import ChipCount, ModelItem, ShipmentItem
from accord.rules.logic import MetricValue


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


def aggregate_metrics(
    chips: list[tuple[ChipSpec, int]], catalog: Catalog, prefix: str
) -> tuple[dict[str, MetricValue], list[Derivation]]:
    """Totals over many chips: TPP, H100-equivalents and peak operations per second."""
    total_tpp: float | None = 0.0
    total_ops: float | None = 0.0
    parts: list[str] = []
    missing: list[str] = []
    for spec, count in chips:
        chip_tpp = tpp(spec, catalog).value
        if chip_tpp is None or total_tpp is None:
            total_tpp = None
            missing.append(spec.id)
        else:
            total_tpp += count * chip_tpp
            parts.append(f"{count:,} x {spec.id} ({chip_tpp:,.0f})")
        peaks = [v for v in spec.dense_tops.values() if v is not None]
        if not peaks or total_ops is None:
            total_ops = None
        else:
            total_ops += count * max(peaks) * 1e12
    chip_tpps = [tpp(spec, catalog).value for spec, _ in chips]
    bandwidths = [spec.memory_bandwidth_gbs for spec, _ in chips]
    ref = tpp(catalog.get("H100-SXM"), catalog).value
    h100e = total_tpp / ref if total_tpp is not None and ref else None
    count_all = sum(c for _, c in chips)
    metrics: dict[str, MetricValue] = {
        f"{prefix}_tpp": total_tpp,
        f"{prefix}_h100_equivalents": h100e,
        f"{prefix}_peak_ops_per_s": total_ops,
        f"{prefix}_chip_count": count_all,
        "chips": frozenset(spec.id for spec, _ in chips),
        "max_chip_tpp": None if None in chip_tpps else max(v for v in chip_tpps if v is not None),
        "max_memory_bandwidth_gbs": None
        if None in bandwidths
        else max(b for b in bandwidths if b is not None),
    }
    tpp_text = (
        f"{' + '.join(parts)} = {total_tpp:,.0f}"
        if total_tpp is not None
        else f"unknown: no throughput figure for {', '.join(missing)}"
    )
    derivations = [
        Derivation(metric=f"{prefix}_tpp", value=total_tpp, derivation=tpp_text),
        Derivation(
            metric=f"{prefix}_h100_equivalents",
            value=h100e,
            derivation=(
                f"{total_tpp:,.0f} / {ref:,.0f} = {h100e:,.1f}"
                if h100e is not None and total_tpp is not None and ref
                else "unknown: aggregate TPP unknown"
            ),
        ),
        Derivation(
            metric=f"{prefix}_peak_ops_per_s",
            value=total_ops,
            derivation=(
                f"sum of count x highest dense peak = {total_ops:.3g} op/s"
                if total_ops is not None
                else "unknown: a chip has no published peak"
            ),
        ),
    ]
    return metrics, derivations


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
    return {
        "training_compute": item.training_compute,
        "compute_cost_usd": item.compute_cost_usd,
        "open_weights": item.open_weights,
    }
