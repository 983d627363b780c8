"""Cost of rules-as-data: the evaluator against a hand-written if-chain for ECCN 3A090.

The if-chain is the naive baseline a tool would hard-code; the evaluator reads versioned
YAML, keeps three-valued unknowns and records every test for the verdict. The ratio says
what that transparency costs per classification.
"""

from __future__ import annotations

import time
from datetime import date

from accord.hardware import default_catalog, performance_density, tpp
from accord.rules import ChipCount, ChipItem, ShipmentItem, classify

N = 2000


def _if_chain(t: float | None, pd: float | None, dc: bool | None) -> str:
    if t is None:
        return "unknown"
    if t >= 4800 or (pd is not None and dc and t >= 1600 and pd >= 5.92):
        return "3A090.a"
    if (
        pd is not None
        and dc
        and ((2400 <= t < 4800 and 1.6 <= pd < 5.92) or (t >= 1600 and 3.2 <= pd < 5.92))
    ):
        return "3A090.b"
    return "none"


def main() -> None:
    chips = [c for c in default_catalog()]
    on = date(2024, 1, 1)
    start = time.perf_counter()
    for i in range(N):
        c = chips[i % len(chips)]
        _if_chain(tpp(c).value, performance_density(c).value, c.datacenter)
    naive = (time.perf_counter() - start) / N
    start = time.perf_counter()
    for i in range(N):
        classify(ChipItem(chip=chips[i % len(chips)].id), rules_at=on)
    ours = (time.perf_counter() - start) / N
    print(
        f"chip classification: if-chain {naive * 1e6:8.1f} us   evaluator {ours * 1e6:8.1f} us"
        f"   ratio {ours / naive:5.1f}x (evaluator / if-chain)"
    )
    start = time.perf_counter()
    for i in range(N // 4):
        classify(
            ShipmentItem(
                items=[ChipCount(chip=chips[i % len(chips)].id, count=100)],
                destination="MY",
                end_user_hq="MY",
                date=date(2025, 6, 1),
            )
        )
    per = (time.perf_counter() - start) / (N // 4)
    print(f"shipment check: {per * 1e6:8.1f} us per shipment ({1 / per:,.0f} per second)")


if __name__ == "__main__":
    main()
