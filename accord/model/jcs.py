"""RFC 8785 (JCS) canonical JSON, fast enough for the registry's hot path.

Every declaration is canonicalised twice on the way in (the bytes the party signed, and
the log entry that embeds them); the reference ``rfc8785`` package escapes strings one
character at a time in Python, which made canonicalisation the registry's largest cost
after the signature check. This serialiser gives the same bytes: strings go through the
standard library's C escaper (whose escapes are exactly JCS's: ``\\b \\t \\n \\f \\r``,
``\\u00xx`` in lower case for other controls, nothing else), keys are sorted by UTF-16
code units, and numbers are written as ECMAScript's ``Number.prototype.toString`` does.
A property test checks it against ``rfc8785`` on random documents.
"""

from __future__ import annotations

import json.encoder
import math
from typing import Any

_encode_str = json.encoder.encode_basestring
MAX_SAFE_INTEGER = 2**53 - 1


class CanonicalError(ValueError):
    """A value JCS cannot carry (NaN, infinity, an integer beyond 2**53, a lone surrogate)."""


def _utf16(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def es_number(x: float) -> str:
    """ECMAScript's Number::toString for a finite double (RFC 8785 section 3.2.2.3)."""
    if not math.isfinite(x):
        raise CanonicalError(f"{x!r} is not a JSON number")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    mantissa, _, exp_text = repr(abs(x)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    stripped = digits.lstrip("0")
    point = len(whole) + (int(exp_text) if exp_text else 0) - (len(digits) - len(stripped))
    digits = stripped.rstrip("0")
    k, n = len(digits), point
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    exp = n - 1
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{sign}{head}e{'+' if exp > 0 else '-'}{abs(exp)}"


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_encode_str(value))
    elif isinstance(value, int):
        if abs(value) > MAX_SAFE_INTEGER:
            raise CanonicalError(f"{value} exceeds the safe integer domain of JSON numbers")
        out.append(str(value))
    elif isinstance(value, float):
        out.append(es_number(value))
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key in sorted(value, key=_utf16):
            if not isinstance(key, str):
                raise CanonicalError("object keys must be strings")
            if not first:
                out.append(",")
            first = False
            out.append(_encode_str(key))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _write(item, out)
        out.append("]")
    else:
        raise CanonicalError(f"{type(value).__name__} is not a JSON value")


def dumps(value: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of ``value``."""
    out: list[str] = []
    try:
        _write(value, out)
        return "".join(out).encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalError("a string holds an unpaired surrogate") from None
    except RecursionError:
        raise CanonicalError("the value is nested too deeply") from None
