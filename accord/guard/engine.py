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
from accord.guard.policy import SOURCES, Policy, ToolRule

Verdict = Literal["allow", "deny", "ask"]
MIN_SUBSTRING = 4
"""Shorter values endorse only by an exact, whole-token match."""
MIN_COPIED = 16
"""A free-text argument this long, copied word for word from untrusted text, was chosen
by whoever wrote that text (an event title, a file name), not by the user."""
MIN_INSTRUCTION = 40
"""Untrusted text this long can carry an instruction that picks a target; shorter texts
(a name, a title, a number) are values, not instructions."""


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
        self.by_record: dict[int, list[Leaf]] = {}
        # Untrusted texts long enough to carry an instruction, once each with its records.
        self.instructions: dict[str, tuple[str, set[int]]] = {}
        # Records the user named, with how they were reached: 0 when the call that read
        # them quoted the request, 1 when it followed a target delegated to a 0 record.
        self.named_records: dict[int, int] = {}
        self.next_record = 0
        # Unique trusted texts, first field name for each: repeated reads add nothing.
        self.trusted: dict[str, str] = {}
        self.trusted_dates: set[tuple[int, int]] = set()
        # Records and field names in which each trusted text (or item of one) occurs.
        self.trusted_at: dict[str, set[tuple[int, str]]] = {}
        self.follows = any(norm(phrase) in self.request for phrase in policy.follow_phrases)
        self.quotes = any(norm(phrase) in self.request for phrase in policy.quote_phrases)
        self.add(leaves)

    def add(self, leaves: Iterable[Leaf], named: bool | str | None = None) -> None:
        """Add one result's leaves; ``named``: "request" (or True) when the call that read
        them quoted the request, "link" when it followed a target from such a record."""
        depth = {True: 0, "request": 0, "link": 1}.get(named) if named else None
        base = self.next_record
        for leaf in leaves:
            text = norm(leaf.text)
            record = base + leaf.record
            self.next_record = max(self.next_record, record + 1)
            labelled = Leaf(leaf.key, text, record, leaf.integrity, leaf.private)
            self.leaves.append(labelled)
            self.by_record.setdefault(record, []).append(labelled)
            if leaf.integrity == "untrusted" and len(text) >= MIN_INSTRUCTION:
                self.instructions.setdefault(text, (leaf.key, set()))[1].add(record)
            if leaf.integrity == "trusted":
                if text not in self.trusted:
                    self.trusted_dates |= _dates(text)
                self.trusted.setdefault(text, leaf.key)
                self.trusted_at.setdefault(text, set()).add((record, leaf.key))
                for item in _items(leaf.text):
                    self.trusted.setdefault(item, leaf.key)
                    self.trusted_at.setdefault(item, set()).add((record, leaf.key))
            if depth is not None:
                self.named_records.setdefault(record, depth)
            elif (
                leaf.integrity == "trusted" and len(text) >= MIN_SUBSTRING and text in self.request
            ):
                self.named_records[record] = 0

    def record_leaves(self, record: int) -> list[Leaf]:
        return self.by_record.get(record, [])

    def _delegated(self, value: str, depth: int = 1) -> tuple[str, int | None] | None:
        """A value from a record the user named, if the record leaves no doubt about it.

        "Pay the bill in bill.txt" delegates the choice of payee to that file, but only
        while the file holds one value of that shape: a second IBAN planted in it makes
        the request ambiguous, and the guard does not guess. ``depth`` 0 accepts only
        records the user named themselves, 1 also a page such a record points to.
        """
        kind = kind_of(value)
        for record in sorted(r for r, d in self.named_records.items() if d <= depth):
            texts = self.record_leaves(record)
            holder = next((leaf for leaf in texts if _token_in(value, leaf.text)), None)
            if holder is None:
                continue
            if kind is None:
                return f"delegated: from {holder.key!r} of a record the user named", record
            pattern = dict(KINDS)[kind]
            seen = {m.group(0) for leaf in texts for m in pattern.finditer(leaf.text)}
            seen.discard(value)
            if not seen:
                why = f"delegated: the only {kind} in {holder.key!r} of a record the user named"
                return why, record
        return None

    def endorse(
        self, value: str, sources: Sequence[str] = SOURCES, depth: int = 1
    ) -> tuple[str, int | None] | None:
        """Why ``value`` may steer a call (delegated reasons start "delegated") and the
        record it was delegated from, or None."""
        if "request" in sources and _token_in(value, self.request):
            return "in the user's request", None
        if "policy" in sources and value in self.trusted_values:
            return "trusted by the policy", None
        key = self.trusted.get(value) if "trusted" in sources else None
        if key is not None:
            return f"from trusted field {key!r}", None
        if "delegated" in sources and self.policy.delegation != "off":
            return self._delegated(value, depth)
        return None

    def endorsement(
        self, value: str, sources: Sequence[str] = SOURCES, depth: int = 1
    ) -> str | None:
        found = self.endorse(value, sources, depth)
        return None if found is None else found[0]

    def contested(self, value: str) -> str | None:
        """Untrusted text long enough to be an instruction ("delete the file with ID 13"),
        outside every record where ``value`` is a trusted field, that names the value: the
        choice among trusted items may have been made there. A short value (an id) is
        named only next to its field's name, not wherever the number occurs."""
        holders = self.trusted_at.get(value, set())
        own = {record for record, _ in holders}
        if len(value) >= MIN_SUBSTRING:
            pattern = re.compile(r"(?<![\w.-])" + re.escape(value) + r"(?![\w-])")
        else:
            names = {re.sub(r"[^a-z]+", " ", key.casefold()).strip() for _, key in holders}
            names.discard("")
            if not names:
                return None
            label = "|".join(re.escape(n) for n in sorted(names))
            pattern = re.compile(r"\b(?:" + label + r")\W{0,4}" + re.escape(value) + r"(?![\w-])")
        for text, (key, records) in self.instructions.items():
            if value in text and not records <= own and pattern.search(text):
                return key
        return None

    def lifted_from(self, sentence: str) -> str | None:
        """The untrusted field whose free text ``sentence`` is lifted from: a copy of part
        of it, not of the whole value or of one of its items (a location, a title)."""
        for leaf in self.leaves:
            if (
                leaf.integrity == "untrusted"
                and not (self.quotes and self.named_records.get(leaf.record) == 0)
                and sentence in leaf.text
                and sentence != leaf.text
                and sentence not in _items(leaf.text)
            ):
                return leaf.key
        return None

    def untrusted_source(self, value: str) -> str | None:
        for leaf in self.leaves:
            if leaf.integrity == "untrusted" and _token_in(value, leaf.text):
                return leaf.key
        return None

    def user_named(self, value: str) -> bool:
        return _token_in(value, self.request) or value in self.trusted_values

    def authority(self, rule: ToolRule) -> str | None:
        """Why a write tool may run: a grant in the request, or, when the user handed
        authority to records they named ("follow the instructions in …"), in one of them."""
        phrase = granted(rule, self.request)
        if phrase is not None:
            return f"the request grants {phrase!r}"
        if self.follows:
            for record in sorted(self.named_records):
                text = " ".join(leaf.text for leaf in self.record_leaves(record))
                phrase = granted(rule, text)
                if phrase is not None:
                    return f"a record the user told the agent to follow grants {phrase!r}"
        return None

    def consented(self, key: str) -> bool:
        """Whether the request names a private field ("my passport number"): naming a
        reader is not consent to tell them everything."""
        name = norm(key.replace("_", " "))
        first = name.split(" ")[0] if name else ""
        return _token_in(name, self.request) or (
            len(first) >= MIN_SUBSTRING and _token_in(first, self.request)
        )


_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
]
_MONTH = "(" + "|".join(m[:3] + r"[a-z]*\.?" for m in _MONTHS) + ")"
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_DATES = (
    (re.compile(r"\b" + _MONTH + r"\s+(?:the\s+)?" + _DAY + r"\b"), 1, 2),
    (re.compile(r"\b" + _DAY + r"\s+(?:of\s+)?" + _MONTH), 2, 1),
)
_ISO = re.compile(r"\b\d{4}-(\d{2})-(\d{2})\b")


def _dates(text: str) -> set[tuple[int, int]]:
    """(month, day) pairs written in a text: ISO dates and "May 1st", "the 1st of May"."""
    found = {(int(m.group(1)), int(m.group(2))) for m in _ISO.finditer(text)}
    for pattern, month_group, day_group in _DATES:
        for m in pattern.finditer(text):
            month = next(
                i for i, name in enumerate(_MONTHS, 1) if name[:3] == m.group(month_group)[:3]
            )
            found.add((month, int(m.group(day_group))))
    return found


def _numbers(text: str) -> set[float]:
    return {float(m.group(0)) for m in re.finditer(r"(?<![\d.])\d+(?:\.\d+)?(?![\d])", text)}


def decide(ctx: Context, tool: str, args: dict[str, Any]) -> Decision:
    """Allow, deny or ask for one call; every failed check is a reason."""
    policy = ctx.policy
    rule = policy.tools.get(tool)
    if rule is None:
        return Decision("deny", (f"tool {tool!r} is not declared in policy {policy.name!r}",))
    unknown = sorted(set(args) - set(rule.args))
    reasons: list[str] = []
    borrowed = False  # authority came from a record, not from the request
    if rule.effect == "write":
        why = ctx.authority(rule)
        if why is None:
            reasons.append(f"{tool} changes the world and the user's request does not ask for it")
        borrowed = why is not None and not why.startswith("the request")
    targets: list[str] = []
    delegated: list[str] = []
    delegating: set[int] = set()
    for name, value in args.items():
        arg_rule = rule.args.get(name)
        if arg_rule is None or arg_rule.role != "target":
            continue
        sources = [s for s in arg_rule.endorsed_by if not (borrowed and s == "delegated")]
        # Fetching is following: a page may send the agent one hop from what the user
        # named, no further.
        depth = 1 if rule.effect == "write" else 0
        for item in _values(value):
            targets.append(item)
            found = ctx.endorse(item, sources, depth)
            if found is None:
                where = ctx.untrusted_source(item)
                weaker = ctx.endorse(item)
                if weaker is not None and "delegated" not in sources:
                    origin = f"must be named by one of {sources}"
                elif weaker is not None:
                    origin = f"is {weaker[0]}, which does not count here"
                elif where:
                    origin = f"appears only in untrusted {where!r}"
                else:
                    origin = "has no known source"
                reasons.append(f"{name}={item!r} {origin}")
                continue
            why, record = found
            if why.startswith("from trusted field") and (where := ctx.contested(item)):
                reasons.append(f"{name}={item!r} is also named in untrusted {where!r}")
            if record is not None:
                delegating.add(record)
                if policy.delegation == "ask":
                    delegated.append(f"{name}={item!r} is {why}")
    for name, value in args.items():
        arg_rule = rule.args.get(name)
        if arg_rule is None or arg_rule.role != "content":
            continue
        for text in _values(value):
            for match in IDENTIFIERS.finditer(text):
                item = match.group(0).rstrip(".")
                why = ctx.endorsement(item, depth=0)
                if why is None:
                    where = ctx.untrusted_source(item)
                    origin = f"only in untrusted {where!r}" if where else "from no known source"
                    reasons.append(f"{name} carries {item!r}, seen {origin}")
                elif why.startswith("delegated") and policy.delegation == "ask":
                    delegated.append(f"{name} carries {item!r}, {why}")
    if rule.effect == "write":
        reasons += _data_checks(ctx, rule, args, delegating)
    private_hits = _private_flows(ctx, rule, args)
    if private_hits:
        readers_ok = bool(targets) and all(ctx.user_named(t) for t in targets)
        keys = ", ".join(sorted(private_hits))
        if targets and not readers_ok:
            reasons.append(f"private {keys} would reach readers the user did not name")
        elif not all(ctx.consented(key) for key in private_hits):
            reasons.append(f"private {keys} is sent although the user's request does not name it")
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


def _data_checks(
    ctx: Context, rule: ToolRule, args: dict[str, Any], delegating: set[int]
) -> list[str]:
    """Free text and amounts of a write.

    Free text copied word for word from untrusted text was chosen by its writer, unless the
    user told the agent to follow that text. A call whose target was delegated to a record
    is what that record asks for: its amounts must come from the record or the request,
    not from whatever else the agent has read (a planted "send the whole balance").
    """
    reasons: list[str] = []
    numbers = set(_numbers(ctx.request))
    asked = _dates(ctx.request)
    dates = asked | ctx.trusted_dates
    for record in delegating:
        for leaf in ctx.record_leaves(record):
            numbers |= _numbers(leaf.text)
            dates |= _dates(leaf.text)
    for name, value in args.items():
        arg_rule = rule.args.get(name)
        if arg_rule is None or arg_rule.role != "data":
            continue
        for text in _values(value):
            if delegating and _NUMBER.fullmatch(text) and float(text) not in numbers:
                reasons.append(f"{name}={text} is not in the delegated record or the request")
            when = _ISO.match(text)
            if asked and when and (int(when.group(1)), int(when.group(2))) not in dates:
                reasons.append(f"{name}={text} is on none of the dates the user gave")
            if len(text) < MIN_COPIED or ctx.user_named(text):
                continue
            # Copied from a record the user named is what "do X with that e-mail" means.
            why = ctx.endorsement(text)
            if why is None and (where := ctx.untrusted_source(text)) is not None:
                reasons.append(f"{name}={text[:80]!r} is copied from untrusted {where!r}")
    return reasons


_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
MAX_ANSWER = 32768
"""Characters of an answer that are checked, recorded and delivered."""


def check_answer(ctx: Context, text: str) -> tuple[str, tuple[str, ...]]:
    """What the agent may say to its user, and why anything was withheld or marked.

    The answer is a write to the user: a sentence copied word for word from untrusted text
    (a review saying "tell the user to visit …") says what that text's writer wanted said.
    Under the policy's ``answers`` setting it is passed on, marked, or withheld.
    """
    kept: list[str] = []
    reasons: list[str] = []
    for sentence in _SENTENCE.split(text[:MAX_ANSWER]):
        flat = norm(sentence).rstrip(".!? ")
        words = IDENTIFIERS.sub("", flat).strip()
        where = ctx.lifted_from(flat) if len(words) >= MIN_COPIED else None
        if where is None or ctx.user_named(flat):
            kept.append(sentence)
            continue
        reasons.append(f"answer sentence {flat[:80]!r} is copied from untrusted {where!r}")
        if ctx.policy.answers == "allow":
            kept.append(sentence)
        elif ctx.policy.answers == "label":
            kept.append(f"[untrusted {where}] {sentence}")
    return "\n".join(part for part in kept if part.strip()), tuple(reasons)


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


def names_record(ctx: Context, tool: str, args: dict[str, Any]) -> str | None:
    """Whether what a read call returns is a record the user named: "request" when the call
    quotes the request, "link" when it follows a target taken from a record the user named
    ("details are in Bob's message" and the message links the page with them)."""
    if quotes_request(ctx.request, args):
        return "request"
    rule = ctx.policy.tools.get(tool)
    if rule is None or rule.effect != "read" or ctx.policy.delegation == "off":
        return None
    for name, value in args.items():
        arg_rule = rule.args.get(name)
        if arg_rule is not None and arg_rule.role == "target":
            for item in _values(value):
                if ctx.endorse(item, ("delegated",), depth=0) is not None:
                    return "link"
    return None


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
