"""Guarded agent deployments in the registry: their declared policies, their incidents,
and the statutory clocks those incidents start.

A deployment declares its guard policy (``agent_policy``: the digest, optionally the
document, the reporting threshold and the regimes it is under). Incidents are filed
against a declared policy (``incident``, phase ``detected``) and the deployer later states
that it reported them (phase ``reported``, naming the clocks). The registry's own clock —
never a date someone declared — decides when a deadline has passed; a clock without a
fixed period is never overdue.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from accord.model.declaration import AgentPolicyBody, Body, IncidentBody, utc_time
from accord.model.finding import MessageParam, Severity, Verdict
from accord.registry.book import Contradiction
from accord.registry.findings import NewFinding
from accord.registry.messages import message
from accord.rules.incidents import Clock, applicable, clocks

VERIFIER = "registry.incident_clocks"


@dataclass
class Deployment:
    party: str
    deployment_id: str
    policy_sha256: str
    report_from: str
    regimes: list[str]
    date: dt.date
    leaf: int


@dataclass
class Incident:
    party: str
    deployment_id: str
    incident_id: str
    detected_at: dt.datetime
    severity: str
    imminent: bool
    regimes: list[str]
    leaf: int
    reports: list[tuple[dt.datetime, tuple[str, ...], int]] = field(default_factory=list)

    def clocks(self) -> list[Clock]:
        return applicable(self.regimes, self.severity, self.imminent, self.detected_at)


@dataclass
class AgentBook:
    """Deployments keyed by (party, deployment_id), newest policy last; incidents by
    (party, incident_id): each party names its own things."""

    deployments: dict[tuple[str, str], list[Deployment]] = field(default_factory=dict)
    incidents: dict[tuple[str, str], Incident] = field(default_factory=dict)

    def check(self, party: str, body: Body) -> None:
        prefix = "declaration.body"
        if not isinstance(body, IncidentBody):
            return
        declared = self.deployments.get((party, body.deployment_id))
        if not declared:
            raise Contradiction(
                f"{prefix}.deployment_id",
                f"{body.deployment_id!r} has no agent_policy declared by {party}",
                "declare the deployment's policy first",
            )
        if body.policy_sha256 not in {d.policy_sha256 for d in declared}:
            raise Contradiction(
                f"{prefix}.policy_sha256",
                f"is not a policy declared for {body.deployment_id!r}",
                "declare the policy that ran before filing its incidents",
            )
        known = self.incidents.get((party, body.incident_id))
        if body.phase == "detected":
            if known is not None:
                raise Contradiction(
                    f"{prefix}.incident_id",
                    f"incident {body.incident_id!r} was already filed",
                    "use a new incident_id",
                )
            return
        if known is None:
            raise Contradiction(
                f"{prefix}.incident_id",
                f"incident {body.incident_id!r} was not filed as detected",
                "file the detected incident first",
            )
        if known.deployment_id != body.deployment_id or known.detected_at != utc_time(
            body.detected_at
        ):
            raise Contradiction(
                f"{prefix}.detected_at",
                f"does not match incident {body.incident_id!r} as filed",
                "restate the deployment and detection time as first filed",
            )
        ids = {c.id for c in clocks()}
        for n, clock in enumerate(body.clocks):
            if clock not in ids:
                raise Contradiction(
                    f"{prefix}.clocks.{n}", f"{clock!r} is not a known clock", f"one of {ids}"
                )

    def apply(self, leaf: int, party: str, body: Body) -> None:
        if isinstance(body, AgentPolicyBody):
            self.deployments.setdefault((party, body.deployment_id), []).append(
                Deployment(
                    party,
                    body.deployment_id,
                    body.policy_sha256,
                    body.report_from,
                    list(body.regimes),
                    body.date,
                    leaf,
                )
            )
        elif isinstance(body, IncidentBody):
            if body.phase == "detected":
                declared = self.deployments[(party, body.deployment_id)]
                regimes = next(
                    d.regimes for d in reversed(declared) if d.policy_sha256 == body.policy_sha256
                )
                self.incidents[(party, body.incident_id)] = Incident(
                    party,
                    body.deployment_id,
                    body.incident_id,
                    utc_time(body.detected_at),
                    body.severity,
                    body.imminent_risk,
                    regimes,
                    leaf,
                )
            elif body.reported_at is not None:
                incident = self.incidents[(party, body.incident_id)]
                incident.reports.append((utc_time(body.reported_at), tuple(body.clocks), leaf))


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def incident_findings(agents: AgentBook, now: dt.datetime) -> list[NewFinding]:
    """A finding for each fixed-period clock whose deadline passed, by the registry's
    clock ``now``, without a report under it — or with one made after the deadline."""
    out: list[NewFinding] = []
    for incident in agents.incidents.values():
        for clock in incident.clocks():
            due = clock.due(incident.detected_at)
            if due is None:
                continue
            made = sorted((at, leaf) for at, named, leaf in incident.reports if clock.id in named)
            subject = f"incident:{incident.party}:{incident.incident_id}"
            stats = {
                "clock": clock.id,
                "citation": clock.citation,
                "hours": clock.hours,
                "detected_at": _when(incident.detected_at),
                "due": _when(due),
                "source": clock.source,
            }
            common: dict[str, MessageParam] = {
                "party": incident.party,
                "incident": incident.incident_id,
                "hours": int(clock.hours or 0),
                "due": _when(due),
                "citation": clock.citation,
            }
            refs: tuple[int, ...]
            if made and made[0][0] > due:
                at, leaf = made[0]
                kind, refs = "late", (incident.leaf, leaf)
                stats["reported_at"] = _when(at)
                msg = message("registry.incident.late", reported=_when(at), **common)
            elif not made and now > due:
                kind, refs = "overdue", (incident.leaf,)
                stats["registry_now"] = _when(now)
                msg = message(
                    "registry.incident.overdue", detected=_when(incident.detected_at), **common
                )
            else:
                continue
            out.append(
                NewFinding.of(
                    f"incident-{kind}:{incident.party}:{incident.incident_id}:{clock.id}",
                    refs,
                    subject=subject,
                    verifier=VERIFIER,
                    verdict=Verdict.INCONSISTENT,
                    severity=Severity.HIGH,
                    statistic=stats,
                    error_bound=0.0,
                    message=msg,
                )
            )
    return out
