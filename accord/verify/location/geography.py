"""Country shapes, offline: Natural Earth 1:110m polygons plus discs for small states.

Point-in-polygon is done in the longitude/latitude plane, because that is how Natural Earth
defines its polygons: an edge is a straight line between two vertices in plate carrée, not a
great-circle arc (the US-Canada border on the 49th parallel is such an edge, and a great
circle between its ends would bulge hundreds of km north). The data set already cuts every
polygon at the antimeridian and closes Antarctica along the south-pole edge, so planar even-odd
ray casting in that plane is exact for the data as published, at both poles and at 180°.

Distances to a border use the border densified to a fixed spacing and great-circle distances
to those points, so a caller can add half the spacing to get a bound that is never too small.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources

import numpy as np
import yaml

from accord.errors import NotFoundError
from accord.rules.countries import country_name, normalise_country
from accord.verify.location.geodesy import (
    EARTH_RADIUS_KM,
    FloatArray,
    angular_km,
    distance_km,
    to_latlon,
    unit_vectors,
)

# Spacing of the densified border; distance-to-border errs by at most half of this.
BORDER_SPACING_KM = 10.0
_CHUNK = 4096


@dataclass(frozen=True)
class Disc:
    """A country too small for the 1:110m map, as a disc that covers all its land."""

    lat: float
    lon: float
    radius_km: float
    source: str


@dataclass(frozen=True, eq=False)
class CountryShape:
    """One country: polygon rings (lon, lat) or a disc; never both."""

    code: str
    name: str
    rings: tuple[FloatArray, ...] = ()
    disc: Disc | None = None

    @property
    def is_disc(self) -> bool:
        return self.disc is not None

    @property
    def description(self) -> str:
        if self.disc is not None:
            return (
                f"{self.name} ({self.code}) is not drawn at 1:110m: treated as a disc of "
                f"{self.disc.radius_km:g} km around ({self.disc.lat:.2f}, {self.disc.lon:.2f}) "
                f"[{self.disc.source}]"
            )
        return f"{self.name} ({self.code}), Natural Earth 1:110m polygon"

    @cached_property
    def _edges(self) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        x0, y0, x1, y1 = [], [], [], []
        for ring in self.rings:
            a = ring[:-1] if np.array_equal(ring[0], ring[-1]) else ring
            b = np.roll(a, -1, axis=0)
            x0.append(a[:, 0])
            y0.append(a[:, 1])
            x1.append(b[:, 0])
            y1.append(b[:, 1])
        return (np.concatenate(x0), np.concatenate(y0), np.concatenate(x1), np.concatenate(y1))

    @cached_property
    def border_points(self) -> FloatArray:
        """Border densified to at most BORDER_SPACING_KM between points, as unit vectors."""
        if self.disc is not None:
            raise ValueError("a disc has no polygon border")
        x0, y0, x1, y1 = self._edges
        seg = distance_km(y0, x0, y1, x1)
        # a straight lon/lat edge is longer than the great circle between its ends by at most
        # a few percent at these lengths; halving the step keeps every gap under the spacing.
        steps = np.maximum(1, np.ceil(2.0 * seg / BORDER_SPACING_KM)).astype(int)
        t = np.concatenate([np.arange(n) / n for n in steps])
        idx = np.repeat(np.arange(len(steps)), steps)
        lon = x0[idx] + t * (x1[idx] - x0[idx])
        lat = y0[idx] + t * (y1[idx] - y0[idx])
        return unit_vectors(lat, lon)

    @cached_property
    def bounding_cap(self) -> tuple[FloatArray, float]:
        """A cap (centre vector, radius km) that holds the whole country."""
        if self.disc is not None:
            return unit_vectors(self.disc.lat, self.disc.lon), self.disc.radius_km
        pts = self.border_points
        centre = pts.mean(axis=0)
        centre = centre / np.linalg.norm(centre)
        radius = float(angular_km(pts @ centre).max()) + BORDER_SPACING_KM
        return centre, radius

    def contains(self, lat: FloatArray, lon: FloatArray) -> np.ndarray:
        """Boolean mask: which points lie inside (disc: within the radius)."""
        lat = np.atleast_1d(np.asarray(lat, dtype=np.float64))
        lon = np.atleast_1d(np.asarray(lon, dtype=np.float64))
        if self.disc is not None:
            return np.asarray(distance_km(lat, lon, self.disc.lat, self.disc.lon)) <= (
                self.disc.radius_km
            )
        x0, y0, x1, y1 = self._edges
        if lat.size:
            # an edge can only be crossed by a ray at a latitude it spans
            keep = (np.maximum(y0, y1) >= lat.min()) & (np.minimum(y0, y1) <= lat.max())
            x0, y0, x1, y1 = x0[keep], y0[keep], x1[keep], y1[keep]
        inside = np.zeros(lat.shape, dtype=bool)
        for start in range(0, lat.size, _CHUNK):
            py = lat[start : start + _CHUNK, None]
            px = lon[start : start + _CHUNK, None]
            straddles = (y0 > py) != (y1 > py)
            with np.errstate(divide="ignore", invalid="ignore"):
                x_cross = x0 + (py - y0) * (x1 - x0) / (y1 - y0)
            crossings = straddles & (px < x_cross)
            inside[start : start + _CHUNK] = (crossings.sum(axis=1) % 2) == 1
        return inside

    def border_distance_km(self, vectors: FloatArray) -> FloatArray:
        """Great-circle distance from each point to the nearest densified border point.

        The true distance to the border is at most this plus BORDER_SPACING_KM / 2.
        """
        if self.disc is not None:
            lat, lon = to_latlon(vectors)
            d = distance_km(lat, lon, self.disc.lat, self.disc.lon)
            return np.asarray(np.abs(d - self.disc.radius_km))
        border = self.border_points
        if len(vectors):
            # only border points that can be the nearest one to some sample matter
            centre = vectors.mean(axis=0)
            norm = float(np.linalg.norm(centre))
            if norm > 1e-9:
                centre = centre / norm
                spread = float(angular_km(vectors @ centre).max())
                to_border = angular_km(border @ centre)
                nearest = float(to_border.min())
                border = border[to_border <= nearest + 2.0 * spread]
        out = np.empty(len(vectors))
        for start in range(0, len(vectors), _CHUNK):
            cos = vectors[start : start + _CHUNK] @ border.T
            out[start : start + _CHUNK] = angular_km(cos.max(axis=1))
        return out

    def near_border(self, vectors: FloatArray, within_km: float) -> np.ndarray:
        """Mask of points whose nearest densified border point is within ``within_km``.

        Same answer as ``border_distance_km(vectors) <= within_km``, but border points that
        are farther than ``within_km`` from every sample (beyond the samples' spread around
        their centre) are dropped first, which leaves none for most countries a region
        does not reach.
        """
        if self.disc is not None or not len(vectors):
            return np.asarray(self.border_distance_km(vectors) <= within_km)
        centre = vectors.mean(axis=0)
        norm = float(np.linalg.norm(centre))
        border = self.border_points
        if norm > 1e-9:
            centre = centre / norm
            spread = float(angular_km(vectors @ centre).max())
            border = border[angular_km(border @ centre) <= spread + within_km + 1e-6]
        if not len(border):
            return np.zeros(len(vectors), dtype=bool)
        out = np.empty(len(vectors), dtype=bool)
        for start in range(0, len(vectors), _CHUNK):
            cos = vectors[start : start + _CHUNK] @ border.T
            out[start : start + _CHUNK] = angular_km(cos.max(axis=1)) <= within_km
        return out


def _rings(geometry: dict[str, object]) -> list[FloatArray]:
    coords = geometry["coordinates"]
    polys = coords if geometry["type"] == "MultiPolygon" else [coords]
    assert isinstance(polys, list)
    return [np.asarray(ring, dtype=np.float64) for poly in polys for ring in poly]


@lru_cache(maxsize=1)
def all_countries() -> dict[str, CountryShape]:
    """Every country the package can test, by ISO alpha-2 code (polygons, then discs)."""
    base = resources.files("accord.verify.location").joinpath("data")
    geo = json.loads(base.joinpath("ne_110m_countries.geojson").read_text("utf-8"))
    a3_to_a2: dict[str, str] = json.loads(base.joinpath("iso_a3_to_a2.json").read_text("utf-8"))[
        "map"
    ]
    rings: dict[str, list[FloatArray]] = {}
    for feature in geo["features"]:
        code = a3_to_a2[feature["properties"]["iso_a3"]]
        rings.setdefault(code, []).extend(_rings(feature["geometry"]))
    shapes = {
        code: CountryShape(code=code, name=country_name(code), rings=tuple(r))
        for code, r in rings.items()
    }
    small = yaml.safe_load(base.joinpath("small_territories.yaml").read_text("utf-8"))
    for t in small["territories"]:
        if t["code"] in shapes:
            continue
        disc = Disc(float(t["lat"]), float(t["lon"]), float(t["radius_km"]), str(t["source"]))
        shapes[t["code"]] = CountryShape(code=t["code"], name=country_name(t["code"]), disc=disc)
    return shapes


def country_shape(code: str, field_name: str = "country") -> CountryShape:
    """The shape for a country code or English name, or a clear error."""
    iso = normalise_country(code, field_name)
    shape = all_countries().get(iso)
    if shape is None:
        raise NotFoundError(
            field_name,
            f"{country_name(iso)} ({iso}) is not drawn at Natural Earth 1:110m and has no "
            "disc in accord/verify/location/data/small_territories.yaml",
            "add a reference point, covering radius and source for it to that file",
        )
    return shape


def country_at(lat: float, lon: float) -> str | None:
    """The polygon country that contains a point (None at sea or in an unmapped state)."""
    for code, shape in all_countries().items():
        if shape.is_disc:
            continue
        centre, radius = shape.bounding_cap
        if angular_km(float(unit_vectors(lat, lon) @ centre)) > radius:
            continue
        if bool(shape.contains(np.array([lat]), np.array([lon]))[0]):
            return code
    return None


__all__ = [
    "BORDER_SPACING_KM",
    "EARTH_RADIUS_KM",
    "CountryShape",
    "Disc",
    "all_countries",
    "country_at",
    "country_shape",
]
