"""Telemetry scan: time for 10^7 records (and 10^8 where the machine allows) vs naive baselines,
and detection of injected split runs over several seeds.

Run: ``python -m benchmarks.bench_telemetry [--rows 1e7] [--big 1e8] [--threads 2]``.

Every trace here is SYNTHETIC (accord.verify.telemetry.synthetic): no public trace has
10^7-10^8 jobs with customer identifiers (the real-trace evaluation is
``benchmarks.eval_telemetry_trace``). The baselines do the same work as the engine part of the scan
(validate, cost, per-account totals, checkpoint–restart runs) on a subsample, in a pure
Python loop and in pandas, and are scaled linearly to the full size; linear scaling
flatters them slightly (their sorts are n log n).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from accord.verify.telemetry.chips import ChipResolver
from accord.verify.telemetry.engine import connect, connect_spark
from accord.verify.telemetry.evaluate import synthetic_evaluation
from accord.verify.telemetry.pipeline import RESTART_SUFFIX
from accord.verify.telemetry.registry import MemoryDeclarations
from accord.verify.telemetry.scan import ScanConfig, scan
from accord.verify.telemetry.synthetic import HELIOS_LIKE, background, population

CHUNK = 1_000_000
THRESHOLD = 1e22
GAP = 24 * 3600


def make_records(path: Path, rows: int, seed: int = 0) -> float:
    """SYNTHETIC records in the schema, written in chunks; returns seconds taken."""
    if path.exists() and pq.ParquetFile(path).metadata.num_rows == rows:
        return 0.0
    t0 = time.perf_counter()
    users = max(300, rows // 500)
    profile = dataclasses.replace(HELIOS_LIKE, users=users, orgs=max(40, users // 10))
    pop = population(profile, np.random.default_rng(seed))
    writer = None
    done = 0
    part = 0
    while done < rows:
        n = min(CHUNK, rows - done)
        # one month per million records keeps the per-shape job density (and so the
        # timing-link workload) the same at every size
        table, _ = background(profile, days=30, seed=seed * 1000 + part, n_jobs=n, pop=pop)
        table = _shift(table, part * 30 * 86400)
        if writer is None:
            writer = pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
        done += n
        part += 1
    assert writer is not None
    writer.close()
    return time.perf_counter() - t0


def _shift(table: pa.Table, seconds: int) -> pa.Table:
    import pyarrow.compute as pc

    for name in ("start", "end"):
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, pc.add(table.column(name), seconds))
    return table


def python_baseline(table: pa.Table) -> dict[str, Any]:
    """The engine's work as a plain loop over dicts."""
    resolver = ChipResolver()
    rows = table.to_pylist()
    reasons: Counter[str] = Counter()
    rows.sort(key=lambda r: (r["account"] or "", r["job_id"] or "", r["start"] or 0, r["end"] or 0))
    last: dict[tuple[str, str], int] = {}
    ok = []
    suffix = re.compile(RESTART_SUFFIX)
    for r in rows:
        if not r["account"]:
            reasons["missing_account"] += 1
            continue
        if r["start"] is None or r["end"] is None:
            reasons["missing_clock"] += 1
            continue
        if r["end"] < r["start"]:
            reasons["reversed_clock"] += 1
            continue
        peak = resolver.resolve(r["chip"])
        if peak is None:
            reasons["unknown_chip"] += 1
            continue
        key = (r["account"], r["job_id"])
        if key in last and last[key] > r["start"]:
            reasons["overlapping_duplicate"] += 1
            continue
        last[key] = r["end"]
        secs = (r["end"] - r["start"]) * r["chip_count"]
        stem = suffix.sub("", (r["job_name"] or "").lower().strip())
        ok.append((r["account"], peak.chip_id, r["chip_count"], stem, r["start"], r["end"],
                   secs, secs * peak.peak_flops * 0.3, secs * peak.peak_flops * 0.5))  # fmt: skip
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0, 0.0])
    for acc, _c, _n, _s, _a, _b, secs, lo, hi in ok:
        t = totals[acc]
        t[0] += 1
        t[1] += secs
        t[2] += lo
        t[3] += hi
    ok.sort(key=lambda x: (x[0], x[1], x[2], x[3], x[4], x[5]))
    runs = 0
    prev: tuple[Any, ...] | None = None
    prev_end = 0
    for job in ok:
        shape = job[:4]
        if prev != shape or job[4] - prev_end > GAP:
            runs += 1
        prev, prev_end = shape, job[5]
    return {"accepted": len(ok), "accounts": len(totals), "runs": runs}


def pandas_baseline(table: pa.Table) -> dict[str, Any]:
    """The same in idiomatic pandas (vectorised, single-threaded)."""

    df = table.to_pandas()
    resolver = ChipResolver()
    labels = df["chip"].dropna().unique()
    peak = {lab: p.peak_flops for lab in labels if (p := resolver.resolve(lab)) is not None}
    df["peak"] = df["chip"].map(peak)
    df = df.sort_values(["account", "job_id", "start", "end"])
    prev_end = df.groupby(["account", "job_id"])["end"].shift()
    bad = (
        df["account"].isna() | df["start"].isna() | df["end"].isna() | (df["end"] < df["start"])
        | df["peak"].isna() | (prev_end > df["start"])
    )  # fmt: skip
    ok = df[~bad].copy()
    ok["secs"] = (ok["end"] - ok["start"]) * ok["chip_count"]
    ok["lo"] = ok["secs"] * ok["peak"] * 0.3
    ok["hi"] = ok["secs"] * ok["peak"] * 0.5
    ok["stem"] = (
        ok["job_name"]
        .fillna("")
        .str.lower()
        .str.strip()
        .str.replace(RESTART_SUFFIX, "", regex=True)
    )
    totals = ok.groupby("account")[["secs", "lo", "hi"]].sum()
    ok = ok.sort_values(["account", "chip", "chip_count", "stem", "start", "end"])
    keys = ["account", "chip", "chip_count", "stem"]
    gap = ok["start"] - ok.groupby(keys)["end"].shift()
    fresh = gap.isna() | (gap > GAP)
    return {"accepted": len(ok), "accounts": len(totals), "runs": int(fresh.sum())}


def time_scan(path: Path, engine: str, threads: int, database: str | None = None) -> dict[str, Any]:
    con = (
        connect_spark(threads=threads)
        if engine == "pyspark"
        else connect(engine, threads=threads, database=database)
    )
    t0 = time.perf_counter()
    result = scan(path, MemoryDeclarations([]), ScanConfig(threshold=THRESHOLD), con=con)
    total = time.perf_counter() - t0
    if engine == "pyspark":
        con._session.stop()
    engine_part = sum(result.timings_s[k] for k in ("ingest", "validate", "cost", "runs"))
    return {
        "engine": engine,
        "records": result.report.read,
        "accepted": result.report.accepted,
        "accounts": result.accounts,
        "runs": result.runs,
        "seconds_total": round(total, 2),
        "seconds_engine_part": round(engine_part, 2),
        "stages": result.timings_s,
    }


def evaluation(seeds: int) -> dict[str, Any]:
    rows = []
    for seed in range(seeds):
        r = synthetic_evaluation(seed=seed, threshold=THRESHOLD)
        rows.append(r.summary())
    out: dict[str, Any] = {
        "seeds": seeds,
        "trace": rows[0]["trace"],
        "jobs_per_trace": rows[0]["jobs"],
    }
    for key in ("any_flag", "inconsistent_only"):
        for metric in ("precision", "recall"):
            values = [row[key][metric] for row in rows if row[key][metric] is not None]
            out[f"{key}.{metric}"] = {
                "mean": round(statistics.mean(values), 3),
                "min": round(min(values), 3),
                "max": round(max(values), 3),
            }
        out[f"{key}.found"] = sum(row[key]["found"] for row in rows)
        out[f"{key}.positives"] = sum(row[key]["positives"] for row in rows)
        out[f"{key}.false_positives"] = sum(row[key]["false_positive"] for row in rows)
    by: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        for k, v in row["recall_by_evidence"].items():
            base = (
                "evasive gaps" if "evasive" in k else ("timing only" if k == "timing_only" else k)
            )
            by[base][0] += v["found"]
            by[base][1] += v["of"]
    out["recall_by_evidence"] = {k: f"{f}/{n}" for k, (f, n) in sorted(by.items())}
    fp: Counter[str] = Counter()
    for row in rows:
        fp.update(row["false_positive_kinds"])
    out["false_positive_kinds"] = dict(fp)
    out["scan_seconds_mean"] = round(statistics.mean(r["scan_seconds"] for r in rows), 2)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=float, default=1e7)
    ap.add_argument("--big", type=float, default=0, help="also time this many rows (e.g. 1e8)")
    ap.add_argument("--baseline-rows", type=float, default=2e5)
    ap.add_argument("--spark-rows", type=float, default=1e6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/accord-bench-telemetry"))
    args = ap.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"synthetic": True, "threads": args.threads}

    rows = int(args.rows)
    path = args.workdir / f"records_{rows}.parquet"
    report["generate_seconds"] = round(make_records(path, rows), 1)
    scanned = time_scan(path, "duckdb", args.threads)
    report["duckdb"] = scanned

    n_base = int(args.baseline_rows)
    sample = pq.read_table(path).slice(0, n_base)
    scale = rows / n_base
    for name, fn in (("python", python_baseline), ("pandas", pandas_baseline)):
        t0 = time.perf_counter()
        out = fn(sample)
        secs = time.perf_counter() - t0
        report[f"{name}_baseline"] = {
            "rows_measured": n_base,
            "seconds_measured": round(secs, 2),
            "seconds_scaled_to_rows": round(secs * scale, 1),
            "check": out,
            "ratio_vs_duckdb_engine_part": round(secs * scale / scanned["seconds_engine_part"], 1),
        }

    if args.spark_rows:
        n_spark = int(args.spark_rows)
        spath = args.workdir / f"records_{n_spark}.parquet"
        make_records(spath, n_spark)
        report["spark_vs_duckdb"] = {
            "rows": n_spark,
            "duckdb": time_scan(spath, "duckdb", args.threads),
            "pyspark": time_scan(spath, "pyspark", args.threads),
        }

    if args.big:
        big = int(args.big)
        bpath = args.workdir / f"records_{big}.parquet"
        report["big_generate_seconds"] = round(make_records(bpath, big), 1)
        db = str(args.workdir / "big.duckdb")
        Path(db).unlink(missing_ok=True)
        report["duckdb_big"] = time_scan(bpath, "duckdb", args.threads, database=db)
        Path(db).unlink(missing_ok=True)

    report["evaluation"] = evaluation(args.seeds)
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write("\n")
    e = report["duckdb"]
    print(
        f"\n{rows:,} SYNTHETIC records on {args.threads} threads: DuckDB scan "
        f"{e['seconds_total']:.1f} s (engine part {e['seconds_engine_part']:.1f} s); "
        f"pure Python ~{report['python_baseline']['seconds_scaled_to_rows']:.0f} s "
        f"(x{report['python_baseline']['ratio_vs_duckdb_engine_part']}), pandas "
        f"~{report['pandas_baseline']['seconds_scaled_to_rows']:.0f} s "
        f"(x{report['pandas_baseline']['ratio_vs_duckdb_engine_part']})",
        file=sys.stderr,
    )
    if not math.isfinite(e["seconds_total"]):
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
