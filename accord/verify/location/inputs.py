"""Landmark and round-trip-time tables, parsed defensively.

These files come from inspectors and, for RTTs, ultimately from a party that may want to be
misplaced, so every row is checked and a bad one is reported with its file, line and column
and a fix, never a traceback. Extra columns are ignored so that exports from measurement
platforms (timestamps, probe ids) can be fed in unchanged.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from accord.errors import AccordError

MAX_FIELD_CHARS = 200


@dataclass(frozen=True)
class Landmark:
    """A server at a known place that the inspectorate trusts."""

    id: str
    lat: float
    lon: float
    name: str = ""
    country: str = ""


@dataclass(frozen=True)
class RttSample:
    """One measured round-trip time between a landmark and the target, in ms."""

    landmark_id: str
    rtt_ms: float
    target: str = ""


@dataclass(frozen=True)
class PeerRtt:
    """One landmark-to-landmark round-trip time, used to calibrate the CBG bestlines."""

    landmark_id: str
    peer_id: str
    rtt_ms: float


# Other names measurement data sets give the same columns (WonderProxy-style node and ping
# tables: latitude/longitude, src_id/dst_id); read as the canonical name.
ALIASES = {
    "latitude": "lat",
    "longitude": "lon",
    "src_id": "landmark_id",
    "dst_id": "peer_id",
}


def _read_rows(text: str, source: str, required: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    if "\x00" in text:
        raise AccordError(source, "contains NUL bytes; not a CSV text file", "export it as CSV")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise AccordError(source, "is empty", f"give a header row: {','.join(required)}") from None
    except csv.Error as exc:
        raise AccordError(source, f"is not valid CSV ({exc})", "export it as CSV") from None
    names = [h.strip().lower() for h in header]
    if len(set(names)) == len(names):
        names = [
            ALIASES[n] if n in ALIASES and n != ALIASES[n] and ALIASES[n] not in names else n
            for n in names
        ]
    missing = [c for c in required if c not in names]
    if missing:
        raise AccordError(
            source,
            f"missing column(s) {', '.join(missing)} (header is {','.join(names)[:120]!r})",
            f"the header must include {','.join(required)}",
        )
    if len(set(names)) != len(names):
        raise AccordError(source, "repeats a column name in its header", "name each column once")
    rows: list[tuple[int, dict[str, str]]] = []
    line = 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise AccordError(
                f"{source}:{reader.line_num}", f"is not valid CSV ({exc})", "fix the quoting"
            ) from None
        line = reader.line_num
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) > len(names):
            raise AccordError(
                f"{source}:{line}",
                f"has {len(values)} fields but the header has {len(names)}",
                "remove the extra fields or add a header for them",
            )
        row = {n: (values[i].strip() if i < len(values) else "") for i, n in enumerate(names)}
        rows.append((line, row))
    return rows


def _text(row: dict[str, str], column: str, where: str, required: bool) -> str:
    value = row.get(column, "")
    if required and not value:
        raise AccordError(f"{where}:{column}", "is missing", f"give a {column} on every row")
    if len(value) > MAX_FIELD_CHARS:
        raise AccordError(
            f"{where}:{column}", f"is longer than {MAX_FIELD_CHARS} characters", "shorten it"
        )
    return value


def _number(row: dict[str, str], column: str, where: str, lo: float, hi: float) -> float:
    raw = row.get(column, "")
    if not raw:
        raise AccordError(f"{where}:{column}", "is missing", f"give a {column} on every row")
    try:
        value = float(raw)
    except ValueError:
        raise AccordError(
            f"{where}:{column}", f"is not a number: {raw[:40]!r}", "write a decimal number"
        ) from None
    if not math.isfinite(value):
        raise AccordError(f"{where}:{column}", f"is not finite: {raw[:40]!r}", "give a real value")
    if not lo <= value <= hi:
        raise AccordError(
            f"{where}:{column}", f"{value:g} is outside [{lo:g}, {hi:g}]", f"give a valid {column}"
        )
    return value


def parse_landmarks(text: str, source: str = "landmarks") -> list[Landmark]:
    """Parse ``id,lat,lon[,name,country]``; ids must be unique."""
    out: list[Landmark] = []
    seen: set[str] = set()
    for line, row in _read_rows(text, source, ("id", "lat", "lon")):
        where = f"{source}:{line}"
        ident = _text(row, "id", where, required=True)
        if ident in seen:
            raise AccordError(f"{where}:id", f"landmark {ident!r} appears twice", "keep one row")
        seen.add(ident)
        out.append(
            Landmark(
                id=ident,
                lat=_number(row, "lat", where, -90.0, 90.0),
                lon=_number(row, "lon", where, -180.0, 180.0),
                name=_text(row, "name", where, required=False),
                country=_text(row, "country", where, required=False),
            )
        )
    if not out:
        raise AccordError(source, "has no landmark rows", "add at least one landmark")
    return out


# An RTT above ten minutes is a unit error, not a measurement (real samples reach seconds).
MAX_RTT_MS = 600_000.0


def parse_rtts(text: str, source: str = "rtts") -> list[RttSample]:
    """Parse ``landmark_id,rtt_ms[,target]``; several rows per landmark are allowed."""
    out: list[RttSample] = []
    for line, row in _read_rows(text, source, ("landmark_id", "rtt_ms")):
        where = f"{source}:{line}"
        raw = row.get("rtt_ms", "")
        if raw.startswith("-"):
            raise AccordError(
                f"{where}:rtt_ms",
                f"is negative ({raw[:40]}); a round-trip time cannot be",
                "check the measurement export",
            )
        out.append(
            RttSample(
                landmark_id=_text(row, "landmark_id", where, required=True),
                rtt_ms=_number(row, "rtt_ms", where, 0.0, MAX_RTT_MS),
                target=_text(row, "target", where, required=False),
            )
        )
    if not out:
        raise AccordError(source, "has no RTT rows", "add at least one measurement")
    return out


def parse_peer_rtts(text: str, source: str = "calibration") -> list[PeerRtt]:
    """Parse ``landmark_id,peer_id,rtt_ms``: landmark-to-landmark measurements."""
    out: list[PeerRtt] = []
    for line, row in _read_rows(text, source, ("landmark_id", "peer_id", "rtt_ms")):
        where = f"{source}:{line}"
        a = _text(row, "landmark_id", where, required=True)
        b = _text(row, "peer_id", where, required=True)
        if a == b:
            raise AccordError(f"{where}:peer_id", "equals landmark_id", "pair distinct landmarks")
        out.append(PeerRtt(a, b, _number(row, "rtt_ms", where, 0.0, MAX_RTT_MS)))
    return out


def read_text(path: Path | str, option: str) -> str:
    """Read a user-named file, turning OS errors into one clear line."""
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise AccordError(option, f"file not found: {p}", "check the path") from None
    except UnicodeDecodeError:
        raise AccordError(option, f"{p} is not UTF-8 text", "export the CSV as UTF-8") from None
    except OSError as exc:
        raise AccordError(option, f"cannot read {p}: {exc.strerror}", "check the path") from None


def select_target(samples: Iterable[RttSample], target: str | None, source: str) -> list[RttSample]:
    """Keep one target's rows; a file with several targets needs the target named."""
    rows = list(samples)
    targets = sorted({s.target for s in rows})
    if target is not None:
        chosen = [s for s in rows if s.target == target]
        if not chosen:
            shown = ", ".join(repr(t) for t in targets[:5])
            raise AccordError(source, f"has no rows for target {target!r}", f"targets: {shown}")
        return chosen
    if len(targets) > 1:
        shown = ", ".join(repr(t) for t in targets[:5])
        raise AccordError(
            source, f"holds {len(targets)} targets ({shown})", "name one with --target"
        )
    return rows


def min_rtt_by_landmark(
    landmarks: Sequence[Landmark], samples: Iterable[RttSample], source: str = "rtts"
) -> dict[str, float]:
    """The smallest RTT per landmark; refuses RTTs from landmarks that are not listed.

    The minimum is the sample least inflated by queueing; every sample already bounds the
    distance, so keeping the smallest loses nothing that is sound.
    """
    known = {lm.id for lm in landmarks}
    best: dict[str, float] = {}
    for s in samples:
        if s.landmark_id not in known:
            raise AccordError(
                f"{source}:landmark_id",
                f"unknown landmark {s.landmark_id!r}",
                "add it to the landmarks file or drop its rows",
            )
        best[s.landmark_id] = min(s.rtt_ms, best.get(s.landmark_id, math.inf))
    if not best:
        raise AccordError(source, "has no RTT rows", "add at least one measurement")
    return best
