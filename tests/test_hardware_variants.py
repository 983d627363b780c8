"""Binned chip variants (Huawei Ascend 910B1-B4) and catalogue hygiene.

A chip sold under the bare family name may be any variant, so the evaluator must answer
with what holds for all of them (definite) and what holds for some (possible), never pick
one figure for the family.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from accord.errors import AccordError
from accord.hardware import default_catalog, load_catalog
from accord.hardware.metrics import process_node, tpp
from accord.rules import ChipCount, ChipItem, ClusterItem, classify, get_rule_set

ON = date(2026, 12, 5)


@pytest.mark.parametrize(
    ("chip", "tpp_value"),
    [
        # AI柠檬 blog figures as tabulated in a public repository (secondary; see the data file).
        ("910B1", 414 * 16),
        ("910B2", 376 * 16),
        ("910B3", 313 * 16),
        ("910B4", 280 * 16),
    ],
)
def test_variant_tpp(chip: str, tpp_value: float) -> None:
    assert tpp(default_catalog().get(chip)).value == pytest.approx(tpp_value)


@pytest.mark.parametrize("chip", ["910B1", "910B2", "910B3"])
def test_variants_above_4800_are_3a090a(chip: str) -> None:
    verdict = classify(ChipItem(chip=chip), rules_at=ON)
    assert verdict.classes == ["3A090.a"]


def test_280_tflops_variant_is_below_4800_and_undetermined() -> None:
    # TPP 4,480 < 4,800; die area unknown, so 3A090.a(2) and 3A090.b stay open.
    verdict = classify(ChipItem(chip="910B4"), rules_at=ON)
    assert verdict.classes == []
    assert verdict.status == "undetermined"
    assert set(verdict.possible_classes) == {"3A090.a", "3A090.b"}


def test_family_name_answers_with_the_range_and_possible_classes() -> None:
    verdict = classify(ChipItem(chip="Ascend 910B"), rules_at=ON)
    assert verdict.status == "undetermined"
    assert verdict.classes == []
    assert "3A090.a" in verdict.possible_classes
    assert "4,480 to 6,624" in verdict.headline
    assert [p.subject for p in verdict.parts] == [
        "ASCEND-910B1",
        "ASCEND-910B2",
        "ASCEND-910B3",
        "ASCEND-910B4",
    ]
    tpp_row = next(n for n in verdict.numbers if n.metric == "tpp")
    assert tpp_row.value == "4,480-6,624"


def test_ascend_guidance_note_reaches_every_variant() -> None:
    # BIS's May 2025 guidance names "Ascend 910B": a 910B3 is covered by that name.
    verdict = classify(ChipItem(chip="910B3"), rules_at=ON)
    assert any(c.clause == "GP10-Ascend" and c.outcome == "true" for c in verdict.clauses)


def test_cluster_of_unknown_variant_carries_possible_classes() -> None:
    cluster = ClusterItem(chips=[ChipCount(chip="910B", count=1000)])
    verdict = classify(cluster, rules_at=ON)
    assert "3A090.a" in verdict.possible_classes
    assert verdict.status == "undetermined"


def test_variant_must_point_back_to_its_family(tmp_path: Path) -> None:
    bad = tmp_path / "cat.yaml"
    bad.write_text(
        "schema_version: 1\ncompiled: x\nbit_lengths: {fp16: 16}\nchips:\n"
        "  - {id: F, name: F, vendor: V, variants: [A]}\n"
        "  - {id: A, name: A, vendor: V}\n"
    )
    with pytest.raises(AccordError, match="variant_of"):
        load_catalog(bad)


@pytest.mark.parametrize(
    ("chip", "node"),
    [("H100", 4), ("A100", 7), ("MI300X", 5), ("910B", 7), ("MI355X", 3)],
)
def test_process_node_is_read_from_the_catalogue(chip: str, node: float) -> None:
    assert process_node(default_catalog().get(chip)).value == node


def test_no_chip_cites_grokipedia() -> None:
    for chip in default_catalog():
        for source in chip.sources:
            assert "grokipedia" not in source.url, chip.id
        assert "grokipedia" not in (chip.notes or "").lower(), chip.id


def test_h20_note_does_not_claim_the_licence_requirement_was_lifted() -> None:
    note = default_catalog().get("H20").notes or ""
    assert "lifted July" not in note
    assert "August 2025" in note and "15 %" in note


def test_data_file_changelog_stays_out_of_verdicts() -> None:
    # us-bis-2023-10 governs on this date; its NAC citation fix is a changelog entry.
    assert get_rule_set("us-bis-2023-10").changelog
    verdict = classify(ChipItem(chip="H100"), rules_at=date(2024, 1, 1))
    for note in verdict.notes:
        assert "Correction of" not in note and "this file" not in note, note


def test_hardware_estimate_for_a_family_spans_its_variants() -> None:
    from accord.compute import from_chip_hours

    est = from_chip_hours("ASCEND-910B", 1.8e7)
    seconds = 1.8e7 * 3600
    assert est.flop.lo == pytest.approx(seconds * 280e12 * 0.3)
    assert est.flop.hi == pytest.approx(seconds * 414e12 * 0.5)
    assert "by variant" in est.derivation


def test_cluster_of_a_family_has_an_interval_total_not_an_unknown() -> None:
    verdict = classify(ClusterItem(chips=[ChipCount(chip="910B", count=8000)]), rules_at=ON)
    assert "TPP 35,840,000 to 52,992,000" in verdict.headline
    h100e = next(n for n in verdict.numbers if n.metric == "cluster_h100_equivalents")
    assert h100e.value is not None
