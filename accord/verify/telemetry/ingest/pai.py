"""Alibaba PAI GPU trace 2020 (alibaba/clusterdata, ``cluster-trace-gpu-v2020``).

The trace ships headerless CSVs; the column order is given by the ``.header`` files and the
README. This reader takes ``pai_task_table.csv`` (job_name, task_name, inst_num, status,
start_time, end_time, plan_cpu, plan_mem, plan_gpu, gpu_type) and, when it sits beside it,
``pai_job_table.csv`` (job_name, inst_id, user, status, start_time, end_time) for the user.

Each task is one record: GPUs = inst_num x plan_gpu / 100 (plan_gpu is a percentage, so
GPU shares are fractional), chip = gpu_type. Times are seconds with a constant subtracted
(the README: same time of day in UTC+8, fake dates), so they order jobs correctly but are
not calendar dates. ``MISC`` (older K40m/K80/M60 GPUs, per the README) has no single peak
and is refused as ``unknown_chip`` unless mapped.
"""

from __future__ import annotations

import csv
from pathlib import Path

from accord.verify.telemetry.ingest.base import Collector, Parsed

TASK_COLUMNS = (
    "job_name", "task_name", "inst_num", "status", "start_time", "end_time",
    "plan_cpu", "plan_mem", "plan_gpu", "gpu_type",
)  # fmt: skip
JOB_COLUMNS = ("job_name", "inst_id", "user", "status", "start_time", "end_time")


def _number(text: str) -> float | None:
    text = text.strip()
    return float(text) if text else None


def read_pai_users(path: Path) -> dict[str, str]:
    users: dict[str, str] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.reader(fh):
            if len(row) == len(JOB_COLUMNS) and row[0] != "job_name" and row[2]:
                users[row[0]] = row[2]
    return users


def parse_pai(
    task_path: Path,
    *,
    job_path: Path | None = None,
    facility: str | None = None,
    country: str | None = None,
) -> Parsed:
    out = Collector()
    if job_path is None:
        sibling = task_path.with_name(task_path.name.replace("task", "job"))
        job_path = sibling if sibling.exists() and sibling != task_path else None
    users = read_pai_users(job_path) if job_path else {}
    if job_path is None:
        out.assumptions.append("no pai_job_table beside the task table: accounts unknown")
    with task_path.open(newline="", encoding="utf-8") as fh:
        for number, row in enumerate(csv.reader(fh), start=1):
            if number == 1 and row and row[0] == "job_name":
                continue  # a header line some redistributions add
            out.read += 1
            where = f"line {number}: {','.join(row)}"
            if len(row) != len(TASK_COLUMNS):
                out.reject("unparseable", where)
                continue
            rec = dict(zip(TASK_COLUMNS, row, strict=True))
            try:
                inst = _number(rec["inst_num"])
                plan = _number(rec["plan_gpu"])
                start = _number(rec["start_time"])
                end = _number(rec["end_time"])
            except ValueError:
                out.reject("bad_value", where)
                continue
            if not plan or not inst or plan <= 0:
                out.reject("no_accelerator", where)
                continue
            out.rows.append(
                {
                    "account": users.get(rec["job_name"]),
                    "job_id": f"{rec['job_name']}/{rec['task_name']}",
                    "job_name": rec["job_name"],
                    "chip": rec["gpu_type"] or None,
                    "chip_count": inst * plan / 100.0,
                    "start": int(start) if start is not None else None,
                    "end": int(end) if end is not None else None,
                    "facility": facility or "alibaba-pai",
                    "country": country,
                    "source": "pai",
                }
            )
    return out.done()
