"""Information-flow labels on what tools return.

Each result is flattened into leaves: a field name, its text, the record (innermost
object) it sits in, and two labels — integrity (`trusted` when the tool's own system sets
the field, `untrusted` otherwise) and confidentiality (`private` or public). Flattening is
bounded in depth, count and size and never raises on hostile output: whatever is cut off
is simply not available to endorse an argument, which can only make the guard stricter.
"""

from __future__ import annotations

import datetime
import enum
import math
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from accord.guard.policy import ToolRule

Integrity = Literal["user", "trusted", "untrusted"]

MAX_DEPTH = 32
MAX_LEAVES = 5000
MAX_TEXT = 8192
MAX_TOTAL = 1 << 20


@dataclass(frozen=True)
class Leaf:
    """One labelled value from a tool result."""

    key: str
    text: str
    record: int
    integrity: Integrity
    private: bool

    def to_json(self) -> list[Any]:
        return [self.key, self.text, self.record, self.integrity, self.private]

    @classmethod
    def from_json(cls, item: Any) -> Leaf:
        key, text, record, integrity, private = item
        if integrity not in ("user", "trusted", "untrusted"):
            raise ValueError(f"unknown integrity {integrity!r}")
        return cls(str(key), str(text), int(record), integrity, bool(private))


def _text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, enum.Enum):
        return _text(value.value)
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else str(value)
    text = value if isinstance(value, str) else repr(value)
    # Lone surrogates (from invalid UTF-8 decoded with surrogateescape) cannot be encoded.
    return text.encode("utf-8", errors="replace").decode("utf-8")


def to_plain(value: Any, depth: int = 0) -> Any:
    """JSON-like data from a tool result (pydantic models, dicts, lists, scalars)."""
    if depth > MAX_DEPTH:
        return "…"
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="python")
    if isinstance(value, dict):
        return {_text(k): to_plain(v, depth + 1) for k, v in list(value.items())[:MAX_LEAVES]}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_plain(v, depth + 1) for v in list(value)[:MAX_LEAVES]]
    if value is None or isinstance(value, bool | int):
        return value
    return _text(value)


def label_result(result: Any, rule: ToolRule | None) -> list[Leaf]:
    """Flatten and label a tool result; never raises on any input.

    Field names are the object keys; ``$`` is a bare scalar result (or a list of them) and
    ``@keys`` are the keys of an object themselves (travel listings are keyed by name).
    """
    trusted = set(rule.trusted_fields) if rule else set()
    private = set(rule.private_fields) if rule else set()
    all_private = "*" in private
    all_trusted = "*" in trusted
    leaves: list[Leaf] = []
    total = 0
    records = 0
    stack: list[tuple[Any, str, int, int]] = [(result, "$", 0, 0)]
    while stack and len(leaves) < MAX_LEAVES and total < MAX_TOTAL:
        value, key, record, depth = stack.pop()
        if isinstance(value, BaseModel):
            try:
                value = value.model_dump(mode="python")
            except Exception:
                value = "<unreadable>"
        if depth > MAX_DEPTH:
            continue
        if isinstance(value, dict):
            records += 1
            items = list(value.items())[:MAX_LEAVES]
            for k, _ in items:
                if len(leaves) < MAX_LEAVES:
                    text = _text(k)[:MAX_TEXT]
                    total += len(text)
                    keyed = all_trusted or "@keys" in trusted
                    integrity_k: Integrity = "trusted" if keyed else "untrusted"
                    leaves.append(Leaf("@keys", text, records, integrity_k, all_private))
            stack.extend((v, _text(k), records, depth + 1) for k, v in reversed(items))
            continue
        if isinstance(value, list | tuple | set | frozenset):
            stack.extend((v, key, record, depth + 1) for v in reversed(list(value)[:MAX_LEAVES]))
            continue
        if value is None:
            continue
        text = _text(value)[:MAX_TEXT]
        total += len(text)
        integrity: Integrity = "trusted" if all_trusted or key in trusted else "untrusted"
        leaves.append(Leaf(key, text, record, integrity, all_private or key in private))
    return leaves
