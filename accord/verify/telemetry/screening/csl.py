"""Screening lists in the format of the US Consolidated Screening List (trade.gov).

The CSL merges the Commerce (Entity List, Denied Persons, Unverified, MEU), State and
Treasury lists into one feed, published as CSV (the header ``_id,source,entity_number,
type,programs,name,title,addresses,federal_register_notice,start_date,end_date,...,
alt_names,...``, alternate names separated by ``;``) and as JSON (the search API's
``results`` array, ``alt_names`` a list). Both load here; the repository ships a small
sample of real Entity List entries (``data/csl_sample.csv``) for tests and demos. For
operational use, load the current full list from trade.gov with ``--list``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from accord.errors import AccordError
from accord.verify.telemetry.screening.names import NormalisedName, normalise_org, similarity

CSL_COLUMNS = (
    "_id", "source", "entity_number", "type", "programs", "name", "title", "addresses",
    "federal_register_notice", "start_date", "end_date", "standard_order",
    "license_requirement", "license_policy", "call_sign", "vessel_type", "gross_tonnage",
    "gross_registered_tonnage", "vessel_flag", "vessel_owner", "remarks", "source_list_url",
    "alt_names", "citizenships", "dates_of_birth", "nationalities", "places_of_birth",
    "source_information_url", "ids",
)  # fmt: skip
DEFAULT_MIN_SCORE = 0.85


@dataclass(frozen=True)
class ListEntry:
    id: str
    source: str
    name: str
    alt_names: tuple[str, ...]
    addresses: str
    federal_register_notice: str
    start_date: str
    license_policy: str
    source_list_url: str


@dataclass(frozen=True)
class ScreenHit:
    query: str
    entry_name: str
    matched_name: str
    score: float
    source: str
    federal_register_notice: str
    start_date: str
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "entry": self.entry_name,
            "matched_name": self.matched_name,
            "score": self.score,
            "list": self.source,
            "federal_register_notice": self.federal_register_notice,
            "listed": self.start_date,
            "reasons": self.reasons,
        }


class ScreeningList:
    """A loaded list with each name normalised once."""

    def __init__(self, entries: list[ListEntry], where: str) -> None:
        self.entries = entries
        self.where = where
        self._names: list[tuple[ListEntry, str, NormalisedName]] = [
            (e, n, normalise_org(n)) for e in entries for n in (e.name, *e.alt_names) if n
        ]

    def __len__(self) -> int:
        return len(self.entries)

    def screen(self, query: str, min_score: float = DEFAULT_MIN_SCORE) -> list[ScreenHit]:
        """Entries whose name or an alternate name scores at least ``min_score``."""
        if not query or not query.strip():
            raise AccordError("name", "is empty", "give the customer's name")
        q = normalise_org(query)
        best: dict[str, ScreenHit] = {}
        for entry, name, norm in self._names:
            score, reasons = similarity(q, norm)
            if score < min_score:
                continue
            hit = ScreenHit(
                query=query,
                entry_name=entry.name,
                matched_name=name,
                score=score,
                source=entry.source,
                federal_register_notice=entry.federal_register_notice,
                start_date=entry.start_date,
                reasons=reasons,
            )
            if entry.id not in best or best[entry.id].score < score:
                best[entry.id] = hit
        return sorted(best.values(), key=lambda h: (-h.score, h.entry_name))


def _entry(row: dict[str, Any], n: int) -> ListEntry:
    name = str(row.get("name") or "").strip()
    if not name:
        raise AccordError(f"entry {n}", "has no name", "every CSL row needs a name")
    alts = row.get("alt_names") or ""
    alt_list = alts if isinstance(alts, list) else str(alts).split(";")
    addresses = row.get("addresses") or ""
    if isinstance(addresses, list):
        addresses = "; ".join(
            ", ".join(str(v) for v in a.values() if v) if isinstance(a, dict) else str(a)
            for a in addresses
        )
    return ListEntry(
        id=str(row.get("_id") or row.get("id") or f"row{n}"),
        source=str(row.get("source") or ""),
        name=name,
        alt_names=tuple(a.strip() for a in alt_list if str(a).strip()),
        addresses=str(addresses),
        federal_register_notice=str(row.get("federal_register_notice") or ""),
        start_date=str(row.get("start_date") or ""),
        license_policy=str(row.get("license_policy") or ""),
        source_list_url=str(row.get("source_list_url") or ""),
    )


def parse_list(text: str, where: str) -> ScreeningList:
    stripped = text.lstrip("\ufeff").lstrip()
    rows: list[dict[str, Any]]
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise AccordError(where, f"not valid JSON ({exc.msg})") from None
        rows = data.get("results", []) if isinstance(data, dict) else data
        if not isinstance(rows, list):
            raise AccordError(where, "JSON has no results list", "use the CSL search API shape")
    else:
        reader = csv.DictReader(io.StringIO(stripped))
        if not reader.fieldnames or "name" not in reader.fieldnames:
            raise AccordError(where, "CSV has no 'name' column", "use the CSL CSV header")
        rows = list(reader)
    entries = [_entry(r, n) for n, r in enumerate(rows, start=1) if isinstance(r, dict)]
    return ScreeningList(entries, where)


def load_list(path: Path) -> ScreeningList:
    if not path.exists():
        raise AccordError(str(path), "no such file", "give a CSL CSV or JSON file")
    return parse_list(path.read_text(encoding="utf-8", errors="replace"), str(path))


@lru_cache(maxsize=1)
def sample_list() -> ScreeningList:
    text = (
        resources.files("accord.verify.telemetry")
        .joinpath("data/csl_sample.csv")
        .read_text("utf-8")
    )
    return parse_list(text, "accord/verify/telemetry/data/csl_sample.csv")
