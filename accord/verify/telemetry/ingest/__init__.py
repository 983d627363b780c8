"""Parsers from scheduler and trace formats into the one schema (see ``schema.py``).

Every parser returns a :class:`Parsed`: the rows it could read and, for each line it could
not, a reason. Semantic checks (clocks, chip types, duplicates) happen later, in the Ibis
pipeline, so that records exported straight to Parquet get exactly the same checks.
"""

from accord.verify.telemetry.ingest.base import Parsed, detect_format, load_records

__all__ = ["Parsed", "detect_format", "load_records"]
