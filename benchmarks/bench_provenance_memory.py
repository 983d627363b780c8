"""Peak memory of the weight test against model depth (measured, not asserted).

    python -m benchmarks.bench_provenance_memory [--depths 6 24] [--d 384] [--python-path DIR]

Writes a parent and a derived copy (noised, residual and unit permuted) at each depth, then runs
``compare_weights`` in a fresh process per pair and reports its peak resident memory (VmHWM)
above the resident memory after the imports (VmRSS; Linux only), per file size and per
parameter. Streaming holds a few blocks at a time, so the peak should stay flat as the depth
(and the file) grows.
``--python-path`` points the child process at another checkout to compare implementations.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from accord.verify.provenance.safetensors_io import write_safetensors
from benchmarks.bench_provenance import derived_copy, make_parent

CHILD = """
import json, sys, time
import numpy, scipy.optimize
from accord.verify.provenance.api import compare_weights
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
a = numpy.random.default_rng(0).normal(size=(512, 512))
scipy.optimize.linear_sum_assignment(a @ a.T)  # BLAS and solver buffers belong to the base
del a
base = status("VmRSS")
t0 = time.perf_counter()
f = compare_weights(sys.argv[1], sys.argv[2], method=sys.argv[3])
secs = time.perf_counter() - t0
peak = status("VmHWM")
print(json.dumps({"base_kib": base, "peak_kib": peak, "seconds": secs, "p": f.p_value}))
"""


def measure(suspect: Path, parent: Path, method: str, python_path: str) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": python_path}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(suspect), str(parent), method],
        capture_output=True,
        text=True,
        env=env,
        cwd=suspect.parent,  # not the checkout: `python -c` puts the cwd first on sys.path
        check=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--depths", type=int, nargs="+", default=[6, 24])
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--vocab", type=int, default=8000)
    ap.add_argument("--method", default="robust")
    ap.add_argument("--python-path", default=str(Path(__file__).resolve().parents[1]))
    args = ap.parse_args(argv)
    print(f"{'blocks':>6} {'params':>10} {'file MiB':>9} {'peak MiB':>9} {'B/param':>8} {'s':>6}")
    with tempfile.TemporaryDirectory(prefix="accord-mem-") as tmp:
        for depth in args.depths:
            rng = np.random.default_rng(depth)
            parent = make_parent(rng, args.d, 4 * args.d, depth, args.vocab)
            params = sum(v.size for v in parent.values())
            pp, sp = Path(tmp) / "parent.safetensors", Path(tmp) / "suspect.safetensors"
            write_safetensors(pp, parent)
            write_safetensors(sp, derived_copy(parent, rng))
            del parent
            r = measure(sp, pp, args.method, args.python_path)
            peak = (r["peak_kib"] - r["base_kib"]) / 1024
            print(
                f"{depth:6d} {params:10d} {pp.stat().st_size / 2**20:9.0f} {peak:9.0f}"
                f" {peak * 2**20 / params:8.2f} {r['seconds']:6.1f}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
