"""`accord guard`: policies, the MCP proxy and the audit of a guard's record.

`audit` checks evidence: a record that does not re-derive, or that lost or changed
entries, exits 1 ("does not hold"); bad input (a missing file, a malformed policy) exits 2.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

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
