"""The scan as Ibis expressions: validate, cost each job, chain jobs into runs, total by account.

Written once against Ibis so DuckDB and Spark execute the same plan. Only small results
(reject counts, per-account totals, large runs) leave the engine; linking accounts into
entities then works on those in Python, whose size grows with customers, not with jobs.
"""

from __future__ import annotations

from typing import Any

import ibis
import ibis.expr.types as ir

# Suffixes that checkpoint–restart tooling appends to a job name: "-restart-3", "_resume2",
# ".ckpt12", "-part-4", "-attempt1", or a bare trailing counter.
RESTART_SUFFIX = (
    r"([-_.]?(restart|resume|retry|attempt|ckpt|checkpoint|part|step|try|r)?[-_.]?[0-9]+)+$"
)


def _blank(col: ir.StringValue) -> ir.BooleanValue:
    return col.isnull() | (col.strip() == "")


def validate(jobs: ir.Table, chips: ir.Table) -> ir.Table:
    """Every record with the catalog chip joined and a ``reason`` (null when accepted)."""
    joined = jobs.left_join(chips, jobs.chip.strip() == chips.label).drop("label")
    w = ibis.window(group_by=[joined.account, joined.job_id], order_by=[joined.start, joined.end])
    prev_end = joined.end.lag().over(w)
    reason = ibis.cases(
        (_blank(joined.account), "missing_account"),
        (_blank(joined.job_id), "missing_job_id"),
        (_blank(joined.chip), "missing_chip"),
        (joined.chip_count.isnull(), "missing_chip_count"),
        (joined.start.isnull(), "missing_start"),
        (joined.end.isnull(), "missing_end"),
        (joined.chip_count <= 0, "nonpositive_chip_count"),
        (joined.end < joined.start, "reversed_clock"),
        (joined.peak.isnull(), "unknown_chip"),
        (prev_end.notnull() & (prev_end > joined.start), "overlapping_duplicate"),
        else_=ibis.null("string"),
    )
    return joined.mutate(reason=reason)


def outcome_counts(validated: ir.Table) -> ir.Table:
    """One pass: records per reason (null = accepted), chip-hours, an example, and, for
    unknown chips, the label — plus, on accepted records, the odd-but-kept counts."""
    hours = (
        (validated.end - validated.start).abs().cast("float64") * validated.chip_count / 3600.0
    ).fill_null(0.0)
    label = ibis.cases(
        (validated.reason == "unknown_chip", validated.chip), else_=ibis.null("string")
    )
    ok = validated.reason.isnull()
    return validated.group_by(reason=validated.reason, label=label).aggregate(
        count=validated.count(),
        chip_hours=hours.sum(),
        example=(validated.account.fill_null("?") + "/" + validated.job_id.fill_null("?")).min(),
        zero_duration=(ok & (validated.end == validated.start)).cast("int64").sum(),
        missing_country=(ok & _blank(validated.country)).cast("int64").sum(),
        missing_job_name=(ok & _blank(validated.job_name)).cast("int64").sum(),
    )


def job_compute(validated: ir.Table, util_lo: float, util_hi: float) -> ir.Table:
    """Accepted jobs with chip-seconds and the FLOP interval chips x peak x utilisation x time."""
    ok = validated.filter(validated.reason.isnull())
    chip_seconds = (ok.end - ok.start).cast("float64") * ok.chip_count
    stem = ok.job_name.fill_null("").lower().strip().re_replace(RESTART_SUFFIX, "")
    serving = ok.workload.fill_null("").lower().strip() == "serving"
    return ok.mutate(
        chip_seconds=chip_seconds,
        flop_lo=chip_seconds * ok.peak * util_lo,
        flop_hi=chip_seconds * ok.peak * util_hi,
        stem=stem,
        serving=serving,
    )


def training(costed: ir.Table) -> ir.Table:
    """Jobs that count as training compute: everything a source did not mark as serving."""
    return costed.filter(~costed.serving)


def account_totals(costed: ir.Table) -> ir.Table:
    """Per account: all jobs, and the training/serving split (serving is reported, not
    counted towards the threshold)."""
    zero = ibis.literal(0.0)
    serve = costed.serving
    return costed.group_by("account").aggregate(
        jobs=costed.count(),
        chip_hours=costed.chip_seconds.sum() / 3600.0,
        flop_lo=costed.flop_lo.sum(),
        flop_hi=costed.flop_hi.sum(),
        train_flop_lo=ibis.cases((serve, zero), else_=costed.flop_lo).sum(),
        train_flop_hi=ibis.cases((serve, zero), else_=costed.flop_hi).sum(),
        serving_jobs=serve.cast("int64").sum(),
        serving_chip_hours=ibis.cases((serve, costed.chip_seconds), else_=zero).sum() / 3600.0,
        serving_flop_hi=ibis.cases((serve, costed.flop_hi), else_=zero).sum(),
        first=costed.start.min(),
        last=costed.end.max(),
    )


DAY_S = 86400


def day_rates(costed: ir.Table, t0: int, accounts: list[str]) -> ir.Table:
    """Per account and day, the FLOP/s rates of training jobs starting and ending that day,
    and the rates times the offsets of those instants from ``t0``.

    From these four sums per day the compute an account did before any day boundary T is
    exact: F(T) = T * (rates started - rates ended before T) - (rate x start - rate x end
    before T), so window totals over whole days need no per-job data outside the engine.
    """
    jobs = training(costed)
    jobs = jobs.filter((jobs.end > jobs.start) & jobs.account.isin(accounts))
    span = (jobs.end - jobs.start).cast("float64")
    s = (jobs.start - t0).cast("int64")
    e = (jobs.end - t0).cast("int64")
    rates = jobs.mutate(
        lo=jobs.flop_lo / span,
        hi=jobs.flop_hi / span,
        s=s,
        e=e,
    )
    starts = rates.group_by(account=rates.account, day=(rates.s // DAY_S)).aggregate(
        lo=rates.lo.sum(),
        hi=rates.hi.sum(),
        lo_t=(rates.lo * rates.s.cast("float64")).sum(),
        hi_t=(rates.hi * rates.s.cast("float64")).sum(),
    )
    ends = rates.group_by(account=rates.account, day=(rates.e // DAY_S)).aggregate(
        lo=rates.lo.sum(),
        hi=rates.hi.sum(),
        lo_t=(rates.lo * rates.e.cast("float64")).sum(),
        hi_t=(rates.hi * rates.e.cast("float64")).sum(),
    )
    return starts.mutate(kind=ibis.literal(1, "int64")).union(
        ends.mutate(kind=ibis.literal(-1, "int64"))
    )


def account_details(costed: ir.Table) -> ir.Table:
    """Distinct places and customer identifiers seen on each account's jobs."""
    return costed.select("account", "country", "facility", "org", "payment", "ip").distinct()


def runs(costed: ir.Table, gap_seconds: int) -> ir.Table:
    """Checkpoint–restart chains: same account, chip, count and workload name, gaps <= bound.
    Serving jobs are not training runs and are left out."""
    costed = training(costed)
    keys = [costed.account, costed.chip_id, costed.chip_count, costed.stem]
    w = ibis.window(group_by=keys, order_by=[costed.start, costed.end])
    prev_end = costed.end.lag().over(w)
    fresh = (prev_end.isnull() | ((costed.start - prev_end) > gap_seconds)).cast("int64")
    marked = costed.mutate(fresh=fresh)
    w2 = ibis.window(
        group_by=[marked.account, marked.chip_id, marked.chip_count, marked.stem],
        order_by=[marked.start, marked.end],
        rows=(None, 0),
    )
    seq = marked.mutate(seq=marked.fresh.sum().over(w2))
    return seq.group_by(["account", "chip_id", "chip_count", "stem", "seq"]).aggregate(
        start=seq.start.min(),
        end=seq.end.max(),
        jobs=seq.count(),
        chip_hours=seq.chip_seconds.sum() / 3600.0,
        flop_lo=seq.flop_lo.sum(),
        flop_hi=seq.flop_hi.sum(),
        countries=seq.country.nunique(),
        facilities=seq.facility.nunique(),
    )


def chip_arrow(peaks: list[tuple[str, str, float]]) -> Any:
    """The resolved label -> (chip_id, peak FLOP/s) table the validation joins against."""
    import pyarrow as pa

    return pa.table(
        {
            "label": pa.array([p[0] for p in peaks], pa.string()),
            "chip_id": pa.array([p[1] for p in peaks], pa.string()),
            "peak": pa.array([p[2] for p in peaks], pa.float64()),
        }
    )


def chip_table(peaks: list[tuple[str, str, float]]) -> ir.Table:
    return ibis.memtable(chip_arrow(peaks))


def from_arrow(con: Any, table: Any, prefix: str) -> ir.Table:
    """An Arrow table as an engine table, nulls intact.

    Spark gets the Arrow data directly: going through pandas (as ``ibis.memtable`` does on
    Spark with pandas 3) turns null strings into the text 'NaN', which would hide missing
    fields from validation.
    """
    if backend_name(con) == "pyspark":
        name = f"accord_{prefix}_{next(_COUNTER)}"
        con._session.createDataFrame(table).createOrReplaceTempView(name)
        return con.table(name)
    return ibis.memtable(table)


_COUNTER = iter(range(1, 1 << 62))


def materialise(con: Any, expr: ir.Table, prefix: str) -> ir.Table:
    """Compute ``expr`` once and keep it in the engine, so later queries reuse it.

    DuckDB gets a temporary table; Spark a cached temporary view. (Ibis's own ``cache()``
    binds to the default backend when the plan starts from an in-memory table.)
    """
    name = f"accord_{prefix}_{next(_COUNTER)}"
    if backend_name(con) == "pyspark":
        con.create_view(name, expr, overwrite=True)
        con._session.catalog.cacheTable(name)
        return con.table(name)
    return con.create_table(name, expr, temp=True)


def backend_name(con: Any) -> str:
    return str(getattr(con, "name", ""))


def execute(con: Any, expr: ir.Expr) -> Any:
    """Run on the chosen backend and return a pandas DataFrame."""
    return con.execute(expr)
