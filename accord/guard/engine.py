"""The decision engine: a pure function of (policy, request, labelled history, call).

Three checks, in the spirit of CaMeL and FIDES but with no model in the loop:

1. *Authority*: a write tool runs only if the user's own request grants it (a declared
   phrase occurs in the request). Text the agent read later cannot add a capability.
2. *Integrity of targets*: every value that picks who or what a call acts on must be
   endorsed — it occurs in the request, in the policy's trusted values, in a field the
   tool's system sets (an id, a sender, an account), or, when the policy allows
   delegation, in a record the user named in the request. A value seen only in untrusted
   text (an e-mail body, a review, a web page) cannot steer a call.
3. *Confidentiality*: a private value (a password, a passport number) may flow into a
   call's content only when every reader is named by the user or trusted by the policy.

Because the engine is pure, ``accord guard audit`` re-derives every logged decision.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from accord.guard.labels import Leaf, to_plain
from accord.guard.policy import Policy, ToolRule

Verdict = Literal["allow", "deny", "ask"]
MIN_SUBSTRING = 4
"""Shorter values endorse only by an exact, whole-token match."""
MIN_COPIED = 16
"""A free-text argument this long, copied word for word from untrusted text, was chosen
by whoever wrote that text (an event title, a file name), not by the user."""


@dataclass(frozen=True)
class Decision:
    """A verdict and every reason for it, as recorded in the log."""

    verdict: Verdict
    reasons: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "reasons": list(self.reasons)}


def norm(text: str) -> str:
    return " ".join(text.casefold().split())


def _token_in(value: str, text: str) -> bool:
    if len(value) >= MIN_SUBSTRING:
        return value in text
    return re.search(r"(?<![\w.-])" + re.escape(value) + r"(?![\w-])", text) is not None


def _values(arg: Any) -> list[str]:
    plain = to_plain(arg)
    out: list[str] = []
    stack = [plain]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif item is not None and not isinstance(item, bool):
            text = norm(str(item))
            if text:
                out.append(text)
    return out


_ITEM_SPLIT = re.compile(r"[\n,;|]|:\s")


def _items(raw: str) -> list[str]:
    """The items of a trusted text that lists several values ("Hotels: A, B\nC").

    A trusted field endorses a value only as a whole item, never as a substring: a
    channel name or a title that someone could write is not a licence for any text in it.
    """
    if len(raw) > 20000:
        return []
    return [item for part in _ITEM_SPLIT.split(raw) if (item := norm(part))]


def granted(rule: ToolRule, request: str) -> str | None:
    """The first grant phrase found in the request (see ToolRule.grants)."""
    text = norm(request)
    for phrase in rule.grants:
        wanted = norm(phrase)
        if wanted.endswith("*"):
            pattern = r"\b" + re.escape(wanted[:-1])
        else:
            pattern = r"\b" + re.escape(wanted) + r"(?:s|es|d|ed|ing)?\b"
        if re.search(pattern, text):
            return phrase
    return None


KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("iban", re.compile(r"\b[a-z]{2}\d{2}[a-z0-9]{10,30}\b")),
    ("email", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    ("url", re.compile(r"\b(?:https?://)?[a-z0-9-]+(?:\.[a-z0-9-]+)+(?:/[^\s,;]*)?")),
    ("number", re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")),
)
"""Shapes of values whose alternatives can be counted in a text."""


IDENTIFIERS = re.compile(
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail addresses
    r"|\b[a-z]{2}\d{2}[a-z0-9]{10,30}\b"  # IBANs
    r"|\bhttps?://[^\s,;)\]]+|\bwww\.[a-z0-9.-]+(?:/[^\s,;)\]]*)?"  # links
)
"""Addresses and links inside free text: content that carries one acts on its reader."""


def kind_of(value: str) -> str | None:
    for name, pattern in KINDS:
        match = pattern.fullmatch(value)
        if match is not None:
            return name
    return None


class Context:
    """What the engine may rely on: the request and every labelled leaf seen so far."""

    def __init__(self, policy: Policy, request: str, leaves: Iterable[Leaf] = ()) -> None:
        self.policy = policy
        self.request = norm(request)
        self.trusted_values = {norm(v) for v in policy.trusted_values}
        self.leaves: list[Leaf] = []
        self.named_records: set[int] = set()
        self.next_record = 0
        # Unique trusted texts, first field name for each: repeated reads add nothing.
        self.trusted: dict[str, str] = {}
        self.add(leaves)

    def add(self, leaves: Iterable[Leaf], named: bool = False) -> None:
        """Add one result's leaves; ``named``: the call that read them quoted the request."""
        base = self.next_record
        for leaf in leaves:
            text = norm(leaf.text)
            record = base + leaf.record
            self.next_record = max(self.next_record, record + 1)
            self.leaves.append(Leaf(leaf.key, text, record, leaf.integrity, leaf.private))
            if leaf.integrity == "trusted":
                self.trusted.setdefault(text, leaf.key)
                for item in _items(leaf.text):
                    self.trusted.setdefault(item, leaf.key)
            if named or (
                leaf.integrity == "trusted" and len(text) >= MIN_SUBSTRING and text in self.request
            ):
                self.named_records.add(record)

    def _delegated(self, value: str) -> str | None:
        """A value from a record the user named, if the record leaves no doubt about it.

        "Pay the bill in bill.txt" delegates the choice of payee to that file, but only
        while the file holds one value of that shape: a second IBAN planted in it makes
        the request ambiguous, and the guard does not guess.
        """
        kind = kind_of(value)
        for record in sorted(self.named_records):
            texts = [leaf for leaf in self.leaves if leaf.record == record]
            holder = next((leaf for leaf in texts if _token_in(value, leaf.text)), None)
            if holder is None:
                continue
            if kind is None:
                return f"delegated: from {holder.key!r} of a record the user named"
            pattern = dict(KINDS)[kind]
            seen = {m.group(0) for leaf in texts for m in pattern.finditer(leaf.text)}
            seen.discard(value)
            if not seen:
                return f"delegated: the only {kind} in {holder.key!r} of a record the user named"
        return None

    def endorsement(self, value: str) -> str | None:
        """Why ``value`` may steer a call, or None; delegated reasons start "delegated"."""
        if _token_in(value, self.request):
            return "in the user's request"
        if value in self.trusted_values:
            return "trusted by the policy"
        key = self.trusted.get(value)
        if key is not None:
            return f"from trusted field {key!r}"
        if self.policy.delegation != "off":
            return self._delegated(value)
        return None

    def untrusted_source(self, value: str) -> str | None:
        for leaf in self.leaves:
            if leaf.integrity == "untrusted" and _token_in(value, leaf.text):
                return leaf.key
        return None

    def user_named(self, value: str) -> bool:
        return _token_in(value, self.request) or value in self.trusted_values


def decide(ctx: Context, tool: str, args: dict[str, Any]) -> Decision:
    """Allow, deny or ask for one call; every failed check is a reason."""
    policy = ctx.policy
    rule = policy.tools.get(tool)
    if rule is None:
        return Decision("deny", (f"tool {tool!r} is not declared in policy {policy.name!r}",))
    unknown = sorted(set(args) - set(rule.args))
    reasons: list[str] = []
    if rule.effect == "write":
        phrase = granted(rule, ctx.request)
        if phrase is None:
            reasons.append(f"{tool} changes the world and the user's request does not ask for it")
    targets: list[str] = []
    delegated: list[str] = []
    for name, value in args.items():
        arg_rule = rule.args.get(name)
        if arg_rule is None or arg_rule.role != "target":
            continue
        for item in _values(value):
            targets.append(item)
            why = ctx.endorsement(item)
            if why is None:
                where = ctx.untrusted_source(item)
                origin = f"appears only in untrusted {where!r}" if where else "has no known source"
                reasons.append(f"{name}={item!r} {origin}")
            elif why.startswith("delegated") and policy.delegation == "ask":
                delegated.append(f"{name}={item!r} is {why}")
    for name, value in args.items():
        arg_rule = rule.args.get(name)
        if arg_rule is None or arg_rule.role != "content":
            continue
        for text in _values(value):
            for match in IDENTIFIERS.finditer(text):
                item = match.group(0).rstrip(".")
                why = ctx.endorsement(item)
                if why is None:
                    where = ctx.untrusted_source(item)
                    origin = f"only in untrusted {where!r}" if where else "from no known source"
                    reasons.append(f"{name} carries {item!r}, seen {origin}")
                elif why.startswith("delegated") and policy.delegation == "ask":
                    delegated.append(f"{name} carries {item!r}, {why}")
    if rule.effect == "write":
        for name, value in args.items():
            arg_rule = rule.args.get(name)
            if arg_rule is None or arg_rule.role != "data":
                continue
            for text in _values(value):
                if len(text) < MIN_COPIED or ctx.user_named(text):
                    continue
                why = ctx.endorsement(text)
                # Copied from a record the user named is what "do X with that e-mail"
                # means: free text from there is data, not a choice of target.
                if why is None and (where := ctx.untrusted_source(text)) is not None:
                    reasons.append(f"{name}={text[:80]!r} is copied from untrusted {where!r}")
    private_hits = _private_flows(ctx, rule, args)
    if private_hits:
        readers_ok = bool(targets) and all(ctx.user_named(t) for t in targets)
        if targets and not readers_ok:
            keys = ", ".join(sorted(private_hits))
            reasons.append(f"private {keys} would reach readers the user did not name")
    if unknown and rule.effect == "write":
        reasons.append(f"undeclared arguments {unknown} on a write tool")
    if not reasons:
        if delegated:
            return Decision("ask", (*delegated, "confirm with the user before it runs"))
        return Decision("allow", ())
    authority = any("does not ask for it" in r for r in reasons) or any(
        "not declared" in r for r in reasons
    )
    verdict: Verdict = "deny" if authority else policy.on_violation
    return Decision(verdict, tuple(reasons))


def safe_decide(ctx: Context, tool: str, args: Any) -> Decision:
    """:func:`decide` that fails closed: any fault of the engine is a recorded denial."""
    try:
        if not isinstance(args, dict):
            return Decision("deny", ("arguments are not an object",))
        return decide(ctx, str(tool), args)
    except Exception as err:
        return Decision("deny", (f"guard error: {type(err).__name__}: {err}"[:500],))


def _private_flows(ctx: Context, rule: ToolRule, args: dict[str, Any]) -> set[str]:
    content = " ".join(
        " ".join(_values(value))
        for name, value in args.items()
        if (arg := rule.args.get(name)) is not None and arg.role == "content"
    )
    if not content:
        return set()
    return {
        leaf.key
        for leaf in ctx.leaves
        if leaf.private and len(leaf.text) >= MIN_SUBSTRING and leaf.text in content
    }


def quotes_request(request: str, args: dict[str, Any]) -> bool:
    """Whether a read call names something from the request (a file, a sender)."""
    text = norm(request)
    return any(len(v) >= MIN_SUBSTRING and v in text for v in _values(args))


def replay(policy: Policy, request: str, steps: Sequence[tuple[str, Any]]) -> list[Decision]:
    """Decisions for a recorded session: steps are ("call", (tool, args)) or
    ("leaves", (leaves, named))."""
    ctx = Context(policy, request)
    out: list[Decision] = []
    for kind, payload in steps:
        if kind == "leaves":
            leaves, named = payload
            ctx.add(leaves, named)
        else:
            tool, args = payload
            out.append(safe_decide(ctx, tool, args))
    return out
