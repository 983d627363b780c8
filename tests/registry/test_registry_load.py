"""Bounded loopback load: concurrent submissions, every acknowledged one provably logged."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import start_server, stop_server

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.bench_registry import audit, load


def test_concurrent_submissions_all_in_log(tmp_path: Path) -> None:
    server = start_server(
        tmp_path / "var", None, "--rate", "100000", "--declaration-rate", "100000"
    )
    try:
        result = load(server.url, server.token, clients=8, per_client=25, tag="t")
        assert result["seconds"] < 60
        indexes = [r["leaf_index"] for r in result["receipts"]]
        assert len(set(indexes)) == 200
        assert audit(server.url, result["receipts"]) == 200
    finally:
        stop_server(server)


def test_benchmark_preloads_match_the_registry_and_continue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bulk-built registry indexes what the real write path would, and accepts more."""
    import datetime as dt

    from sqlalchemy import create_engine, select

    from accord.registry import db
    from accord.registry.server import settings_for
    from accord.registry.service import Registry
    from benchmarks import registry_workload as rw

    monkeypatch.setattr(rw, "CACHE", tmp_path / "cache")
    built = {mode: rw.preloaded(250, mode, workers=1, log=lambda _: None) for mode in rw.MODES}
    assert built["bulk"].meta["log_size"] == built["registry"].meta["log_size"] > 250

    def rows(pre: rw.Preloaded) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
        engine = create_engine(f"sqlite:///{pre.var / 'registry.sqlite'}")
        t, f = db.declarations.c, db.findings.c
        with engine.connect() as conn:
            decls = conn.execute(
                select(t.leaf_index, t.party, t.kind, t.nonce, t.subject, t.event_date).order_by(
                    t.leaf_index
                )
            ).all()
            found = conn.execute(select(f.leaf_index, f.key, f.verdict).order_by(f.leaf_index))
            out = [tuple(r) for r in decls], [tuple(r) for r in found.all()]
        engine.dispose()
        return out

    decls, found = rows(built["bulk"])
    assert (decls, found) == rows(built["registry"])
    assert {r[2] for r in decls} == {"facility", "chip_inventory", "transfer"}
    assert found, "cross-border shipments raise export-rule findings"

    var = built["bulk"].copy_to(tmp_path / "continued")
    registry = Registry(settings_for(var))
    try:
        more = rw.sign_raw(built["bulk"].workload().take(150), dt.datetime.now(dt.UTC))
        receipts = [f.result(60) for f in [registry.submit_future(r) for r in more]]
    finally:
        registry.close()
    assert len({r["leaf_index"] for r in receipts}) == 150
