"""Published classifications of real chips, shipments and models under each rule version.

Each case names the public source of the expected answer.
"""

from __future__ import annotations

from datetime import date

import pytest

from accord.compute.interval import Interval
from accord.errors import AccordError
from accord.rules import (
    ChipCount,
    ChipItem,
    ClusterItem,
    ModelItem,
    ShipmentItem,
    Tri,
    classify,
    get_rule_set,
)

OCT_2022 = date(2023, 1, 1)  # us-bis-2022-10 (+ Macau update) in force
NOV_2023 = date(2024, 1, 1)  # us-bis-2023-10 in force


@pytest.mark.parametrize(
    ("chip", "on", "expected", "source"),
    [
        ("A100", OCT_2022, ["3A090"], "NVIDIA 8-K 31 Aug 2022; 87 FR 62186: A100/H100 controlled"),
        ("H100", OCT_2022, ["3A090"], "NVIDIA 8-K 31 Aug 2022; 87 FR 62186"),
        ("A800", OCT_2022, [], "A800 designed with 400 GB/s NVLink, below the 600 GB/s test"),
        ("H800", OCT_2022, [], "H800 designed with 400 GB/s NVLink, below the 600 GB/s test"),
        ("H100", NOV_2023, ["3A090.a"], "88 FR 73458: TPP >= 4800"),
        ("A100", NOV_2023, ["3A090.a"], "88 FR 73458: TPP 4,992 >= 4800"),
        ("A800", NOV_2023, ["3A090.a"], "NVIDIA 8-K 17 Oct 2023 lists A800 as newly restricted"),
        ("H800", NOV_2023, ["3A090.a"], "NVIDIA 8-K 17 Oct 2023 lists H800 as newly restricted"),
        ("L40S", NOV_2023, ["3A090.a"], "NVIDIA 8-K 17 Oct 2023 lists L40S"),
        ("RTX 4090", NOV_2023, ["3A090.a"], "NVIDIA 8-K 17 Oct 2023 lists GeForce RTX 4090"),
        ("H20", NOV_2023, [], "H20 designed to fall below both 3A090 tests (TPP 2,368, PD 2.9)"),
        ("RTX 4090D", NOV_2023, [], "4090D cut to TPP ~4,707 < 4800; not for data centres"),
        ("L20", NOV_2023, [], "L20 China variant: TPP ~1,914 below 3A090"),
    ],
)
def test_chip_classes(chip: str, on: date, expected: list[str], source: str) -> None:
    verdict = classify(ChipItem(chip=chip), rules_at=on)
    assert verdict.classes == expected, source
    assert verdict.status == ("controlled" if expected else "not_controlled")


def test_chip_with_unknown_figures_is_undetermined() -> None:
    verdict = classify(ChipItem(chip="MI308X"), rules_at=NOV_2023)
    assert verdict.status == "undetermined"
    assert "3A090.a" in verdict.possible_classes
    assert any("tpp" in u for u in verdict.unknowns)


def test_verdict_cites_clauses_and_numbers() -> None:
    verdict = classify(ChipItem(chip="H100"), rules_at=NOV_2023)
    clause = next(c for c in verdict.clauses if c.clause == "3A090.a")
    assert "88 FR 73458" in clause.citation
    assert any(t.metric == "tpp" and t.outcome is Tri.TRUE for t in clause.tests)
    assert any(n.metric == "tpp" and "15,83" in n.derivation for n in verdict.numbers)


def _ship(chip: str, count: int, to: str, on: date, hq: str | None = None) -> ShipmentItem:
    return ShipmentItem(
        items=[ChipCount(chip=chip, count=count)], destination=to, end_user_hq=hq, date=on
    )


@pytest.mark.parametrize(
    ("shipment", "status", "source"),
    [
        (_ship("H100", 100, "CN", NOV_2023), "license_required", "§742.6(a)(6)(iii): D:5"),
        (_ship("H100", 100, "SA", NOV_2023, "SA"), "license_required", "D:4 not in A:5/A:6"),
        (_ship("H100", 100, "IL", NOV_2023, "IL"), "no_license_required", "IL in D:4 but A:6"),
        (_ship("H100", 100, "DE", NOV_2023, "DE"), "no_license_required", "DE not in D groups"),
        (_ship("H100", 100, "DE", NOV_2023, "CN"), "license_required", "§744.23(a)(3) HQ"),
        (_ship("H100", 100, "DE", NOV_2023), "undetermined", "HQ unknown: §744.23(a)(3)"),
        (_ship("H20", 100, "CN", date(2024, 6, 1), "CN"), "no_license_required", "H20 below"),
        (_ship("H20", 100, "CN", date(2025, 6, 1), "CN"), "license_required", "NVIDIA 8-K"),
        (_ship("A800", 100, "CN", OCT_2022, "CN"), "no_license_required", "A800 below 2022"),
        (_ship("A100", 100, "MO", date(2023, 2, 1), "MO"), "license_required", "88 FR 2821"),
    ],
)
def test_shipments(shipment: ShipmentItem, status: str, source: str) -> None:
    assert classify(shipment).status == status, source


def test_non_datacentre_chip_to_saudi_arabia_uses_license_exception() -> None:
    # 3A090.a consumer part (RTX 4090) -> NAC/ACA available outside Macau/D:5 HQ.
    verdict = classify(_ship("RTX 4090", 10, "SA", date(2024, 6, 1), "SA"))
    assert verdict.status == "no_license_required"
    assert "ACA" in verdict.headline


def test_diffusion_rule_pending_until_compliance_date() -> None:
    verdict = classify(_ship("H100", 5000, "MY", date(2025, 3, 1), "MY"))
    assert verdict.status == "no_license_required"
    assert "will require a license" in verdict.headline
    pending = [c for c in verdict.clauses if not c.binding and c.outcome is Tri.TRUE]
    assert {c.clause for c in pending} >= {"742.6(a)(6)(iii)-AI"}


def test_diffusion_rule_not_enforced_after_may_2025() -> None:
    verdict = classify(_ship("H100", 5000, "MY", date(2025, 5, 20), "MY"))
    assert verdict.status == "no_license_required"
    assert verdict.rule_sets[0].id.startswith("us-bis-2025-05")


def test_diffusion_rule_as_written_with_lpp_and_cap() -> None:
    small = classify(_ship("H100", 1000, "MY", date(2025, 6, 1), "MY"), rules_at="us-bis-2025-01")
    assert small.status == "no_license_required"
    assert "LPP" in small.headline
    large = classify(_ship("H100", 5000, "MY", date(2025, 6, 1), "MY"), rules_at="us-bis-2025-01")
    assert large.status == "license_required"
    cap = next(c for c in large.clauses if c.clause == "Tier-2-cap")
    assert "10.02 %" in cap.detail  # 5,000 x 15,831 / 790,000,000
    tier1 = classify(_ship("H100", 5000, "JP", date(2025, 6, 1), "JP"), rules_at="us-bis-2025-01")
    assert tier1.status == "no_license_required"


def test_h200_case_by_case_note_after_jan_2026() -> None:
    verdict = classify(_ship("H200", 100, "CN", date(2026, 3, 1), "CN"))
    assert verdict.status == "license_required"
    assert any("case by case" in n for n in verdict.notes)
    b200 = classify(_ship("B200", 100, "CN", date(2026, 3, 1), "CN"))
    assert not any("case by case" in n for n in b200.notes)  # TPP 36,000 >= 21,000


def test_stacked_weaker_chips_are_visible_in_aggregate() -> None:
    cluster = ClusterItem(
        name="stack", chips=[ChipCount(chip="H20", count=80000), ChipCount(chip="H20", count=10)]
    )
    verdict = classify(cluster, rules_at=NOV_2023)
    tpp = next(n for n in verdict.numbers if n.metric == "cluster_tpp")
    assert tpp.value == pytest.approx(80010 * 2368)
    assert verdict.classes == []  # each chip is below the thresholds ...
    agreement = get_rule_set("agreement-illustrative-v1")  # effective 2026-01-01
    later = date(2026, 6, 1)
    with_agreement = classify(cluster, rules_at=later, extra_rules=[agreement])
    assert with_agreement.status == "thresholds_crossed"  # ... but the stack is not small
    too_early = classify(cluster, rules_at=NOV_2023, extra_rules=[agreement])
    assert too_early.status == "below_thresholds"
    assert any("not in force" in n for n in too_early.notes)


def test_eo_14110_cluster_threshold() -> None:
    big = ClusterItem(name="big", chips=[ChipCount(chip="H100", count=60000)])
    verdict = classify(big, rules_at=date(2024, 6, 1))
    assert any(c.clause == "§4.2(b)(ii)" and c.outcome is Tri.TRUE for c in verdict.clauses)
    after = classify(big, rules_at=date(2025, 6, 1))  # EO 14110 revoked 20 Jan 2025
    assert not any(c.rule_set == "us-eo-14110" for c in after.clauses)


@pytest.mark.parametrize(
    ("flop", "on", "crossed", "source"),
    [
        (3.8e25, date(2026, 3, 1), {"Art. 51(2)"}, "Llama 3.1 405B (Meta) > 1e25: EU AI Act"),
        (3.14e23, date(2026, 3, 1), set(), "GPT-3 below every threshold"),
        (
            2e26,
            date(2026, 3, 1),
            {"Art. 51(2)", "§22757.11 frontier model", "KR high-performance AI"},
            "SB 53 > 1e26; Korea's AI Framework Act >= 1e26 from 22 Jan 2026",
        ),
        (2e26, date(2025, 3, 1), {"Art. 51(2)", "4E091"}, "4E091 closed weights > 1e26"),
        (2e26, date(2024, 6, 1), {"§4.2(b)(i)"}, "EO 14110 > 1e26; EU AI Act not yet in force"),
    ],
)
def test_model_thresholds(flop: float, on: date, crossed: set[str], source: str) -> None:
    item = ModelItem(training_compute=Interval.point(flop), open_weights=False)
    verdict = classify(item, rules_at=on)
    # Non-binding guidance (EU GPAI guidelines) is reported, never an obligation crossed.
    guidance = {"eu-gpai-guidelines-2025"}
    got = {
        c.clause
        for c in verdict.clauses
        if c.kind == "threshold" and c.outcome is Tri.TRUE and c.rule_set not in guidance
    }
    assert got == crossed, source


def test_model_interval_straddling_threshold_may_cross() -> None:
    item = ModelItem(training_compute=Interval(lo=5e25, hi=2e26))
    verdict = classify(item, rules_at=date(2026, 3, 1))
    assert verdict.status == "thresholds_crossed"  # EU threshold crossed for sure
    sb53 = next(c for c in verdict.clauses if c.clause == "§22757.11 frontier model")
    assert sb53.outcome is Tri.UNKNOWN
    assert "may cross" in verdict.headline


def test_date_before_any_rule_is_an_error() -> None:
    with pytest.raises(AccordError) as err:
        classify(ChipItem(chip="H100"), rules_at=date(2020, 1, 1))
    assert err.value.field == "date"
    assert err.value.fix is not None and "us-bis-2022-10" in err.value.fix


def test_unknown_country_is_an_error() -> None:
    with pytest.raises(AccordError) as err:
        classify(_ship("H100", 1, "XY", NOV_2023))
    assert err.value.field == "destination"


def test_shipment_without_date_needs_one() -> None:
    with pytest.raises(AccordError, match="date"):
        classify(ShipmentItem(items=[ChipCount(chip="H100", count=1)], destination="CN"))


def test_not_yet_binding_threshold_is_not_reported_as_crossed() -> None:
    # EU AI Act in force 1 Aug 2024, GPAI obligations apply from 2 Aug 2025.
    item = ModelItem(training_compute=Interval.point(3.8e25))
    verdict = classify(item, rules_at=date(2025, 3, 1))
    assert verdict.status == "below_thresholds"
    assert "not yet binding: Art. 51(2)" in verdict.headline


def test_group_set_amendment_replaces_membership() -> None:
    from accord.rules.countries import groups_of

    assert "D:5" in groups_of("KH", ["ear-supp1-740-2023"])
    assert "Tier 1" in groups_of("JP", ["ear-supp1-740-2023", "ai-diffusion-tiers-2025"])


def test_misspelt_metric_is_rejected_at_load() -> None:
    from accord.rules.logic import validate_condition

    with pytest.raises(AccordError, match="unknown metric 'tppp'"):
        validate_condition({"metric": "tppp", "ge": 1}, "clause x.when")


def test_validated_end_users_under_the_diffusion_rule() -> None:
    base = {
        "items": [ChipCount(chip="H100", count=20000)],
        "destination": "MY",
        "date": date(2025, 6, 1),
    }
    plain = classify(ShipmentItem(**base, end_user_hq="MY"), rules_at="us-bis-2025-01")
    assert plain.status == "license_required"
    uveu = classify(
        ShipmentItem(**base, end_user_hq="US", validated_end_user="UVEU"), rules_at="us-bis-2025-01"
    )
    assert uveu.status == "no_license_required" and "UVEU" in uveu.headline
    # A UVEU must be headquartered in Tier 1; a Malaysian-headquartered one cannot use it.
    wrong = classify(
        ShipmentItem(**base, end_user_hq="MY", validated_end_user="UVEU"), rules_at="us-bis-2025-01"
    )
    assert wrong.status == "license_required"
    nveu = classify(
        ShipmentItem(**base, end_user_hq="MY", validated_end_user="NVEU"), rules_at="us-bis-2025-01"
    )
    assert nveu.status == "no_license_required"


def test_server_with_controlled_chips_is_4a090() -> None:
    from accord.rules import ServerItem

    dgx = ServerItem(name="DGX H100", chips=[ChipCount(chip="H100", count=8)])
    verdict = classify(dgx, rules_at=NOV_2023)
    assert verdict.classes == ["3A090.a", "4A090.a"]
    h20_box = ServerItem(name="HGX H20", chips=[ChipCount(chip="H20", count=8)])
    assert classify(h20_box, rules_at=NOV_2023).classes == []
    old = classify(dgx, rules_at=OCT_2022)
    assert old.classes == ["3A090", "4A090"]
