"""Hostile but signed input: no party can brick, starve or distort the registry.

Each test here reproduces an attack found against the registry. They run a registry in this
process on real SQLite files, with a clock the test moves, and restart it between steps.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inprocess import Harness
from registry_helpers import facility, inventory

from accord.errors import AccordError
from accord.model.declaration import parse_leaf
from accord.registry import db
from accord.registry.accountancy import facility_balances

H = "H100"


def _run(rid: str, phase: str, fid: str, when: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "run_id": rid,
        "phase": phase,
        "date": when,
        "facility_id": fid,
        "chip": H,
        "chip_count": 8,
    }
    if phase != "start":
        body.update(chip_hours=100.0, compute_flop=1e20)
    body.update(extra)
    return body


def _release(name: str, rid: str, when: str) -> dict[str, Any]:
    return {
        "model_name": name,
        "run_id": rid,
        "date": when,
        "open_weights": True,
        "training_compute_flop": 1e20,
    }


def _shipment(tid: str, src: str, dst: str, when: str, role: str = "shipment") -> dict[str, Any]:
    return {
        "transfer_id": tid,
        "role": role,
        "date": when,
        "from_facility": src,
        "from_country": "US",
        "to_facility": dst,
        "to_country": "US",
        "chips": [{"chip": H, "count": 5}],
    }


@pytest.fixture
def h(tmp_path: Path) -> Any:
    harness = Harness(tmp_path / "var")
    harness.start()
    yield harness
    harness.reg.close()


def _findings(h: Harness) -> list[dict[str, Any]]:
    with h.reg.engine.connect() as conn:
        rows = conn.execute(db.findings.select()).all()
    return [json.loads(r.doc) for r in rows]


# -- the critical defect: one party stopped the registry for good ---------------------------


def test_long_model_names_that_share_a_prefix_do_not_collide(h: Harness) -> None:
    h.party("lab-a")
    h.file("lab-a", "facility", facility("fa"))
    h.file("lab-a", "training_run", _run("r1", "start", "fa", "2026-05-01"))
    h.file("lab-a", "training_run", _run("r1", "completion", "fa", "2026-05-20"))
    first = h.file("lab-a", "model_release", _release("M" * 190 + "1", "r1", "2026-05-25"))
    second = h.file("lab-a", "model_release", _release("M" * 190 + "2", "r1", "2026-05-26"))
    assert first["findings"] and second["findings"]
    assert first["findings"][0]["key"] != second["findings"][0]["key"]
    keys = {f["key"] for f in _findings(h)}
    assert {first["findings"][0]["key"], second["findings"][0]["key"]} <= keys
    # The registry still files, reports itself healthy and restarts.
    h.file("lab-a", "facility", facility("fb"))
    assert h.reg.health()["status"] == "ok"
    size = h.reg.reader().size
    h.restart()
    assert h.reg.reader().size == size and h.reg.health()["status"] == "ok"
    h.file("lab-a", "facility", facility("fc"))


def test_nul_and_control_characters_are_refused_before_anything_is_written(h: Harness) -> None:
    h.party("lab-a")
    h.file("lab-a", "facility", facility("fa"))
    size = h.reg.reader().size
    for text in ("bad\x00name", "line\nbreak", "esc\x1b[31m", "c1\x85"):
        body = {**facility("fz"), "name": text}
        with pytest.raises(AccordError) as info:
            h.file("lab-a", "facility", body)
        assert info.value.status == 422 and info.value.field == "declaration.body.name"
        assert "control character" in info.value.problem
    with pytest.raises(AccordError) as party_err:
        h.reg.register_party("lab-nul", "Evil\x00Corp", "lab", "US", "x")
    assert party_err.value.status == 422 and party_err.value.field == "name"
    assert h.reg.reader().size == size


def test_an_index_failure_after_the_append_quarantines_and_keeps_serving(h: Harness) -> None:
    """A real database failure (a trigger that aborts the row insert) after the log append."""
    h.party("lab-a")
    h.file("lab-a", "facility", facility("fa"))
    path = h.var / "registry.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON reg_declarations "
            "WHEN NEW.subject = 'poison' BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    receipt = h.file("lab-a", "facility", facility("poison"))  # recorded: a receipt comes back
    index = receipt["leaf_index"]
    health = h.reg.health()
    assert health["status"] == "degraded" and index in health["quarantined"]
    after = h.file("lab-a", "facility", facility("fb"))  # the writer is alive
    assert after["leaf_index"] > index
    h.restart()  # start-up does not refuse because of one entry
    assert h.reg.health()["status"] == "degraded"
    assert "poison" in h.reg.book.facilities  # the log is the record, rows or not
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER refuse")
    h.restart()  # the retry indexes it
    assert h.reg.health()["status"] == "ok"
    with h.reg.engine.connect() as conn:
        subjects = {r.subject for r in conn.execute(db.declarations.select())}
    assert "poison" in subjects


def test_a_failed_log_append_records_nothing_and_says_so(h: Harness) -> None:
    """The log itself refuses the batch (a trigger on its entries table): the submitter is
    told nothing was recorded, the book forgets the batch, and the writer carries on."""
    h.party("lab-a")
    h.file("lab-a", "facility", facility("fa"))
    path = h.var / "ledger.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON entries BEGIN SELECT RAISE(ABORT, 'no'); END"
        )
    size = h.reg.reader().size
    with pytest.raises(AccordError) as info:
        h.file("lab-a", "facility", facility("lost"))
    assert info.value.status == 503 and "nothing was recorded" in info.value.problem
    assert "lost" not in h.reg.book.facilities and h.reg.reader().size == size
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TRIGGER refuse")
    h.file("lab-a", "facility", facility("lost"))  # the same facility id is free again
    assert h.reg.health()["status"] == "ok"


def _state(h: Harness) -> tuple[Any, ...]:
    reg = h.reg
    return (
        sorted(reg.book.facilities),
        sorted(reg.book.transfers),
        {k: len(v) for k, v in reg.book.movements.items()},
        sorted(reg.book.runs),
        sorted(reg.parties),
        dict(reg.nonces),
        sorted(reg.finding_keys),
        reg.cached("b", lambda b: [f.to_dict() for f in facility_balances(b)]),
    )


def test_a_snapshot_restores_exactly_what_a_full_replay_builds(h: Harness) -> None:
    h.party("lab-a")
    h.party("lab-b")
    h.file("lab-a", "facility", facility("fa"))
    h.file("lab-b", "facility", facility("fb"))
    h.file("lab-a", "chip_inventory", inventory("fa", "2026-05-01", H100=50))
    h.file("lab-a", "transfer", _shipment("t1", "fa", "fb", "2026-05-02"))
    size = h.reg.reader().size
    h.restart()  # a clean stop saves the state; this start restores it
    assert (h.var / "registry.state").exists() and h.reg.restored_from == size
    h.file("lab-b", "transfer", _shipment("t1", "fa", "fb", "2026-05-03", role="receipt"))
    restored = _state(h)
    h.reg.close()
    (h.var / "registry.state").unlink()
    h.start()  # full replay from the log
    assert _state(h) == restored


def test_a_wrong_or_broken_snapshot_costs_a_replay_never_a_wrong_book(h: Harness) -> None:
    h.party("lab-a")
    h.file("lab-a", "facility", facility("fa"))
    h.restart()
    good = (h.var / "registry.state").read_bytes()
    h.file("lab-a", "facility", facility("fb"))
    h.reg.close()
    # a truncated file, and a file from an earlier, different log of the same origin
    for data in (good[: len(good) // 2], b"not a pickle"):
        (h.var / "registry.state").write_bytes(data)
        h.start()
        assert {"fa", "fb"} <= set(h.reg.book.facilities)
        h.reg.close()
    other = Harness(h.var.parent / "other")
    other.start()
    other.party("lab-z")
    other.file("lab-z", "facility", facility("zz"))
    other.reg.close()
    (h.var / "registry.state").write_bytes((other.var / "registry.state").read_bytes())
    h.start()  # same origin name, other tree: its root does not match this log
    assert h.reg.restored_from == 0
    assert "zz" not in h.reg.book.facilities and {"fa", "fb"} <= set(h.reg.book.facilities)


def test_finding_keys_are_never_truncated_in_the_database() -> None:
    long_a, long_b = "x" * 300 + "a", "x" * 300 + "b"
    assert db.finding_key(long_a) != db.finding_key(long_b)
    assert len(db.finding_key(long_a)) <= db.KEY_LENGTH
    assert db.finding_key("short") == "short"
    # a short key cannot pose as the stored form of a long one
    assert db.finding_key(db.finding_key(long_a)) != db.finding_key(long_a)


# -- distortion: dates, identifiers, one-sided claims -----------------------------------------


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("chip_inventory", inventory("fa", "9999-12-31", H100=1), "as_of"),
        ("chip_inventory", inventory("fa", "2099-01-01", H100=1), "as_of"),
        ("transfer", _shipment("t-old", "fa", "fb", "1900-01-01"), "date"),
        ("training_run", _run("r-old", "start", "fa", "1970-01-01"), "date"),
    ],
)
def test_event_dates_lie_near_issued_at(h: Harness, kind: str, body: Any, field: str) -> None:
    h.party("lab-a")
    h.file("lab-a", "facility", facility("fa"))
    h.file("lab-a", "facility", facility("fb"))
    with pytest.raises(AccordError) as info:
        h.file("lab-a", kind, body)
    assert info.value.status == 422 and info.value.field == f"declaration.body.{field}"


def test_one_sided_transfers_never_accuse_the_other_party(h: Harness) -> None:
    h.party("lab-a")
    h.party("lab-b")
    h.file("lab-a", "facility", facility("fa"))
    h.file("lab-b", "facility", facility("fb"))
    h.file("lab-a", "transfer", _shipment("t1", "fa", "fb", "2026-06-01"))
    # A claims to have received chips "from" B's facility that B never shipped.
    h.file("lab-a", "transfer", _shipment("t2", "fb", "fa", "2026-06-01", role="receipt"))
    h.clock.advance(60)
    new = h.reg.run_accountancy()
    unconfirmed = [f for f in new if f["key"].startswith("unconfirmed:")]
    assert len(unconfirmed) == 2
    for f in unconfirmed:
        text = json.dumps(f)
        assert "lab-b" not in text, f
        assert f["statistic"]["party"] == "lab-a"
        assert f["message"]["params"]["claimant"] == "lab-a"


def test_the_accounting_date_is_the_registrys_clock(h: Harness) -> None:
    """A party's own far-dated record cannot age other parties' transfers into findings."""
    h.party("lab-a")
    h.party("lab-b")
    h.file("lab-a", "facility", facility("fa"))
    h.file("lab-b", "facility", facility("fb"))
    h.file("lab-a", "transfer", _shipment("t1", "fa", "fb", "2026-06-01"))
    h.file("lab-b", "chip_inventory", inventory("fb", "2026-06-02", H100=0))
    assert not [f for f in h.reg.run_accountancy() if f["key"].startswith("unconfirmed:")]


def test_identifiers_belong_to_their_party(h: Harness) -> None:
    h.party("lab-a")
    h.party("lab-b")
    h.file("lab-a", "facility", facility("fa"))
    h.file("lab-b", "facility", facility("fb"))
    h.file("lab-b", "facility", facility("fb2"))
    # A squats B's run and transfer names first...
    h.file("lab-a", "training_run", _run("R-1", "start", "fa", "2026-05-01"))
    h.file("lab-a", "facility", facility("fa2"))
    h.file("lab-a", "transfer", _shipment("T-1", "fa", "fa2", "2026-05-02"))
    # ...and B uses them all the same, with its own findings.
    h.file("lab-b", "training_run", _run("R-1", "start", "fb", "2026-05-01"))
    done = h.file("lab-b", "training_run", _run("R-1", "completion", "fb", "2026-05-03"))
    h.file("lab-b", "transfer", _shipment("T-1", "fb", "fb2", "2026-05-02"))
    assert h.reg.book.runs[("lab-b", "R-1")].completed
    assert not h.reg.book.runs[("lab-a", "R-1")].completed
    assert all(f["statistic"].get("party", "lab-b") == "lab-b" for f in done["findings"])


def test_strict_schema_types(h: Harness) -> None:
    h.party("lab-a")
    h.file("lab-a", "facility", facility("fa"))
    for bad in (True, "10", 10.0):
        body = {"facility_id": "fa", "as_of": "2026-05-01", "chips": [{"chip": H, "count": bad}]}
        with pytest.raises(AccordError) as info:
            h.file("lab-a", "chip_inventory", body)
        assert info.value.status == 422 and "count" in info.value.field
    body = inventory("fa", "2026-05-01T00:00:00", H100=1)
    with pytest.raises(AccordError) as date_err:
        h.file("lab-a", "chip_inventory", body)
    assert date_err.value.field == "declaration.body.as_of"


def test_reads_never_run_on_the_writer_thread(h: Harness) -> None:
    seen: list[str] = []

    def view(book: Any) -> int:
        seen.append(threading.current_thread().name)
        return len(book.facilities)

    h.party("lab-a")
    h.file("lab-a", "facility", facility("fa"))
    assert h.reg.cached("probe", view) == 1
    assert seen and "registry-writer" not in seen


def test_rejection_counts_stay_bounded(h: Harness) -> None:
    for i in range(2000):
        name = f"k{i}" + "z" * 16_000  # a 16 KB key name, twice: a duplicate-key error
        raw = ('{"declaration": {}, "' + name + '": 1, "' + name + '": 2}').encode()
        with pytest.raises(AccordError) as info:
            h.reg.checked(raw)
        said = json.dumps([info.value.field, info.value.problem, info.value.fix])
        assert "zzzz" not in said and len(said) < 400
    for i in range(2000):  # short plain names are named back, but counted in a bounded map
        raw = ('{"declaration": {}, "k' + str(i) + '": 1, "k' + str(i) + '": 2}').encode()
        with pytest.raises(AccordError):
            h.reg.checked(raw)
    assert len(h.reg.rejections) <= 257


def test_revoking_twice_is_refused_and_keys_rotate(h: Harness) -> None:
    from accord.registry.signing import party_key

    h.party("lab-a")
    new = party_key("lab-a")
    rotated = h.reg.rotate_party_key("lab-a", new.verifier.vkey)
    assert rotated["vkey"] == new.verifier.vkey and rotated["leaf_index"] > 0
    h.keys["lab-a"] = new
    h.file("lab-a", "facility", facility("fa"))
    h.reg.revoke_party("lab-a")
    with pytest.raises(AccordError) as info:
        h.reg.revoke_party("lab-a")
    assert info.value.status == 409
    h.restart()
    assert h.reg.parties["lab-a"].revoked_at is not None
    assert h.reg.parties["lab-a"].key.vkey == new.verifier.vkey


# -- property: random hostile sequences with restarts ----------------------------------------

PARTIES = ["p-a", "p-b", "p-c"]
FACILITIES = ["fa", "fb", "fc", "fx"]
NAMES = ["R", "T", "M" * 190 + "1", "M" * 190 + "2", "n\x00ul"]
DATES = ["2026-05-01", "2026-05-20", "2026-06-01", "2099-01-01", "1900-01-01"]


def _op() -> st.SearchStrategy[tuple[Any, ...]]:
    party = st.sampled_from(PARTIES)
    fac = st.sampled_from(FACILITIES)
    name = st.sampled_from(NAMES)
    when = st.sampled_from(DATES)
    return st.one_of(
        st.tuples(st.just("facility"), party, fac),
        st.tuples(st.just("inventory"), party, fac, when, st.integers(0, 50)),
        st.tuples(
            st.just("transfer"),
            party,
            name,
            fac,
            fac,
            when,
            st.sampled_from(["shipment", "receipt"]),
        ),
        st.tuples(st.just("run"), party, name, fac, when, st.sampled_from(["start", "completion"])),
        st.tuples(st.just("release"), party, name, name, when),
        st.tuples(st.just("advance"), st.integers(1, 90)),
        st.tuples(st.just("accountancy")),
        st.tuples(st.just("restart")),
    )


def _apply(h: Harness, op: tuple[Any, ...]) -> None:
    tag = op[0]
    if tag == "advance":
        h.clock.advance(op[1])
        return
    if tag == "accountancy":
        h.reg.run_accountancy()
        return
    if tag == "restart":
        h.restart()
        return
    party = op[1]
    if tag == "facility":
        kind, body = "facility", facility(op[2])
    elif tag == "inventory":
        kind, body = "chip_inventory", inventory(op[2], op[3], H100=op[4])
    elif tag == "transfer":
        kind, body = "transfer", _shipment(op[2][:60], op[3], op[4], op[5], op[6])
    elif tag == "run":
        kind, body = "training_run", _run(op[2][:60], op[5], op[3], op[4])
    else:
        kind, body = "model_release", _release(op[2], op[3][:60], op[4])
    status = h.status(party, kind, body)
    assert status in (201, 401, 403, 409, 413, 422), status


def _filer(h: Harness, index: int) -> str | None:
    data = parse_leaf(h.reg.reader().entry(index))
    return data["declaration"]["party"] if data.get("type") == "accord.declaration/v1" else None


NAMING = ("party", "claimant", "shipper", "receiver")


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(_op(), min_size=5, max_size=25))
def test_hostile_sequences_never_brick_or_misattribute(tmp_path: Path, ops: list[Any]) -> None:
    import uuid

    h = Harness(tmp_path / uuid.uuid4().hex)
    h.start()
    try:
        for pid in PARTIES:
            h.party(pid)
        h.clock.now = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
        for op in ops:
            _apply(h, op)
        h.clock.advance(60)
        h.reg.run_accountancy()
        h.restart()
        assert h.reg.health()["status"] == "ok"
        for doc in _findings(h):
            finding = doc["finding"]
            filers = {_filer(h, i) for i in doc["refs"]}
            named = {finding.get("statistic", {}).get("party")}
            params = (finding.get("message") or {}).get("params", {})
            named |= {params.get(k) for k in NAMING}
            named.discard(None)
            assert named <= filers, (doc["key"], named, filers)
    finally:
        h.reg.close()
