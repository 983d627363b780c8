"""Safeguards on deployed AI agents: a policy-enforcing, recording gateway to their tools.

``Guard`` decides on every tool call from a declared :class:`Policy` and information-flow
labels on what the agent has read, and records each call and decision in an Accord log
that ``accord guard audit`` re-derives. The MCP proxy lives in ``accord.guard.mcp_proxy``
(it needs the ``guard`` extra).
"""

from accord.guard.engine import Context, Decision, decide, safe_decide
from accord.guard.gateway import Denied, Guard
from accord.guard.policy import Policy, load_policy, parse_policy, policy_schema

__all__ = [
    "Context",
    "Decision",
    "Denied",
    "Guard",
    "Policy",
    "decide",
    "load_policy",
    "parse_policy",
    "policy_schema",
    "safe_decide",
]
