"""The guard's record on an Accord log, and the audit that re-derives it.

Every session start, every call with its decision and every labelled result is one
RFC 8785 JSON entry in an ordinary Accord log (so ``accord log`` proves, witnesses and
audits it). Entries also carry a hash chain (``prev`` = SHA-256 of the entry before and a
running ``seq``) so that a gap is named precisely even before a checkpoint is compared.

The audit trusts neither the deployer nor the guard: it recomputes the Merkle root of
the entries against a signed checkpoint, walks the chain, and replays every session with
the *declared* policy, reporting each decision that the policy does not produce.
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from accord.errors import IntegrityError
from accord.guard.engine import (
    MAX_ANSWER,
    Context,
    Decision,
    check_answer,
    names_record,
    safe_decide,
)
from accord.guard.labels import Leaf, to_plain
from accord.guard.policy import Policy
from accord.ledger import hashing
from accord.ledger.checkpoint import open_checkpoint
from accord.ledger.log import MAX_ENTRY_BYTES, Log
from accord.model import jcs

ENTRY_TYPE = "accord.guard/v1"
CHUNK_BYTES = 60000
GENESIS = "0" * 64


def _bounded_args(args: dict[str, Any]) -> Any:
    plain = to_plain(args)
    if len(jcs.dumps(plain)) > CHUNK_BYTES // 2:
        digest = hashlib.sha256(jcs.dumps(plain)).hexdigest()
        return {"$digest": digest, "$note": "arguments too large to record in full"}
    return plain


class AuditLog:
    """Appends guard entries to an Accord log and checkpoints it."""

    def __init__(self, log: Log, checkpoint_every: int = 256) -> None:
        self.log = log
        self.checkpoint_every = checkpoint_every
        self._since_checkpoint = 0
        size = log.size
        if size:
            last = log.entry(size - 1)
            self.prev = hashlib.sha256(last).hexdigest()
            self.seq = _parse(last).get("seq", size - 1) + 1
        else:
            self.prev, self.seq = GENESIS, 0

    def _append(self, body: dict[str, Any]) -> None:
        entry = {"type": ENTRY_TYPE, "seq": self.seq, "prev": self.prev, **body}
        data = jcs.dumps(entry)
        if len(data) > MAX_ENTRY_BYTES:
            raise IntegrityError("guard entry", f"{len(data)} bytes exceeds the log's limit")
        self.log.append(data)
        self.prev = hashlib.sha256(data).hexdigest()
        self.seq += 1
        self._since_checkpoint += 1
        if self._since_checkpoint >= self.checkpoint_every:
            self.checkpoint()

    def checkpoint(self) -> bytes:
        self._since_checkpoint = 0
        return self.log.checkpoint()

    def open_session(self, policy: Policy, request: str) -> str:
        session = secrets.token_hex(8)
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        self._append(
            {
                "kind": "session",
                "session": session,
                "policy": policy.digest(),
                "policy_name": policy.name,
                "request": request[:20000],
                "time": now,
            }
        )
        return session

    def record_call(self, session: str, tool: str, args: dict[str, Any], d: Decision) -> None:
        self._append(
            {
                "kind": "call",
                "time": _now(),
                "session": session,
                "tool": tool[:500],
                "args": _bounded_args(args),
                "decision": d.to_json(),
            }
        )

    def record_answer(self, session: str, tool: str, args: dict[str, Any], approved: bool) -> None:
        """The user's answer to the last ``ask`` of this session."""
        self._append(
            {
                "kind": "answer",
                "session": session,
                "tool": tool[:500],
                "args": _bounded_args(args),
                "approved": approved,
            }
        )

    def record_result(self, session: str, tool: str, leaves: list[Leaf], named: str | None) -> None:
        """One or more entries; each holds whole leaves so replay sees exactly these."""
        chunks: list[list[Any]] = [[]]
        size = 0
        for leaf in leaves:
            item = leaf.to_json()
            cost = len(jcs.dumps(item)) + 1
            if chunks[-1] and size + cost > CHUNK_BYTES:
                chunks.append([])
                size = 0
            chunks[-1].append(item)
            size += cost
        for part, chunk in enumerate(chunks):
            self._append(
                {
                    "kind": "result",
                    "session": session,
                    "tool": tool[:500],
                    "named": named or False,
                    "part": part,
                    "parts": len(chunks),
                    "leaves": chunk,
                }
            )

    def record_said(self, session: str, text: str, reasons: tuple[str, ...]) -> None:
        """What the agent said to its user and why any of it was withheld or marked."""
        self._append(
            {
                "kind": "said",
                "session": session,
                "text": text[:MAX_ANSWER],
                "reasons": list(reasons),
            }
        )

    def close(self) -> bytes:
        return self.checkpoint()


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(data: bytes) -> dict[str, Any]:
    import json

    value = json.loads(data)
    if not isinstance(value, dict):
        raise ValueError("entry is not an object")
    return value


@dataclass
class AuditReport:
    """What the audit found; ``problems`` empty means every decision re-derives."""

    entries: int = 0
    checkpoint_size: int = 0
    sessions: int = 0
    calls: int = 0
    denied: int = 0
    approved: int = 0
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "checkpoint_size": self.checkpoint_size,
            "sessions": self.sessions,
            "calls": self.calls,
            "denied_or_asked": self.denied,
            "approved_by_user": self.approved,
            "problems": self.problems,
            "holds": not self.problems,
        }


def audit_entries(
    entries: Sequence[bytes], checkpoint: bytes, log_key: Any, policy: Policy
) -> AuditReport:
    """Check entries against a signed checkpoint, the hash chain and the declared policy."""
    report = AuditReport(entries=len(entries))
    signed = open_checkpoint(checkpoint, log_key)
    cp = signed.checkpoint
    report.checkpoint_size = cp.size
    if cp.size > len(entries):
        report.problems.append(
            f"the checkpoint covers {cp.size} entries but only {len(entries)} were given: "
            f"entries {len(entries)}..{cp.size - 1} were removed"
        )
    elif hashing.root(list(entries[: cp.size])) != cp.root:
        report.problems.append(
            f"the first {cp.size} entries do not match the signed checkpoint: "
            "an entry was changed, removed or inserted"
        )
    if len(entries) > cp.size:
        report.problems.append(
            f"{len(entries) - cp.size} entries after the checkpoint are not yet covered by "
            "any signature (checkpoint again before an audit)"
        )
    _replay_all(entries, policy, report)
    return report


def _replay_all(entries: Sequence[bytes], policy: Policy, report: AuditReport) -> None:
    prev = GENESIS
    contexts: dict[str, Context | None] = {}
    last_call: dict[str, dict[str, Any]] = {}
    reads: dict[str, list[Any]] = {}
    digest = policy.digest()
    for index, data in enumerate(entries):
        try:
            entry = _parse(data)
        except ValueError as err:
            report.problems.append(f"entry {index}: not a JSON object ({err})")
            prev = hashlib.sha256(data).hexdigest()
            continue
        if entry.get("type") != ENTRY_TYPE:
            prev = hashlib.sha256(data).hexdigest()
            continue
        if entry.get("prev") != prev:
            report.problems.append(
                f"entry {index} (seq {entry.get('seq')}): hash chain broken — the entry "
                "before it was removed or changed"
            )
        prev = hashlib.sha256(data).hexdigest()
        try:
            _replay_one(index, entry, policy, digest, contexts, report, last_call, reads)
        except (KeyError, TypeError, ValueError) as err:
            report.problems.append(f"entry {index}: malformed {entry.get('kind')!r} ({err})")


def _named_again(
    index: int, entry: dict[str, Any], ctx: Context, read: list[Any] | None, report: AuditReport
) -> Any:
    """Whether the result is a record the user named, derived again from the call that read
    it (the recorded flag decides what later calls may take from it, so it is never taken
    on trust); the recorded value where the call cannot be replayed."""
    recorded = entry["named"]
    if read is None or entry.get("tool") != read[0]:
        # observed without a checked call (the host fed the tool's output in): nothing to
        # derive the flag from, so it may only be the one that grants nothing
        if recorded:
            report.problems.append(
                f"entry {index}: {entry.get('tool')}'s result is recorded as named={recorded!r} "
                "with no recorded call to derive it from"
            )
        return False
    if read[2] is None:  # the first part: the context is as it was when the call returned
        args = read[1]
        if not isinstance(args, dict) or "$digest" in args:
            return recorded  # the call entry already says it was not re-derived
        read[2] = names_record(ctx, str(read[0]), args) or False
    again = read[2]
    if (again or False) != ({True: "request"}.get(recorded, recorded) or False):
        report.problems.append(
            f"entry {index}: {entry['tool']}'s result was recorded as named={recorded!r} but "
            f"the declared policy gives {again!r}"
        )
    return again


def _replay_one(
    index: int,
    entry: dict[str, Any],
    policy: Policy,
    digest: str,
    contexts: dict[str, Context | None],
    report: AuditReport,
    last_call: dict[str, dict[str, Any]],
    reads: dict[str, list[Any]],
) -> None:
    """``reads[session]``: the session's last call (tool, args) and, once its result's first
    part is replayed, whether that result is a record the user named."""
    kind, session = entry["kind"], str(entry["session"])
    if kind == "answer":
        asked = last_call.pop(session, None)
        if (
            asked is None
            or asked["decision"].get("verdict") != "ask"
            or (asked["tool"], asked["args"]) != (entry["tool"], entry["args"])
        ):
            report.problems.append(f"entry {index}: a user's answer to no matching 'ask'")
        elif entry["approved"] is True:
            report.approved += 1
        return
    if kind == "session":
        report.sessions += 1
        if entry["policy"] != digest:
            report.problems.append(
                f"entry {index}: session {session} ran policy {entry['policy'][:16]}…, "
                f"not the declared policy {digest[:16]}…"
            )
            contexts[session] = None
        else:
            contexts[session] = Context(policy, str(entry["request"]))
        return
    if session not in contexts:
        report.problems.append(f"entry {index}: session {session} has no start entry")
        contexts[session] = None
    ctx = contexts[session]
    if kind == "result":
        if ctx is not None:
            named = entry["named"]
            if named not in (False, True, "request", "link"):
                raise ValueError(f"named is {named!r}")
            named = _named_again(index, entry, ctx, reads.get(session), report)
            ctx.add([Leaf.from_json(item) for item in entry["leaves"]], named)
        return
    if kind == "said":
        if ctx is not None:
            _, again_reasons = check_answer(ctx, str(entry["text"]))
            if list(again_reasons) != entry["reasons"]:
                report.problems.append(
                    f"entry {index}: the answer check was recorded as {entry['reasons']} but "
                    f"the declared policy gives {list(again_reasons)}"
                )
        return
    if kind != "call":
        raise ValueError(f"unknown kind {kind!r}")
    last_call[session] = entry
    reads[session] = [entry["tool"], entry["args"], None]
    report.calls += 1
    recorded = entry["decision"]
    if recorded.get("verdict") != "allow":
        report.denied += 1
    if ctx is None:
        return
    args = entry["args"]
    if isinstance(args, dict) and "$digest" in args:
        report.problems.append(f"entry {index}: arguments recorded by digest only; not re-derived")
        return
    again = safe_decide(ctx, str(entry["tool"]), args).to_json()
    if again != recorded:
        report.problems.append(
            f"entry {index}: {entry['tool']} was recorded as {recorded.get('verdict')!r} but "
            f"the declared policy gives {again['verdict']!r} ({'; '.join(again['reasons'])})"
        )
