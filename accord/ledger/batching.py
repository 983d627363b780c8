"""Group commit: many callers append one entry each, the log commits them together.

A durable commit costs one fsync however many entries it carries, so a server that
appends entry by entry would be limited to a few hundred per second. ``Batcher`` queues
entries from any number of threads, and a single writer thread commits whatever has
queued (up to ``max_batch``) in one transaction; each caller's future resolves with its
index only after that commit, so the acknowledgement still means "durable".
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future

from accord.errors import AccordError
from accord.ledger.log import Log

_STOP = object()


class Batcher:
    """Owns a Log on its own thread (SQLite connections are per-thread)."""

    def __init__(self, open_log: Callable[[], Log], max_batch: int = 4096) -> None:
        self._queue: queue.Queue[object] = queue.Queue()
        self._max_batch = max_batch
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(open_log,), daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def submit(self, entry: bytes) -> Future[int]:
        """Queue one entry; the future gives its index once it is durable."""
        if not self._thread.is_alive():
            raise AccordError("batcher", "is closed")
        future: Future[int] = Future()
        self._queue.put((entry, future))
        return future

    def append(self, entry: bytes, timeout: float | None = None) -> int:
        return self.submit(entry).result(timeout)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    def _run(self, open_log: Callable[[], Log]) -> None:
        try:
            log = open_log()
        except BaseException as err:  # reported to the constructor's caller
            self._error = err
            self._ready.set()
            return
        self._ready.set()
        stopping = False
        try:
            while not stopping:
                items = [self._queue.get()]
                while len(items) < self._max_batch:
                    try:
                        items.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                batch: list[tuple[bytes, Future[int]]] = []
                for item in items:
                    if item is _STOP:
                        stopping = True
                    else:
                        assert isinstance(item, tuple)
                        batch.append(item)
                if not batch:
                    continue
                try:
                    indexes = log.append_many([entry for entry, _ in batch])
                except BaseException as err:
                    for _, future in batch:
                        future.set_exception(err)
                    continue
                for (_, future), index in zip(batch, indexes, strict=True):
                    future.set_result(index)
        finally:
            log.close()
