"""Cost of the guard per tool call: decision alone, decision + record, and log growth.

A session of a mailbox agent reads an inbox of 50 e-mails and then sends replies; each
call is decided from the labelled history (growing as results come in) and, in the
recorded run, appended as RFC 8785 entries to an Accord log on SQLite with a checkpoint
every 256 entries. The baseline is the same tool function called directly. p50/p99 are
per call; throughput is calls per second on one core.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from accord.guard import Guard, parse_policy
from accord.guard.audit import AuditLog
from accord.ledger import Log, Signer, open_store

POLICY = parse_policy(
    {
        "name": "bench",
        "tools": {
            "read_inbox": {"effect": "read", "trusted_fields": ["id", "sender"]},
            "send_email": {
                "effect": "write",
                "grants": ["reply"],
                "args": {"recipients": {"role": "target"}, "body": {"role": "content"}},
            },
        },
    }
)
INBOX: dict[str, Any] = {
    "emails": [
        {"id": str(i), "sender": f"user{i}@example.org", "body": f"message {i} " * 40}
        for i in range(50)
    ]
}
CALLS = 400


def _tool(**kwargs: Any) -> dict[str, Any]:
    return {"ok": True, "n": len(kwargs)}


def _session(guard: Guard | None) -> list[float]:
    times: list[float] = []
    for i in range(CALLS):
        if i % 20 == 0:
            tool, args, fn = "read_inbox", {}, lambda: INBOX
        else:
            tool, args, fn = "send_email", {"recipients": [f"user{i % 50}@example.org"]}, _tool
        start = time.perf_counter()
        if guard is None:
            fn(**args)
        else:
            decision = guard.check(tool, args)
            if decision.verdict == "allow":
                guard.observe(tool, args, fn(**args))
        times.append(time.perf_counter() - start)
    return times


def _report(name: str, times: list[float], base: float) -> None:
    ordered = sorted(times)
    p50 = statistics.median(ordered)
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    print(
        f"{name:>22}: p50 {1e6 * p50:8.1f} µs  p99 {1e6 * p99:8.1f} µs  "
        f"{len(times) / sum(times):9.0f} calls/s  ({p50 / base:.0f}x direct p50)"
    )


def main() -> None:
    direct = _session(None)
    base = statistics.median(direct)
    _report("direct call", direct, base)
    _report("guard, no record", _session(Guard(POLICY, "reply to everyone")), base)
    with tempfile.TemporaryDirectory() as tmp:
        signer = Signer.generate("example.org/bench")
        log = Log.create(open_store(Path(tmp) / "log.db"), signer)
        audit = AuditLog(log)
        _report("guard + Accord log", _session(Guard(POLICY, "reply to everyone", audit)), base)
        audit.close()
        entries = log.entries(0, log.size)
        total = sum(len(e) for e in entries)
        print(
            f"{'log growth':>22}: {len(entries)} entries for {CALLS} calls, "
            f"{total / CALLS:.0f} bytes of entries per call (reads carry their labelled "
            f"results: {max(len(e) for e in entries)} bytes max)"
        )
        log.close()


if __name__ == "__main__":
    main()
