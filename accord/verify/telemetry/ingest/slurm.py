"""Slurm accounting records: ``sacct --parsable2 --allocations`` style output.

The first line names the columns (``JobID|JobName|User|Account|...|AllocTRES|...``), so
any column order works. Accelerators come from ``AllocTRES``: the typed entry
``gres/gpu:a100=8`` names the model; a bare ``gres/gpu=8`` gives only a count and the
record is refused as ``missing_chip`` (a count without a model cannot be costed). Times
are the cluster's local wall clock, so the caller says which zone (``tz``).
"""

from __future__ import annotations

import re

from accord.verify.telemetry.ingest.base import Collector, Parsed, epoch, zone

TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")
_TRES_TYPED = re.compile(r"^gres/(?:gpu|npu|tpu|accel)[:/](?P<type>[^=]+)=(?P<n>\d+(?:\.\d+)?)$")
_TRES_BARE = re.compile(r"^gres/(?:gpu|npu|tpu|accel)=(?P<n>\d+(?:\.\d+)?)$")
_NEVER_RAN = {"PENDING", "REQUEUED_HOLD"}


def parse_tres(tres: str) -> tuple[list[tuple[str, float]], float | None]:
    """Typed accelerator counts and the bare total from an AllocTRES/ReqTRES string."""
    typed: list[tuple[str, float]] = []
    bare: float | None = None
    for item in tres.split(","):
        item = item.strip()
        if m := _TRES_TYPED.match(item):
            typed.append((m["type"], float(m["n"])))
        elif m := _TRES_BARE.match(item):
            bare = float(m["n"])
    return typed, bare


def parse_sacct(
    text: str,
    *,
    tz: str = "UTC",
    facility: str | None = None,
    country: str | None = None,
) -> Parsed:
    zinfo = zone(tz)
    out = Collector()
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return out.done()
    header = [h.strip() for h in lines[0].split("|")]
    col = {name.lower(): i for i, name in enumerate(header)}
    tres_col = col.get("alloctres", col.get("reqtres"))
    for number, line in enumerate(lines[1:], start=2):
        out.read += 1
        cells = line.split("|")
        where = f"line {number}: {line}"
        if len(cells) != len(header):
            out.reject("unparseable", where)
            continue

        def cell(name: str, cells: list[str] = cells) -> str | None:
            i = col.get(name)
            value = cells[i].strip() if i is not None else ""
            return value or None

        job_id = cell("jobid")
        if job_id is not None and "." in job_id:
            out.reject("job_step", where)
            continue
        state = (cell("state") or "").split(" ")[0].upper()
        if state in _NEVER_RAN:
            out.reject("never_started", where)
            continue
        tres = cells[tres_col].strip() if tres_col is not None else ""
        typed, bare = parse_tres(tres)
        if not typed and not bare:
            out.reject("no_accelerator", where)
            continue
        try:
            start = epoch(cell("start"), zinfo, TIME_FORMATS)
            end = epoch(cell("end"), zinfo, TIME_FORMATS)
        except ValueError:
            out.reject("bad_value", where)
            continue
        base = {
            "account": cell("account") or cell("user"),
            "job_id": job_id,
            "job_name": cell("jobname"),
            "start": start,
            "end": end,
            "facility": facility or cell("cluster"),
            "country": country,
            "source": "slurm",
        }
        if not typed:
            out.rows.append({**base, "chip": None, "chip_count": bare})
            continue
        for label, n in typed:
            suffix = f"#{label}" if len(typed) > 1 else ""
            out.rows.append(
                {
                    **base,
                    "job_id": f"{job_id}{suffix}" if job_id else None,
                    "chip": label,
                    "chip_count": n,
                }
            )
    return out.done()
