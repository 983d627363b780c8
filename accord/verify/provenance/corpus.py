"""Training text that every Python installation already has: the standard library itself.

Nothing may be downloaded at run time, so the demo zoo trains on the stdlib's docstrings
(English prose, domain "docs") and its source code (domain "code"). Fine-tuning on the other
domain gives the "domain-shifted fine-tune" that output-based tests find hardest.
"""

from __future__ import annotations

import ast
import sysconfig
import warnings
from functools import lru_cache
from pathlib import Path

from accord.errors import AccordError

DOMAINS = ("docs", "code")


def _stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = [
        p
        for p in sorted(root.glob("*.py")) + sorted(root.glob("*/*.py"))
        if "test" not in p.parts[-2]
        and not p.name.startswith("test")
        and "site-packages" not in p.parts
    ]
    return files


@lru_cache(maxsize=4)
def stdlib_text(domain: str, max_bytes: int = 2_000_000) -> bytes:
    """Deterministic text of one domain, at most ``max_bytes`` long (ASCII bytes)."""
    if domain not in DOMAINS:
        raise AccordError("domain", f"unknown corpus domain {domain!r}", f"use one of {DOMAINS}")
    chunks: list[bytes] = []
    total = 0
    for path in _stdlib_files():
        try:
            source = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if domain == "code":
            text = source
        else:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    tree = ast.parse(source)
            except (SyntaxError, ValueError):
                continue
            docs = [
                ast.get_docstring(node)
                for node in ast.walk(tree)
                if isinstance(
                    node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
                )
            ]
            text = "\n\n".join(d for d in docs if d)
        data = text.encode("ascii", errors="ignore")
        chunks.append(data)
        total += len(data)
        if total >= max_bytes:
            break
    blob = b"\n".join(chunks)[:max_bytes]
    if len(blob) < 10_000:
        raise AccordError(
            "corpus", "could not find the Python standard library source", "use a full Python"
        )
    return blob
