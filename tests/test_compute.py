"""Training-compute estimators against published figures, and the cross-check."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accord.compute import cross_check, from_architecture, from_chip_hours, from_hardware
from accord.compute.interval import Interval
from accord.errors import AccordError
from accord.model import Verdict


def test_gpt3_matches_brown_et_al_2020() -> None:
    # Brown et al. 2020 (GPT-3 paper, Table D.1): 175B parameters, 300B tokens, 3.14e23 FLOP.
    est = from_architecture(175e9, 300e9)
    assert est.flop.central == pytest.approx(3.15e23, rel=0.01)
    assert est.flop.contains(3.14e23)


def test_llama31_405b_matches_meta_2024() -> None:
    # Meta, "The Llama 3 Herd of Models" (2024): 3.8e25 FLOP on ~15.6T tokens.
    est = from_architecture(405e9, 15.6e12)
    assert est.flop.contains(3.8e25)
    assert est.flop.central == pytest.approx(3.8e25, rel=0.01)


def test_deepseek_v3_two_routes_agree() -> None:
    # DeepSeek-V3 technical report (2024): 37B active of 671B, 14.8T tokens, 2.788M H800 hours.
    arch = from_architecture(671e9, 14.8e12, active_params=37e9)
    hw = from_chip_hours("H800", 2.788e6, utilisation=(0.2, 0.5))
    assert arch.flop.central == pytest.approx(3.29e24, rel=0.01)
    finding = cross_check("DeepSeek-V3", [arch, hw])
    assert finding.verdict is Verdict.CONSISTENT
    # Using total instead of active parameters is 18x too much: even at every chip's FP8 peak
    # the H800-hours cannot do it, so the routes contradict each other.
    wrong = from_architecture(671e9, 14.8e12)
    assert cross_check("wrong", [wrong, hw]).verdict is Verdict.INCONSISTENT


def test_understated_declaration_is_flagged() -> None:
    est = from_architecture(405e9, 15.6e12)
    finding = cross_check("run", [est], declared_flop=9e24)
    assert finding.verdict is Verdict.INCONSISTENT
    assert finding.severity == "high"
    assert "below" in finding.explanation


def test_hardware_route_arithmetic() -> None:
    est = from_hardware("H100", 1000, 24.0, utilisation=(0.4, 0.4))
    assert est.flop.lo == pytest.approx(1000 * 24 * 3600 * 989.4e12 * 0.4)
    assert est.inputs["precision"] == "bf16"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"params": -1.0, "tokens": 1e9}, "params"),
        ({"params": 1e9, "tokens": 0.0}, "tokens"),
        ({"params": 1e9, "tokens": 1e9, "active_params": 2e9}, "active_params"),
    ],
)
def test_bad_architecture_inputs(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(AccordError) as err:
        from_architecture(**kwargs)  # type: ignore[arg-type]
    assert err.value.field == field


def test_bad_hardware_inputs() -> None:
    with pytest.raises(AccordError, match="count"):
        from_hardware("H100", 0, 10.0)
    with pytest.raises(AccordError, match="utilisation"):
        from_hardware("H100", 1, 10.0, utilisation=(0.6, 0.3))
    with pytest.raises(AccordError, match="precision"):
        from_hardware("MI308X", 1, 10.0)


pos = st.floats(min_value=1e-3, max_value=1e12, allow_nan=False)


@given(a_lo=pos, a_w=pos, b_lo=pos, b_w=pos)
def test_interval_product_contains_point_products(
    a_lo: float, a_w: float, b_lo: float, b_w: float
) -> None:
    a, b = Interval(lo=a_lo, hi=a_lo + a_w), Interval(lo=b_lo, hi=b_lo + b_w)
    product = a * b
    for x in (a.lo, a.hi):
        for y in (b.lo, b.hi):
            assert product.lo <= x * y * (1 + 1e-12) and x * y <= product.hi * (1 + 1e-12)


def test_interval_rejects_reversed_bounds() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        Interval(lo=2, hi=1)
