"""Declaration sources: JSON and SQLite files behind one protocol."""

from __future__ import annotations

from pathlib import Path

import pytest

from accord.errors import AccordError
from accord.verify.telemetry.registry import (
    DeclarationSource,
    DeclaredRun,
    JsonDeclarations,
    SqliteDeclarations,
    open_source,
    write_sqlite,
)

RUNS = [
    DeclaredRun(id="r1", party="Nimbus Dynamics Ltd", compute_flop=3e25, start=10, end=20),
    DeclaredRun(id="r2", party="Lab Y", compute_flop=1e24, accounts=["lab-y", "lab-y2"]),
]


def test_sqlite_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    write_sqlite(db, RUNS)
    source = open_source(str(db))
    assert isinstance(source, SqliteDeclarations)
    assert isinstance(source, DeclarationSource)
    assert source.training_runs() == RUNS
    assert open_source(f"sqlite:///{db}").training_runs() == RUNS


def test_json_file_forms(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text('[{"id": "x", "party": "P", "compute_flop": 1e25}]', encoding="utf-8")
    source = open_source(str(path))
    assert isinstance(source, JsonDeclarations)
    assert source.training_runs()[0].overlaps(0, 5)
    path.write_text('{"declarations": [{"id": "x", "party": "", "compute_flop": 1}]}', "utf-8")
    with pytest.raises(AccordError, match=r"declaration 1\.party"):
        source.training_runs()
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(AccordError, match="not valid JSON"):
        source.training_runs()


def test_bad_sources(tmp_path: Path) -> None:
    with pytest.raises(AccordError, match="does not exist"):
        open_source(str(tmp_path / "missing.db"))
    with pytest.raises(AccordError, match="URLs are not supported"):
        open_source("https://registry.example/api")
    empty = tmp_path / "empty.db"
    import sqlite3

    sqlite3.connect(empty).execute("CREATE TABLE other (x)").connection.commit()
    with pytest.raises(AccordError, match="cannot read training_runs"):
        open_source(str(empty)).training_runs()


def test_overlap_rules() -> None:
    run = DeclaredRun(id="a", party="P", compute_flop=1.0, start=100, end=200)
    assert run.overlaps(150, 300) and run.overlaps(0, 100)
    assert not run.overlaps(201, 300)
