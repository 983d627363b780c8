"""The writer's in-memory state saved beside the log, so a restart replays only the tail.

Rebuilding the book, the parties, the nonces and the finding keys means parsing every log
entry again: about a minute per 10^5 declarations on a loaded two-core machine. A snapshot
records that state together with the tree size and root it was taken at; it is used only
if the log still has that root at that size (a snapshot can never make the registry
believe something the log does not say), and entries after it are replayed as usual.
Anything wrong with the file — missing, truncated, another format version, another log —
means a full replay, never a refusal to start.

The file is a pickle written by the registry itself under its own directory, with the same
trust as the log key and the database beside it; it is never read from anyone else.
"""

from __future__ import annotations

import logging
import os
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "accord.registry.state/v2"  # v2: the book holds agent deployments
log = logging.getLogger("accord.registry")


@dataclass
class State:
    origin: str
    size: int
    root: bytes
    parts: dict[str, Any]


def save(path: Path, state: State) -> None:
    """Write atomically: a crash leaves the old snapshot or the new one, never half."""
    data = pickle.dumps((FORMAT, state), protocol=pickle.HIGHEST_PROTOCOL)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".state-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: Path, origin: str) -> tuple[State, bytes] | None:
    """The snapshot at ``path`` (and its bytes) if readable, of this format and this log."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    state = decode(data, origin, path)
    return None if state is None else (state, data)


def decode(data: bytes, origin: str, path: Path | str = "snapshot") -> State | None:
    try:
        fmt, state = pickle.loads(data)  # our own file: see the module note
    except Exception as err:  # a broken snapshot only costs a full replay
        log.warning("registry snapshot %s unreadable (%s); replaying the log", path, err)
        return None
    if fmt != FORMAT or not isinstance(state, State) or state.origin != origin:
        log.warning("registry snapshot %s is of another format or log; replaying", path)
        return None
    return state
