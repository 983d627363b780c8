"""Training-compute accounting: interval estimates and their cross-check."""

from accord.compute.crosscheck import cross_check
from accord.compute.estimate import Estimate, from_architecture, from_chip_hours, from_hardware
from accord.compute.interval import Interval

__all__ = [
    "Estimate",
    "Interval",
    "cross_check",
    "from_architecture",
    "from_chip_hours",
    "from_hardware",
]
