"""Declared training runs, from wherever the registry keeps them.

The registry service is built elsewhere; the scan only needs to ask one question — which
training runs has this party declared, how much compute, over what period — so it talks
to a :class:`DeclarationSource`. Two file-backed sources work today: a JSON file (a list
of declarations, or ``{"declarations": [...]}``) and a SQLite database with a
``training_runs`` table. A registry client implementing the same protocol plugs in later.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from accord.errors import AccordError

SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS training_runs (
    id TEXT PRIMARY KEY,
    party TEXT NOT NULL,
    compute_flop REAL NOT NULL,
    start INTEGER,
    "end" INTEGER,
    accounts TEXT DEFAULT ''
)
"""


class DeclaredRun(BaseModel):
    """One ``training_run`` declaration as the scan needs it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    party: str = Field(min_length=1)
    compute_flop: float = Field(gt=0)
    start: int | None = None
    end: int | None = None
    accounts: list[str] = Field(default_factory=list)

    def overlaps(self, first: int, last: int) -> bool:
        lo = self.start if self.start is not None else first
        hi = self.end if self.end is not None else last
        return lo <= last and first <= hi


@runtime_checkable
class DeclarationSource(Protocol):
    """Anything that can list declared training runs."""

    def training_runs(self) -> list[DeclaredRun]: ...

    def describe(self) -> str: ...


def _validated(rows: Iterable[dict[str, Any]], where: str) -> list[DeclaredRun]:
    out = []
    for n, row in enumerate(rows, start=1):
        try:
            out.append(DeclaredRun.model_validate(row))
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise AccordError(f"{where}: declaration {n}.{loc}", first["msg"]) from None
    return out


class JsonDeclarations:
    def __init__(self, path: Path) -> None:
        self.path = path

    def training_runs(self) -> list[DeclaredRun]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise AccordError(str(self.path), f"not valid JSON ({exc.msg})") from None
        rows = data.get("declarations", []) if isinstance(data, dict) else data
        if not isinstance(rows, list):
            raise AccordError(str(self.path), "expected a list of declarations")
        return _validated((r for r in rows if isinstance(r, dict)), str(self.path))

    def describe(self) -> str:
        return f"JSON declarations {self.path}"


class SqliteDeclarations:
    def __init__(self, path: Path) -> None:
        self.path = path

    def training_runs(self) -> list[DeclaredRun]:
        uri = f"file:{self.path}?mode=ro"
        try:
            with sqlite3.connect(uri, uri=True) as db:
                db.row_factory = sqlite3.Row
                rows = db.execute(
                    'SELECT id, party, compute_flop, start, "end", accounts FROM training_runs'
                ).fetchall()
        except sqlite3.Error as exc:
            raise AccordError(
                str(self.path), f"cannot read training_runs ({exc})", "see docs/telemetry.md"
            ) from None
        dicts = []
        for r in rows:
            d = dict(r)
            d["accounts"] = [a for a in str(d.get("accounts") or "").split(",") if a]
            dicts.append(d)
        return _validated(dicts, str(self.path))

    def describe(self) -> str:
        return f"SQLite declarations {self.path}"


class MemoryDeclarations:
    """Declarations held in memory (evaluation harness, notebooks)."""

    def __init__(self, runs: Iterable[DeclaredRun]) -> None:
        self.runs = list(runs)

    def training_runs(self) -> list[DeclaredRun]:
        return list(self.runs)

    def describe(self) -> str:
        return f"{len(self.runs)} in-memory declarations"


def write_sqlite(path: Path, runs: Iterable[DeclaredRun]) -> None:
    with sqlite3.connect(path) as db:
        db.execute(SQLITE_SCHEMA)
        db.executemany(
            "INSERT OR REPLACE INTO training_runs "
            '(id, party, compute_flop, start, "end", accounts) VALUES (?, ?, ?, ?, ?, ?)',
            [(r.id, r.party, r.compute_flop, r.start, r.end, ",".join(r.accounts)) for r in runs],
        )


def open_source(spec: str) -> DeclarationSource:
    """A source from ``--registry``: a ``.json`` file or a SQLite database path."""
    if spec.startswith(("http://", "https://")):
        raise AccordError(
            "--registry",
            "registry URLs are not supported yet (the service is on another branch)",
            "export the declarations to JSON or SQLite and pass the file",
        )
    path = Path(spec.removeprefix("sqlite:///").removeprefix("file://"))
    if not path.exists():
        raise AccordError("--registry", f"{path} does not exist", "give a JSON or SQLite file")
    with path.open("rb") as fh:
        magic = fh.read(16)
    if magic.startswith(b"SQLite format 3"):
        return SqliteDeclarations(path)
    return JsonDeclarations(path)
