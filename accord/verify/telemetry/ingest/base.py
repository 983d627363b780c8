"""Shared parser result and the format dispatcher."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pyarrow as pa

from accord.errors import AccordError
from accord.verify.telemetry.schema import conform, to_table

FORMATS = ("auto", "records", "slurm", "k8s", "philly", "pai", "helios", "openb")


@dataclass
class Parsed:
    """What a parser read: canonical rows plus every line it refused, with a reason."""

    table: pa.Table
    read: int
    rejected: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)
    assumptions: list[str] = field(default_factory=list)


class Collector:
    """Accumulates rows and refusals while a parser walks its input."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.read = 0
        self.rejected: Counter[str] = Counter()
        self.examples: dict[str, list[str]] = {}
        self.assumptions: list[str] = []

    def reject(self, reason: str, example: str) -> None:
        self.rejected[reason] += 1
        bucket = self.examples.setdefault(reason, [])
        if len(bucket) < 3:
            bucket.append(example[:200])

    def done(self) -> Parsed:
        return Parsed(
            to_table(self.rows), self.read, self.rejected, self.examples, self.assumptions
        )


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise AccordError(
            "--tz", f"unknown time zone {name!r}", "use e.g. UTC or Asia/Shanghai"
        ) from None


def epoch(text: str | None, tz: ZoneInfo, formats: tuple[str, ...]) -> int | None:
    """Seconds since the epoch for a wall-clock string, or None when absent/unparseable."""
    if text is None:
        return None
    text = text.strip()
    if text in ("", "Unknown", "None", "null", "N/A"):
        return None
    for fmt in formats:
        try:
            moment = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
        return int(moment.astimezone(UTC).timestamp())
    raise ValueError(f"unrecognised time {text!r}")


def detect_format(path: Path) -> str:
    """Guess the format from the name and the first bytes; explicit --format always wins."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        return "records"
    if name.startswith("pai_task_table"):
        return "pai"
    with path.open("rb") as fh:
        head = fh.read(4096).decode("utf-8", "replace").lstrip("\ufeff")
    first = head.splitlines()[0] if head else ""
    if "|" in first and "JobID" in first:
        return "slurm"
    if first.startswith(("[", "{")):
        if '"attempts"' in head:
            return "philly"
        if '"apiVersion"' in head or '"kind"' in head or '"object"' in head:
            return "k8s"
    if "gpu_num" in first and "vc" in first:
        return "helios"
    if "gpu_milli" in first and "num_gpu" in first:
        return "openb"
    if "account" in first and "chip" in first:
        return "records"
    raise AccordError(
        str(path),
        "cannot tell which format this is",
        f"pass --format, one of {', '.join(FORMATS[1:])}",
    )


def read_records_file(path: Path) -> Parsed:
    """Canonical records already in the schema (Parquet or CSV with a header)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    try:
        if path.suffix.lower() == ".parquet":
            table = pq.read_table(path)
        else:
            table = pacsv.read_csv(
                path,
                convert_options=pacsv.ConvertOptions(
                    column_types={
                        "chip_count": pa.float64(),
                        "start": pa.int64(),
                        "end": pa.int64(),
                    },
                    strings_can_be_null=True,
                ),
            )
    except (pa.ArrowInvalid, OSError) as exc:
        raise AccordError(str(path), f"could not be read ({exc})", "check the file") from None
    table = conform(table, str(path))
    return Parsed(table, table.num_rows)


def load_records(
    path: Path,
    fmt: str = "auto",
    *,
    tz: str = "UTC",
    facility: str | None = None,
    country: str | None = None,
) -> Parsed:
    """Read one file of job records in any supported format."""
    if not path.exists():
        raise AccordError(str(path), "no such file", "give the path of a records file")
    if fmt not in FORMATS:
        raise AccordError("--format", f"unknown format {fmt!r}", f"use one of {', '.join(FORMATS)}")
    chosen = detect_format(path) if fmt == "auto" else fmt
    if chosen == "records":
        return read_records_file(path)
    if chosen == "pai":
        from accord.verify.telemetry.ingest.pai import parse_pai

        return parse_pai(path, facility=facility, country=country)
    if chosen == "openb":
        from accord.verify.telemetry.ingest.openb import parse_openb

        return parse_openb(path, facility=facility, country=country)
    text = path.read_text(encoding="utf-8", errors="replace")
    if chosen == "slurm":
        from accord.verify.telemetry.ingest.slurm import parse_sacct

        return parse_sacct(text, tz=tz, facility=facility, country=country)
    if chosen == "helios":
        from accord.verify.telemetry.ingest.helios import parse_helios

        return parse_helios(text, tz=tz, facility=facility, country=country)
    if chosen == "k8s":
        from accord.verify.telemetry.ingest.kubernetes import parse_k8s_jobs

        return parse_k8s_jobs(text, facility=facility, country=country)
    from accord.verify.telemetry.ingest.philly import parse_philly

    return parse_philly(text, tz=tz, facility=facility, country=country)


def load_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise AccordError(where, f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
