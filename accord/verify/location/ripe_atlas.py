"""Read RIPE Atlas exports (anchor list, ping results) into Accord's node and RTT tables.

RIPE Atlas anchors are servers in data centres whose hosts declare their coordinates; the
anchoring mesh pings every anchor from many others. That makes them natural landmarks and a
real test bed. The formats read here are those of the RIPE Atlas REST API v2: the
``/anchors`` listing (``results`` with ``probe``, ``ip_v4``, ``ip_v6``, ``fqdn``,
``country``, ``geometry``) and measurement results as NDJSON (``type``, ``prb_id``,
``dst_addr``, ``result[].rtt``, ``timestamp``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from accord.errors import AccordError
from accord.verify.location.inputs import Landmark


@dataclass(frozen=True)
class PairSample:
    landmark_id: str
    peer_id: str
    rtt_ms: float
    timestamp: int


def node_id(probe: int) -> str:
    return f"probe-{probe}"


def parse_anchors(text: str, source: str = "anchors") -> tuple[list[Landmark], dict[str, str]]:
    """Landmarks (one per anchor, by probe id) and a map from anchor IP to node id."""
    try:
        doc = json.loads(text)
    except ValueError:
        raise AccordError(source, "is not JSON", "give the RIPE Atlas /anchors listing") from None
    rows = doc.get("results") if isinstance(doc, dict) else doc
    if not isinstance(rows, list):
        raise AccordError(source, "has no 'results' list", "give the RIPE Atlas /anchors listing")
    nodes: list[Landmark] = []
    by_ip: dict[str, str] = {}
    for i, row in enumerate(rows):
        where = f"{source}:results[{i}]"
        try:
            probe = int(row["probe"])
            lon, lat = (float(v) for v in row["geometry"]["coordinates"])
            fqdn = str(row.get("fqdn") or "")
            country = str(row.get("country") or "")
        except (KeyError, TypeError, ValueError):
            raise AccordError(
                where, "lacks probe or geometry.coordinates", "check the export"
            ) from None
        if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
            raise AccordError(where, f"has invalid coordinates ({lat}, {lon})", "check the export")
        ident = node_id(probe)
        nodes.append(Landmark(ident, lat, lon, fqdn.split(".")[0], country))
        for key in ("ip_v4", "ip_v6"):
            if row.get(key):
                by_ip[str(row[key])] = ident
    return nodes, by_ip


def parse_ping_results(
    text: str, anchor_ip_to_node: dict[str, str], source: str = "results"
) -> tuple[list[PairSample], int]:
    """Every replied ping between two known anchors, and how many records were skipped.

    A record is skipped if it is not a ping, its source probe or destination is not a known
    anchor, or source and destination are the same anchor.
    """
    known = set(anchor_ip_to_node.values())
    out: list[PairSample] = []
    skipped = 0
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            raise AccordError(f"{source}:{n}", "is not JSON", "give NDJSON results") from None
        if not isinstance(rec, dict) or rec.get("type") != "ping":
            skipped += 1
            continue
        src = node_id(int(rec.get("prb_id", -1)))
        dst = anchor_ip_to_node.get(str(rec.get("dst_addr")))
        if src not in known or dst is None or src == dst:
            skipped += 1
            continue
        stamp = int(rec.get("timestamp", 0))
        for reply in rec.get("result") or []:
            if isinstance(reply, dict) and isinstance(reply.get("rtt"), int | float):
                rtt = float(reply["rtt"])
                if rtt >= 0:
                    out.append(PairSample(src, dst, rtt, stamp))
    return out, skipped
