"""SenseTime Helios trace (S-Lab-System-Group/HeliosData), ``cluster_log.csv``.

Columns (README): job_id, user, vc, gpu_num, cpu_num, node_num, state, submit_time,
start_time, end_time, duration, queue. Like Philly, the trace records GPU counts but not
GPU models; records carry ``HELIOS-UNSPECIFIED`` and are refused as ``unknown_chip`` until
the analyst maps that label to a chip, an assumption every report then lists.
"""

from __future__ import annotations

import csv
import io

from accord.verify.telemetry.ingest.base import Collector, Parsed, epoch, zone

TIME_FORMATS = ("%Y-%m-%d %H:%M:%S",)
UNSPECIFIED = "HELIOS-UNSPECIFIED"
COLUMNS = ("job_id", "user", "vc", "gpu_num", "state", "start_time", "end_time")


def parse_helios(
    text: str,
    *,
    tz: str = "Asia/Shanghai",
    facility: str | None = None,
    country: str | None = None,
) -> Parsed:
    zinfo = zone(tz)
    out = Collector()
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    for number, row in enumerate(reader, start=2):
        out.read += 1
        where = f"line {number}: {','.join(str(v) for v in row.values())}"
        if missing or None in row:
            out.reject("unparseable", where)
            continue
        try:
            gpus = float(row["gpu_num"] or 0)
            start = epoch(row["start_time"], zinfo, TIME_FORMATS)
            end = epoch(row["end_time"], zinfo, TIME_FORMATS)
        except ValueError:
            out.reject("bad_value", where)
            continue
        if gpus <= 0:
            out.reject("no_accelerator", where)
            continue
        out.rows.append(
            {
                "account": row["user"],
                "job_id": row["job_id"],
                "job_name": None,
                "chip": UNSPECIFIED,
                "chip_count": gpus,
                "start": start,
                "end": end,
                "facility": facility or (f"helios/{row['vc']}" if row["vc"] else None),
                "country": country,
                "source": "helios",
            }
        )
    return out.done()
