"""A clearly labelled SYNTHETIC latency mesh over real node coordinates.

Used to exercise the leave-one-out harness at scale when no real full mesh is at hand. It
cannot test the soundness of the physical bound (every synthetic delay is at least that bound
by construction); only real measurements can. The model:

    rtt(i, j) = d(i, j) / v * s(i, j) + a(i) + a(j) + e,   v = 2/3 c (km per ms of RTT)

* s, the path stretch (route length over great-circle length), is 1 + (m - 1) * X with X
  log-normal (median 1): routes are longer than great circles by a heavy-tailed factor.
  Singla et al., "The Internet at the Speed of Light" (HotNets 2014) measured median ping
  RTTs of about 3.2x the c-latency between end points (about 2.1x the fibre bound); anchors
  in well-connected data centres see less, so the default median is m = 1.5x the fibre bound.
* a(i), each node's access delay (host stack, last mile), uniform in [0.2, 3] ms.
* e, queueing, exponential with mean 1 ms, drawn per sample; the minimum of a few samples is
  kept, as with real pings.

docs/location.md prints the stretch of the real RIPE Atlas pairs beside these parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from accord.verify.location.geodesy import Propagation, distance_km
from accord.verify.location.inputs import Landmark, PeerRtt


@dataclass(frozen=True)
class DelayModel:
    median_stretch: float = 1.5
    stretch_sigma: float = 0.6
    access_ms: tuple[float, float] = (0.2, 3.0)
    queue_mean_ms: float = 1.0
    samples: int = 3


def synthetic_mesh(
    nodes: Sequence[Landmark], model: DelayModel | None = None, seed: int = 0
) -> list[PeerRtt]:
    """Minimum-of-samples RTTs for every unordered pair of nodes (SYNTHETIC)."""
    model = model or DelayModel()
    rng = np.random.default_rng(seed)
    n = len(nodes)
    lat = np.array([x.lat for x in nodes])
    lon = np.array([x.lon for x in nodes])
    i, j = np.triu_indices(n, k=1)
    d = distance_km(lat[i], lon[i], lat[j], lon[j])
    access = rng.uniform(*model.access_ms, size=n)
    stretch = 1.0 + (model.median_stretch - 1.0) * rng.lognormal(0.0, model.stretch_sigma, i.size)
    base = d / Propagation.FIBRE.km_per_ms_rtt * stretch + access[i] + access[j]
    queue = rng.exponential(model.queue_mean_ms, size=(i.size, model.samples)).min(axis=1)
    rtt = base + queue
    return [
        PeerRtt(nodes[a].id, nodes[b].id, float(r))
        for a, b, r in zip(i.tolist(), j.tolist(), rtt.tolist(), strict=True)
    ]
