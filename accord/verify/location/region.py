"""The feasible region: an intersection of spherical caps, and sound questions about it.

Membership of one point is exact (a distance per cap). Questions about the whole region
(is it empty, does it touch country X, how far can it reach) are answered on a lattice of
sample points whose covering radius ``delta`` is proven, and every answer is widened by that
radius in the direction that keeps it sound:

* the lattice is laid in rings around the smallest cap's centre, ring spacing ``h`` and at
  most ``h`` between neighbours on a ring, so every point of that cap is within ``h`` of a
  sample (radially at most h/2 to the nearest ring, then at most h/2 along it);
* a sample counts as "near the region" if it lies inside every cap grown by ``delta``; any
  true region point then has a near sample within ``delta``;
* "cannot be in X" is drawn only if no near sample lies in X or within
  ``delta + border spacing / 2 + margin`` of X's border, so thin overlaps the lattice steps
  over are still caught.

The lattice adapts: if few samples land in the region, it is re-laid around them, finer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

import numpy as np

from accord.verify.location.geodesy import (
    EARTH_RADIUS_KM,
    HALF_CIRCUMFERENCE_KM,
    FloatArray,
    angular_km,
    cap_area_km2,
    distance_km,
    to_latlon,
    unit_vectors,
)
from accord.verify.location.geography import BORDER_SPACING_KM, CountryShape

TARGET_SAMPLES = 20_000
_ROWS = 4096
MIN_SPACING_KM = 0.001


@dataclass(frozen=True)
class Caps:
    """Discs on the sphere: centres (degrees) and great-circle radii (km)."""

    lat: FloatArray
    lon: FloatArray
    radius_km: FloatArray

    def __post_init__(self) -> None:
        if not (self.lat.shape == self.lon.shape == self.radius_km.shape):
            raise ValueError("caps need equal-length lat, lon, radius arrays")

    @property
    def vectors(self) -> FloatArray:
        return unit_vectors(self.lat, self.lon)

    def inside(self, vectors: FloatArray, grow_km: float = 0.0) -> np.ndarray:
        """Mask of points inside every cap grown by ``grow_km``.

        Caps are tested tightest first, in blocks, and each block only on the points that
        survived the previous ones: most lattice points fall outside one of the few
        tightest caps, so the full points-by-caps product is rarely needed.
        """
        n = len(vectors)
        alive = np.ones(n, dtype=bool)
        if self.lat.size == 0 or n == 0:
            return alive
        order = np.argsort(self.radius_km)
        angle = np.minimum((self.radius_km[order] + grow_km) / EARTH_RADIUS_KM, math.pi)
        cos_limit = np.cos(angle) - 1e-12
        centres = self.vectors[order]
        idx = np.arange(n)
        block = 16
        start = 0
        while start < len(order) and idx.size:
            block_t = np.ascontiguousarray(centres[start : start + block].T)
            limit = cos_limit[start : start + block]
            pts = np.ascontiguousarray(vectors[idx])
            keep = np.empty(idx.size, dtype=bool)
            for row in range(0, idx.size, _ROWS):
                cos = pts[row : row + _ROWS] @ block_t
                keep[row : row + _ROWS] = (cos >= limit).all(axis=1)
            idx = idx[keep]
            start += block
            block = min(block * 2, 1024)
        alive[:] = False
        alive[idx] = True
        return alive

    def contains_point(self, lat: float, lon: float) -> bool:
        return bool(self.inside(unit_vectors(np.array([lat]), np.array([lon])))[0])


def ring_lattice(
    centre_lat: float, centre_lon: float, radius_km: float, spacing_km: float
) -> FloatArray:
    """Unit vectors of points covering a cap with covering radius <= ``spacing_km``."""
    radius_km = min(radius_km, HALF_CIRCUMFERENCE_KM)
    n_rings = math.ceil(radius_km / spacing_km)
    rho = np.arange(n_rings + 1) * spacing_km
    rho = np.minimum(rho, HALF_CIRCUMFERENCE_KM)
    circumference = 2.0 * math.pi * EARTH_RADIUS_KM * np.sin(rho / EARTH_RADIUS_KM)
    counts = np.maximum(1, np.ceil(circumference / spacing_km)).astype(int)
    counts[0] = 1
    ring_of = np.repeat(np.arange(rho.size), counts)
    offsets = np.concatenate([np.arange(c) / c for c in counts])
    bearing = 2.0 * math.pi * offsets + 0.5 * (ring_of % 2) * (2.0 * math.pi / counts[ring_of])
    delta = rho[ring_of] / EARTH_RADIUS_KM
    # local frame at the centre: z = centre, x = towards north, y = towards east
    c = unit_vectors(centre_lat, centre_lon)
    north = np.array([0.0, 0.0, 1.0]) - c * c[2]
    if np.linalg.norm(north) < 1e-12:
        north = np.array([1.0, 0.0, 0.0]) - c * c[0]
    north = north / np.linalg.norm(north)
    east = np.cross(north, c)
    pts = (
        np.cos(delta)[:, None] * c
        + (np.sin(delta) * np.cos(bearing))[:, None] * north
        + (np.sin(delta) * np.sin(bearing))[:, None] * east
    )
    return np.asarray(pts / np.linalg.norm(pts, axis=1, keepdims=True))


class Relation(StrEnum):
    """Where the target can be relative to a country, under a region's assumptions."""

    EXCLUDED = "excluded"  # no point of the region is in the country
    POSSIBLE = "possible"  # the region touches the country and leaves it
    INSIDE = "inside"  # every point of the region is in the country
    INSIDE_OR_OFFSHORE = "inside_or_offshore"  # touches no other country: there or at sea
    UNDETERMINED = "undetermined"  # the region is empty: the evidence contradicts itself


@dataclass(frozen=True)
class CountryCheck:
    code: str
    relation: Relation
    share_of_region: float
    description: str
    tolerance_km: float


@dataclass(frozen=True)
class SampledRegion:
    """Lattice samples of a cap intersection with their proven covering radius."""

    caps: Caps
    near: FloatArray  # samples within delta of the region (superset of the region)
    strict: FloatArray  # samples inside the region itself
    delta_km: float
    cell_area_km2: float

    @cached_property
    def spread(self) -> tuple[FloatArray, float]:
        """A cap (centre, radius km) holding every near sample, to skip far countries fast."""
        centre = self.near.mean(axis=0)
        norm = float(np.linalg.norm(centre))
        if norm < 1e-9:
            return np.array([0.0, 0.0, 1.0]), HALF_CIRCUMFERENCE_KM
        centre = centre / norm
        return centre, float(angular_km(self.near @ centre).max())

    @property
    def empty(self) -> bool:
        """True only when provably empty: no sample even within delta of every cap."""
        return len(self.near) == 0

    @property
    def area_km2(self) -> float:
        """Estimated area (count of samples inside times the area each one stands for)."""
        return len(self.strict) * self.cell_area_km2

    def max_distance_km(self, lat: float, lon: float) -> float:
        """Sound upper bound on the distance from a point to anywhere in the region."""
        if self.empty:
            return 0.0
        p = unit_vectors(lat, lon)
        return float(angular_km(self.near @ p).max()) + self.delta_km

    def check_country(self, shape: CountryShape, margin_km: float) -> CountryCheck:
        """Is the region clear of, touching, or inside a country (sound in both directions).

        ``margin_km`` absorbs the generalisation of the 1:110m borders. A disc-shaped small
        state is never reported INSIDE: its disc also covers sea and neighbours.
        """
        tol = self.delta_km + BORDER_SPACING_KM / 2.0 + margin_km
        if shape.disc is not None:
            tol = self.delta_km + margin_km
        share = 0.0
        if self.empty:
            # no place fits every RTT, so "excluded" would hold vacuously for every country
            return CountryCheck(shape.code, Relation.UNDETERMINED, 0.0, shape.description, tol)
        centre, radius = shape.bounding_cap
        own_centre, own_radius = self.spread
        if float(angular_km(float(own_centre @ centre))) > own_radius + radius + tol + 1e-6:
            return CountryCheck(shape.code, Relation.EXCLUDED, 0.0, shape.description, tol)
        reach = angular_km(self.near @ centre) <= radius + tol
        if not reach.any():
            return CountryCheck(shape.code, Relation.EXCLUDED, 0.0, shape.description, tol)
        lat, lon = to_latlon(self.near[reach])
        inside = shape.contains(lat, lon)
        if len(self.strict):
            # only samples within the country's bounding cap can be inside it
            candidates = self.strict[angular_km(self.strict @ centre) <= radius]
            if len(candidates):
                slat, slon = to_latlon(candidates)
                share = float(shape.contains(slat, slon).sum()) / len(self.strict)
        if inside.any() and not (inside.all() and reach.all()):
            # touches, and cannot be wholly inside: the border distances would change nothing
            return CountryCheck(shape.code, Relation.POSSIBLE, share, shape.description, tol)
        near_border = shape.near_border(self.near[reach], tol)
        touches = bool((inside | near_border).any())
        if not touches:
            return CountryCheck(shape.code, Relation.EXCLUDED, 0.0, shape.description, tol)
        all_inside = (
            shape.disc is None
            and bool(reach.all())
            and bool(inside.all())
            and not bool(near_border.any())
        )
        relation = Relation.INSIDE if all_inside else Relation.POSSIBLE
        return CountryCheck(shape.code, relation, share, shape.description, tol)


def _not_containing(caps: Caps, lat: float, lon: float, extent_km: float) -> Caps:
    """Drop caps that contain the whole lattice disc: they cannot exclude any sample."""
    if caps.lat.size == 0:
        return caps
    d = distance_km(lat, lon, caps.lat, caps.lon)
    keep = d + extent_km > caps.radius_km
    return Caps(caps.lat[keep], caps.lon[keep], caps.radius_km[keep])


def sample_region(caps: Caps, target_samples: int = TARGET_SAMPLES) -> SampledRegion:
    """Lay a lattice over the smallest cap and keep what falls in (or near) every cap."""
    if caps.lat.size == 0:
        centre_lat, centre_lon, radius = 0.0, 0.0, HALF_CIRCUMFERENCE_KM
    else:
        i = int(np.argmin(caps.radius_km))
        centre_lat, centre_lon = float(caps.lat[i]), float(caps.lon[i])
        radius = float(caps.radius_km[i])
    empty = np.empty((0, 3))
    for _ in range(4):
        area = cap_area_km2(radius)
        spacing = max(math.sqrt(area / target_samples), MIN_SPACING_KM)
        pts = ring_lattice(centre_lat, centre_lon, radius + spacing, spacing)
        active = _not_containing(caps, centre_lat, centre_lon, radius + 2.0 * spacing)
        near = pts[active.inside(pts, grow_km=spacing)]
        strict = near[active.inside(near)]
        cell = cap_area_km2(radius + spacing) / len(pts)
        if len(near) == 0:
            return SampledRegion(caps, empty, empty, spacing, cell)
        if len(strict) >= target_samples // 20 or spacing <= MIN_SPACING_KM:
            return SampledRegion(caps, near, strict, spacing, cell)
        # few samples landed: re-lay a finer lattice on a cap around the near samples
        mean = near.mean(axis=0)
        norm = float(np.linalg.norm(mean))
        if norm < 1e-9:
            return SampledRegion(caps, near, strict, spacing, cell)
        centre = mean / norm
        new_radius = float(angular_km(near @ centre).max()) + spacing
        if new_radius >= radius:
            return SampledRegion(caps, near, strict, spacing, cell)
        lat_c, lon_c = to_latlon(centre)
        centre_lat, centre_lon, radius = float(lat_c), float(lon_c), new_radius
    return SampledRegion(caps, near, strict, spacing, cell)
