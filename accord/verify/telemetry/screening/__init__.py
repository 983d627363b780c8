"""Restricted-party screening against lists in the US Consolidated Screening List format."""

from accord.verify.telemetry.screening.csl import (
    ListProvenance,
    ScreenHit,
    ScreeningList,
    load_list,
    sample_list,
)
from accord.verify.telemetry.screening.names import NormalisedName, normalise_org, similarity

__all__ = [
    "ListProvenance",
    "NormalisedName",
    "ScreenHit",
    "ScreeningList",
    "load_list",
    "normalise_org",
    "sample_list",
    "similarity",
]
