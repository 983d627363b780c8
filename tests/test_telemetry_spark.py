"""The same Ibis pipeline on Spark (local[1]) gives the same answer as on DuckDB."""

from __future__ import annotations

import os
import shutil

import pytest

from accord.verify.telemetry.engine import connect_spark
from accord.verify.telemetry.ingest.base import Parsed
from accord.verify.telemetry.registry import MemoryDeclarations
from accord.verify.telemetry.scan import ScanConfig, scan
from accord.verify.telemetry.synthetic import HELIOS_LIKE, background, inject

pytest.importorskip("pyspark", reason="the spark extra is not installed")

if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
    # .ci/services.sh installs default-jre-headless; a CI machine without Java must fail.
    if os.environ.get("CI") == "true":
        pytest.fail("no Java runtime under CI=true: run .ci/services.sh", pytrace=False)
    pytest.skip("PySpark needs a Java runtime (apt-get install default-jre-headless)",
                allow_module_level=True)  # fmt: skip


def test_spark_backend_matches_duckdb() -> None:
    import numpy as np
    import pyarrow as pa

    from accord.verify.telemetry.schema import to_table

    table, _ = background(HELIOS_LIKE, days=2, seed=11, n_jobs=1500)
    rng = np.random.default_rng(2)
    runs = [
        inject("undeclared", i, threshold=1e21, profile=HELIOS_LIKE, days=2, rng=rng)
        for i in range(2)
    ]
    bad = [
        {"account": "x", "job_id": "r1", "chip": "V100", "chip_count": 8.0, "start": 10, "end": 5}
    ]
    combined = pa.concat_tables([table, to_table([j for r in runs for j in r.jobs] + bad)])
    parsed = Parsed(combined, combined.num_rows)
    cfg = ScanConfig(threshold=1e21)
    duck = scan(parsed, MemoryDeclarations([]), cfg)
    spark_con = connect_spark(threads=1, adaptive=False)
    try:
        spark = scan(parsed, MemoryDeclarations([]), cfg, con=spark_con)
    finally:
        spark_con._session.stop()
    assert spark.engine == "pyspark" and duck.engine == "duckdb"
    assert spark.report.model_dump() == duck.report.model_dump()
    assert spark.runs == duck.runs and spark.large_runs == duck.large_runs
    assert [c.accounts for c in spark.candidates] == [c.accounts for c in duck.candidates]
    for a, b in zip(spark.candidates, duck.candidates, strict=True):
        assert a.flop_lo == pytest.approx(b.flop_lo, rel=1e-9)
    assert [f.verdict for f in spark.findings] == [f.verdict for f in duck.findings]
    assert any(f.statistic["accounts"] for f in spark.flagged)
