"""Citations in the packaged rule sets that were checked against official text.

Each case quotes where the citation was checked, so a later edit that reintroduces a
wrong section number fails here rather than in a user's verdict.
"""

from __future__ import annotations

from datetime import date

import pytest

from accord.rules import ChipCount, ShipmentItem, Tri, classify, get_rule_set


@pytest.mark.parametrize(
    ("rule_set", "clause"),
    [
        ("us-bis-2023-10", "NAC"),
        ("us-bis-2024-04", "NAC"),
        ("us-bis-2024-04", "ACA"),
        # Inherited unchanged by every later US version that does not remove them.
        ("us-bis-2026-01", "NAC"),
        ("us-bis-2026-01", "ACA"),
    ],
)
def test_nac_and_aca_cite_section_740_8(rule_set: str, clause: str) -> None:
    # Source: BIS, https://www.bis.gov/licensing/license-exceptions (read 2026-11-26):
    # "License Exception Notification Advanced Computing (NAC) (see Section 740.8 of the
    # EAR) requires a prior notification to BIS as described in Section 740.8(a)(2)";
    # CBP CSMS # 61882672: the April 2024 rule "revises the header of § 740.8 to
    # reference License Exception ACA in addition to License Exception NAC".
    found = {c.id: c for c in get_rule_set(rule_set).clauses}
    assert "§740.8" in found[clause].citation
    assert "740.29" not in found[clause].citation


def test_aca_verdict_carries_the_corrected_citation() -> None:
    # A consumer 3A090.a part to Saudi Arabia (D:4, not D:5) falls under ACA; the verdict
    # a user reads must name §740.8.
    shipment = ShipmentItem(
        items=[ChipCount(chip="RTX 4090", count=10)],
        destination="SA",
        end_user_hq="SA",
        date=date(2024, 6, 1),
    )
    verdict = classify(shipment)
    aca = [c for c in verdict.clauses if c.clause == "ACA"]
    assert len(aca) == 1
    assert aca[0].outcome is Tri.TRUE
    assert "§740.8" in aca[0].citation
