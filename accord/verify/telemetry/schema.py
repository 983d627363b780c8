"""The one job-record schema every source is ingested into.

Columns are plain types (strings, floats, 64-bit integer epoch seconds in UTC) so that the same
Ibis expressions run unchanged on DuckDB and on Spark, and so that a provider can export
records straight to Parquet in this shape and skip the parsers altogether.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

# Required: a record missing any of these cannot be costed or attributed.
REQUIRED = ("account", "job_id", "chip", "chip_count", "start", "end")
# ``chip_count`` is a float because some platforms hand out GPU shares (Alibaba PAI's
# ``plan_gpu`` = 50 is half a GPU; MIG slices likewise).
# Kept when missing, and counted: they only weaken linking and geography.
OPTIONAL = ("job_name", "facility", "country", "org", "payment", "ip", "source", "workload")
# ``workload`` is what the source says about a job's kind: ``serving`` for latency-sensitive
# inference services (Alibaba openb QoS ``LS`` on one GPU or a share of one), ``training``
# where a source says so, null when it says nothing. Serving is costed and reported but is
# not training compute; null counts as training, so a source that says nothing hides nothing.
WORKLOADS = ("serving", "training")

SCHEMA = pa.schema(
    [
        pa.field("account", pa.string()),
        pa.field("job_id", pa.string()),
        pa.field("job_name", pa.string()),
        pa.field("chip", pa.string()),
        pa.field("chip_count", pa.float64()),
        pa.field("start", pa.int64()),
        pa.field("end", pa.int64()),
        pa.field("facility", pa.string()),
        pa.field("country", pa.string()),
        pa.field("org", pa.string()),
        pa.field("payment", pa.string()),
        pa.field("ip", pa.string()),
        pa.field("source", pa.string()),
        pa.field("workload", pa.string()),
    ]
)
COLUMNS = tuple(SCHEMA.names)


def to_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Rows (dicts with any subset of the columns) as an Arrow table in the canonical schema."""
    columns: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for row in rows:
        for name in COLUMNS:
            value = row.get(name)
            columns[name].append(None if value == "" else value)
    return pa.table(columns, schema=SCHEMA)


def conform(table: pa.Table, where: str) -> pa.Table:
    """Cast a table read from Parquet/CSV to the schema, adding absent optional columns."""
    from accord.errors import AccordError

    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise AccordError(
            where,
            f"has no column(s) {missing}",
            f"records need columns {list(REQUIRED)}; see docs/telemetry.md",
        )
    arrays = []
    for field in SCHEMA:
        if field.name in table.column_names:
            try:
                arrays.append(table.column(field.name).cast(field.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise AccordError(
                    f"{where}:{field.name}", f"cannot be read as {field.type} ({exc})"
                ) from None
        else:
            arrays.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(arrays, schema=SCHEMA)
