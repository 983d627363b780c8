"""Inspection evidence: stored by content (SHA-256), bounded in size, unpacked defensively.

Evidence comes from the party being inspected, so every byte of it is hostile until checked.
Uploads stream to a temporary file while they are hashed and counted (an oversized upload
stops at the limit and leaves nothing behind); a stored blob is named by its digest, so the
same bytes are stored once and a blob can never be swapped under its name. Archives are
unpacked by reading each member's header and copying regular files only, never by asking
``tarfile`` to extract: links, devices, absolute paths and ``..`` are refused, and the
unpacked size and member count are bounded, so a path-traversal or decompression bomb ends
as an :class:`EvidenceError` with the reason, not as files outside the directory or a full
disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from accord.errors import AccordError

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
MAX_MEMBERS = 10_000


class EvidenceError(AccordError):
    """The evidence cannot be used as it is: the inspection ends in ``error`` with this reason."""


class TooLarge(AccordError):
    """An upload went past the size limit; nothing was stored."""


@dataclass(frozen=True)
class Stored:
    sha256: str
    size: int


class EvidenceStore:
    """Blobs under ``root/sha256/ab/<digest>``, written atomically (temp file, fsync, rename)."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        (root / "tmp").mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if not SHA256_RE.match(sha256):
            raise AccordError("sha256", "is not a lower-case hex SHA-256 digest")
        return self.root / "sha256" / sha256[:2] / sha256

    def has(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def begin(self) -> Upload:
        return Upload(self)

    def put_stream(self, chunks: Iterable[bytes]) -> Stored:
        """Store what ``chunks`` yields; raises :class:`TooLarge` past ``max_bytes``."""
        upload = self.begin()
        try:
            for chunk in chunks:
                upload.write(chunk)
            return upload.commit()
        finally:
            upload.abort()

    def put_bytes(self, data: bytes) -> Stored:
        return self.put_stream([data])

    def discard_temp(self) -> None:
        """Remove uploads a crash left half-written (never a committed blob)."""
        for leftover in (self.root / "tmp").glob("up-*"):
            with contextlib.suppress(OSError):
                leftover.unlink()


class Upload:
    """One upload in progress: hashed and counted as it is written to a temporary file."""

    def __init__(self, store: EvidenceStore) -> None:
        self.store = store
        fd, name = tempfile.mkstemp(dir=store.root / "tmp", prefix="up-")
        self.tmp = Path(name)
        self.out = os.fdopen(fd, "wb")
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.store.max_bytes:
            raise TooLarge(
                "body",
                f"is larger than the evidence limit of {self.store.max_bytes} bytes",
                "ask the inspectorate for a higher limit or split the evidence",
            )
        self.digest.update(chunk)
        self.out.write(chunk)

    @property
    def sha256(self) -> str:
        return self.digest.hexdigest()

    def commit(self) -> Stored:
        """Make the blob durable under its digest (the same bytes are stored once)."""
        self.out.flush()
        os.fsync(self.out.fileno())
        self.out.close()
        sha256 = self.sha256
        final = self.store.path(sha256)
        if not final.is_file():
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.tmp, final)
        return Stored(sha256, self.size)

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.out.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()


def _member_path(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("..", "") for part in path.parts) or "\\" in name:
        raise EvidenceError(
            "evidence",
            f"the archive holds a member outside its directory ({name[:80]!r})",
            "pack the transcript directory with relative paths (tar -C DIR -czf out.tgz .)",
        )
    return path


def unpack_archive(archive: Path, dest: Path, max_bytes: int) -> Path:
    """Unpack a tar (optionally gzip, bzip2 or xz) archive of regular files into ``dest``.

    Returns ``dest``; raises :class:`EvidenceError` for anything that is not a plain,
    complete archive of at most ``max_bytes`` unpacked and :data:`MAX_MEMBERS` members.
    """
    total = 0
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            for count, member in enumerate(tar, start=1):
                if count > MAX_MEMBERS:
                    raise EvidenceError(
                        "evidence", f"the archive holds more than {MAX_MEMBERS} members"
                    )
                rel = _member_path(member.name.removeprefix("./") or ".")
                if rel == PurePosixPath("."):
                    continue
                target = dest.joinpath(*rel.parts)
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if not member.isfile():
                    raise EvidenceError(
                        "evidence",
                        f"the archive member {member.name[:80]!r} is a link or device file",
                        "archive regular files only",
                    )
                total += member.size
                if total > max_bytes:
                    raise EvidenceError(
                        "evidence", f"the archive unpacks to more than {max_bytes} bytes"
                    )
                source = tar.extractfile(member)
                if source is None:
                    raise EvidenceError("evidence", f"cannot read member {member.name[:80]!r}")
                target.parent.mkdir(parents=True, exist_ok=True)
                with source, target.open("xb") as out:
                    while block := source.read(1 << 20):
                        out.write(block)
    except EvidenceError:
        raise
    except FileExistsError:
        raise EvidenceError("evidence", "the archive names one file twice") from None
    except (tarfile.TarError, EOFError, OSError, ValueError) as err:
        raise EvidenceError(
            "evidence",
            f"is not a complete tar archive ({type(err).__name__}: {str(err)[:120]})",
            "upload the transcript directory as a .tar or .tar.gz",
        ) from None
    return dest


def find_root(dest: Path, marker: str) -> Path:
    """The directory holding ``marker`` (the archive's root or its single top folder)."""
    if (dest / marker).is_file():
        return dest
    subdirs = [p for p in dest.iterdir() if p.is_dir()]
    if len(subdirs) == 1 and (subdirs[0] / marker).is_file():
        return subdirs[0]
    raise EvidenceError(
        "evidence", f"the archive holds no {marker}", "archive the transcript directory itself"
    )
