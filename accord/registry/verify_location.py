"""Location inspection: do a facility's chips answer challenges from the declared country?

The facility declares the keys of its challenge responders (``responder_keys``). The
inspectorate's landmarks send challenges whose nonces are derived from the inspection's
beacon (:func:`challenge_nonce`), so no answer can have been prepared, or measured, before
the inspection opened; each landmark signs the timed record (``accord.verify.location``).
The evidence is the inspectorate's landmark list (positions and keys: inspector only) and
the records. Records that do not check out (a key the facility never declared, a nonce not
drawn from this beacon, a bad signature) make the evidence unusable, never an accusation;
records that do check out go to :func:`accord.verify.location.locate.locate`, whose verdict
on the facility's declared country is the finding.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from accord.errors import AccordError
from accord.model.finding import Finding
from accord.registry.evidence import EvidenceError

NONCE_DOMAIN = b"accord-location-nonce/1\x00"
MAX_CHALLENGES = 64
"""Challenges per landmark an inspection may use."""
MAX_RECORDS = 10_000
MAX_LANDMARKS = 500


def challenge_nonce(beacon: bytes, landmark_id: str, index: int) -> bytes:
    """The ``index``-th nonce landmark ``landmark_id`` sends in this inspection."""
    msg = NONCE_DOMAIN + landmark_id.encode() + b"\x00" + index.to_bytes(4, "big")
    return hmac.new(beacon, msg, hashlib.sha256).digest()


def _bad(name: str, problem: str, fix: str | None = None) -> EvidenceError:
    return EvidenceError(f"evidence.{name}", problem, fix)


def _landmarks(path: Path) -> tuple[list[Any], dict[str, bytes], list[Any]]:
    """Landmarks, their keys, and their round-trip times to each other (``calibration``),
    which the locator needs before it accuses: they check the listed positions."""
    from accord.verify.location.inputs import Landmark, PeerRtt

    try:
        doc = json.loads(path.read_bytes()[: 4 << 20])
        rows = doc["landmarks"]
        if not isinstance(rows, list) or not 0 < len(rows) <= MAX_LANDMARKS:
            raise ValueError(f"1..{MAX_LANDMARKS} landmarks")
        out, keys = [], {}
        for row in rows:
            ident = str(row["id"])[:64]
            lat, lon = float(row["lat"]), float(row["lon"])
            if not (-90 <= lat <= 90 and -180 <= lon <= 180) or ident in keys:
                raise ValueError(f"landmark {ident!r}: bad position or listed twice")
            key = bytes.fromhex(str(row["key"]))
            if len(key) != 32:
                raise ValueError(f"landmark {ident!r}: key is not 32 bytes")
            out.append(
                Landmark(ident, lat, lon, str(row.get("name", "")), str(row.get("country", "")))
            )
            keys[ident] = key
        peers = []
        for row in doc.get("calibration", [])[:100_000]:
            a, b, rtt = str(row["landmark_id"]), str(row["peer_id"]), float(row["rtt_ms"])
            if a not in keys or b not in keys or not 0 < rtt < 600_000:
                raise ValueError(f"calibration {a!r}-{b!r}: unknown landmark or bad rtt_ms")
            peers.append(PeerRtt(a, b, rtt))
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as err:
        raise _bad(
            "landmarks",
            f"is not a landmark list ({str(err)[:120]})",
            '{"landmarks": [{"id", "lat", "lon", "key": hex Ed25519 key, "country"}], '
            '"calibration": [{"landmark_id", "peer_id", "rtt_ms"}]}',
        ) from None
    return out, keys, peers


def run_location(
    case: Any,
    paths: Mapping[str, Path],
    finish: Callable[[Any, Finding, str, str], Finding],
    progress: Callable[[str, int, int], None],
    workdir: Path,
    figures: dict[str, str] | None = None,
) -> Finding:
    """The finding on the facility's declared country; pictures go to ``figures``."""
    from accord.ledger.note import Verifier
    from accord.verify.location.locate import locate
    from accord.verify.location.protocol import MeasurementRecord, verify_records

    body = case.body
    progress("checking records", 0, 1)
    landmarks, landmark_keys, peers = _landmarks(paths["landmarks"])
    declared = {Verifier.parse(k).public_key: k for k in body.get("responder_keys") or []}
    lines = paths["measurements"].read_bytes()[: 16 << 20].splitlines()
    records = []
    for n, line in enumerate(lines[: MAX_RECORDS + 1], start=1):
        if not line.strip():
            continue
        try:
            records.append(MeasurementRecord.from_json(line))
        except AccordError as err:
            raise _bad("measurements", f"line {n}: {err.field} {err.problem}") from None
    if not records or len(records) > MAX_RECORDS:
        raise _bad("measurements", f"must hold 1..{MAX_RECORDS} records, one JSON per line")
    target = records[0].target_key
    if target not in declared:
        raise _bad(
            "measurements",
            "were answered by a key the facility did not declare in responder_keys",
            "measure the facility's declared responders",
        )
    beacon = case.beacon()
    allowed = {
        (lm, challenge_nonce(beacon, lm, i)) for lm in landmark_keys for i in range(MAX_CHALLENGES)
    }
    for n, rec in enumerate(records):
        if (rec.landmark_id, rec.nonce) not in allowed:
            raise _bad(
                "measurements",
                f"record {n} answers a nonce not drawn from this inspection's beacon: it was "
                "measured before the inspection opened, or for another one",
                "send the challenges accord.registry.verify_location.challenge_nonce gives",
            )
    try:
        samples = verify_records(records, landmark_keys, target, target="responder")
    except AccordError as err:
        raise _bad("measurements", f"{err.field}: {err.problem}") from None
    progress("locating", 0, 1)
    facility, country = str(body.get("facility_id")), str(body.get("country"))
    try:
        report = locate(
            landmarks,
            samples,
            claim=country,
            calibration=peers or None,
            target=f"facility:{facility}",
        )
    except AccordError as err:
        raise _bad("measurements", f"cannot be located ({err.field}: {err.problem})") from None
    progress("locating", 1, 1)
    chosen = next((f for f in report.findings if "claim" in f.statistic), None)
    if report.physical.empty or chosen is None:
        chosen = report.findings[0]
    head = (
        f"Facility {facility} declared by {case.party} in {country} (log entry "
        f"{case.declaration}): {len(records)} challenge(s) to {len(samples)} measurement(s) "
        f"answered by its declared responder {declared[target].split('+')[0]}. "
    )
    if figures is not None:
        import base64

        from accord.verify.location.plot import render_map

        png = render_map(report, workdir / "map.png", claim=country)
        figures["map_png"] = base64.b64encode(png.read_bytes()).decode("ascii")
    stat = dict(chosen.statistic)
    stat["region"] = report.physical_region.model_dump(mode="json")
    return finish(
        case,
        chosen.model_copy(update={"statistic": stat}),
        f"facility:{facility}",
        head + chosen.explanation,
    )
