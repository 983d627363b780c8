"""Telemetry on a REAL trace: injected runs in Alibaba cluster-trace-gpu-v2023 ("openb").

Run: ``python -m benchmarks.eval_telemetry_trace [--seeds 5] [--thresholds 1e20,1e21,1e22]
[--accounts 300] [--json out.json]``. Needs ``../shared/data/clustertraces/`` (or
``--trace PATH``). What is real and what is assumed (accounts, chip) is set out in
``accord.verify.telemetry.trace_eval``; every number printed rests on those assumptions.

Also times the scan of the background alone and of the background with all injections.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from accord.verify.telemetry.trace_eval import (
    TraceRun,
    batches,
    kinds,
    openb_background,
    run_once,
    summarise,
)

TRACE = Path(
    os.environ.get(
        "ACCORD_OPENB_TRACE",
        Path(__file__).resolve().parents[2]
        / "shared/data/clustertraces/alibaba_gpu_v2023_openb_pod_list_default.csv",
    )
)


def evaluate(
    trace: Path, seeds: int, thresholds: list[float], accounts: int
) -> tuple[list[TraceRun], list[TraceRun]]:
    injected: list[TraceRun] = []
    alone: list[TraceRun] = []
    for seed in range(seeds):
        bg = openb_background(trace, seed=seed, accounts=accounts)
        for t in thresholds:
            alone.append(run_once(bg, seed=seed, threshold=t, actors=[]))
            for batch in batches():
                injected.append(run_once(bg, seed=seed, threshold=t, actors=batch))
            print(
                f"seed {seed} threshold {t:.0e}: {injected[-1].records:,} records "
                f"in the last scan, {injected[-1].seconds:.1f} s",
                flush=True,
            )
    return injected, alone


def table(summary: dict[str, Any], alone: dict[str, Any]) -> str:
    lines = []
    for t, s in summary.items():
        lines.append(
            f"\n### threshold {t} ({s['scans']} scans over {s['backgrounds']} backgrounds, "
            f"~{s['records']:,} records per scan)\n"
        )
        lines.append("| actor | flagged / injected | mean accounts linked | all linked |")
        lines.append("|---|---|---|---|")
        for kind in kinds():
            k = s["per_kind"].get(kind)
            if k:
                lines.append(
                    f"| {kind} | {k['flagged']}/{k['of']} | "
                    f"{k['mean_accounts_linked']:.1f} of {k['accounts']} | "
                    f"{k['all_linked']}/{k['of']} |"
                )
        prec = "n/a" if s["precision"] is None else f"{s['precision']:.2f}"
        a = alone[t]
        lines.append(
            f"\ntrue positives {s['true_positive']}, precision {prec} (pooled: each background's "
            "own flags once); "
            f"background flags with injections {s['background_flags']} {s['background_by']}; "
            f"background alone {a['background_flags']} {a['background_by']}; controls "
            f"flagged {s['controls_flagged']}; mean scan {s['mean_scan_s']:.2f} s wall, "
            f"{s['mean_cpu_s']:.2f} s CPU (background alone {a['mean_scan_s']:.2f} s; largest "
            f"scan {s['largest_scan'][0]:,} records in {s['largest_scan'][1]:.2f} s wall, "
            f"{s['largest_scan'][2]:.2f} s CPU)"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trace", type=Path, default=TRACE)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--thresholds", default="1e20,1e21,1e22")
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not args.trace.exists():
        print(f"no trace at {args.trace}; pass --trace")
        return
    thresholds = [float(x) for x in args.thresholds.split(",")]
    clock = time.perf_counter()
    injected, alone = evaluate(args.trace, args.seeds, thresholds, args.accounts)
    summary, summary_alone = summarise(injected), summarise(alone)
    print(table(summary, summary_alone))
    print(f"\nwall time {time.perf_counter() - clock:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"injected": summary, "alone": summary_alone}, indent=1))


if __name__ == "__main__":
    main()
