"""The region on a map (matplotlib, Agg backend, no display needed).

Plate carrée, because the country polygons are defined in that plane; disc rims are drawn
as true great-circle circles and broken where they cross the antimeridian.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from accord.errors import AccordError
from accord.verify.location.geodesy import FloatArray, destination, to_latlon
from accord.verify.location.geography import all_countries, country_shape
from accord.verify.location.locate import LocationReport
from accord.verify.location.region import SampledRegion

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MAX_RIMS = 12


def _break_at_antimeridian(lat: FloatArray, lon: FloatArray) -> tuple[FloatArray, FloatArray]:
    jumps = np.where(np.abs(np.diff(lon)) > 180.0)[0]
    lat = np.insert(lat, jumps + 1, np.nan)
    lon = np.insert(lon, jumps + 1, np.nan)
    return lat, lon


def _rim(lat: float, lon: float, radius_km: float) -> tuple[FloatArray, FloatArray]:
    pts = destination(lat, lon, np.linspace(0.0, 360.0, 361), radius_km)
    return _break_at_antimeridian(pts[:, 0], pts[:, 1])


def _extent(report: LocationReport) -> tuple[float, float, float, float]:
    lats: list[float] = []
    lons: list[float] = []
    region = report.physical
    if not region.empty:
        lat, lon = to_latlon(region.near)
        lats += [float(lat.min()), float(lat.max())]
        lons += [float(lon.min()), float(lon.max())]
    if report.declared is not None:
        lats.append(report.declared.lat)
        lons.append(report.declared.lon)
    if not lats:
        return -180.0, 180.0, -90.0, 90.0
    pad = max(2.0, 0.1 * (max(lons) - min(lons)), 0.1 * (max(lats) - min(lats)))
    x0, x1 = max(-180.0, min(lons) - pad), min(180.0, max(lons) + pad)
    y0, y1 = max(-90.0, min(lats) - pad), min(90.0, max(lats) + pad)
    return x0, x1, y0, y1


def _scatter_region(
    ax: Axes, region: SampledRegion | None, name: str, color: str, alpha: float
) -> None:
    """Draw a region's inside samples as dots; a missing or sample-free region draws nothing."""
    if region is None or region.empty or not len(region.strict):
        return
    lat, lon = to_latlon(region.strict)
    ax.scatter(
        lon,
        lat,
        s=2,
        color=color,
        alpha=alpha,
        linewidths=0,
        zorder=2,
        label=f"{name} (~{region.area_km2:,.0f} km²)",
    )


def render_map(report: LocationReport, path: Path | str, claim: str | None = None) -> Path:
    """Draw region(s), landmarks, claim and declared facility to a PNG; return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(path)
    fig, ax = plt.subplots(figsize=(11, 6.2), dpi=110)
    x0, x1, y0, y1 = _extent(report)
    for shape in all_countries().values():
        for ring in shape.rings:
            ax.plot(ring[:, 0], ring[:, 1], color="0.55", linewidth=0.5, zorder=1)
    if claim is not None:
        shape = country_shape(claim)
        if shape.disc is not None:
            lat, lon = _rim(shape.disc.lat, shape.disc.lon, shape.disc.radius_km)
            ax.plot(lon, lat, color="tab:purple", linewidth=1.2, zorder=3)
        for ring in shape.rings:
            ax.fill(ring[:, 0], ring[:, 1], color="tab:purple", alpha=0.12, zorder=1)
    _scatter_region(ax, report.physical, "physical region", "tab:orange", 0.35)
    _scatter_region(ax, report.cbg, "CBG region", "tab:red", 0.5)
    tight = sorted(report.constraints, key=lambda c: c.physical_km)[:MAX_RIMS]
    for c in tight:
        lat, lon = _rim(c.lat, c.lon, c.physical_km)
        ax.plot(lon, lat, color="tab:blue", linewidth=0.7, alpha=0.7, zorder=3)
    ax.scatter(
        [c.lon for c in report.constraints],
        [c.lat for c in report.constraints],
        marker="^",
        s=28,
        color="tab:blue",
        edgecolors="k",
        linewidths=0.4,
        zorder=4,
        label=f"landmarks ({len(report.constraints)}; rims of the {len(tight)} tightest)",
    )
    if report.declared is not None:
        ax.scatter(
            [report.declared.lon],
            [report.declared.lat],
            marker="*",
            s=180,
            color="gold",
            edgecolors="k",
            zorder=5,
            label="declared facility",
        )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    ax.set_aspect("equal", adjustable="box")
    title = f"Feasible region of {report.target} ({report.propagation} bound"
    title += f", {report.km_per_ms_rtt:.1f} km per ms RTT)"
    if claim is not None:
        title += f"; claim: {claim}"
    ax.set_title(title, fontsize=10)
    ax.legend(loc="lower left", fontsize=7)
    fig.tight_layout()
    try:
        fig.savefig(out)
    except OSError as exc:
        raise AccordError(
            "--map", f"cannot write {out}: {exc.strerror}", "check the path"
        ) from None
    finally:
        plt.close(fig)
    return out
