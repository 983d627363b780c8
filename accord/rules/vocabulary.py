"""The metric names rule conditions may test, per item kind.

Checked when a rule file is loaded: a misspelt metric would otherwise evaluate to
*unknown* everywhere and silently weaken the rule.
"""

from __future__ import annotations

CHIP = {
    "chip",
    "chips",
    "vendor",
    "tpp",
    "performance_density",
    "h100_equivalents",
    "interconnect_bandwidth_gbs",
    "memory_bandwidth_gbs",
    "datacenter",
    # The foundry due-diligence rule (90 FR 5298): who asks, and what the IC is made of.
    "process_node_nm",
    "transistors_billion",
    "hbm",
    "party",
    "designer_attests_not_3a090a",
    "packager_attests_transistors",
    "released",
}
_AGGREGATE_SUFFIXES = ("tpp", "h100_equivalents", "peak_ops_per_s", "chip_count")
AGGREGATE = {
    "classes",
    "chips",
    "datacenter",
    "max_chip_tpp",
    "max_memory_bandwidth_gbs",
    "released",
    *(f"{p}_{s}" for p in ("server", "cluster", "shipment") for s in _AGGREGATE_SUFFIXES),
}
SHIPMENT = {
    "destination",
    "destination_groups",
    "end_user_hq",
    "end_user_hq_groups",
    "validated_end_user",
}
MODEL = {"training_compute", "compute_cost_usd", "open_weights", "modification_share"}

METRICS: frozenset[str] = frozenset(CHIP | AGGREGATE | SHIPMENT | MODEL)
