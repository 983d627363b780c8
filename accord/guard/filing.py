"""From a guard's record to the registry: the deployment's policy and its incidents.

``policy_body`` is the ``agent_policy`` declaration of a deployment (the policy's digest,
and the document unless the deployer files the digest only). ``find_incidents`` reads a
guard log: a session in which at least ``incident_threshold`` calls were denied is an
incident, as serious as the most serious tool it tried to misuse, detected when the
threshold was reached. Only incidents at or above the deployment's reporting threshold
become ``incident`` declarations; each names the SHA-256 of the log entries that record
it, so the registry's copy points at evidence an inspector can ask for.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from accord.guard.audit import ENTRY_TYPE
from accord.guard.policy import Policy
from accord.model.declaration import SEVERITY_ORDER

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass
class GuardIncident:
    session: str
    detected_at: str
    severity: str
    denied: int = 0
    tools: list[str] = field(default_factory=list)
    entries: list[bytes] = field(default_factory=list)

    def evidence(self) -> dict[str, str]:
        chain = hashlib.sha256(b"".join(hashlib.sha256(e).digest() for e in self.entries))
        return {"guard_entries": chain.hexdigest()}


def policy_body(
    policy: Policy,
    deployment_id: str,
    day: dt.date,
    report_from: str = "serious",
    regimes: Sequence[str] = (),
    document: bool = True,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "deployment_id": deployment_id,
        "date": day.isoformat(),
        "policy_sha256": policy.digest(),
        "policy_name": policy.name[:200],
        "report_from": report_from,
        "regimes": list(regimes),
    }
    if document:
        body["policy"] = policy.model_dump(mode="json")
    return body


def find_incidents(entries: Sequence[bytes], policy: Policy) -> list[GuardIncident]:
    """Sessions of the declared policy with ``incident_threshold`` or more denied calls."""
    digest = policy.digest()
    sessions: dict[str, GuardIncident] = {}
    ours: set[str] = set()
    for data in entries:
        try:
            entry = json.loads(data)
        except ValueError:
            continue
        if not isinstance(entry, dict) or entry.get("type") != ENTRY_TYPE:
            continue
        session = str(entry.get("session", ""))
        if entry.get("kind") == "session" and entry.get("policy") == digest:
            ours.add(session)
        if session not in ours:
            continue
        incident = sessions.setdefault(session, GuardIncident(session, "", "low"))
        incident.entries.append(bytes(data))
        decision = entry.get("decision")
        if entry.get("kind") != "call" or not isinstance(decision, dict):
            continue
        if decision.get("verdict") != "deny":
            continue
        incident.denied += 1
        tool = str(entry.get("tool", ""))
        incident.tools.append(tool)
        rule = policy.tools.get(tool)
        severity = rule.incident_severity if rule is not None else "serious"
        if SEVERITY_ORDER.index(severity) > SEVERITY_ORDER.index(incident.severity):
            incident.severity = severity
        if incident.denied == policy.incident_threshold:
            incident.detected_at = str(entry.get("time", ""))
    return [i for i in sessions.values() if i.denied >= policy.incident_threshold and i.detected_at]


def incident_body(incident: GuardIncident, deployment_id: str, policy: Policy) -> dict[str, Any]:
    tools = _CONTROL.sub("?", ", ".join(sorted(set(incident.tools))))[:120]
    return {
        "deployment_id": deployment_id,
        "incident_id": f"{deployment_id}-{incident.session}"[:64],
        "phase": "detected",
        "date": incident.detected_at[:10],
        "detected_at": incident.detected_at,
        "severity": incident.severity,
        "policy_sha256": policy.digest(),
        "summary": f"{incident.denied} call(s) denied by the guard: {tools}"[:200],
        "evidence": incident.evidence(),
    }


def above(severity: str, threshold: str) -> bool:
    return SEVERITY_ORDER.index(severity) >= SEVERITY_ORDER.index(threshold)
