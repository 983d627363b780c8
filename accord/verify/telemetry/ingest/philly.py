"""Microsoft Philly trace (msr-fiddle/philly-traces), ``cluster_job_log`` JSON.

Each job has ``jobid``, ``user``, ``vc`` (virtual cluster), ``status``, ``submitted_time``
and ``attempts``: one per scheduling attempt, each with ``start_time``, ``end_time`` and
``detail`` (machines, each with its ``gpus`` list). An attempt is the natural unit here: a
job that failed and was retried is exactly a checkpoint–restart chain, so each attempt
becomes one record and the job id becomes the workload name that joins them into a run.

The trace records GPU counts but not GPU models (the ATC'19 paper describes 12 GB and
24 GB GPUs without naming them). Records therefore carry the label
``PHILLY-UNSPECIFIED`` and are refused as ``unknown_chip`` unless the analyst states an
assumption with a chip map (``PHILLY-UNSPECIFIED=V100``), which every report then lists.
"""

from __future__ import annotations

from typing import Any

from accord.verify.telemetry.ingest.base import Collector, Parsed, epoch, load_json, zone

TIME_FORMATS = ("%Y-%m-%d %H:%M:%S",)
UNSPECIFIED = "PHILLY-UNSPECIFIED"


def parse_philly(
    text: str,
    *,
    tz: str = "UTC",
    facility: str | None = None,
    country: str | None = None,
) -> Parsed:
    zinfo = zone(tz)
    out = Collector()
    data = load_json(text, "philly cluster_job_log")
    jobs: list[Any] = data if isinstance(data, list) else []
    for job in jobs:
        if not isinstance(job, dict):
            out.read += 1
            out.reject("unparseable", repr(job))
            continue
        attempts = job.get("attempts")
        jobid = job.get("jobid")
        if not isinstance(attempts, list) or not attempts:
            out.read += 1
            out.reject("never_started", f"job {jobid}: no attempts")
            continue
        for n, attempt in enumerate(attempts):
            out.read += 1
            where = f"job {jobid} attempt {n}"
            if not isinstance(attempt, dict):
                out.reject("unparseable", where)
                continue
            try:
                start = epoch(attempt.get("start_time"), zinfo, TIME_FORMATS)
                end = epoch(attempt.get("end_time"), zinfo, TIME_FORMATS)
                detail = attempt.get("detail") or []
                gpus = float(sum(len(m.get("gpus") or []) for m in detail))
            except (ValueError, TypeError, AttributeError):
                out.reject("bad_value", where)
                continue
            if gpus <= 0:
                out.reject("no_accelerator", where)
                continue
            out.rows.append(
                {
                    "account": job.get("user"),
                    "job_id": f"{jobid}#{n}" if jobid else None,
                    "job_name": jobid,
                    "chip": UNSPECIFIED,
                    "chip_count": gpus,
                    "start": start,
                    "end": end,
                    "facility": facility or (f"philly/{job['vc']}" if job.get("vc") else None),
                    "country": country,
                    "source": "philly",
                }
            )
    return out.done()
