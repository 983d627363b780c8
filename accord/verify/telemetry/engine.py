"""Where the pipeline runs: DuckDB in-process by default, Spark when records outgrow a machine.

Both are Ibis backends, and the pipeline is written once as Ibis expressions, so the choice
is a connection, not a code path. Spark is started locally here (``local[N]``); to use a
real cluster, pass a connected ``SparkSession`` to :func:`connect_spark`.
"""

from __future__ import annotations

from typing import Any

from accord.errors import AccordError

ENGINES = ("duckdb", "pyspark")


def connect(
    engine: str = "duckdb", *, threads: int | None = None, database: str | None = None
) -> Any:
    """An Ibis backend for ``engine``; ``database`` is a DuckDB file for inputs that
    outgrow memory (intermediate tables then spill beside it)."""
    if engine == "duckdb":
        return connect_duckdb(threads=threads, database=database)
    if engine == "pyspark":
        return connect_spark(threads=threads)
    raise AccordError("--engine", f"unknown engine {engine!r}", f"use one of {', '.join(ENGINES)}")


def connect_duckdb(*, threads: int | None = None, database: str | None = None) -> Any:
    try:
        import ibis
    except ImportError:
        raise AccordError(
            "engine", "ibis is not installed", "pip install 'accord[telemetry]'"
        ) from None
    con = ibis.duckdb.connect(database) if database else ibis.duckdb.connect()
    if database:
        con.raw_sql(f"SET temp_directory = '{database}.tmp'")
    # Row order is never relied on (every result is grouped or sorted explicitly); not
    # preserving it lets DuckDB write intermediate tables in parallel.
    con.raw_sql("SET preserve_insertion_order = false")
    if threads:
        con.raw_sql(f"SET threads = {int(threads)}")
    return con


def connect_spark(*, threads: int | None = None, session: Any = None, adaptive: bool = True) -> Any:
    """Spark through Ibis. ``adaptive=False`` turns off adaptive query execution, which
    costs more planning time than it saves on small inputs (tests, demos)."""
    try:
        import ibis
        from pyspark.sql import SparkSession
    except ImportError:
        raise AccordError(
            "engine", "pyspark is not installed", "pip install 'accord[telemetry,spark]'"
        ) from None
    if session is None:
        cores = str(threads) if threads else "*"
        session = (
            SparkSession.builder.master(f"local[{cores}]")
            .appName("accord-telemetry")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", str(threads or 4))
            .config("spark.default.parallelism", str(threads or 4))
            .config("spark.sql.adaptive.enabled", str(adaptive).lower())
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.memory", "2g")
            .getOrCreate()
        )
        session.sparkContext.setLogLevel("ERROR")
    return ibis.pyspark.connect(session)


def backend_name(con: Any) -> str:
    return str(getattr(con, "name", type(con).__module__))
