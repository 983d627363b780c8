"""Read views (balances, series, compute) kept off the writer thread.

The writer owns the book that decides what is accepted; a public reader must never make it
wait. So the views keep a second book: the writer hands each accepted declaration over
already parsed (a deque append, no copy), and a reader applies what is pending under the
views' own lock. A computed view is reused until the record grows and at least
``max_staleness`` seconds (or ten times the view's own cost, if longer) have passed, so a
client looping on an expensive page costs at most about a tenth of the process's time,
whatever the filing rate.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, TypeVar

from accord.model.declaration import Body, Kind
from accord.registry.book import Book

T = TypeVar("T")

Accepted = tuple[int, str, Kind, Body]
"""(leaf index, party, kind, parsed body) of one accepted declaration."""


class Views:
    def __init__(self, today: Callable[[], dt.date], max_staleness: float = 1.0) -> None:
        self._today = today
        self.max_staleness = max_staleness
        self._book = Book()
        self._pending: deque[Accepted] = deque()
        self._applied = 0
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[int, float, dt.date, Any]] = {}
        self._make: Callable[[], Book] | None = None
        self._cost: dict[str, float] = {}

    def seed(self, make: Callable[[], Book]) -> None:
        """Start from a restored book, built by ``make`` on the first read (a copy of its
        own: the writer keeps and changes the other)."""
        with self._lock:
            self._make = make
            self._cache.clear()

    def push(self, accepted: Accepted) -> None:
        """Called by the writer (or the start-up replay): thread-safe and O(1)."""
        self._pending.append(accepted)

    def _catch_up(self) -> None:
        while True:
            try:
                leaf, party, kind, body = self._pending.popleft()
            except IndexError:
                return
            self._book.apply(leaf, party, kind, body)
            self._applied += 1

    def get(self, name: str, fn: Callable[[Book], T]) -> T:
        """``fn(book)`` on the caller's thread, reused while fresh enough."""
        with self._lock:
            now = time.monotonic()
            today = self._today()
            hit = self._cache.get(name)
            if hit is not None and hit[2] == today:
                version, at, _, value = hit
                # Reused for at least ten times what it cost to compute: however often it
                # is asked for, a view takes at most about a tenth of the process's time
                # (which the writer shares under the interpreter lock).
                fresh_for = max(self.max_staleness, 10 * self._cost.get(name, 0.0))
                if version == self._applied + len(self._pending) or now - at < fresh_for:
                    return value  # type: ignore[no-any-return]
            if self._make is not None:
                self._book, self._make = self._make(), None
            self._catch_up()
            self._book.today = today
            started = time.monotonic()
            value = fn(self._book)
            self._cost[name] = time.monotonic() - started
            self._cache[name] = (self._applied, now, today, value)
            if len(self._cache) > 4096:  # per-facility pages: keep the map bounded
                self._cache.clear()
                self._cache[name] = (self._applied, now, today, value)
            return value
