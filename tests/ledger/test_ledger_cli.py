"""`accord log` end to end through the real CLI, including one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from accord.cli.main import app

runner = CliRunner()


def run(*args: str, input: str | None = None, code: int = 0) -> str:
    result = runner.invoke(app, ["log", *args], input=input)
    assert result.exit_code == code, result.output
    if code in (1, 2):
        # Exactly one line, never a traceback (1: the evidence does not hold, 2: bad input).
        assert "Traceback" not in result.output
        assert len([line for line in result.output.splitlines() if line.strip()]) <= 2
    return result.output


@pytest.fixture()
def log_dir(tmp_path: Path) -> Path:
    d = tmp_path / "L"
    run("init", "--origin", "example.com/cli-test", "--log", str(d))
    return d


def test_full_cycle(tmp_path: Path, log_dir: Path) -> None:
    L = str(log_dir)
    vkey = str(log_dir / "log.vkey")
    out = json.loads(run("append", "--lines", "--log", L, "--json", input="a\nb\nc\n"))
    assert out == {"indexes": [0, 1, 2]}
    tiles = tmp_path / "T"
    cp = json.loads(run("checkpoint", "--log", L, "--tiles", str(tiles), "--json"))
    assert cp["size"] == 3 and (tiles / "checkpoint").is_file()
    proof = tmp_path / "p.json"
    run("prove", "--index", "1", "--log", L, "--out", str(proof))
    entry = tmp_path / "entry"
    entry.write_bytes(b"b")
    res = json.loads(run("verify", str(proof), "--key", vkey, "--entry", str(entry), "--json"))
    assert res["valid"] and res["index"] == 1
    entry.write_bytes(b"not b")
    assert "does not hash" in run(
        "verify", str(proof), "--key", vkey, "--entry", str(entry), code=1
    )

    wkey = tmp_path / "w.key"
    wvkey = run("keygen", "w.example/w1", "--witness", "--out", str(wkey)).strip()
    state = tmp_path / "ws.json"
    c1 = tmp_path / "c1"
    run(
        "witness",
        str(tiles / "checkpoint"),
        "--key",
        str(wkey),
        "--log-key",
        vkey,
        "--state",
        str(state),
        "--out",
        str(c1),
    )
    run("append", "--log", L, input="d")
    run("checkpoint", "--log", L, "--tiles", str(tiles))
    stale = run(
        "witness",
        str(tiles / "checkpoint"),
        "--key",
        str(wkey),
        "--log-key",
        vkey,
        "--state",
        str(state),
        code=2,
    )
    assert "retry with old=3" in stale
    cons = tmp_path / "cons.json"
    run("prove", "--old", "3", "--log", L, "--out", str(cons))
    assert json.loads(run("verify", str(cons), "--key", vkey, "--json"))["new"] == 4
    c2 = tmp_path / "c2"
    run(
        "witness",
        str(tiles / "checkpoint"),
        "--key",
        str(wkey),
        "--log-key",
        vkey,
        "--state",
        str(state),
        "--proof",
        str(cons),
        "--out",
        str(c2),
    )
    ok = json.loads(
        run(
            "verify",
            "--checkpoint",
            str(c2),
            "--key",
            vkey,
            "--witness",
            wvkey,
            "--quorum",
            "1",
            "--json",
        )
    )
    assert ok["size"] == 4 and "w.example/w1" in ok["signed_by"]
    assert "1 of the required" not in run("verify", "--checkpoint", str(c2), "--key", vkey)
    run("verify", "--checkpoint", str(c1), "--key", vkey, "--witness", wvkey, "--quorum", "1")
    aud = tmp_path / "aud"
    finding = json.loads(run("audit", str(tiles), "--key", vkey, "--state", str(aud), "--json"))
    assert finding["verdict"] == "consistent" and aud.read_bytes().startswith(b"example.com")
    run("audit", str(tiles), "--key", vkey, "--state", str(aud))


def test_bad_input_gives_one_line_errors(tmp_path: Path, log_dir: Path) -> None:
    L = str(log_dir)
    vkey = str(log_dir / "log.vkey")
    run("append", "--log", L, input="x")
    note = tmp_path / "note"
    note.write_text(run("checkpoint", "--log", L))
    proof = tmp_path / "p.json"
    run("prove", "--index", "0", "--log", L, "--out", str(proof))
    text = proof.read_text()
    cases = {
        "truncated.json": text[: len(text) // 2],
        "notjson.json": "\x00\xff",
        "wrongtype.json": json.dumps({"type": "other"}),
        "badhash.json": text.replace('"leaf_hash": "', '"leaf_hash": "!!', 1),
        "negative.json": text.replace('"index": 0', '"index": -1', 1),
    }
    for name, body in cases.items():
        path = tmp_path / name
        path.write_text(body)
        run("verify", str(path), "--key", vkey, code=1)  # a broken proof proves nothing
    run("verify", str(tmp_path / "missing.json"), "--key", vkey, code=2)  # bad input
    other = tmp_path / "other.key"
    other_vkey = run("keygen", "example.com/cli-test", "--out", str(other)).strip()
    assert "trusted key" in run("verify", str(proof), "--key", other_vkey, code=1)
    assert "--key" in run("verify", str(proof), "--key", "nope+00000000+AAAA", code=2)
    broken = tmp_path / "broken-note"
    broken.write_text(note.read_text()[:-10])
    run("verify", "--checkpoint", str(broken), "--key", vkey, code=1)
    run("verify", "--checkpoint", str(note), "--key", vkey, "--quorum", "1", code=2)
    run("prove", "--index", "5", "--log", L, code=2)
    run("prove", "--log", L, code=2)
    run("append", "--log", str(tmp_path / "nowhere"), input="x", code=2)
    run("audit", str(tmp_path / "nowhere"), "--key", vkey, code=2)
    run("init", "--origin", "bad name", "--log", str(tmp_path / "new"), code=2)
    tiles = tmp_path / "T"
    run("checkpoint", "--log", L, "--tiles", str(tiles))
    (tiles / "tile/0/000.p/1").write_bytes(b"short")
    assert "truncated" in run("audit", str(tiles), "--key", vkey, code=1)


def test_audit_compare_turns_a_fork_into_evidence(tmp_path: Path) -> None:
    from accord.ledger import Log, open_store
    from accord.ledger.tiles import export_tiles

    a, b = tmp_path / "A", tmp_path / "B"
    run("init", "--origin", "example.com/fork-test", "--log", str(a))
    run("append", "--lines", "--log", str(a), input="one\ntwo\nthree\n")
    run("checkpoint", "--log", str(a), "--tiles", str(tmp_path / "TA"))
    # The operator keeps the key and serves a second, rewritten history from a copy.
    b.mkdir()
    for name in ("log.key", "log.vkey"):
        (b / name).write_bytes((a / name).read_bytes())
    (b / "store").write_text("log.db\n")
    from accord.ledger import Signer

    signer = Signer.parse((a / "log.key").read_text().strip())
    fork = Log.create(open_store(b / "log.db"), signer)
    fork.append_many([b"one", b"TWO", b"three", b"four"])
    export_tiles(fork, tmp_path / "TB", fork.checkpoint())
    vkey = str(a / "log.vkey")
    run("audit", str(tmp_path / "TA"), "--key", vkey)
    run("audit", str(tmp_path / "TB"), "--key", vkey)
    out = tmp_path / "evidence.json"
    msg = run(
        "audit",
        str(tmp_path / "TA"),
        "--key",
        vkey,
        "--compare",
        str(tmp_path / "TB"),
        "--evidence-out",
        str(out),
        code=1,
    )
    assert "split view" in msg
    assert json.loads(out.read_text())["conflict"]["index"] == 1
    finding = json.loads(run("verify", "--evidence", str(out), "--key", vkey, "--json"))
    assert finding["verdict"] == "inconsistent"
    # An honest extension is not a fork.
    run("append", "--log", str(a), input="four")
    run("checkpoint", "--log", str(a), "--tiles", str(tmp_path / "TA2"))
    run("audit", str(tmp_path / "TA"), "--key", vkey, "--compare", str(tmp_path / "TA2"))
