"""Accelerator catalog and the TPP / performance-density arithmetic of the US rules."""

from accord.hardware.catalog import Catalog, ChipSpec, default_catalog, get_chip, load_catalog
from accord.hardware.metrics import Metric, h100_equivalents, peak_flops, performance_density, tpp

__all__ = [
    "Catalog",
    "ChipSpec",
    "Metric",
    "default_catalog",
    "get_chip",
    "h100_equivalents",
    "load_catalog",
    "peak_flops",
    "performance_density",
    "tpp",
]
