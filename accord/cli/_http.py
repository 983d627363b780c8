"""Talking to a registry from the command line: one request, one line on any failure."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from accord.errors import AccordError
from accord.ledger import Signer


def request_json(
    method: str,
    url: str,
    path: str,
    *,
    ok: Callable[[int], bool] = lambda status: status < 400,
    timeout: float = 600,
    **kwargs: Any,
) -> Any:
    """The JSON answer, or the server's own ``{"error": {field, problem, fix}}`` raised as an
    AccordError (an unreachable server or a non-JSON answer likewise)."""
    import httpx

    try:
        resp = httpx.request(method, url.rstrip("/") + path, timeout=timeout, **kwargs)
    except httpx.HTTPError as err:
        raise AccordError("--url", f"cannot reach {url}: {err}", "check the address") from None
    try:
        data = resp.json()
    except ValueError:
        raise AccordError("response", f"HTTP {resp.status_code}, not JSON") from None
    if not ok(resp.status_code):
        said = data.get("error", {}) if isinstance(data, dict) else {}
        said = said if isinstance(said, dict) else {}
        fix = said.get("fix")
        raise AccordError(
            str(said.get("field", "response")),
            str(said.get("problem", f"HTTP {resp.status_code}")),
            fix if isinstance(fix, str) else None,
        )
    return data


def load_signer(path: Path, option: str = "--key") -> Signer:
    """A party's private key file, or one line naming ``option``."""
    try:
        return Signer.parse(path.read_text(encoding="ascii"))
    except (OSError, UnicodeDecodeError) as err:
        why = err.strerror if isinstance(err, OSError) else str(err)
        raise AccordError(option, f"cannot read {path}: {why}") from None
