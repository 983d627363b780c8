"""`accord guard`: policies, the MCP proxy and the audit of a guard's record.

`audit` checks evidence: a record that does not re-derive, or that lost or changed
entries, exits 1 ("does not hold"); bad input (a missing file, a malformed policy) exits 2.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import typer

from accord.cli.output import (
    JSON_OPTION,
    console,
    handle_errors,
    handle_verdict,
    print_json,
)
from accord.errors import AccordError, IntegrityError

NAME = "guard"
app = typer.Typer(
    help="Safeguards on deployed AI agents: a policy-enforcing, recording tool gateway.",
    no_args_is_help=True,
)

POLICY = typer.Option(..., "--policy", help="Guard policy (YAML or JSON).")
LOG_DIR = typer.Option(
    Path("accord-log"), "--log", help="Log directory (from `accord log init`).", envvar="ACCORD_LOG"
)


@app.command()
@handle_errors
def schema() -> None:
    """Print the JSON Schema that policy files follow."""
    from accord.guard.policy import policy_schema

    print_json(policy_schema())


@app.command()
@handle_errors
def check(
    policy: Path = typer.Argument(..., help="Guard policy (YAML or JSON)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Validate a policy and print its digest (what a declaration and the log name)."""
    from accord.guard.policy import load_policy

    loaded = load_policy(policy)
    writes = sorted(name for name, rule in loaded.tools.items() if rule.effect == "write")
    if as_json:
        print_json({"name": loaded.name, "digest": loaded.digest(), "write_tools": writes})
        return
    console.print(f"policy [bold]{loaded.name}[/] v{loaded.version}: valid")
    console.print(f"digest: {loaded.digest()}", highlight=False)
    console.print(f"{len(loaded.tools)} tools, {len(writes)} with side effects")


@app.command()
@handle_errors
def decide(
    policy: Path = POLICY,
    request: str = typer.Option(..., "--request", help="The user's request."),
    tool: str = typer.Option(..., "--tool", help="Tool the agent wants to call."),
    args: str = typer.Option("{}", "--args", help="The call's arguments as a JSON object."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Decide on one call with no history: what a fresh session would do."""
    from accord.guard.engine import Context, safe_decide
    from accord.guard.policy import load_policy

    loaded = load_policy(policy)
    try:
        parsed = json.loads(args)
    except json.JSONDecodeError as err:
        raise AccordError("--args", f"is not JSON: {err.msg}", "pass a JSON object") from None
    if not isinstance(parsed, dict):
        raise AccordError("--args", "is not a JSON object", 'pass e.g. {"to": "x"}')
    decision = safe_decide(Context(loaded, request), tool, parsed)
    if as_json:
        print_json(decision.to_json())
        return
    console.print(f"[bold]{decision.verdict}[/]")
    for reason in decision.reasons:
        console.print(f"  - {reason}", highlight=False)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@handle_errors
def proxy(
    ctx: typer.Context,
    policy: Path = POLICY,
    request: str = typer.Option(..., "--request", help="The user's request (grants writes)."),
    log_dir: Path = LOG_DIR,
) -> None:
    """Serve MCP on stdin/stdout, guarding the tool server given after `--`."""
    from mcp import StdioServerParameters

    from accord.cli.log import _open_log
    from accord.guard.audit import AuditLog
    from accord.guard.gateway import Guard
    from accord.guard.mcp_proxy import run_stdio_proxy
    from accord.guard.policy import load_policy

    command = list(ctx.args)
    if not command:
        raise AccordError("command", "is missing", "give the tool server after `--`")
    loaded = load_policy(policy)
    audit = AuditLog(_open_log(log_dir, signing=True))
    guard = Guard(loaded, request, audit)
    try:
        asyncio.run(
            run_stdio_proxy(guard, StdioServerParameters(command=command[0], args=command[1:]))
        )
    finally:
        audit.close()
        audit.log.close()


@app.command()
@handle_verdict
def audit(
    policy: Path = POLICY,
    log_dir: Path = LOG_DIR,
    checkpoint: Path | None = typer.Option(
        None, "--checkpoint", help="A signed checkpoint obtained earlier (e.g. from a witness)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Re-derive every recorded decision from the log and the declared policy."""
    from accord.cli.log import _open_log, _read
    from accord.guard.audit import audit_entries
    from accord.guard.policy import load_policy

    loaded = load_policy(policy)
    log = _open_log(log_dir)
    try:
        entries = log.entries(0, log.size)
        note = _read(checkpoint, "--checkpoint") if checkpoint else log.latest_checkpoint()
        report = audit_entries(entries, note, log.verifier, loaded)
    finally:
        log.close()
    if as_json:
        print_json(report.to_json())
    else:
        console.print(
            f"{report.entries} entries, {report.sessions} sessions, {report.calls} calls "
            f"({report.denied} not allowed); checkpoint covers {report.checkpoint_size}"
        )
        for problem in report.problems:
            console.print(f"  - {problem}", highlight=False)
    if report.problems:
        raise IntegrityError("guard record", report.problems[0])
    if not as_json:
        console.print("[bold green]every decision re-derives from the declared policy[/]")


REGISTRY_URL = typer.Option("http://127.0.0.1:8000", "--url", help="Registry base URL.")
PARTY_KEY = typer.Option(..., "--key", help="The deployer's party key file (Ed25519).")
REGISTRY_LOG_KEY = typer.Option(
    ..., "--log-key", help="The registry log's public key (text or file), from the inspectorate."
)
DEPLOYMENT = typer.Option(..., "--deployment", help="The deployment's id in the registry.")
REPORT_FROM = typer.Option(
    "serious", "--report-from", help="Reporting threshold: low, serious or critical."
)


def _file(url: str, key: Path, log_key: str, kind: str, body: dict[str, object]) -> int:
    """Sign, file and check the receipt against the pinned log key; the leaf index."""
    from accord.cli._http import load_signer, request_json
    from accord.cli.registry import _pinned_key
    from accord.registry.receipts import check_receipt_document
    from accord.registry.signing import make_declaration, sign

    signer = load_signer(key)
    pinned = _pinned_key(log_key, "--log-key")
    signed = sign(make_declaration(signer.name, kind, body), signer)
    data = request_json(
        "POST",
        url,
        "/v1/declarations",
        ok=lambda status: status == 201,
        timeout=60,
        content=signed.model_dump_json().encode(),
        headers={"content-type": "application/json"},
    )
    report = check_receipt_document(data, pinned, submitted=signed)
    if not report.valid:
        raise IntegrityError("receipt", "the registry's receipt does not check out")
    return int(report.leaf_index)


def _recorded_incidents(policy: Path, log_dir: Path) -> tuple[Any, list[Any]]:
    """The declared policy and the incidents its guard record holds."""
    from accord.cli.log import _open_log
    from accord.guard.filing import find_incidents
    from accord.guard.policy import load_policy

    loaded = load_policy(policy)
    log = _open_log(log_dir)
    try:
        return loaded, find_incidents(log.entries(0, log.size), loaded)
    finally:
        log.close()


def _severity(value: str, option: str) -> str:
    from accord.model.declaration import SEVERITY_ORDER

    if value not in SEVERITY_ORDER:
        raise AccordError(option, f"is {value!r}", f"one of {', '.join(SEVERITY_ORDER)}")
    return value


@app.command()
@handle_errors
def declare(
    policy: Path = POLICY,
    deployment: str = DEPLOYMENT,
    key: Path = PARTY_KEY,
    log_key: str = REGISTRY_LOG_KEY,
    url: str = REGISTRY_URL,
    report_from: str = REPORT_FROM,
    regime: list[str] = typer.Option(
        [], "--regime", help="Incident-clock regime (ca-sb53, ny-raise, eu-ai-act); repeatable."
    ),
    digest_only: bool = typer.Option(
        False, "--digest-only", help="Declare the policy's digest without the document."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Declare the deployment's guard policy to the registry (an `agent_policy`)."""
    import datetime as dt

    from accord.guard.filing import policy_body
    from accord.guard.policy import load_policy

    loaded = load_policy(policy)
    body = policy_body(
        loaded,
        deployment,
        dt.datetime.now(dt.UTC).date(),
        _severity(report_from, "--report-from"),
        regime,
        document=not digest_only,
    )
    leaf = _file(url, key, log_key, "agent_policy", body)
    if as_json:
        print_json({"leaf_index": leaf, "policy_sha256": loaded.digest()})
        return
    console.print(f"policy {loaded.digest()} declared as log entry {leaf}", highlight=False)


@app.command()
@handle_errors
def incidents(
    policy: Path = POLICY,
    log_dir: Path = LOG_DIR,
    deployment: str = DEPLOYMENT,
    key: Path = PARTY_KEY,
    log_key: str = REGISTRY_LOG_KEY,
    url: str = REGISTRY_URL,
    report_from: str = REPORT_FROM,
    as_json: bool = JSON_OPTION,
) -> None:
    """File the guard record's incidents at or above the reporting threshold (`incident`)."""
    from accord.guard.filing import above, incident_body

    threshold = _severity(report_from, "--report-from")
    loaded, found = _recorded_incidents(policy, log_dir)
    filed: list[dict[str, object]] = []
    for incident in found:
        if not above(incident.severity, threshold):
            continue
        body = incident_body(incident, deployment, loaded)
        leaf = _file(url, key, log_key, "incident", body)
        filed.append(
            {"incident_id": body["incident_id"], "severity": body["severity"], "leaf_index": leaf}
        )
    if as_json:
        print_json({"found": len(found), "filed": filed})
        return
    console.print(
        f"{len(found)} incident(s) in the record; {len(filed)} at or above {threshold} filed"
    )
    for item in filed:
        console.print(
            f"  - {item['incident_id']} ({item['severity']}): log entry {item['leaf_index']}",
            highlight=False,
        )


@app.command()
@handle_errors
def report(
    incident_id: str = typer.Argument(..., help="The id `guard incidents` filed it under."),
    clock: list[str] = typer.Option(
        ..., "--clock", help="A clock the report was made under (e.g. ca-sb53-15d); repeatable."
    ),
    reported_at: str = typer.Option(
        "", "--reported-at", help="When it was reported, UTC (2026-12-01T09:30:00Z); default now."
    ),
    policy: Path = POLICY,
    log_dir: Path = LOG_DIR,
    deployment: str = DEPLOYMENT,
    key: Path = PARTY_KEY,
    log_key: str = REGISTRY_LOG_KEY,
    url: str = REGISTRY_URL,
    as_json: bool = JSON_OPTION,
) -> None:
    """Declare that an incident was reported to the authorities under the named clocks."""
    import datetime as dt

    from accord.guard.filing import incident_body
    from accord.model.declaration import ISSUED_AT_PATTERN, utc_time

    loaded, found = _recorded_incidents(policy, log_dir)
    bodies = {b["incident_id"]: b for b in (incident_body(i, deployment, loaded) for i in found)}
    if incident_id not in bodies:
        raise AccordError(
            "incident_id",
            f"{incident_id!r} is not an incident in the guard record at {log_dir}",
            f"one of {', '.join(sorted(bodies)[:5]) or '(none)'}",
        )
    when = reported_at or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        if not re.match(ISSUED_AT_PATTERN, when):
            raise ValueError(when)
        day = utc_time(when).date()
    except ValueError:
        raise AccordError("--reported-at", f"is {when!r}", "e.g. 2026-12-01T09:30:00Z") from None
    body = {**bodies[incident_id], "phase": "reported", "reported_at": when,
            "date": str(day), "clocks": clock}  # fmt: skip
    leaf = _file(url, key, log_key, "incident", body)
    if as_json:
        print_json({"incident_id": incident_id, "leaf_index": leaf, "clocks": clock})
        return
    console.print(
        f"incident {incident_id} reported under {', '.join(clock)}: log entry {leaf}",
        highlight=False,
    )
