"""Guarded agent deployments in a real registry: policy declarations, incidents, and the
findings the registry's clock raises when a statutory deadline passes unreported."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from accord.errors import AccordError
from accord.guard import load_policy
from accord.guard.filing import policy_body
from tests.registry.inprocess import Harness

POLICY = load_policy(Path(__file__).parents[1] / "data" / "guard" / "mailbox.yaml")


def _when(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _incident(h: Harness, iid: str, **extra: Any) -> dict[str, Any]:
    now = h.clock()
    body = {
        "deployment_id": "mail-agent",
        "incident_id": iid,
        "phase": "detected",
        "date": now.date().isoformat(),
        "detected_at": _when(now),
        "severity": "critical",
        "policy_sha256": POLICY.digest(),
        "summary": "send_money to a planted IBAN denied",
    }
    return {**body, **extra}


def _report(first: dict[str, Any], at: dt.datetime, clocks: list[str]) -> dict[str, Any]:
    return {
        **first,
        "phase": "reported",
        "date": at.date().isoformat(),
        "reported_at": _when(at),
        "clocks": clocks,
    }


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    h = Harness(tmp_path / "reg")
    h.start()
    h.party("deployer")
    day = h.clock().date()
    h.file(
        "deployer",
        "agent_policy",
        policy_body(POLICY, "mail-agent", day, "serious", ["ca-sb53", "eu-ai-act"]),
    )
    return h


def _overdue(h: Harness) -> list[dict[str, Any]]:
    return [f for f in h.reg.run_accountancy() if f["verifier"] == "registry.incident_clocks"]


def test_an_unreported_critical_incident_is_overdue_after_fifteen_days(harness: Harness) -> None:
    h = harness
    h.file("deployer", "incident", _incident(h, "inc-1"))
    assert _overdue(h) == []
    h.restart()  # the incident survives a restart (snapshot or replay)
    h.clock.advance(14.9)
    assert _overdue(h) == []  # the deadline has not passed on the registry's clock
    h.clock.advance(0.2)
    found = _overdue(h)
    assert [f["key"] for f in found] == ["incident-overdue:deployer:inc-1:ca-sb53-15d"]
    assert found[0]["verdict"] == "inconsistent"
    assert found[0]["statistic"]["citation"].startswith("Cal. Bus. & Prof. Code §22757.13")
    # "Without undue delay" (EU AI Act Art. 55(1)(c)) sets no period: never overdue.
    h.clock.advance(400)
    assert _overdue(h) == []  # and the finding is filed once


def test_a_timely_report_closes_the_clock_and_a_late_one_is_found(harness: Harness) -> None:
    h = harness
    first = _incident(h, "inc-2", imminent_risk=True)
    h.file("deployer", "incident", first)
    h.clock.advance(0.5)
    h.file("deployer", "incident", _report(first, h.clock(), ["ca-sb53-24h", "ca-sb53-15d"]))
    late = _incident(h, "inc-3", imminent_risk=True)
    h.file("deployer", "incident", late)
    h.clock.advance(2)
    h.file("deployer", "incident", _report(late, h.clock(), ["ca-sb53-24h"]))
    keys = sorted(f["key"] for f in _overdue(h))
    assert keys == ["incident-late:deployer:inc-3:ca-sb53-24h"]


def test_the_accounting_date_is_the_registrys_now(tmp_path: Path) -> None:
    h = Harness(tmp_path / "closed")
    h.start()
    h.party("deployer")
    day = h.clock().date()
    h.file(
        "deployer", "agent_policy", policy_body(POLICY, "mail-agent", day, "serious", ["ca-sb53"])
    )
    h.file("deployer", "incident", _incident(h, "inc-4", imminent_risk=True))
    h.clock.advance(30)
    h.reg.settings.accounting_date = lambda: day  # a closed period shown as of that day
    assert _overdue(h) == []
    h.reg.settings.accounting_date = lambda: day + dt.timedelta(days=2)
    assert {f["key"] for f in _overdue(h)} == {"incident-overdue:deployer:inc-4:ca-sb53-24h"}


def test_incidents_need_the_declared_policy_and_a_filed_detection(harness: Harness) -> None:
    h = harness
    other = POLICY.model_copy(update={"name": "other"}).digest()
    assert h.status("deployer", "incident", _incident(h, "x1", policy_sha256=other)) == 422
    assert h.status("deployer", "incident", _incident(h, "x2", deployment_id="nope")) == 422
    orphan = _report(_incident(h, "x3"), h.clock(), ["ca-sb53-15d"])
    assert h.status("deployer", "incident", orphan) == 422
    forged = policy_body(POLICY, "mail-agent", h.clock().date())
    forged["policy_sha256"] = other
    with pytest.raises(AccordError, match="policy_sha256"):
        h.file("deployer", "agent_policy", forged)
