"""Rule versions added for December 2026: the foundry presumption, Korea's AI Framework Act,
the EU's non-binding GPAI guidelines, the RAISE amendment's date, and the H200 policy's
two further conditions. Each case names its source; boundaries are pinned exactly.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from accord.compute.interval import Interval
from accord.hardware import load_catalog
from accord.rules import ChipCount, ChipItem, ModelItem, ShipmentItem, Tri, classify, get_rule_set
from accord.rules.logic import evaluate

AFTER_FOUNDRY = date(2025, 3, 1)  # 90 FR 5298 in force, compliance from 31 Jan 2025


# -- foundry due diligence (90 FR 5298) -------------------------------------------------------


def test_exporter_is_not_subject_to_the_foundry_presumption() -> None:
    verdict = classify(ChipItem(chip="H20"), rules_at=AFTER_FOUNDRY)
    assert verdict.classes == []


@pytest.mark.parametrize("party", ["front_end_fabricator", "osat"])
def test_foundry_must_presume_a_4nm_logic_ic_is_3a090a(party: str) -> None:
    # H20 (TSMC 4N) is below both 3A090 tests on TPP/PD, but a foundry must presume .a.
    verdict = classify(ChipItem(chip="H20", party=party), rules_at=AFTER_FOUNDRY)  # type: ignore[arg-type]
    assert verdict.classes == ["3A090.a-presumed"]


def test_designer_attestation_overcomes_the_presumption() -> None:
    item = ChipItem(chip="H20", party="front_end_fabricator", designer_attests=True)
    assert classify(item, rules_at=AFTER_FOUNDRY).classes == []


def test_packager_attestation_fails_above_30_billion_transistors() -> None:
    # H100: 80 billion transistors, so a transistor-count attestation cannot be true.
    item = ChipItem(chip="H100", party="osat", packager_attests=True)
    assert "3A090.a-presumed" in classify(item, rules_at=AFTER_FOUNDRY).classes


def test_packager_attestation_with_unknown_transistor_count_is_undetermined() -> None:
    item = ChipItem(chip="H20", party="osat", packager_attests=True)
    verdict = classify(item, rules_at=AFTER_FOUNDRY)
    assert verdict.classes == []
    assert verdict.possible_classes == ["3A090.a-presumed"]


def test_presumption_is_not_binding_before_the_compliance_date() -> None:
    verdict = classify(ChipItem(chip="H20", party="osat"), rules_at=date(2025, 1, 20))
    assert verdict.classes == []
    assert any("3A090.a-presumed" in n and "2025-01-31" in n for n in verdict.notes)


def test_planar_node_above_16nm_is_outside_the_presumption(tmp_path: Path) -> None:
    cat = tmp_path / "cat.yaml"
    cat.write_text(
        "schema_version: 1\ncompiled: x\nbit_lengths: {fp16: 16}\nchips:\n"
        "  - {id: H100-SXM, name: ref, vendor: V, dense_tops: {fp16: 989.4},"
        " sources: [{url: 'https://x'}]}\n"
        "  - {id: OLD, name: OLD, vendor: V, process: 'TSMC 28nm', datacenter: true,"
        " dense_tops: {fp16: 10}, sources: [{url: 'https://x'}]}\n"
    )
    item = ChipItem(chip="OLD", party="front_end_fabricator")
    verdict = classify(item, rules_at=AFTER_FOUNDRY, catalog=load_catalog(cat))
    assert verdict.classes == [] and verdict.possible_classes == []


# -- Korea: ">=" 10^26, unlike the EU, California and New York ">" ------------------------------


def test_exactly_1e26_is_inside_korea_and_outside_the_gt_lines() -> None:
    # Korea (Enforcement Decree): at least 10^26; SB 53 and RAISE: more than 10^26.
    verdict = classify(
        ModelItem(name="run", training_compute=Interval.point(1e26)), rules_at=date(2027, 2, 1)
    )
    outcome = {c.clause: c.outcome for c in verdict.clauses if c.kind == "threshold"}
    assert outcome["KR high-performance AI"] is Tri.TRUE
    assert outcome["§1420 frontier model (amended)"] is Tri.FALSE
    ca = [k for k in outcome if k.startswith("§22757")]
    assert ca and all(outcome[k] is Tri.FALSE for k in ca)
    assert outcome["Art. 51(2)"] is Tri.TRUE  # EU's line is 10^25


def test_korea_not_in_force_before_22_january_2026() -> None:
    verdict = classify(
        ModelItem(name="run", training_compute=Interval.point(2e26)), rules_at=date(2026, 1, 21)
    )
    assert "kr-ai-framework-2026" not in {r.id for r in verdict.rule_sets}


# -- EU GPAI guidelines: indicative only --------------------------------------------------------


def test_guidance_line_is_reported_but_never_crossed() -> None:
    verdict = classify(
        ModelItem(name="run", training_compute=Interval.point(5e23)), rules_at=date(2026, 1, 1)
    )
    assert verdict.status == "below_thresholds"
    assert "above 'GPAI indicative criterion'" in verdict.headline
    assert any("non-binding guidance" in n for n in verdict.notes)
    small = classify(
        ModelItem(name="run", training_compute=Interval.point(1e22)), rules_at=date(2026, 1, 1)
    )
    assert "below 'GPAI indicative criterion'" in small.headline


@pytest.mark.parametrize(
    ("modification", "side"),
    [
        (Interval.point(4e23), "above"),  # 0.4 of the original
        (Interval.point(2e23), "below"),  # 0.2
        (Interval(lo=2e23, hi=4e23), "on either side of"),
    ],
)
def test_fine_tune_side_of_the_one_third_line(modification: Interval, side: str) -> None:
    item = ModelItem(name="ft", training_compute=modification, base_compute=Interval.point(1e24))
    verdict = classify(item, rules_at=date(2026, 1, 1))
    assert f"{side} 'GPAI modifier becomes provider'" in verdict.headline
    # Laws count cumulative compute: original + modification.
    assert "cumulative training compute" in verdict.headline


def test_modifier_line_absent_without_an_original_model() -> None:
    verdict = classify(
        ModelItem(name="run", training_compute=Interval.point(5e23)), rules_at=date(2026, 1, 1)
    )
    assert "modifier" not in verdict.headline
    assert not any("modification_share" in u for u in verdict.unknowns)


# -- New York and the H200 policy ------------------------------------------------------------


def test_raise_amendment_dated_by_signature() -> None:
    rs = get_rule_set("ny-raise-2026")
    assert rs.published == date(2026, 3, 27)
    assert rs.effective == date(2027, 1, 1)


def test_h200_policy_exposes_the_volume_cap_as_data() -> None:
    clause = next(c for c in get_rule_set("us-bis-2026-01").clauses if c.id == "742.6(b)(10)-H200")
    assert clause.share_cap is not None
    assert clause.share_cap.share == 0.5
    assert clause.share_cap.capped_destinations == ["CN", "MO"]
    assert clause.share_cap.relative_to_destinations == ["US"]
    assert clause.share_cap.same_product


def test_h200_shipment_shows_the_cap_and_the_availability_test() -> None:
    shipment = ShipmentItem(
        items=[ChipCount(chip="H200", count=100)], destination="CN", date=date(2026, 3, 1)
    )
    verdict = classify(shipment)
    note = next(c for c in verdict.clauses if c.clause == "742.6(b)(10)-H200")
    assert note.outcome is Tri.TRUE
    assert "50%" in note.detail
    assert any(t.metric == "released" and t.outcome is Tri.TRUE for t in note.tests)


@pytest.mark.parametrize(
    ("released", "outcome"),
    [
        ("2024-11", Tri.TRUE),
        ("2026-01-15", Tri.TRUE),
        ("2026-01", Tri.UNKNOWN),  # the month straddles 15 January
        ("2026-02", Tri.FALSE),
        ("2023-Q3", Tri.UNKNOWN),  # not a date Accord can compare
        (None, Tri.UNKNOWN),
    ],
)
def test_release_date_against_commercial_availability_date(
    released: str | None, outcome: Tri
) -> None:
    condition = {"metric": "released", "le": date(2026, 1, 15)}
    assert evaluate(condition, {"released": released}, []) is outcome
