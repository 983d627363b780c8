"""C2SP tlog-tiles as static files: paths, entry bundles, a writer and tile sources.

The writer exports a log at its latest checkpoint: every full tile and entry bundle once
(they never change), the partial tiles of that size, and the checkpoint last, so a reader
that sees a checkpoint finds every tile it needs. Each file is checked and written on its
own and durably (temporary file, fsync, rename, directory fsync), so an export killed at
any point, or cut by a power loss, is completed by the next run. Sources read the same layout from a
directory or over HTTP, so the auditor works against any static host.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import secrets
import struct
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from accord.errors import AccordError, IntegrityError, NotFoundError
from accord.ledger.checkpoint import open_checkpoint
from accord.ledger.hashing import HASH_SIZE
from accord.ledger.tree import TILE_HEIGHT, TILE_WIDTH, tile_width

if TYPE_CHECKING:
    from accord.ledger.log import Log

MAX_FETCH_BYTES = 64 << 20
_INDEX_PART = re.compile(r"x\d{3}|\d{3}")


def encode_index(n: int) -> str:
    """Tile index as zero-padded 3-digit path elements, all but the last prefixed 'x'."""
    if n < 0:
        raise AccordError("tile index", f"{n} is negative")
    parts = [f"{n % 1000:03d}"]
    n //= 1000
    while n:
        parts.append(f"x{n % 1000:03d}")
        n //= 1000
    return "/".join(reversed(parts))


def decode_index(text: str) -> int:
    parts = text.split("/")
    if not all(_INDEX_PART.fullmatch(p) for p in parts):
        raise IntegrityError("tile path", f"{text!r} is not a tile index")
    if any(not p.startswith("x") for p in parts[:-1]) or parts[-1].startswith("x"):
        raise IntegrityError("tile path", f"{text!r} misplaces the 'x' prefixes")
    value = 0
    for part in parts:
        value = value * 1000 + int(part.lstrip("x"))
    if len(parts) > 1 and parts[0] == "x000":
        raise IntegrityError("tile path", f"{text!r} has a leading zero group")
    return value


def tile_path(level: int | str, index: int, width: int = TILE_WIDTH) -> str:
    """``tile/<L>/<N>[.p/<W>]``; level ``"entries"`` gives the entry bundle path."""
    if not 1 <= width <= TILE_WIDTH:
        raise AccordError("tile width", f"{width} is not 1..256")
    suffix = "" if width == TILE_WIDTH else f".p/{width}"
    return f"tile/{level}/{encode_index(index)}{suffix}"


def parse_tile_path(path: str) -> tuple[int | str, int, int]:
    """Inverse of :func:`tile_path`: (level or 'entries', index, width)."""
    match = re.fullmatch(r"tile/(entries|0|[1-9]\d?)/([x\d/]+?)(?:\.p/([1-9]\d{0,2}))?", path)
    if not match:
        raise IntegrityError("tile path", f"{path!r} is not a C2SP tile path")
    level: int | str = match[1] if match[1] == "entries" else int(match[1])
    if isinstance(level, int) and level > 63:
        raise IntegrityError("tile path", "level is above 63")
    width = int(match[3]) if match[3] else TILE_WIDTH
    if match[3] and width >= TILE_WIDTH:
        raise IntegrityError("tile path", "partial width must be 1..255")
    return level, decode_index(match[2]), width


def encode_bundle(entries: list[bytes]) -> bytes:
    parts = []
    for entry in entries:
        if len(entry) > 0xFFFF:
            raise AccordError("entry", "is longer than 65535 bytes")
        parts.append(struct.pack(">H", len(entry)) + entry)
    return b"".join(parts)


def decode_bundle(data: bytes, count: int) -> list[bytes]:
    """Split an entry bundle; it must hold exactly ``count`` entries and nothing else."""
    out: list[bytes] = []
    pos = 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise IntegrityError("entry bundle", "ends inside a length prefix (truncated)")
        (length,) = struct.unpack_from(">H", data, pos)
        pos += 2
        if pos + length > len(data):
            raise IntegrityError("entry bundle", "ends inside an entry (truncated)")
        out.append(data[pos : pos + length])
        pos += length
        if len(out) > count:
            break
    if len(out) != count:
        raise IntegrityError("entry bundle", f"holds {len(out)} entries, expected {count}")
    return out


class TileSource(Protocol):
    def fetch(self, path: str) -> bytes:
        """Bytes at ``<prefix>/<path>``; NotFoundError when absent."""
        ...


@dataclass(frozen=True)
class DirectorySource:
    root: Path

    def fetch(self, path: str) -> bytes:
        target = self.root / path
        try:
            with open(target, "rb") as fh:
                data = fh.read(MAX_FETCH_BYTES + 1)
        except FileNotFoundError:
            raise NotFoundError(path, f"is missing from {self.root}") from None
        except OSError as err:
            raise AccordError(path, f"cannot be read: {err.strerror}") from None
        if len(data) > MAX_FETCH_BYTES:
            raise IntegrityError(path, "is too large")
        return data


@dataclass(frozen=True)
class HttpSource:
    prefix: str
    timeout: float = 30.0

    def fetch(self, path: str) -> bytes:
        url = self.prefix.rstrip("/") + "/" + path
        request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip, identity"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                data: bytes = resp.read(MAX_FETCH_BYTES + 1)
                encoding = resp.headers.get("Content-Encoding", "identity")
        except urllib.error.HTTPError as err:
            if err.code == 404:
                raise NotFoundError(path, f"is not served at {url}") from None
            raise AccordError(path, f"HTTP {err.code} from {url}") from None
        except (urllib.error.URLError, OSError) as err:
            raise AccordError("url", f"cannot fetch {url}: {err}") from None
        if len(data) > MAX_FETCH_BYTES:
            raise IntegrityError(path, "is too large")
        if encoding == "gzip":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError):
                raise IntegrityError(path, "is not valid gzip") from None
        return data


def open_source(location: str | Path) -> TileSource:
    text = str(location)
    if text.startswith(("http://", "https://")):
        return HttpSource(text)
    path = Path(text)
    if not path.is_dir():
        raise AccordError("tiles", f"{path} is not a directory or http(s) URL")
    return DirectorySource(path)


def fetch_tile(source: TileSource, level: int, index: int, width: int) -> bytes:
    """A hash tile's first ``width`` hashes, falling back to the full tile if the partial
    one was already replaced (the spec lets logs delete partial tiles)."""
    try:
        data = source.fetch(tile_path(level, index, width))
    except NotFoundError:
        if width == TILE_WIDTH:
            raise
        data = source.fetch(tile_path(level, index))[: width * HASH_SIZE]
    if len(data) != width * HASH_SIZE:
        raise IntegrityError(
            tile_path(level, index, width),
            f"has {len(data)} bytes, expected {width * HASH_SIZE}",
            "the tile is truncated or corrupt",
        )
    return data


def _fsync_dir(directory: Path) -> None:
    """Make the names in ``directory`` durable: a rename is only on disk once its
    directory is (on Linux a file's own fsync does not cover its directory entry)."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _DurableWriter:
    """Writes files so that a name, once visible, always holds its complete content.

    Each file goes to a uniquely named temporary file in the same directory, is fsynced,
    then renamed over its final name; a SIGKILL leaves at worst a stray ``*.tmp`` file and
    never a half-written tile. Directories that gained names are fsynced together by
    :meth:`sync_dirs`, which the exporter calls before it publishes the checkpoint, so
    after a power loss every file the checkpoint needs is on disk too.
    """

    def __init__(self) -> None:
        self._known: set[Path] = set()
        self._dirty: set[Path] = set()

    def _ensure_dir(self, directory: Path) -> None:
        if directory in self._known:
            return
        if not directory.is_dir():
            self._ensure_dir(directory.parent)
            with contextlib.suppress(FileExistsError):  # another exporter made it
                directory.mkdir()
            self._dirty.add(directory.parent)
        self._known.add(directory)

    def write(self, path: Path, data: bytes) -> None:
        self._ensure_dir(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._dirty.add(path.parent)

    def sync_dirs(self) -> None:
        # Deepest first, so a new directory's own entries are durable before its name is.
        for directory in sorted(self._dirty, key=lambda d: len(d.parts), reverse=True):
            _fsync_dir(directory)
        self._dirty.clear()


def _present(path: Path, min_bytes: int, max_bytes: int) -> bool:
    """Whether ``path`` already holds a complete file; judged by this file alone.

    Files are only ever renamed into place complete and fsynced, so a file of a plausible
    size is kept (``audit`` checks contents); a missing, empty or wrongly sized one, say
    from an exporter that did not fsync before a power loss, is written again.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return False
    return min_bytes <= size <= max_bytes


@dataclass(frozen=True)
class ExportReport:
    size: int
    tiles_written: int
    bundles_written: int


def export_tiles(log: Log, directory: Path, note: bytes | None = None) -> ExportReport:
    """Write the static tile tree for ``note`` (default: the latest checkpoint).

    Every tile and every entry bundle is checked and written on its own, durably, so an
    export killed at any point is completed by the next one; the checkpoint is written
    last, once everything it refers to is on disk.
    """
    note = log.latest_checkpoint() if note is None else note
    size = open_checkpoint(note, log.verifier, origin=log.origin).checkpoint.size
    if size > log.size:
        raise AccordError("checkpoint", f"size {size} is beyond the log size {log.size}")
    writer = _DurableWriter()
    tiles = bundles = 0
    level = 0
    while size >> (TILE_HEIGHT * level):
        count = size >> (TILE_HEIGHT * level)
        for index in range(-(-count // TILE_WIDTH)):
            width = tile_width(size, level, index)
            if level == 0:
                # A bundle holds ``width`` entries of 2 to 2 + MAX_ENTRY bytes each.
                bundle_path = directory / tile_path("entries", index, width)
                if not _present(bundle_path, 2 * width, (2 + 0xFFFF) * width):
                    start = index * TILE_WIDTH
                    writer.write(bundle_path, encode_bundle(log.entries(start, start + width)))
                    bundles += 1
            path = directory / tile_path(level, index, width)
            if not _present(path, width * HASH_SIZE, width * HASH_SIZE):
                writer.write(path, log.store.read_tile(level, index, width))
                tiles += 1
        level += 1
    writer.sync_dirs()
    writer.write(directory / "checkpoint", note)
    writer.sync_dirs()
    return ExportReport(size, tiles, bundles)
