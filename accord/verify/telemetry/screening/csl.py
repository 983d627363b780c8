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
from datetime import UTC, datetime
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
SAMPLE_COMPILED = "2026-11-26"  # when data/csl_sample.csv was written from the FR notices
SAMPLE_REMARK = "Accord sample:"  # how each row of the sample marks itself


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


@dataclass(frozen=True)
class ListProvenance:
    """What a screen was run against, said with every result."""

    where: str
    sample: bool
    entries: int
    sources: tuple[str, ...]
    as_of: str  # YYYY-MM-DD, or "" when nothing in or about the file dates it
    as_of_basis: str  # where as_of comes from
    newest_listing: str  # latest start_date of any entry ("" if none carries one)

    def describe(self) -> str:
        """One line naming the list and its date, for people."""
        date = f"as of {self.as_of} ({self.as_of_basis})" if self.as_of else "undated"
        newest = f", newest listing {self.newest_listing}" if self.newest_listing else ""
        if self.sample:
            return (
                f"the bundled SAMPLE of {self.entries} Entity List entries ({self.where}, "
                f"compiled {self.as_of}{newest}), not the Consolidated Screening List"
            )
        sources = "; ".join(self.sources) if self.sources else "no source named"
        return f"{self.where}: {self.entries:,} entries from {sources}, {date}{newest}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "sample": self.sample,
            "entries": self.entries,
            "sources": list(self.sources),
            "as_of": self.as_of,
            "as_of_basis": self.as_of_basis,
            "newest_listing": self.newest_listing,
        }


class ScreeningList:
    """A loaded list with each name normalised once."""

    def __init__(
        self,
        entries: list[ListEntry],
        where: str,
        *,
        sample: bool = False,
        as_of: str = "",
        as_of_basis: str = "",
    ) -> None:
        self.entries = entries
        self.where = where
        self.sample = sample
        self.as_of = as_of
        self.as_of_basis = as_of_basis
        self._names: list[tuple[ListEntry, str, NormalisedName]] = [
            (e, n, normalise_org(n)) for e in entries for n in (e.name, *e.alt_names) if n
        ]

    def __len__(self) -> int:
        return len(self.entries)

    def provenance(self) -> ListProvenance:
        sources = tuple(sorted({e.source for e in self.entries if e.source}))
        dates = [e.start_date[:10] for e in self.entries if _is_date(e.start_date[:10])]
        return ListProvenance(
            where=self.where,
            sample=self.sample,
            entries=len(self.entries),
            sources=sources,
            as_of=self.as_of,
            as_of_basis=self.as_of_basis,
            newest_listing=max(dates, default=""),
        )

    def is_clearance(self, hits: list[ScreenHit]) -> bool:
        """Whether "no hit" may be read as "not listed": never for the sample, never for
        an empty list, never when something matched."""
        return not hits and not self.sample and len(self.entries) > 0

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


def _is_date(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def _json_as_of(data: Any) -> str:
    """The newest date a CSL JSON document gives for its sources (the search API and the
    downloadable file carry ``sources_used: [{source, source_last_updated, last_imported}]``)."""
    if not isinstance(data, dict):
        return ""
    dates = []
    for src in data.get("sources_used") or []:
        if isinstance(src, dict):
            for key in ("source_last_updated", "last_imported"):
                text = str(src.get(key) or "")[:10]
                if _is_date(text):
                    dates.append(text)
    return max(dates, default="")


def parse_list(
    text: str, where: str, *, as_of: str = "", as_of_basis: str = "", sample: bool = False
) -> ScreeningList:
    stripped = text.lstrip("\ufeff").lstrip()
    rows: list[dict[str, Any]]
    if stripped.startswith(("{", "[")):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise AccordError(
                where, f"not valid JSON at line {exc.lineno}, column {exc.colno} ({exc.msg})",
                "give the CSL file as downloaded (CSV or JSON)",
            ) from None  # fmt: skip
        rows = data.get("results", []) if isinstance(data, dict) else data
        if not isinstance(rows, list):
            raise AccordError(where, "JSON has no results list", "use the CSL search API shape")
        dated = _json_as_of(data)
        if dated:
            as_of, as_of_basis = dated, "sources_used in the file"
    else:
        reader = csv.DictReader(io.StringIO(stripped))
        if not reader.fieldnames or "name" not in reader.fieldnames:
            raise AccordError(
                where, "CSV has no 'name' column",
                "use the CSL CSV as published (header _id,source,entity_number,type,...)",
            )  # fmt: skip
        rows = list(reader)
    entries = [_entry(r, n) for n, r in enumerate(rows, start=1) if isinstance(r, dict)]
    if not entries:
        raise AccordError(where, "holds no entries", "download the full list again")
    # The sample stays a sample under another name: its rows say so in their remarks.
    sample = sample or any(
        str(r.get("remarks") or "").startswith(SAMPLE_REMARK) for r in rows if isinstance(r, dict)
    )
    if sample:
        as_of, as_of_basis = SAMPLE_COMPILED, "compiled from Federal Register notices"
    return ScreeningList(entries, where, sample=sample, as_of=as_of, as_of_basis=as_of_basis)


def load_list(path: Path) -> ScreeningList:
    """A CSL file as published by trade.gov (CSV or JSON). Its date is the one the file
    states (JSON ``sources_used``) or else the day it was saved (the download date when
    the file was not touched since): that is the date a screen is as good as."""
    if not path.is_file():
        raise AccordError(
            str(path), "no such file", "give the Consolidated Screening List as CSV or JSON"
        )
    saved = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).date().isoformat()
    return parse_list(
        path.read_text(encoding="utf-8", errors="replace"),
        str(path),
        as_of=saved,
        as_of_basis="file saved",
    )


@lru_cache(maxsize=1)
def sample_list() -> ScreeningList:
    text = (
        resources.files("accord.verify.telemetry")
        .joinpath("data/csl_sample.csv")
        .read_text("utf-8")
    )
    return parse_list(text, "accord/verify/telemetry/data/csl_sample.csv", sample=True)
