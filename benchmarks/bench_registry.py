"""Registry filing throughput and latency as the log grows, with and without readers.

For each log size (declarations already in the registry) the benchmark copies a cached,
preloaded registry directory, starts a real server process on loopback (SQLite,
``synchronous=FULL``) and files pre-signed declarations from several client processes,
each holding keep-alive connections (``http.client``; declarations that depend on one
another, e.g. a facility and its inventories, go down the same connection in order):

* phase A, writes only: declarations per second, p50/p99 latency per declaration;
* phase B, the same number of writes while reader processes aim GETs at ``--read-rate``
  (receipts ``/v1/declarations/{i}``, ``/v1/balances/facilities``, ``/v1/balances/series``):
  reads per second achieved and the write rate beside phase A's;
* baselines on the same declarations: filed in-process through ``Registry.submit_future``
  (no HTTP) on a second copy of the same directory, and a plain Ed25519-verify + SHA-256
  loop over them (the signature-check limit, one core);
* start-up time of the server on that directory (it replays the database into memory),
  one accountancy run (the periodic publisher's job, timed apart: the publisher is set to
  once an hour so it does not fall into a timed phase), and client and server CPU use.

``--profile`` runs the server under :mod:`benchmarks.registry_sampler` and prints where
its threads spend phases A and B (start-up left out). Markdown tables, ready to paste
into docs/performance.md, are printed at the end; ``--json`` keeps every measurement.

    python -m benchmarks.bench_registry                       # sizes 0,10000: < 2 minutes
    python -m benchmarks.bench_registry --sizes 0,100000,1000000 --profile

Preloaded directories are cached under /tmp/accord-regbench (see registry_workload).
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import hashlib
import http.client
import json
import multiprocessing
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "registry"))

from registry_helpers import facility, register, signed  # noqa: E402

from accord.registry.receipts import check_receipt  # noqa: E402
from benchmarks import registry_sampler, registry_workload  # noqa: E402

HEADERS = {"content-type": "application/json"}

# -- the bounded load the test suite runs (kept: tests/registry/test_registry_load.py) ------


def _client_run(url: str, payloads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    with httpx.Client(base_url=url, timeout=60) as c:
        for p in payloads:
            resp = c.post("/v1/declarations", json=p)
            if resp.status_code != 201:
                raise RuntimeError(f"refused: {resp.status_code} {resp.text[:200]}")
            out.append(resp.json())
    return out


def load(url: str, token: str, clients: int, per_client: int, tag: str) -> dict[str, Any]:
    """Submit ``clients`` x ``per_client`` declarations concurrently; returns rate and receipts."""
    with httpx.Client(base_url=url, timeout=60) as c:
        keys = [register(c, token, f"load-{tag}-{i}") for i in range(clients)]
    work = [
        [signed(k, "facility", facility(f"{tag}-{i}-{j}")) for j in range(per_client)]
        for i, k in enumerate(keys)
    ]
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(lambda w: _client_run(url, w), work))
    elapsed = time.perf_counter() - start
    receipts = [r for rs in results for r in rs]
    return {
        "clients": clients,
        "submitted": clients * per_client,
        "seconds": elapsed,
        "rate": len(receipts) / elapsed,
        "receipts": receipts,
    }


def audit(url: str, receipts: list[dict[str, Any]]) -> int:
    """Check every acknowledged declaration against the log's latest checkpoint."""
    with httpx.Client(base_url=url, timeout=60) as c:
        log_key = c.get("/v1/log/key").text.strip()
        checked = 0
        for r in receipts:
            assert check_receipt(
                r["leaf"], r["leaf_index"], r["inclusion_proof"], r["checkpoint"], log_key
            ).valid
            fresh = c.get(f"/v1/declarations/{r['leaf_index']}").json()["receipt"]
            assert fresh["leaf"] == r["leaf"], "the log holds another entry at that index"
            assert check_receipt(
                fresh["leaf"],
                r["leaf_index"],
                fresh["inclusion_proof"],
                fresh["checkpoint"],
                log_key,
            ).valid
            assert base64.b64decode(fresh["leaf"])
            checked += 1
    return checked


# -- the server process ------------------------------------------------------------------


@dataclasses.dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    var: Path
    startup: float
    profile: Path | None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token(self) -> str:
        return (self.var / "inspector.token").read_text().strip()

    def cpu(self) -> float:
        """CPU seconds (user + system) the server process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def toggle_profile(self) -> None:
        if self.profile is not None:
            self.proc.send_signal(signal.SIGUSR1)


def start_server(var: Path, profile: Path | None, timeout: float = 3600) -> Server:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    serve = ["serve", "--var", str(var), "--port", str(port), "--publish-every", "3600"]
    serve += ["--rate", "1000000", "--declaration-rate", "1000000"]
    if profile is not None:
        cmd = [sys.executable, "-m", "benchmarks.registry_sampler", str(profile), "--", *serve]
    else:
        cmd = [sys.executable, "-m", "accord.cli.main", *serve]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    err = (var.parent / "server.stderr").open("wb")
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {(var.parent / 'server.stderr').read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("server did not start")
    return Server(proc, port, var, time.perf_counter() - start, profile)


def stop_server(server: Server) -> list[dict[str, Any]] | None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
    if server.profile is not None and server.profile.exists():
        recordings: list[dict[str, Any]] = json.loads(server.profile.read_text())["recordings"]
        return recordings
    return None


# -- client processes --------------------------------------------------------------------


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _writer(port: int, lanes: list[list[bytes]], cap: float, barrier: Any, out: Any) -> None:
    """One client process: one keep-alive connection and thread per lane, in lane order."""
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=600) for _ in lanes]
    for c in conns:
        c.connect()
    results: list[dict[str, Any]] = [{} for _ in lanes]

    def run(i: int) -> None:
        conn, lats, ok, refused, first_error, receipts = conns[i], [], 0, 0, "", []
        for raw in lanes[i]:
            if time.perf_counter() > cap_at:
                break
            t = time.perf_counter()
            try:
                conn.request("POST", "/v1/declarations", raw, HEADERS)
                resp = conn.getresponse()
                body = resp.read()
            except (http.client.HTTPException, OSError) as err:
                refused += 1
                first_error = first_error or f"connection: {err!r}"
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
                continue
            lats.append(time.perf_counter() - t)
            if resp.status == 201:
                ok += 1
                if ok == 1 or ok == len(lanes[i]):
                    receipts.append(json.loads(body))
            else:
                refused += 1
                first_error = first_error or f"{resp.status} {body[:300]!r}"
        results[i] = {"lats": lats, "ok": ok, "refused": refused, "error": first_error}
        results[i]["receipts"] = receipts

    barrier.wait()
    t0, c0 = time.perf_counter(), _cpu()
    cap_at = t0 + cap
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(lanes))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    out.put({"t0": t0, "t1": time.perf_counter(), "cpu": _cpu() - c0, "lanes": results})


def _reader(
    port: int, plan: dict[str, Any], threads: int, barrier: Any, stop: Any, out: Any
) -> None:
    """Reads at a paced rate per thread (missed slots are skipped, not queued up)."""
    names, weights = plan["names"], plan["weights"]
    indexes: list[int] = plan["indexes"]
    per_thread = plan["rate"] / plan["threads_total"]
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=600) for _ in range(threads)]
    for c in conns:
        c.connect()
    results: list[dict[str, Any]] = [{} for _ in range(threads)]

    def run(i: int) -> None:
        rng = random.Random(i + 1000 * os.getpid())
        lats: dict[str, list[float]] = {n: [] for n in names}
        errors = 0
        nxt = time.perf_counter() + rng.random() / per_thread
        while not stop.is_set():
            now = time.perf_counter()
            if now < nxt:
                time.sleep(min(nxt - now, 0.05))
                continue
            nxt = max(nxt + 1 / per_thread, now - 0.05)
            name = rng.choices(names, weights)[0]
            path = {
                "receipt": f"/v1/declarations/{rng.choice(indexes)}",
                "facilities": "/v1/balances/facilities",
                "series": "/v1/balances/series",
            }[name]
            t = time.perf_counter()
            try:
                conns[i].request("GET", path)
                resp = conns[i].getresponse()
                resp.read()
            except (http.client.HTTPException, OSError):
                # uvicorn drops the connection after a 500 (e.g. the writer's 120 s timeout)
                errors += 1
                conns[i].close()
                conns[i] = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
                continue
            lats[name].append(time.perf_counter() - t)
            errors += resp.status != 200
        results[i] = {"lats": lats, "errors": errors}

    barrier.wait()
    t0, c0 = time.perf_counter(), _cpu()
    ths = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    out.put({"t0": t0, "t1": time.perf_counter(), "cpu": _cpu() - c0, "threads": results})


def by_lane(
    specs: list[registry_workload.Spec], raws: list[bytes], lanes: int
) -> list[list[bytes]]:
    out: list[list[bytes]] = [[] for _ in range(lanes)]
    for spec, raw in zip(specs, raws, strict=True):
        out[spec.lane(lanes)].append(raw)
    return out


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def phase(
    server: Server,
    lanes: list[list[bytes]],
    args: argparse.Namespace,
    reads: dict[str, Any] | None = None,
    cap: float = 600.0,
) -> dict[str, Any]:
    """File ``lanes`` from ``args.clients`` processes (and read, if ``reads``); measure."""
    ctx = multiprocessing.get_context("fork")
    procs = args.clients
    readers = args.readers if reads else 0
    barrier = ctx.Barrier(procs + readers + 1)
    out, rout, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    children = []
    for p in range(procs):
        mine = lanes[p::procs]
        children.append(ctx.Process(target=_writer, args=(server.port, mine, cap, barrier, out)))
    for _ in range(readers):
        children.append(
            ctx.Process(
                target=_reader, args=(server.port, reads, args.reader_threads, barrier, stop, rout)
            )
        )
    for c in children:
        c.start()
    barrier.wait()
    cpu0 = server.cpu()
    w = [out.get() for _ in range(procs)]
    stop.set()
    cpu1 = server.cpu()
    r = [rout.get() for _ in range(readers)]
    for c in children:
        c.join()
    t0, t1 = min(x["t0"] for x in w), max(x["t1"] for x in w)
    lanes_out = [lane for x in w for lane in x["lanes"]]
    lats = [v for lane in lanes_out for v in lane["lats"]]
    ok = sum(lane["ok"] for lane in lanes_out)
    result: dict[str, Any] = {
        "seconds": t1 - t0,
        "ok": ok,
        "refused": sum(lane["refused"] for lane in lanes_out),
        "errors": [lane["error"] for lane in lanes_out if lane["error"]][:3],
        "rate": ok / (t1 - t0),
        "p50": pct(lats, 0.50),
        "p99": pct(lats, 0.99),
        "client_cpu": sum(x["cpu"] for x in w) / (t1 - t0),
        "server_cpu": (cpu1 - cpu0) / (t1 - t0),
        "receipts": [rc for lane in lanes_out for rc in lane["receipts"]],
    }
    if r:
        rt0, rt1 = min(x["t0"] for x in r), max(x["t1"] for x in r)
        per: dict[str, list[float]] = {}
        for x in r:
            for th in x["threads"]:
                for name, values in th["lats"].items():
                    per.setdefault(name, []).extend(values)
        total = sum(len(v) for v in per.values())
        result["reads"] = {
            "rate": total / (rt1 - rt0),
            "errors": sum(th["errors"] for x in r for th in x["threads"]),
            "client_cpu": sum(x["cpu"] for x in r) / (rt1 - rt0),
            "endpoints": {
                n: {"count": len(v), "p50": pct(v, 0.5), "p99": pct(v, 0.99)}
                for n, v in per.items()
            },
        }
    return result


# -- baselines -----------------------------------------------------------------------------


def in_process(
    pre: registry_workload.Preloaded, work: Path, before: list[bytes], timed: list[bytes]
) -> dict[str, float]:
    """The same declarations filed through ``Registry.submit_future`` on a fresh copy."""
    from accord.registry.server import settings_for
    from accord.registry.service import Registry

    var = pre.copy_to(work / "inproc-var")
    issued = max(json.loads(r)["declaration"]["issued_at"] for r in timed)
    at = dt.datetime.strptime(issued, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    settings = dataclasses.replace(settings_for(var), clock=lambda: at)
    start = time.perf_counter()
    registry = Registry(settings)
    opened = time.perf_counter() - start
    try:
        for f in [registry.submit_future(r) for r in before]:
            f.result(600)
        start, cpu0 = time.perf_counter(), time.process_time()
        for f in [registry.submit_future(r) for r in timed]:
            f.result(600)
        seconds = time.perf_counter() - start
        cpu = time.process_time() - cpu0
    finally:
        registry.close()
        shutil.rmtree(var, ignore_errors=True)
    return {"rate": len(timed) / seconds, "startup": opened, "cpu": cpu / seconds}


def signature_limit(raws: list[bytes]) -> float:
    """Ed25519 verify of the signed bytes + SHA-256 of the log entry, nothing else (1 core)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from accord.model.declaration import parse_signed

    keys = {
        p: Ed25519PublicKey.from_public_bytes(registry_workload.party_signer(p).verifier.public_key)
        for p, _, _ in registry_workload.PARTIES
    }
    work = []
    for raw in raws:
        s = parse_signed(raw)
        work.append(
            (keys[s.declaration.party], s.declaration.canonical(), s.signature_bytes(), s.leaf())
        )
    start = time.perf_counter()
    for key, message, sig, leaf in work:
        key.verify(sig, message)
        hashlib.sha256(leaf).digest()
    return len(work) / (time.perf_counter() - start)


# -- one log size ----------------------------------------------------------------------------


def signed_batch(
    workload: registry_workload.Workload, n: int
) -> tuple[list[registry_workload.Spec], list[bytes], float]:
    specs = workload.take(n)
    start = time.perf_counter()
    raws = registry_workload.sign_raw(specs, dt.datetime.now(dt.UTC))
    return specs, raws, time.perf_counter() - start


def run_size(size: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    say = print
    pre = registry_workload.preloaded(size, args.preload_mode, log=say)
    work = tmp / f"size-{size}"
    work.mkdir()
    var = pre.copy_to(work / "var")
    profile = work / "profile.json" if args.profile else None
    server = start_server(var, profile)
    lanes = args.clients * args.connections
    say(f"[{size:,}] server up in {server.startup:.1f} s (log size {pre.meta['log_size']:,})")
    result: dict[str, Any] = {"size": size, "preload": pre.meta, "startup": server.startup}
    result["load"] = os.getloadavg()
    try:
        workload = pre.workload()
        warm_specs, warm_raws, _ = signed_batch(workload, args.warmup)
        warm = phase(server, by_lane(warm_specs, warm_raws, lanes), args)
        count = max(500, min(args.max_writes, int(warm["rate"] * args.seconds)))
        a_specs, a_raws, signing = signed_batch(workload, count)
        say(
            f"[{size:,}] warm-up {warm['rate']:.0f}/s; "
            f"phase A: {count} pre-signed in {signing:.1f} s"
        )
        server.toggle_profile()
        a = phase(server, by_lane(a_specs, a_raws, lanes), args)
        server.toggle_profile()
        say(f"[{size:,}] A writes only: {_line(a)}")
        b_specs, b_raws, _ = signed_batch(workload, count)
        plan = {
            "names": list(args.read_mix),
            "weights": list(args.read_mix.values()),
            "indexes": pre.meta["declaration_indexes"] or [r["leaf_index"] for r in a["receipts"]],
            "rate": args.read_rate,
            "threads_total": args.readers * args.reader_threads,
        }
        server.toggle_profile()
        b = phase(server, by_lane(b_specs, b_raws, lanes), args, plan, cap=args.seconds * 6)
        server.toggle_profile()
        reads = b["reads"]
        say(
            f"[{size:,}] B writes + reads: {_line(b)}; reads {reads['rate']:.0f}/s "
            f"({reads['errors']} not 200), reader CPU {reads['client_cpu']:.2f} cores"
        )
        result |= {"warm": warm, "a": a, "b": b, "count": count}
        result["audited"] = audit(server.url, a["receipts"][:200])
        if args.accountancy:
            start = time.perf_counter()
            resp = httpx.post(
                server.url + "/v1/accountancy/run",
                headers={"authorization": f"Bearer {server.token()}"},
                timeout=1800,
            )
            resp.raise_for_status()
            result["accountancy"] = (time.perf_counter() - start, len(resp.json()))
            say(f"[{size:,}] accountancy run {result['accountancy'][0]:.1f} s")
    finally:
        result["profile"] = stop_server(server)
        shutil.rmtree(var, ignore_errors=True)
    say(f"[{size:,}] in-process baseline ...")
    result["inproc"] = in_process(pre, work, warm_raws, a_raws)
    result["limit"] = signature_limit(a_raws)
    say(
        f"[{size:,}] in-process {result['inproc']['rate']:.0f}/s "
        f"(open {result['inproc']['startup']:.1f} s), limit {result['limit']:.0f}/s"
    )
    return result


def _line(p: dict[str, Any]) -> str:
    text = (
        f"{p['ok']} in {p['seconds']:.1f} s = {p['rate']:.0f}/s, p50 {p['p50'] * 1e3:.0f} ms, "
        f"p99 {p['p99'] * 1e3:.0f} ms, client CPU {p['client_cpu']:.2f} cores, "
        f"server {p['server_cpu']:.2f}"
    )
    if p["refused"]:
        text += f", REFUSED {p['refused']}: {p['errors']}"
    return text


# -- report ----------------------------------------------------------------------------------


def report(results: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"Registry benchmark, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} cores, load average at each size's start: "
        + ", ".join(f"{r['load'][0]:.1f}" for r in results),
        f"{args.clients} client processes x {args.connections} keep-alive connections; "
        f"{args.readers} reader processes x {args.reader_threads}, target {args.read_rate:.0f} "
        f"reads/s, mix {dict(args.read_mix)}",
        "",
        "| declarations in log | preload (mode, s, /s) | server start-up s | HTTP writes/s "
        "| p50 ms | p99 ms | in-process submit_future /s | verify+sha256 limit /s "
        "| HTTP / in-process | HTTP / limit | client CPU | server CPU |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        a, pre = r["a"], r["preload"]
        rate = f"{pre['rate']:.0f}" if pre["rate"] else "-"
        lines.append(
            f"| {r['size']:,} | {pre['mode']}, {pre['build_seconds']:.0f}, {rate} "
            f"| {r['startup']:.1f} | {a['rate']:.0f} | {a['p50'] * 1e3:.0f} | "
            f"{a['p99'] * 1e3:.0f} | {r['inproc']['rate']:.0f} | {r['limit']:.0f} | "
            f"{a['rate'] / r['inproc']['rate']:.2f}x | {a['rate'] / r['limit']:.2f}x | "
            f"{a['client_cpu']:.2f} | {a['server_cpu']:.2f} |"
        )
    lines += [
        "",
        "| declarations in log | writes/s alone | writes/s with reads | change | reads/s "
        "(target) | receipt p50/p99 ms | facilities p50/p99 ms | series p50/p99 ms "
        "| accountancy run s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        a, b = r["a"], r["b"]
        eps = b["reads"]["endpoints"]

        def ms(name: str, eps: dict[str, Any] = eps) -> str:
            e = eps.get(name)
            if not e or not e["count"]:
                return "-"
            return f"{e['p50'] * 1e3:.0f} / {e['p99'] * 1e3:.0f} ({e['count']})"

        acc = r.get("accountancy")
        lines.append(
            f"| {r['size']:,} | {a['rate']:.0f} | {b['rate']:.0f} | "
            f"{100 * (b['rate'] / a['rate'] - 1):+.0f} % | {b['reads']['rate']:.0f} "
            f"({args.read_rate:.0f}) | {ms('receipt')} | {ms('facilities')} | {ms('series')} "
            f"| {f'{acc[0]:.1f}' if acc else '-'} |"
        )
    refused = sum(r["a"]["refused"] + r["b"]["refused"] for r in results)
    audited = sum(r["audited"] for r in results)
    lines += [
        "",
        f"Refused or failed declarations: {refused}. "
        f"Receipts audited against the log: {audited}, all valid.",
    ]
    for r in results:
        for name, rec in zip(
            ("A, writes only", "B, writes + reads"), r["profile"] or [], strict=False
        ):
            lines += [
                "",
                f"Where the server's threads spend phase {name}, {r['size']:,} declarations:",
            ]
            lines += ["", "| share of busy thread time | what | threads |", "|---|---|---|"]
            for category, share, where in registry_sampler.summarise(rec):
                lines.append(f"| {share:.1f} % | {category} | {where} |")
            top = ", ".join(f"{f} {n}" for f, n in rec["functions"][:8])
            lines += ["", f"Innermost frames (samples): {top}"]
    return "\n".join(lines)


def _mix(text: str) -> dict[str, float]:
    out = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name not in ("receipt", "facilities", "series"):
            raise argparse.ArgumentTypeError(f"unknown read {name!r}: receipt, facilities, series")
        out[name] = float(weight or 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0,10000", help="log sizes, e.g. 0,100000,1000000")
    parser.add_argument("--seconds", type=float, default=8.0, help="target length of a phase")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--max-writes", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=4, help="writer processes")
    parser.add_argument("--connections", type=int, default=6, help="per writer process")
    parser.add_argument("--readers", type=int, default=2, help="reader processes")
    parser.add_argument("--reader-threads", type=int, default=8)
    parser.add_argument("--read-rate", type=float, default=1000.0)
    parser.add_argument("--read-mix", type=_mix, default=_mix("receipt=8,facilities=1,series=1"))
    parser.add_argument("--preload-mode", choices=["auto", "registry", "bulk"], default="auto")
    parser.add_argument("--no-accountancy", dest="accountancy", action="store_false")
    parser.add_argument("--profile", action="store_true", help="sample the server's threads")
    parser.add_argument("--json", type=Path, help="also write every measurement here")
    args = parser.parse_args()
    try:
        sizes = [int(s.replace("_", "")) for s in args.sizes.split(",")]
    except ValueError:
        print(f"--sizes: {args.sizes!r} is not a list of integers; e.g. 0,100000", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"load average at start: {os.getloadavg()}")
    with tempfile.TemporaryDirectory(prefix="regbench-") as tmp:
        results = [run_size(n, args, Path(tmp)) for n in sizes]
    if args.json:
        for r in results:
            for p in ("warm", "a", "b"):
                r[p].pop("receipts", None)
        args.json.write_text(json.dumps(results, indent=1, default=str))
    print()
    print(report(results, args))
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
