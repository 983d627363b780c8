"""Organisation names reduced to comparable tokens, across scripts, with reasons.

Screening must see that 华为技术有限公司 and "Huawei Technologies Co., Ltd." are one
company. Three steps get there, each recorded as a reason so an analyst can check the
match: (1) legal forms are removed in both scripts (有限公司, Co., Ltd.); (2) Chinese is
segmented greedily against a sourced table of brand names (华为 -> huawei, 商汤 ->
sensetime) and generic words (技术 -> technologies); (3) what remains is transliterated
to pinyin, syllables of one run joined into one token (so 华为 would give ``huawei``
even without the table). Tokens then split into *distinctive* ones (the name proper) and
*generic* ones (technology, group, city names), and similarity weighs the former.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import yaml

LEGAL_EN = frozenset(
    {"co", "company", "ltd", "limited", "inc", "incorporated", "corp", "corporation", "llc",
     "plc", "gmbh", "ag", "sa", "bv", "nv", "pte", "pty", "kk", "jsc", "ooo", "oao", "sarl",
     "srl", "spa", "lp", "llp", "ab", "oy", "as", "the", "of", "and"}
)  # fmt: skip
LEGAL_ZH = ("股份有限公司", "有限责任公司", "集团有限公司", "有限公司", "责任公司", "公司")
GENERIC_EN = frozenset(
    {"technology", "technologies", "tech", "information", "industry", "industries", "digital",
     "intelligent", "intelligence", "science", "sciences", "international", "holdings",
     "holding", "group", "development", "electronics", "communications", "semiconductor",
     "integrated", "circuit", "manufacturing", "computer", "cloud", "computing", "software",
     "device", "devices", "systems", "system", "beijing", "shanghai", "shenzhen", "hangzhou",
     "hefei", "tianjin", "china", "chinese", "network", "networks", "research", "institute"}
)  # fmt: skip
_HAN = re.compile(r"[\u3400-\u9fff]+")
_SPLIT = re.compile(r"[^0-9a-z\u3400-\u9fff]+")


@dataclass(frozen=True)
class NormalisedName:
    original: str
    tokens: tuple[str, ...]
    distinctive: tuple[str, ...]
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def key(self) -> str:
        """Order-free identity of the name proper (used to link accounts by organisation)."""
        chosen = self.distinctive or self.tokens
        return " ".join(sorted(set(chosen)))


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    raw: Any = yaml.safe_load(
        resources.files("accord.verify.telemetry").joinpath("data/aliases.yaml").read_text("utf-8")
    )
    brands = {str(b["zh"]): [str(e) for e in b["en"]] for b in raw["brands"]}
    generic = {str(k): [str(e) for e in v] for k, v in raw["generic"].items()}
    return brands, generic


def _pinyin(text: str) -> str:
    try:
        from pypinyin import lazy_pinyin
    except ImportError:  # pragma: no cover - pypinyin is in the telemetry extra
        return text
    return "".join(lazy_pinyin(text))


def _segment_han(run: str, reasons: list[str]) -> list[str]:
    brands, generic = _tables()
    for suffix in LEGAL_ZH:
        if run.endswith(suffix) and len(run) > len(suffix):
            reasons.append(f"legal form {suffix} removed")
            run = run[: -len(suffix)]
            break
    words = sorted({*brands, *generic}, key=len, reverse=True)
    tokens: list[str] = []
    pending = ""

    def flush() -> None:
        nonlocal pending
        if pending:
            py = _pinyin(pending)
            reasons.append(f"transliterated {pending} -> {py}")
            tokens.append(py)
            pending = ""

    i = 0
    while i < len(run):
        for word in words:
            if run.startswith(word, i):
                flush()
                if word in brands:
                    reasons.append(f"alias {word} -> {' / '.join(brands[word])}")
                    tokens.extend(brands[word][0].split())
                else:
                    tokens.extend(t for e in generic[word] for t in e.split())
                i += len(word)
                break
        else:
            pending += run[i]
            i += 1
    flush()
    return tokens


def normalise_org(name: str) -> NormalisedName:
    """Tokens of an organisation name with legal forms removed and Chinese made comparable."""
    text = unicodedata.normalize("NFKC", name).casefold()
    reasons: list[str] = []
    tokens: list[str] = []
    for piece in _SPLIT.split(text):
        if not piece:
            continue
        if _HAN.fullmatch(piece):
            tokens.extend(_segment_han(piece, reasons))
            continue
        # Latin with embedded Han (rare): split on script boundaries.
        for part in re.split(r"([\u3400-\u9fff]+)", piece):
            if not part:
                continue
            if _HAN.fullmatch(part):
                tokens.extend(_segment_han(part, reasons))
            elif part in LEGAL_EN:
                reasons.append(f"legal form {part!r} removed")
            else:
                tokens.append(part)
    distinctive = tuple(t for t in tokens if t not in GENERIC_EN)
    return NormalisedName(name, tuple(tokens), distinctive, tuple(dict.fromkeys(reasons)))


def similarity(a: NormalisedName, b: NormalisedName) -> tuple[float, list[str]]:
    """Score in [0, 1] and the reasons behind it (distinctive tokens weigh 3:1)."""
    from rapidfuzz import fuzz

    reasons = [*a.reasons, *b.reasons]
    if not a.tokens or not b.tokens:
        return 0.0, [*reasons, "a name is empty after normalisation"]
    da = " ".join(sorted(set(a.distinctive or a.tokens)))
    db = " ".join(sorted(set(b.distinctive or b.tokens)))
    spaced = fuzz.token_set_ratio(da, db) / 100.0
    # "hua wei" vs "huawei": compare with spaces removed as well.
    joined = (
        fuzz.ratio("".join(a.distinctive or a.tokens), "".join(b.distinctive or b.tokens)) / 100.0
    )
    core = max(spaced, joined)
    all_a, all_b = " ".join(a.tokens), " ".join(b.tokens)
    # Set ratio forgives extra words (affiliates); sort ratio ranks the exact name first.
    full = (fuzz.token_set_ratio(all_a, all_b) + fuzz.token_sort_ratio(all_a, all_b)) / 200.0
    score = round(0.75 * core + 0.25 * full, 4)
    reasons.append(f"distinctive tokens '{da}' vs '{db}': {core:.2f}")
    reasons.append(f"all tokens: {full:.2f}")
    return score, reasons
