"""Run the verification of a transcript with handed-over model code in a subprocess.

The lab's module is code from a party with a motive, so the inspector never imports it in
its own process. The whole verification of such a transcript runs in a child process with:

* no network: in a fresh network namespace (``unshare -rn``) where the host allows it, and
  in any case with socket creation disabled in the child before the lab's code is imported;
* bounded memory (``RLIMIT_AS``) and CPU time (``RLIMIT_CPU``), and a wall-clock timeout;
* a minimal environment (no proxies, no credentials), a scratch home and working directory;
* its answer written to a file, not stdout (the lab's code may print anything).

A crash, a timeout or a memory error in the child is reported as an inconclusive finding
naming what happened; nothing propagates into the inspector's process.

What this does not do: the lab's code runs in the same child as the replay, so code written
to cheat could tamper with that child's answer. The sandbox protects the inspector's machine;
for the verdict, the code is evidence that can be read (it is hashed and handed over).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from accord.model.finding import Finding, Severity, Verdict

DEFAULT_TIME_S = 600
DEFAULT_MEMORY = 6 * 1024**3
VERIFIER = "verify.training"


def _network_prefix() -> list[str]:
    """``unshare -rn`` where it works here (an unprivileged user and network namespace)."""
    exe = shutil.which("unshare")
    if exe is None:
        return []
    try:
        ok = subprocess.run([exe, "-rn", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return [exe, "-rn"] if ok else []


def _limit_self(memory: int, cpu_s: int) -> None:
    """The child bounds itself first thing, before torch or the lab's code is imported
    (a ``preexec_fn`` in the parent is unsafe once torch has started threads)."""
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_s, cpu_s + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _inconclusive(subject: str, why: str, sandbox: dict[str, Any]) -> Finding:
    return Finding(
        subject=subject,
        verifier=VERIFIER,
        verdict=Verdict.INCONCLUSIVE,
        severity=Severity.MEDIUM,
        statistic={"checks": {"sandbox": "fail"}, "sandbox": sandbox},
        error_bound=0.0,
        evidence={},
        explanation=f"the lab's model code could not be run to verify the transcript: {why}",
    )


def verify_in_sandbox(
    transcript_dir: Path,
    subject: str,
    request: dict[str, Any],
    *,
    time_s: int = DEFAULT_TIME_S,
    memory: int = DEFAULT_MEMORY,
) -> Finding:
    """Verify ``transcript_dir`` in a child process; ``request`` holds verify_training's
    keyword arguments (beacon as hex)."""
    prefix = _network_prefix()
    sandbox = {
        "network": "none (own network namespace)" if prefix else "socket creation disabled",
        "memory_limit_bytes": memory,
        "time_limit_s": time_s,
    }
    root = str(Path(__file__).resolve().parents[3])
    with tempfile.TemporaryDirectory(prefix="accord-sandbox-") as scratch:
        out = Path(scratch) / "finding.json"
        req = Path(scratch) / "request.json"
        req.write_text(json.dumps(request))
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": scratch,
            "PYTHONPATH": root,
            "PYTHONHASHSEED": "0",
            "OMP_NUM_THREADS": "1",
            "NO_PROXY": "*",
        }
        cmd = [*prefix, sys.executable, "-s", "-m", __name__, str(transcript_dir), str(req)]
        cmd += [str(out), str(memory), str(time_s)]
        try:
            proc = subprocess.run(
                cmd,
                env=env,
                cwd=scratch,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=time_s,
            )
        except subprocess.TimeoutExpired:
            return _inconclusive(subject, f"timed out after {time_s} s", sandbox)
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        last = err[-1][:300] if err else "no message"
        if proc.returncode != 0 or not out.exists():
            how = (
                f"killed by signal {-proc.returncode}"
                if proc.returncode < 0
                else f"exit status {proc.returncode}"
            )
            return _inconclusive(subject, f"the sandboxed run failed ({how}: {last})", sandbox)
        try:
            finding = Finding.model_validate_json(out.read_bytes())
        except ValueError as exc:
            return _inconclusive(subject, f"the sandbox's answer is unreadable ({exc})", sandbox)
    return finding.model_copy(update={"statistic": {**finding.statistic, "sandbox": sandbox}})


def _block_network() -> None:
    import socket

    def refused(*args: object, **kwargs: object) -> Any:
        raise OSError("network access is disabled in the verifier's sandbox")

    # Methods, not the class, are replaced: ssl and others subclass socket.socket.
    for name in ("connect", "connect_ex", "bind", "sendto"):
        setattr(socket.socket, name, refused)
    socket.create_connection = refused
    socket.getaddrinfo = refused


def main(argv: list[str]) -> int:
    """Child entry point: load and check the transcript, import the lab's code, verify."""
    transcript, request, out = Path(argv[0]), Path(argv[1]), Path(argv[2])
    _limit_self(int(argv[3]), int(argv[4]))
    _block_network()
    from accord.errors import IntegrityError
    from accord.verify.training import verifier
    from accord.verify.training.handover import check_code, import_module_file
    from accord.verify.training.tasks import use_lab_code
    from accord.verify.training.transcript import load_transcript

    req = json.loads(request.read_text())
    try:
        tr = load_transcript(transcript, req.get("expected_head"))
        assert tr.manifest.code is not None
        path = check_code(tr.root, tr.manifest.code)
    except IntegrityError as err:
        print(f"integrity: {err.message}", file=sys.stderr)
        return 3
    use_lab_code(import_module_file(path), tr.manifest.code.builder)
    finding = verifier.verify_training(
        transcript, bytes.fromhex(req.pop("beacon")), sandboxed=True, **req
    )
    tmp = out.with_suffix(".part")
    tmp.write_text(finding.model_dump_json())
    os.replace(tmp, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
