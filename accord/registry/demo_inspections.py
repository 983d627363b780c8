"""The demonstration year's inspections: declared commitments, evidence, real verifier runs.

:func:`amend` adds to the year's declarations what the inspections check against (the probe
runs' chain heads, the releases' weight hashes and claimed origins, the Johor Bahru
facility's responder key, Straits Cloud's compute report); :func:`inspect` then opens five
inspections as the inspectorate would, uploads the evidence as the parties and inspectors
would, and runs each through the same job code as ``accord worker``, recording the findings
and what they raise in the accountancy.
"""

from __future__ import annotations

import copy
from typing import Any

from accord.registry.demo_evidence import DemoEvidence, location_evidence, telemetry_evidence

Item = tuple[str, str, str, dict[str, Any]]


def _probe(run_id: str, facility: str, start: str, end: str) -> list[tuple[str, dict[str, Any]]]:
    base = {"run_id": run_id, "facility_id": facility, "chip": "H100", "chip_count": 8}
    return [
        (start, {**base, "phase": "start", "date": start}),
        (end, {**base, "phase": "completion", "date": end}),
    ]


def amend(items: list[Item], ev: DemoEvidence) -> list[Item]:
    """The year's declarations with the inspected commitments in them, in date order."""
    assert ev.responder is not None
    out = copy.deepcopy(items)
    for _, _party, kind, body in out:
        if kind == "facility" and body["facility_id"] == "sc-jb-1":
            body["responder_keys"] = [ev.responder.verifier.vkey]
        if kind == "model_release" and body["model_name"] in ev.weights:
            body["weights_sha256"] = ev.sha256(body["model_name"])
            body["origin"] = "scratch"
    extra: list[Item] = []
    runs = (
        ("frontier-us", "frontier-7-probe", "fr-dc-1", "2026-09-07", "2026-09-08", 1.0),
        # Dragon AI declares a third of the compute its own transcript records
        ("dragon-ai", "dragon-3-probe", "dr-bj-1", "2026-09-14", "2026-09-15", 1 / 3),
    )
    for party, run_id, facility, start, end, share in runs:
        summary = ev.transcripts[run_id]
        (d0, first), (d1, last) = _probe(run_id, facility, start, end)
        last.update({
            "chip_hours": ev.chip_hours(run_id),
            "compute_flop": float(summary["declared_training_flops"]) * share,
            "chain_head": summary["chain_head"],
            "final_weights_sha256": summary["final_weights_sha256"],
        })  # fmt: skip
        extra += [(d0, party, "training_run", first), (d1, party, "training_run", last)]
    extra.append((
        "2026-12-20", "straits-cloud", "compute_report", {
            "facility_id": "sc-jb-1", "period_start": "2026-01-01", "date": "2026-12-20",
            "threshold_flop": 1e25, "runs": [],
        },
    ))  # fmt: skip
    return sorted(out + extra, key=lambda item: item[0])


def _leaf(receipts: list[dict[str, Any]], items: list[Item], kind: str, **match: Any) -> int:
    for receipt, (_, _, k, body) in zip(receipts, items, strict=True):
        if k == kind and all(body.get(f) == v for f, v in match.items()):
            return int(receipt["leaf_index"])
    raise LookupError(f"no {kind} {match} in the demo year")


def inspect(
    registry: Any, ev: DemoEvidence, receipts: list[dict[str, Any]], items: list[Item]
) -> list[dict[str, Any]]:
    """Open, feed, run and record the year's five inspections; their final states."""
    from accord.registry import inspections as ins

    jobs = registry.jobs()

    def leaf(kind: str, **match: Any) -> int:
        return _leaf(receipts, items, kind, **match)

    plan: list[tuple[int, str, int | None, dict[str, tuple[str, bytes]]]] = []
    for run_id in ("frontier-7-probe", "dragon-3-probe"):
        decl = leaf("training_run", run_id=run_id, phase="completion")
        party = "frontier-us" if run_id.startswith("frontier") else "dragon-ai"
        plan.append((decl, "training", None, {"transcript": (party, ev.archives[run_id])}))
    release = leaf("model_release", model_name="Dragon-3")
    parent = leaf("model_release", model_name="Frontier-7")
    plan.append((release, "provenance", parent, {
        "weights": ("dragon-ai", ev.weights["Dragon-3"]),
        "reference": ("inspector", ev.weights["Frontier-7"]),
    }))  # fmt: skip
    site = leaf("facility", facility_id="sc-jb-1")
    export, kyc = telemetry_evidence()
    plan.append((site, "telemetry", None, {
        "export": ("straits-cloud", export), "accounts": ("straits-cloud", kyc),
    }))  # fmt: skip
    plan.append((site, "location", None, {}))
    done = []
    for decl, verifier, reference, evidence in plan:
        opened = ins.open_inspection(registry, decl, verifier, reference)
        ident = opened["inspection_id"]
        if verifier == "location":
            assert ev.responder is not None
            beacon = ins.load_case(registry.engine, ident).beacon()
            landmarks, records = location_evidence(beacon, ev.responder)
            evidence = {
                "landmarks": ("inspector", landmarks),
                "measurements": ("inspector", records),  # timed and signed by the landmarks
            }
        for name, (who, data) in evidence.items():
            stored = jobs.store.put_bytes(data)
            ins.add_evidence(registry.engine, ident, name, stored.sha256, stored.size, who)
        jobs.run_now(ident)
        registry.record_inspections()
        done.append(ins.get(registry.engine, ident))
    return done
