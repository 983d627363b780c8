"""An MCP server that proxies another MCP server's tools through the guard.

Any MCP client (a desktop agent, an IDE) connects to this proxy instead of to the tool
server; ``tools/list`` passes through, ``tools/call`` is decided first and forwarded only
when allowed. A refused call comes back as a tool error naming the reasons, so the agent
can tell its user. The user's request, which grants write tools, is given when the proxy
starts: it comes from the user's side, never from the agent's traffic.
"""

from __future__ import annotations

import json
from typing import Any

import mcp.types as types
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

from accord.guard.engine import Decision
from accord.guard.gateway import Guard

MAX_RESULT_CHARS = 1 << 20


def result_payload(result: types.CallToolResult) -> Any:
    """What the guard labels: structured content when the server gives it, else text."""
    structured = result.structured_content
    if structured is not None:
        return structured
    texts: list[Any] = []
    for block in result.content:
        text = getattr(block, "text", None)
        if not isinstance(text, str):
            continue
        text = text[:MAX_RESULT_CHARS]
        try:
            texts.append(json.loads(text))
        except (ValueError, RecursionError):
            texts.append(text)
    return texts[0] if len(texts) == 1 else texts


def _error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


_APPROVAL: dict[str, Any] = {
    "type": "object",
    "properties": {"approve": {"type": "boolean", "title": "Let this call run"}},
    "required": ["approve"],
}


async def _ask_user(ctx: Any, tool: str, reasons: tuple[str, ...]) -> bool:
    """Ask the person at the MCP client (elicitation); anything but a clear yes is no."""
    try:
        answer = await ctx.session.elicit_form(
            f"The agent wants to call {tool}. " + "; ".join(reasons), _APPROVAL
        )
    except Exception:  # a client that cannot ask its user: the call does not run
        return False
    content = answer.content or {}
    return answer.action == "accept" and content.get("approve") is True


def build_proxy(guard: Guard, upstream: ClientSession) -> Server[Any]:
    """The guarding server, wired to an initialised upstream session."""

    async def list_tools(
        ctx: Any, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return await upstream.list_tools()

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        args = dict(params.arguments or {})
        decision = guard.check(params.name, args)
        if decision.verdict == "ask":
            approved = await _ask_user(ctx, params.name, decision.reasons)
            if guard.confirm(params.name, args, decision, approved):
                decision = Decision("allow", ())
        if decision.verdict != "allow":
            return _error(f"accord guard: {decision.verdict}: " + "; ".join(decision.reasons))
        try:
            result = await upstream.call_tool(params.name, args)
        except Exception as err:  # the tool failed; nothing to label
            guard.observe(params.name, args, None)
            return _error(f"upstream tool failed: {type(err).__name__}")
        try:
            payload = result_payload(result)
        except Exception:
            payload = None
        guard.observe(params.name, args, payload)
        return result

    return Server("accord-guard", on_list_tools=list_tools, on_call_tool=call_tool)


async def run_stdio_proxy(guard: Guard, upstream: StdioServerParameters) -> None:
    """Serve on this process's stdin/stdout, proxying a tool server started as a child."""
    async with (
        stdio_client(upstream) as (up_read, up_write),
        ClientSession(up_read, up_write) as session,
    ):
        await session.initialize()
        server = build_proxy(guard, session)
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
