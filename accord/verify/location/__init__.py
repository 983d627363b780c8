"""Delay-based location verification of chips and clusters (issue 6).

Landmarks at known places challenge the target; the round-trip times bound how far away it
can be (light in fibre), and calibrated CBG bestlines (Gueye et al. 2006) bound it tighter
with a measured miss rate. See docs/location.md.
"""

from accord.verify.location.calibration import Bestline, Calibration, calibrate, fit_bestline
from accord.verify.location.geodesy import Propagation, distance_km
from accord.verify.location.inputs import (
    Landmark,
    PeerRtt,
    RttSample,
    parse_landmarks,
    parse_peer_rtts,
    parse_rtts,
)
from accord.verify.location.locate import LocationReport, locate
from accord.verify.location.region import Relation

__all__ = [
    "Bestline",
    "Calibration",
    "Landmark",
    "LocationReport",
    "PeerRtt",
    "Propagation",
    "Relation",
    "RttSample",
    "calibrate",
    "distance_km",
    "fit_bestline",
    "locate",
    "parse_landmarks",
    "parse_peer_rtts",
    "parse_rtts",
]
