"""The plain Python API: one :class:`Guard` per agent session.

An agent that calls tools itself wraps each call in :meth:`Guard.call`; the MCP proxy does
the same for every ``tools/call`` it forwards. The guard fails closed: if the policy, the
engine or the recorder raises, the call is denied and the reason recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from accord.guard.engine import Context, Decision, check_answer, names_record, safe_decide
from accord.guard.labels import Leaf, label_result
from accord.guard.policy import Policy

if TYPE_CHECKING:
    from accord.guard.audit import AuditLog


class Denied(Exception):
    """Raised by :meth:`Guard.call` when a call is not allowed."""

    def __init__(self, tool: str, decision: Decision) -> None:
        self.tool = tool
        self.decision = decision
        super().__init__(f"{tool}: {decision.verdict}: " + "; ".join(decision.reasons))


class Guard:
    """Decide on and record every tool call of one session."""

    def __init__(self, policy: Policy, request: str, audit: AuditLog | None = None) -> None:
        self.policy = policy
        self.request = request
        self.audit = audit
        self.context = Context(policy, request)
        self.decisions: list[tuple[str, Decision]] = []
        self.broken: str | None = None  # once the record fails, every later call is denied
        self.session = audit.open_session(policy, request) if audit is not None else ""

    def check(self, tool: str, args: dict[str, Any]) -> Decision:
        """The decision for a call the agent wants to make, recorded before it runs."""
        decision = safe_decide(self.context, tool, args)
        if self.broken is not None:
            decision = Decision("deny", (self.broken,))
        try:
            if self.audit is not None:
                self.audit.record_call(self.session, tool, args, decision)
        except Exception as err:
            self.broken = f"audit log unavailable: {type(err).__name__}"
            decision = Decision("deny", (self.broken,))
        self.decisions.append((tool, decision))
        return decision

    def confirm(self, tool: str, args: dict[str, Any], decision: Decision, approved: bool) -> bool:
        """Record the user's answer to an ``ask``; only a recorded approval lets it run."""
        if decision.verdict != "ask":
            return False
        try:
            if self.audit is not None:
                self.audit.record_answer(self.session, tool, args, approved)
        except Exception as err:
            self.broken = f"audit log unavailable: {type(err).__name__}"
            return False
        return approved

    def observe(self, tool: str, args: dict[str, Any], result: Any) -> list[Leaf]:
        """Label what a tool returned and add it to what later decisions may rely on."""
        try:
            leaves = label_result(result, self.policy.tools.get(tool))
            named = names_record(self.context, tool, args)
        except Exception:  # a result that cannot be read endorses nothing
            leaves, named = [], None
        self.context.add(leaves, named)
        if self.audit is not None:
            try:
                self.audit.record_result(self.session, tool, leaves, named)
            except Exception as err:  # what was read is unrecorded: stop acting on it
                self.broken = f"audit log unavailable: {type(err).__name__}"
        return leaves

    def call(self, tool: str, args: dict[str, Any], run: Callable[..., Any]) -> Any:
        """Check, run and observe one call; raises :class:`Denied` instead of running."""
        decision = self.check(tool, args)
        if decision.verdict != "allow":
            raise Denied(tool, decision)
        result = run(**args)
        self.observe(tool, args, result)
        return result

    def answer(self, text: str) -> str:
        """What the agent may tell its user: sentences copied from untrusted text are
        withheld or marked as the policy says, and the check is recorded."""
        try:
            delivered, reasons = check_answer(self.context, text)
        except Exception as err:  # fail closed: nothing unchecked reaches the user
            delivered, reasons = "", (f"guard error: {type(err).__name__}",)
        if self.audit is not None:
            try:
                self.audit.record_said(self.session, text, reasons)
            except Exception as err:
                self.broken = f"audit log unavailable: {type(err).__name__}"
        return delivered
