"""Great-circle geometry, the ring lattice's covering radius, and country shapes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.errors import NotFoundError
from accord.verify.location.geodesy import (
    EARTH_RADIUS_KM,
    HALF_CIRCUMFERENCE_KM,
    Propagation,
    angular_km,
    destination,
    distance_km,
    to_latlon,
    unit_vectors,
)
from accord.verify.location.geography import (
    BORDER_SPACING_KM,
    all_countries,
    country_at,
    country_shape,
)
from accord.verify.location.region import ring_lattice

lats = st.floats(-89.9, 89.9)
lons = st.floats(-180.0, 180.0)


def test_speed_constants_follow_the_physics() -> None:
    # 2/3 c over a round trip: c * 2/3 / 2 km per ms, i.e. just under 100 km per ms of RTT
    assert Propagation.FIBRE.km_per_ms_rtt == pytest.approx(299_792.458 / 1000 / 3)
    assert Propagation.VACUUM.km_per_ms_rtt == pytest.approx(299_792.458 / 1000 / 2)


def test_distance_is_zero_to_self_and_half_circumference_to_antipode() -> None:
    assert float(distance_km(10.0, 20.0, 10.0, 20.0)) == 0.0
    assert float(distance_km(10.0, 20.0, -10.0, -160.0)) == pytest.approx(HALF_CIRCUMFERENCE_KM)
    quarter = math.pi * EARTH_RADIUS_KM / 2
    assert float(distance_km(0.0, 0.0, 90.0, 0.0)) == pytest.approx(quarter)


@given(lats, lons, lats, lons, lats, lons)
def test_distance_is_a_metric(
    a1: float, o1: float, a2: float, o2: float, a3: float, o3: float
) -> None:
    d12 = float(distance_km(a1, o1, a2, o2))
    assert d12 == pytest.approx(float(distance_km(a2, o2, a1, o1)), abs=1e-6)
    assert d12 <= float(distance_km(a1, o1, a3, o3)) + float(distance_km(a3, o3, a2, o2)) + 1e-6


@given(lats, lons, st.floats(0.0, 360.0), st.floats(0.0, 19_000.0))
def test_destination_lands_at_the_requested_distance(
    lat: float, lon: float, bearing: float, dist: float
) -> None:
    p = destination(lat, lon, [bearing], dist)[0]
    assert float(distance_km(lat, lon, p[0], p[1])) == pytest.approx(dist, abs=1e-3)


@given(lats, lons)
def test_unit_vectors_round_trip(lat: float, lon: float) -> None:
    back_lat, back_lon = to_latlon(unit_vectors(lat, lon))
    assert float(distance_km(lat, lon, back_lat, back_lon)) < 1e-6


@settings(max_examples=40, deadline=None)
@given(lats, lons, st.floats(1.0, 20_000.0), st.integers(0, 2**31))
def test_ring_lattice_covers_its_cap_within_the_spacing(
    lat: float, lon: float, radius: float, seed: int
) -> None:
    spacing = max(radius / 15.0, 0.5)
    pts = ring_lattice(lat, lon, radius, spacing)
    rng = np.random.default_rng(seed)
    dists = rng.uniform(0, min(radius, HALF_CIRCUMFERENCE_KM), 200)
    bearings = rng.uniform(0, 360, 200)
    probes = np.array(
        [destination(lat, lon, [b], d)[0] for b, d in zip(bearings, dists, strict=False)]
    )
    vecs = unit_vectors(probes[:, 0], probes[:, 1])
    nearest = angular_km((vecs @ pts.T).max(axis=1))
    assert float(nearest.max()) <= spacing + 1e-6


@pytest.mark.parametrize(
    ("lat", "lon", "code"),
    [
        (48.85, 2.35, "FR"),  # Paris
        (39.9, 116.4, "CN"),  # Beijing
        (-27.47, 153.03, "AU"),  # Brisbane
        (65.0, 178.0, "RU"),  # Chukotka, west of the antimeridian
        (67.0, -175.0, "RU"),  # Chukotka, east of it
        (-85.0, 0.0, "AQ"),  # near the south pole
        (39.0, -98.0, "US"),  # Kansas
        (35.2, 33.9, "CY"),  # Northern Cyprus, mapped de jure
    ],
)
def test_points_fall_in_their_country(lat: float, lon: float, code: str) -> None:
    assert country_at(lat, lon) == code


def test_mid_ocean_is_no_country() -> None:
    assert country_at(0.0, -30.0) is None


def test_small_states_are_discs_with_a_source() -> None:
    sg = country_shape("SG")
    assert sg.disc is not None and "Factbook" in sg.disc.source
    assert "not drawn at 1:110m" in sg.description
    assert sg.contains(np.array([1.29]), np.array([103.85]))[0]  # Singapore city


def test_country_missing_everywhere_is_a_clear_error() -> None:
    with pytest.raises(NotFoundError, match=r"small_territories\.yaml"):
        country_shape("BB")  # Barbados: not at 1:110m and no disc entry
    with pytest.raises(NotFoundError, match="unknown country code"):
        country_shape("QQ")


def test_every_shape_has_a_bounding_cap_that_holds_its_border() -> None:
    for shape in all_countries().values():
        centre, radius = shape.bounding_cap
        assert radius < HALF_CIRCUMFERENCE_KM / 2 + BORDER_SPACING_KM
        if not shape.is_disc:
            assert float(angular_km(shape.border_points @ centre).max()) <= radius


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["FR", "CN", "US", "BR", "AU", "RU"]), st.integers(0, 2**31))
def test_border_distance_never_exceeds_distance_to_a_real_vertex(code: str, seed: int) -> None:
    shape = all_countries()[code]
    rng = np.random.default_rng(seed)
    ring = shape.rings[int(rng.integers(len(shape.rings)))]
    vertex = ring[int(rng.integers(len(ring)))]
    p = destination(float(vertex[1]), float(vertex[0]), [rng.uniform(0, 360)], 300.0)[0]
    measured = float(shape.border_distance_km(unit_vectors(p[0], p[1])[None, :])[0])
    assert measured <= 300.0 + 1e-6
