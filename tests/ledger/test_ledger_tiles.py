"""Static C2SP tiles: layout, export, the auditor over a directory and over real HTTP."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.errors import AccordError, IntegrityError, NotFoundError
from accord.ledger import Log, Signer, open_store
from accord.ledger.audit import audit
from accord.ledger.tiles import (
    DirectorySource,
    HttpSource,
    decode_bundle,
    decode_index,
    encode_bundle,
    encode_index,
    export_tiles,
    parse_tile_path,
    tile_path,
)


def test_paths_follow_the_spec() -> None:
    assert encode_index(1234067) == "x001/x234/067"
    assert encode_index(0) == "000"
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(2, 5, 17) == "tile/2/005.p/17"
    assert tile_path("entries", 1000, 3) == "tile/entries/x001/000.p/3"
    for path in ("tile/0/x001/x234/067", "tile/2/005.p/17", "tile/entries/x001/000.p/3"):
        level, index, width = parse_tile_path(path)
        assert tile_path(level, index, width) == path
    for bad in ("tile/0/1234", "tile/0/x001", "tile/64/000", "tile/0/000.p/256", "tile/01/000"):
        with pytest.raises(IntegrityError):
            parse_tile_path(bad)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 10**15))
def test_index_round_trip(n: int) -> None:
    assert decode_index(encode_index(n)) == n


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="tile/xentrisp.0123456789", max_size=40))
def test_tile_path_parser_never_crashes(path: str) -> None:
    try:
        level, index, width = parse_tile_path(path)
    except AccordError:
        return
    assert parse_tile_path(tile_path(level, index, width)) == (level, index, width)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 20))
def test_bundle_decoder_never_crashes(data: bytes, count: int) -> None:
    try:
        entries = decode_bundle(data, count)
    except AccordError:
        return
    assert encode_bundle(entries) == data


def build_log(path: Path, sizes: list[int]) -> tuple[Log, list[bytes]]:
    log = Log.create(open_store(path), Signer.generate("example.com/tiles"))
    notes = []
    for size in sizes:
        log.append_many([os.urandom(20) for _ in range(size - log.size)])
        notes.append(log.checkpoint())
    return log, notes


def test_export_and_audit_directory(tmp_path: Path) -> None:
    log, notes = build_log(tmp_path / "log.db", [3, 256, 70_000])
    out = tmp_path / "tiles"
    first = export_tiles(log, out, notes[0])
    assert (out / "tile/0/000.p/3").is_file() and (out / "tile/entries/000.p/3").is_file()
    export_tiles(log, out, notes[1])
    report = export_tiles(log, out)
    assert first.tiles_written == 1 and report.size == 70_000
    # The spec's example: 273 full level-0 tiles + a partial of width 112, etc.
    assert len(list((out / "tile/0").rglob("*"))) > 273
    assert (out / "tile/0/273.p/112").is_file()
    assert (out / "tile/1/001.p/17").is_file() and (out / "tile/2/000.p/1").is_file()
    result = audit(DirectorySource(out), log.verifier, previous=notes[0])
    assert result.checkpoint.size == 70_000 and result.previous_size == 3
    assert result.finding().verdict == "consistent"
    # Wrong key, tampered tile, truncated bundle, missing tile: clear errors.
    with pytest.raises(IntegrityError, match="trusted key"):
        audit(DirectorySource(out), Signer.generate("example.com/tiles").verifier)
    tile = out / "tile/0/100"
    original = tile.read_bytes()
    tile.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(IntegrityError, match="tile above"):
        audit(DirectorySource(out), log.verifier)
    tile.write_bytes(original[:100])
    with pytest.raises(IntegrityError, match="truncated"):
        audit(DirectorySource(out), log.verifier)
    tile.write_bytes(original)
    bundle = out / "tile/entries/005"
    good_bundle = bundle.read_bytes()
    bundle.write_bytes(good_bundle[:-5])
    with pytest.raises(IntegrityError, match="truncated"):
        audit(DirectorySource(out), log.verifier)
    bundle.write_bytes(good_bundle.replace(good_bundle[10:12], b"\x00\x00", 1))
    with pytest.raises(IntegrityError):
        audit(DirectorySource(out), log.verifier)
    bundle.unlink()
    with pytest.raises(NotFoundError):
        audit(DirectorySource(out), log.verifier)
    bundle.write_bytes(good_bundle)
    audit(DirectorySource(out), log.verifier)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/log", root
    finally:
        server.shutdown()
        server.server_close()


def test_audit_over_http(tmp_path: Path, served: tuple[str, Path]) -> None:
    url, root = served
    log, notes = build_log(tmp_path / "log.db", [1000, 5000])
    export_tiles(log, root / "log", notes[0])
    export_tiles(log, root / "log")
    result = audit(HttpSource(url), log.verifier, previous=notes[0])
    assert result.checkpoint.size == 5000 and result.entries_checked == 5000
    with pytest.raises(NotFoundError):
        audit(HttpSource(url + "/nowhere"), log.verifier)
    with pytest.raises(AccordError, match="cannot fetch"):
        audit(HttpSource("http://127.0.0.1:1/x", timeout=2), log.verifier)


def test_history_rewrite_is_detected(tmp_path: Path) -> None:
    signer = Signer.generate("example.com/rewrite")
    honest = Log.create(open_store(tmp_path / "a.db"), signer)
    honest.append_many([b"%d" % i for i in range(600)])
    seen = honest.checkpoint()
    evil = Log.create(open_store(tmp_path / "b.db"), signer)
    evil.append_many([b"%d" % i for i in range(599)] + [b"changed"] + [b"x"] * 100)
    export_tiles(evil, tmp_path / "evil", evil.checkpoint())
    with pytest.raises(IntegrityError, match="rewrote history"):
        audit(DirectorySource(tmp_path / "evil"), signer.verifier, previous=seen)


def test_export_checks_each_file_on_its_own(tmp_path: Path) -> None:
    """A tile without its bundle, a bundle without its tile, an empty file left by a power
    loss: the next export completes each one (it used to skip a bundle whose tile existed)."""
    log, _ = build_log(tmp_path / "log.db", [1000])
    out = tmp_path / "tiles"
    export_tiles(log, out)
    (out / "tile/entries/001").unlink()
    (out / "tile/0/002").unlink()
    (out / "tile/0/000").write_bytes(b"")
    (out / "tile/entries/003.p/232").write_bytes(b"")
    report = export_tiles(log, out)
    assert (report.tiles_written, report.bundles_written) == (2, 2)
    assert audit(DirectorySource(out), log.verifier).checkpoint.size == 1000
    # Nothing is missing any more, so nothing is written; no temporary file is left.
    again = export_tiles(log, out)
    assert (again.tiles_written, again.bundles_written) == (0, 0)
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


def test_export_fsyncs_every_file_and_directory_before_the_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files and directory entries are on disk before the checkpoint that needs them is.
    The real fsync runs; the wrapper only records which inode each call made durable."""
    log, _ = build_log(tmp_path / "log.db", [70_000])
    out = tmp_path / "tiles"
    synced: list[int] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        real_fsync(fd)
        synced.append(os.fstat(fd).st_ino)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    export_tiles(log, out)
    checkpoint_ino = (out / "checkpoint").stat().st_ino
    assert checkpoint_ino in synced
    before_checkpoint = set(synced[: synced.index(checkpoint_ino)])
    everything = [out, *out.rglob("*")]
    files = [p for p in everything if p.is_file() and p.name != "checkpoint"]
    assert len(files) > 2 * 273
    unsynced = [p for p in everything if p.stat().st_ino not in set(synced)]
    assert not unsynced, f"never fsynced: {unsynced[:5]}"
    late = [p for p in files if p.stat().st_ino not in before_checkpoint]
    assert not late, f"fsynced only after the checkpoint: {late[:5]}"
    dirs = [p for p in everything if p.is_dir()]
    assert all(d.stat().st_ino in before_checkpoint for d in dirs if d != out)
    # The root directory, which holds the checkpoint's name, is fsynced after it.
    assert out.stat().st_ino in synced[synced.index(checkpoint_ino) :]
