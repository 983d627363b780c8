"""Great-circle geometry on a spherical Earth, vectorised with numpy.

A sphere of the mean radius is accurate to about 0.5 % against the ellipsoid; latency bounds
are hundreds of km wide, so the sphere's error is far below the measurement's. Every
function takes degrees and returns km (or degrees), and broadcasts like numpy.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray

# IUGG mean Earth radius R1 (Moritz 2000, "Geodetic Reference System 1980").
EARTH_RADIUS_KM = 6371.0088
HALF_CIRCUMFERENCE_KM = float(np.pi * EARTH_RADIUS_KM)
SPEED_OF_LIGHT_KM_PER_MS = 299_792.458 / 1000.0

FloatArray = NDArray[np.float64]


class Propagation(StrEnum):
    """How fast the fastest possible signal travels between landmark and target.

    FIBRE is 2/3 c (refractive index 1.5, slightly slower than the 1.47 of real fibre, so the
    bound is never tighter than light in real fibre allows): about 100 km of distance per ms
    of round-trip time. It is sound whenever the path is fibre. VACUUM is c (about 150 km per
    ms of RTT): the bound against an adversary who may carry the signal over free space
    (microwave towers, laser links between satellites), which is the only bound no signal can
    beat.
    """

    FIBRE = "fibre"
    VACUUM = "vacuum"

    @property
    def km_per_ms_rtt(self) -> float:
        """Distance (km) that one ms of round-trip time can cover, out and back halved."""
        speed = SPEED_OF_LIGHT_KM_PER_MS * (2.0 / 3.0 if self is Propagation.FIBRE else 1.0)
        return speed / 2.0


def distance_km(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> FloatArray:
    """Great-circle distance by the haversine formula (well conditioned at small distances)."""
    p1 = np.radians(np.asarray(lat1, dtype=np.float64))
    p2 = np.radians(np.asarray(lat2, dtype=np.float64))
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    h = np.sin(dphi / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2.0) ** 2
    return np.asarray(2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0))))


def unit_vectors(lat: ArrayLike, lon: ArrayLike) -> FloatArray:
    """Points as unit vectors, shape (..., 3), so that many distances are one matrix product."""
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    lmb = np.radians(np.asarray(lon, dtype=np.float64))
    return np.stack([np.cos(phi) * np.cos(lmb), np.cos(phi) * np.sin(lmb), np.sin(phi)], axis=-1)


def to_latlon(vectors: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Unit vectors (..., 3) back to degrees of latitude and longitude in [-180, 180)."""
    v = vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)
    lat = np.degrees(np.arcsin(np.clip(v[..., 2], -1.0, 1.0)))
    lon = np.degrees(np.arctan2(v[..., 1], v[..., 0]))
    lon = (lon + 180.0) % 360.0 - 180.0
    return np.asarray(lat), np.asarray(lon)


def angular_km(cos_angle: ArrayLike) -> FloatArray:
    """Distance along the sphere for the cosine of a central angle."""
    return np.asarray(EARTH_RADIUS_KM * np.arccos(np.clip(cos_angle, -1.0, 1.0)))


def destination(lat: float, lon: float, bearing_deg: ArrayLike, dist_km: float) -> FloatArray:
    """Points ``dist_km`` from (lat, lon) along the given bearings; shape (n, 2) as lat, lon.

    Used to draw a cap's rim on the map and to place sample points in a cap.
    """
    phi1 = np.radians(lat)
    lmb1 = np.radians(lon)
    theta = np.radians(np.asarray(bearing_deg, dtype=np.float64))
    delta = dist_km / EARTH_RADIUS_KM
    sin_phi2 = np.sin(phi1) * np.cos(delta) + np.cos(phi1) * np.sin(delta) * np.cos(theta)
    phi2 = np.arcsin(np.clip(sin_phi2, -1.0, 1.0))
    lmb2 = lmb1 + np.arctan2(
        np.sin(theta) * np.sin(delta) * np.cos(phi1),
        np.cos(delta) - np.sin(phi1) * sin_phi2,
    )
    lon2 = (np.degrees(lmb2) + 180.0) % 360.0 - 180.0
    return np.stack([np.degrees(phi2), lon2], axis=-1)


def cap_area_km2(radius_km: float) -> float:
    """Area of a spherical cap of the given great-circle radius (whole sphere past pi*R)."""
    r = min(max(radius_km, 0.0), HALF_CIRCUMFERENCE_KM)
    return float(2.0 * np.pi * EARTH_RADIUS_KM**2 * (1.0 - np.cos(r / EARTH_RADIUS_KM)))


def rtt_bound_km(rtt_ms: ArrayLike, propagation: Propagation = Propagation.FIBRE) -> FloatArray:
    """Largest distance that a round-trip time allows: the physical bound."""
    return np.asarray(np.asarray(rtt_ms, dtype=np.float64) * propagation.km_per_ms_rtt)
