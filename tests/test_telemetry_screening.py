"""Restricted-party screening: scripts, transliteration, legal forms, CSL formats."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.errors import AccordError
from accord.verify.telemetry.screening import load_list, normalise_org, sample_list, similarity
from accord.verify.telemetry.screening.csl import CSL_COLUMNS, parse_list


def top(name: str) -> tuple[str, float]:
    hits = sample_list().screen(name)
    assert hits, f"no hit for {name}"
    return hits[0].entry_name, hits[0].score


@pytest.mark.parametrize(
    ("query", "entry"),
    [
        ("华为技术有限公司", "Huawei Technologies Co., Ltd."),
        ("HUAWEI TECHNOLOGIES CO LTD", "Huawei Technologies Co., Ltd."),
        ("Hua Wei Technologies", "Huawei Technologies Co., Ltd."),
        ("北京商汤科技开发有限公司", "Beijing SenseTime Technology Development Co., Ltd."),
        ("科大讯飞股份有限公司", "IFLYTEK Co., Ltd."),
        ("杭州海康威视数字技术股份有限公司", "Hangzhou Hikvision Digital Technology Co., Ltd."),
        ("中芯国际集成电路制造有限公司", "Semiconductor Manufacturing International Corporation"),
        ("曙光信息产业股份有限公司", "Dawning Information Industry Co., Ltd."),
        ("Megvii", "Beijing Megvii Technology Co., Ltd."),
    ],
)
def test_listed_companies_are_found_across_scripts(query: str, entry: str) -> None:
    name, score = top(query)
    assert name == entry
    assert score >= 0.85


def test_reasons_explain_the_match() -> None:
    hit = sample_list().screen("华为技术有限公司")[0]
    text = " ".join(hit.reasons)
    assert "legal form 有限公司 removed" in text
    assert "alias 华为 -> huawei" in text
    assert hit.federal_register_notice == "84 FR 22961"


@pytest.mark.parametrize(
    "query",
    ["Tencent Holdings Ltd", "Acme Robotics GmbH", "北京智谱华章科技有限公司", "Sense Labs Inc"],
)
def test_unlisted_names_do_not_match(query: str) -> None:
    assert sample_list().screen(query) == []


def test_pinyin_bridges_names_without_an_alias() -> None:
    a = normalise_org("北京智谱华章科技有限公司")
    b = normalise_org("Beijing Zhipu Huazhang Technology Co., Ltd.")
    score, reasons = similarity(a, b)
    assert score >= 0.9
    assert any("transliterated 智谱华章 -> zhipuhuazhang" in r for r in reasons)


def test_legal_forms_and_generic_words_do_not_make_a_match() -> None:
    a = normalise_org("Beijing Technology Co., Ltd.")
    b = normalise_org("Shanghai Technology Co., Ltd.")
    assert similarity(a, b)[0] < 0.85


def test_csv_and_json_lists_load(tmp_path: Path) -> None:
    row = {c: "" for c in CSL_COLUMNS}
    row.update(
        name="Example Dual-Use Trading LLC", alt_names="EDUT; 示例贸易有限公司", source="SDN"
    )
    path = tmp_path / "list.json"
    path.write_text(json.dumps({"results": [row | {"alt_names": ["EDUT"]}]}), encoding="utf-8")
    listing = load_list(path)
    assert listing.screen("EDUT")[0].entry_name == "Example Dual-Use Trading LLC"
    csv_text = ",".join(CSL_COLUMNS) + "\n" + ",".join(f'"{row[c]}"' for c in CSL_COLUMNS) + "\n"
    listing = parse_list(csv_text, "inline")
    assert listing.entries[0].alt_names == ("EDUT", "示例贸易有限公司")
    with pytest.raises(AccordError, match="no 'name' column"):
        parse_list("a,b\n1,2\n", "bad")
    with pytest.raises(AccordError, match="empty"):
        listing.screen("  ")


def test_sample_list_is_in_csl_format_with_sources() -> None:
    listing = sample_list()
    assert len(listing) == 10
    for entry in listing.entries:
        assert entry.source.startswith("Entity List")
        assert entry.federal_register_notice and entry.start_date


@settings(max_examples=80, deadline=None)
@given(st.text(min_size=1, max_size=60).filter(lambda s: s.strip()))
def test_screening_any_text_returns_scored_hits(name: str) -> None:
    for hit in sample_list().screen(name, 0.5):
        assert 0.5 <= hit.score <= 1.0
        assert hit.reasons


def _published_csv(tmp_path: Path) -> Path:
    """A file laid out as trade.gov publishes the CSL CSV: a byte-order mark, the 29
    columns in their published order, ';' between alternate names, quoted commas."""
    rows = [
        {"_id": "a1", "source": "Entity List (EL) - Bureau of Industry and Security",
         "type": "Entity", "name": "Example Dual-Use Trading LLC",
         "addresses": "1 Example Road, Dubai, AE", "federal_register_notice": "89 FR 1",
         "start_date": "2024-01-02", "alt_names": "EDUT; 示例贸易有限公司"},
        {"_id": "b2", "source": "Specially Designated Nationals (SDN) - Treasury Department",
         "type": "Entity", "name": "Northwind Shipping Co., Ltd.", "start_date": "2025-06-30"},
    ]  # fmt: skip
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(CSL_COLUMNS))
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in CSL_COLUMNS})
    path = tmp_path / "consolidated.csv"
    path.write_text("\ufeff" + out.getvalue(), encoding="utf-8")
    return path


def test_published_csv_loads_and_says_what_it_is(tmp_path: Path) -> None:
    path = _published_csv(tmp_path)
    listing = load_list(path)
    assert listing.screen("示例贸易有限公司")[0].entry_name == "Example Dual-Use Trading LLC"
    origin = listing.provenance()
    assert not origin.sample and origin.entries == 2
    assert origin.newest_listing == "2025-06-30"
    assert origin.as_of_basis == "file saved" and len(origin.as_of) == 10
    assert "Specially Designated Nationals" in origin.describe()
    assert listing.is_clearance(listing.screen("Tencent Holdings"))
    assert not listing.is_clearance(listing.screen("EDUT"))


def test_json_list_is_dated_by_its_sources(tmp_path: Path) -> None:
    row = {c: "" for c in CSL_COLUMNS} | {"name": "Northwind Shipping Co., Ltd."}
    doc = {
        "results": [row],
        "sources_used": [
            {"source": "SDN", "source_last_updated": "2026-10-01T12:00:00-04:00"},
            {"source": "EL", "source_last_updated": "2026-09-15", "last_imported": "2026-10-02"},
        ],
    }
    path = tmp_path / "consolidated.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    origin = load_list(path).provenance()
    assert (origin.as_of, origin.as_of_basis) == ("2026-10-02", "sources_used in the file")


def test_the_sample_is_never_a_clearance(tmp_path: Path) -> None:
    listing = sample_list()
    assert listing.sample and listing.screen("Tencent Holdings") == []
    assert not listing.is_clearance([])
    assert "SAMPLE" in listing.provenance().describe()
    # Copied elsewhere and handed back with --list, it is still the sample.
    copy = tmp_path / "list.csv"
    copy.write_bytes(
        (Path(__file__).parents[1] / "accord/verify/telemetry/data/csl_sample.csv").read_bytes()
    )
    again = load_list(copy)
    assert again.sample and not again.is_clearance([])


def test_empty_or_broken_lists_are_bad_input(tmp_path: Path) -> None:
    with pytest.raises(AccordError, match="holds no entries"):
        parse_list(",".join(CSL_COLUMNS) + "\n", "empty.csv")
    with pytest.raises(AccordError, match="line 1, column"):
        parse_list('{"results": [', "cut.json")
