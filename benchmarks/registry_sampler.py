"""Where the registry server's time goes: a stack sampler over every thread of the process.

cProfile and pyinstrument follow one thread, but the registry works on three kinds of
thread at once (the event loop parsing HTTP, worker threads checking signatures, the
writer appending and indexing), so this samples ``sys._current_frames()`` of all of them
every few milliseconds and files each sample under the innermost frame that names a
known cost (Ed25519, RFC 8785, pydantic, SQL, the log's durable commit, ...). It is wall
time per thread, not CPU: a thread blocked in ``fsync`` or waiting for the GIL counts
where it stands, which is what the latency of a declaration is made of. Idle threads
(waiting for work or sockets) are counted apart.

Run the server under it::

    python -m benchmarks.registry_sampler OUT.json -- serve --var ... --port ...

Each SIGUSR1 starts or ends a recording (so start-up replay is left out and each phase of
a benchmark gets its own counts); on SIGTERM uvicorn shuts down, the command returns and
the recordings are written to OUT.json.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import FrameType

IDLE = "idle (waiting for work or sockets)"
IN_C_LOOP = "event loop inside uvloop (C: socket I/O, HTTP parsing or idle)"

# Innermost matching frame wins: (path fragment, part of the function name, category).
RULES: list[tuple[str, str, str]] = [
    ("/rfc8785/", "", "canonicalisation (rfc8785)"),
    ("accord/ledger/note.py", "verify", "Ed25519 signature check"),
    ("accord/ledger/note.py", "sign", "checkpoint signing (Ed25519)"),
    ("accord/ledger/checkpoint.py", "", "checkpoint signing (Ed25519)"),
    ("accord/ledger/log.py", "checkpoint", "checkpoint: re-read issued heads, root"),
    ("accord/ledger/store_sqlite.py", "commit", "log append: SQLite insert + fsync"),
    ("accord/ledger/store_sqlite.py", "checkpoints", "log: read every issued checkpoint"),
    ("accord/ledger/store_sqlite.py", "add_checkpoint", "log: store checkpoint (fsync)"),
    ("accord/ledger/store_sqlite.py", "", "log reads (SQLite)"),
    ("accord/ledger/parallel.py", "", "Merkle hashing (leaves, tiles)"),
    ("accord/ledger/tree.py", "", "Merkle tree / tiles / proofs"),
    ("accord/ledger/proofs.py", "", "Merkle tree / tiles / proofs"),
    ("accord/ledger/hashing.py", "", "Merkle hashing (leaves, tiles)"),
    ("/sqlalchemy/", "commit", "index database: commit (fsync)"),
    ("/sqlalchemy/", "", "index database: SQLAlchemy + SQLite"),
    ("/pydantic/", "", "pydantic (validation, dumps)"),
    ("/pydantic_core/", "", "pydantic (validation, dumps)"),
    ("/fastapi/", "", "HTTP: FastAPI/Starlette"),
    ("/starlette/", "", "HTTP: FastAPI/Starlette"),
    ("/uvicorn/", "", "HTTP: uvicorn protocol (h11 or httptools)"),
    ("/h11/", "", "HTTP: uvicorn protocol (h11 or httptools)"),
    ("/anyio/", "", "HTTP: FastAPI/Starlette"),
    ("accord/registry/accountancy.py", "", "accountancy (balances, series)"),
    ("accord/registry/findings.py", "", "findings (export rules, compute)"),
    ("accord/rules/", "", "findings (export rules, compute)"),
    ("accord/registry/book.py", "", "book check/apply"),
    ("accord/model/declaration.py", "loads_strict", "JSON parsing (strict)"),
    ("/json/", "", "JSON (stdlib)"),
    ("/uvloop/", "", "HTTP: uvicorn protocol (h11 or httptools)"),
    ("asyncio/", "", "HTTP: asyncio event loop"),
    ("concurrent/futures/", "", "thread hand-off"),
]
IDLE_FRAMES = {
    ("selectors.py", "select"),
    ("threading.py", "wait"),
    ("queue.py", "get"),
    ("concurrent/futures/thread.py", "_worker"),
}


def classify(frame: FrameType | None) -> tuple[str, str]:
    """(category, innermost function) of one thread's stack."""
    leaf = frame
    if leaf is None:
        return IDLE, "?"
    code = leaf.f_code
    where = f"{_short(code.co_filename)}:{code.co_name}"
    if any(code.co_filename.endswith(f) and code.co_name == n for f, n in IDLE_FRAMES):
        return IDLE, where
    if code.co_filename.endswith("asyncio/runners.py") and code.co_name == "run":
        # uvloop runs the loop (epoll, reads, writes, httptools parsing) in C below this
        # frame: busy and idle cannot be told apart, so it is counted apart from both.
        return IN_C_LOOP, where
    while frame is not None:
        path, name = frame.f_code.co_filename, frame.f_code.co_name
        for fragment, func, category in RULES:
            if fragment in path and func in name:
                return category, where
        frame = frame.f_back
    return "other", where


def _short(path: str) -> str:
    for marker in ("/site-packages/", "/accord/", "/lib/python3"):
        if marker in path:
            tail = path.split(marker, 1)[1]
            return ("accord/" + tail) if marker == "/accord/" else tail
    return path


def _role(name: str) -> str:
    if name == "registry-writer":
        return "writer"
    if name.startswith(("asyncio_", "uvloop_", "ThreadPoolExecutor")):
        return "signature threads"
    if name.startswith("AnyIO worker"):
        return "read threads"
    if name == "MainThread":
        return "event loop"
    return name


class Sampler:
    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.categories: Counter[tuple[str, str]] = Counter()
        self.functions: Counter[str] = Counter()
        self.samples = 0
        self.recording = False
        self.recordings: list[dict[str, object]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.wait(self.interval):
            if not self.recording:
                continue
            names = {t.ident: t.name for t in threading.enumerate()}
            self.samples += 1
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                role = _role(names.get(ident, "?"))
                category, where = classify(frame)
                self.categories[(role, category)] += 1
                if category not in (IDLE, IN_C_LOOP):
                    self.functions[where] += 1

    def toggle(self) -> None:
        """Start a new recording, or end the current one and keep its counts."""
        if self.recording:
            self.recording = False
            self.recordings.append(self.snapshot())
            self.categories, self.functions, self.samples = Counter(), Counter(), 0
        else:
            self.recording = True

    def snapshot(self) -> dict[str, object]:
        return {
            "interval": self.interval,
            "samples": self.samples,
            "categories": [[r, c, n] for (r, c), n in self.categories.most_common()],
            "functions": self.functions.most_common(40),
        }

    def stop(self) -> list[dict[str, object]]:
        """Every finished recording, in order."""
        self._stop.set()
        self._thread.join(timeout=5)
        if self.recording:
            self.toggle()
        return self.recordings


def summarise(profile: dict[str, object], top: int = 12) -> list[tuple[str, float, str]]:
    """(category, share of busy thread time, which threads) for the largest categories."""
    rows = profile["categories"]
    assert isinstance(rows, list)
    busy: Counter[str] = Counter()
    roles: dict[str, Counter[str]] = {}
    for role, category, n in rows:
        if category in (IDLE, IN_C_LOOP):
            continue
        busy[category] += n
        roles.setdefault(category, Counter())[role] += n
    total = sum(busy.values()) or 1
    out = []
    for category, n in busy.most_common(top):
        where = ", ".join(r for r, _ in roles[category].most_common(2))
        out.append((category, 100.0 * n / total, where))
    return out


def main() -> None:
    out = Path(sys.argv[1])
    args = sys.argv[3:] if sys.argv[2:3] == ["--"] else sys.argv[2:]
    from accord.cli.main import app

    sampler = Sampler()

    def toggle(_sig: int, _frame: object) -> None:
        sampler.toggle()

    def finish(_sig: int, _frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGUSR1, toggle)
    # uvicorn restores the handler it found and re-raises SIGTERM after a graceful shutdown:
    # exiting through SystemExit lets the registry close and the counts be written.
    signal.signal(signal.SIGTERM, finish)
    sampler.start()
    started = time.time()
    try:
        app(args=args, prog_name="accord", standalone_mode=False)
    finally:
        out.write_text(json.dumps({"seconds": time.time() - started, "recordings": sampler.stop()}))


if __name__ == "__main__":
    main()
