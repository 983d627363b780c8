"""Telemetry inspection: does a cloud's job export hide a training run nobody declared?

The provider uploads its scheduler export (Slurm ``sacct -P`` text) and its customer
records (CSV ``account,org[,payment,ip,country]``, ``org`` the customer's registry party
id). The runs are matched against the registry's own ``training_run`` declarations as they
stood at the inspection's beacon checkpoint (so a run declared after the inspection opened
cannot cover it, and a reproduction sees the same declarations). The finding is
``accord.verify.telemetry.scan``'s judgment of each customer entity above the agreement's
declaration threshold (10^25 FLOP, clause A-2); the recorded verdict is the worst of them,
with each entity's finding kept in the statistic.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from accord.errors import AccordError
from accord.model.finding import Finding, Severity, Verdict
from accord.registry.evidence import EvidenceError
from accord.registry.findings import AGREEMENT

MAX_EXPORT_BYTES = 64 << 20
ORDER = {Verdict.INCONSISTENT: 0, Verdict.INCONCLUSIVE: 1, Verdict.CONSISTENT: 2}


def declared_runs(
    declarations: Sequence[tuple[int, str, Mapping[str, Any]]],
) -> list[dict[str, Any]]:
    """Training runs as the scan matches them, from ``(leaf, party, body)`` in log order:
    cumulative compute from the latest report, start and end from the phases' dates."""
    runs: dict[tuple[str, str], dict[str, Any]] = {}
    for leaf, party, body in declarations:
        key = (party, str(body.get("run_id")))
        run = runs.setdefault(key, {"id": f"leaf:{leaf}", "party": party, "compute_flop": 0.0,
                                    "start": None, "end": None, "accounts": []})  # fmt: skip
        when = int(dt.datetime.fromisoformat(str(body["date"])).replace(tzinfo=dt.UTC).timestamp())
        if body.get("phase") == "start":
            run["start"] = when
        if body.get("phase") == "completion":
            run["end"] = when + 86_400
        if body.get("compute_flop"):
            run["compute_flop"] = float(body["compute_flop"])
            run["id"] = f"leaf:{leaf}"
    return [r for r in runs.values() if r["compute_flop"] > 0]


def reported_runs(
    declarations: Sequence[tuple[int, str, Mapping[str, Any]]], party: str, facility: str
) -> list[dict[str, Any]]:
    """The customer runs the provider's ``compute_report`` declarations for ``facility``
    list, from ``(leaf, party, body)``: only the provider's own reports count."""
    out = []
    for leaf, who, body in declarations:
        if who != party or body.get("facility_id") != facility:
            continue
        for run in body.get("runs") or []:
            out.append({"leaf": leaf, "customer": run.get("customer"),
                        "accounts": list(run.get("accounts") or []),
                        "compute_flop": run.get("compute_flop")})  # fmt: skip
    return out


def _kyc(path: Path) -> list[Any]:
    from accord.verify.telemetry.scan import AccountRecord

    try:
        text = path.read_bytes()[: 16 << 20].decode("utf-8")
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "account" not in reader.fieldnames:
            raise ValueError("no 'account' column")
        return [
            AccountRecord.model_validate(
                {k: (v or None) for k, v in row.items() if k in AccountRecord.model_fields}
            )
            for row in reader
            if row.get("account")
        ]
    except (ValueError, UnicodeDecodeError, csv.Error) as err:
        raise EvidenceError(
            "evidence.accounts",
            f"is not a customer-record CSV ({str(err)[:120]})",
            "columns: account,org,payment,ip,country (org: the customer's registry party id)",
        ) from None


def run_telemetry(
    case: Any,
    paths: Mapping[str, Path],
    finish: Callable[[Any, Finding, str, str], Finding],
    progress: Callable[[str, int, int], None],
) -> Finding:
    from accord.verify.telemetry.ingest.slurm import parse_sacct
    from accord.verify.telemetry.registry import DeclaredRun, MemoryDeclarations
    from accord.verify.telemetry.scan import ScanConfig, scan
    from accord.verify.telemetry.thresholds import rule_threshold

    # The agreement's own declaration threshold: a run above it that nobody declared is what
    # the registry exists to find (the scan's default is a national frontier-model line).
    threshold, source = rule_threshold(AGREEMENT)

    body = case.body
    facility, country = str(body.get("facility_id")), str(body.get("country"))
    progress("reading the export", 0, 1)
    try:
        text = paths["export"].read_bytes()[:MAX_EXPORT_BYTES].decode("utf-8")
        records = parse_sacct(text, facility=facility, country=country)
    except (UnicodeDecodeError, AccordError) as err:
        raise EvidenceError(
            "evidence.export", f"is not a Slurm sacct -P export ({str(err)[:160]})"
        ) from None
    kyc = _kyc(paths["accounts"])
    runs = MemoryDeclarations(DeclaredRun.model_validate(r) for r in case.runs)
    progress("scanning", 0, 1)
    try:
        result = scan(records, runs, ScanConfig(threshold=threshold, threshold_source=source),
                      kyc=kyc, screening_list=None)  # fmt: skip
    except AccordError as err:
        raise EvidenceError(
            "evidence.export", f"cannot be scanned ({err.field}: {err.problem})"
        ) from None
    progress("scanning", 1, 1)
    if result.report.accepted == 0:
        raise EvidenceError(
            "evidence.export", "holds no job the scan could use", "export with sacct -P"
        )
    entities = sorted(result.findings, key=lambda f: ORDER[f.verdict])
    org_of = {str(k.account): str(k.org) for k in kyc if getattr(k, "org", None)}
    reported = [set(r["accounts"]) for r in case.reported]

    def by_provider(f: Finding) -> bool:
        accounts = set(f.statistic.get("accounts", []))
        return any(accounts & r for r in reported)

    stat: dict[str, Any] = {
        "threshold": result.threshold,
        "threshold_source": result.threshold_source,
        "utilisation": list(result.utilisation),
        "accounts": result.accounts,
        "large_runs": result.large_runs,
        "declared_runs_considered": len(case.runs),
        "provider_reported_runs": len(case.reported),
        "entities": [
            {
                "verdict": f.verdict.value,
                "subject": f.subject,
                "explanation": f.explanation,
                "statistic": f.statistic,
                "reported_by_provider": by_provider(f),
                # the registry parties the provider's customer records name for its accounts
                "customers": sorted(
                    {org_of[a] for a in f.statistic.get("accounts", []) if a in org_of}
                ),
            }
            for f in entities
        ],
    }
    if entities:
        worst = entities[0]
        verdict, severity = worst.verdict, worst.severity
        text = (
            f"{len(entities)} customer entit(ies) above {result.threshold:.3g} FLOP in the export; "
            f"the most serious: {worst.explanation}"
        )
        if worst.verdict != Verdict.CONSISTENT:
            text += (
                f" The provider {case.party} reported it in a compute report."
                if by_provider(worst)
                else f" The provider {case.party}'s compute reports for this facility do not "
                "list it either: the finding concerns the provider as well as the customer."
            )
    else:
        verdict, severity = Verdict.CONSISTENT, Severity.INFO
        text = f"No customer entity reaches {result.threshold:.3g} FLOP in the export."
    head = (
        f"Telemetry of facility {facility} declared by {case.party} (log entry "
        f"{case.declaration}), against the {len(case.runs)} training run(s) declared by "
        f"checkpoint {case.beacon_size}: "
    )
    base = Finding(
        subject=f"facility:{facility}",
        verifier="verify.telemetry",
        verdict=verdict,
        severity=severity,
        statistic=stat,
        explanation=text,
    )
    return finish(case, base, f"facility:{facility}", head + text)
