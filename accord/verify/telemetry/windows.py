"""Compute totals over a time window, per account and per entity.

A run split into thousands of small jobs under unrelated names never forms a large run,
so the run-based test cannot see it; what remains is the total. An account (or a group of
linked accounts) whose training compute within one window reaches the threshold has done
threshold-scale compute, whether as one split run or as many unrelated workloads; the
scan reports it as a referral, never as a violation.

The engine returns, per account and day, the summed FLOP/s rates of jobs that start and
end that day and the rates times those instants (``pipeline.day_rates``). From them the
cumulative compute F(T) at every day boundary is exact, and a window total is
F(T + W) - F(T). Windows are aligned to whole days from the first job, so the maximum
found can fall short of the best unaligned window by at most the compute of one day at
each end: it errs towards not flagging.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from accord.verify.telemetry.pipeline import DAY_S


@dataclass(frozen=True)
class WindowTotal:
    """The busiest window: its compute interval and where it lies (epoch seconds)."""

    flop_lo: float
    flop_hi: float
    start: int
    end: int
    days: float


class Cumulative:
    """Cumulative training compute of each account at day boundaries since ``t0``."""

    def __init__(self, rows: Any, t0: int) -> None:
        self.t0 = t0
        self.series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        by_account: dict[str, list[tuple[int, int, float, float, float, float]]] = {}
        last_day = 0
        for r in rows.itertuples(index=False):
            day = int(r.day)
            last_day = max(last_day, day)
            by_account.setdefault(str(r.account), []).append(
                (day, int(r.kind), float(r.lo), float(r.hi), float(r.lo_t), float(r.hi_t))
            )
        self.days = last_day + 2  # boundaries 0..last_day+1 cover every instant
        for account, items in by_account.items():
            self.series[account] = self._build(items)

    def _build(
        self, items: list[tuple[int, int, float, float, float, float]]
    ) -> tuple[np.ndarray, np.ndarray]:
        n = self.days
        # rate sums and rate x time sums, started minus ended, per day
        rate = np.zeros((2, n))
        moment = np.zeros((2, n))
        for day, kind, lo, hi, lo_t, hi_t in items:
            rate[0, day] += kind * lo
            rate[1, day] += kind * hi
            moment[0, day] += kind * lo_t
            moment[1, day] += kind * hi_t
        # F(k) uses days strictly before boundary k
        c_rate = np.concatenate([np.zeros((2, 1)), np.cumsum(rate, axis=1)[:, :-1]], axis=1)
        c_moment = np.concatenate([np.zeros((2, 1)), np.cumsum(moment, axis=1)[:, :-1]], axis=1)
        bounds = np.arange(n, dtype=np.float64) * DAY_S
        f = bounds * c_rate - c_moment
        # rounding can leave tiny negative values where nothing ran
        f = np.maximum.accumulate(np.maximum(f, 0.0), axis=1)
        return f[0], f[1]

    def total(self, accounts: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        lo = np.zeros(self.days)
        hi = np.zeros(self.days)
        for a in accounts:
            pair = self.series.get(a)
            if pair is not None:
                lo += pair[0]
                hi += pair[1]
        return lo, hi

    def busiest(self, accounts: Iterable[str], window_days: float) -> WindowTotal:
        """The window of ``window_days`` whole days with the most compute (upper bound)."""
        lo, hi = self.total(accounts)
        w = max(1, int(window_days))
        if w >= self.days - 1:
            return WindowTotal(
                float(lo[-1]), float(hi[-1]), self.t0, self.t0 + (self.days - 1) * DAY_S, w
            )
        gains = hi[w:] - hi[:-w]
        k = int(np.argmax(gains))
        return WindowTotal(
            float(lo[k + w] - lo[k]),
            float(gains[k]),
            self.t0 + k * DAY_S,
            self.t0 + (k + w) * DAY_S,
            w,
        )
