"""Compute-provider oversight: undeclared large training runs in cluster telemetry, linked
accounts, and restricted-party screening (see docs/telemetry.md).

Names are imported on first use so that ``import accord`` stays light: the scan pulls in
Ibis, DuckDB and pyarrow.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "scan": "accord.verify.telemetry.scan",
    "ScanConfig": "accord.verify.telemetry.scan",
    "ScanResult": "accord.verify.telemetry.scan",
    "AccountRecord": "accord.verify.telemetry.scan",
    "load_records": "accord.verify.telemetry.ingest",
    "DeclarationSource": "accord.verify.telemetry.registry",
    "DeclaredRun": "accord.verify.telemetry.registry",
    "open_source": "accord.verify.telemetry.registry",
    "sample_list": "accord.verify.telemetry.screening",
    "load_list": "accord.verify.telemetry.screening",
    "synthetic_evaluation": "accord.verify.telemetry.evaluate",
    "evaluate_on": "accord.verify.telemetry.evaluate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'accord.verify.telemetry' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
