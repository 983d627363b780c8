"""Inspections: opened against a declaration, fed evidence, decided by a worker, recorded once.

The row in ``reg_inspections`` is the inspection's state of record; the job queue only
carries "look at inspection X" messages, so a lost or duplicated message costs nothing: a
worker *claims* the row with a conditional update before it runs (a second copy finds it
claimed or done and stops), and a worker that dies leaves a lease that runs out, after which
a sweep queues the inspection again.

The worker writes its finding into the row (``decided``); the registry's single writer
appends it to the log under the key ``inspection:<id>`` and marks the row ``recorded``. The
log's finding keys are rebuilt from the log at start-up, so a finding appended just before a
crash is found again instead of being appended twice: exactly one entry per inspection.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, insert, select, update

from accord.errors import AccordError
from accord.ledger.checkpoint import Checkpoint
from accord.ledger.note import parse_note
from accord.model.declaration import SignedDeclaration, canonical_json
from accord.registry import db
from accord.registry.signing import utc_text
from accord.registry.verifiers import EVIDENCE, KINDS, VERIFIERS, Case, requirements

OPEN = "awaiting_evidence"
QUEUED, RUNNING, DECIDED, RECORDED, ERROR = "queued", "running", "decided", "recorded", "error"
MAX_ATTEMPTS = 5
UPLOAD_TYPE = "accord.evidence/v1"
NAME_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"


def _err(status: int, field: str, problem: str, fix: str | None = None) -> AccordError:
    from accord.registry.service import RegistryError

    return RegistryError(status, field, problem, fix)


def _now() -> str:
    return utc_text(dt.datetime.now(dt.UTC))


def declaration_doc(engine: Engine, leaf_index: int) -> SignedDeclaration | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(db.declarations.c.doc).where(db.declarations.c.leaf_index == leaf_index)
        ).first()
    return None if row is None else SignedDeclaration.model_validate_json(row.doc)


def open_inspection(
    registry: Any, declaration: int, verifier: str, reference: int | None = None
) -> dict[str, Any]:
    """Open an inspection; its beacon is the newest checkpoint, which includes the
    declaration, drawn together with a random id the inspected party cannot foresee."""
    if registry.jobs() is None:  # nowhere to keep evidence: it could never be decided
        raise _err(503, "inspections", "this registry has no var directory for evidence and jobs")
    if verifier not in VERIFIERS:
        raise _err(422, "verifier", f"unknown verifier {verifier!r}", f"one of {VERIFIERS}")
    signed = declaration_doc(registry.engine, declaration)
    if signed is None:
        raise _err(404, "declaration", f"{declaration} is not a declaration in the log")
    decl = signed.declaration
    if decl.kind.value != KINDS[verifier]:
        raise _err(
            422, "declaration", f"is a {decl.kind.value}; the {verifier} verifier checks a "
            f"{KINDS[verifier]}",
        )  # fmt: skip
    ref_body = None
    if reference is not None:
        ref = declaration_doc(registry.engine, reference)
        if ref is None or ref.declaration.kind.value != "model_release":
            raise _err(404, "reference", f"{reference} is not a model release in the log")
        ref_body = ref.declaration.body
    try:
        requirements(verifier, decl.body, ref_body)
    except AccordError as err:
        raise _err(422, err.field, err.problem, err.fix) from None
    size, note = registry.latest_checkpoint()
    if size <= declaration:
        raise _err(409, "declaration", "no checkpoint includes it yet", "retry in a moment")
    root = Checkpoint.parse(parse_note(note).text).root.hex()
    ident = "ins-" + secrets.token_hex(8)
    row = {
        "inspection_id": ident,
        "declaration": declaration,
        "party": decl.party,
        "verifier": verifier,
        "reference": reference,
        "beacon_size": size,
        "beacon_root": root,
        "opened_at": _now(),
        "state": OPEN,
        "stage": "",
        "progress": 0.0,
        "attempts": 0,
        "heartbeat": 0.0,
        "enqueued": 0.0,
        "updated_at": _now(),
    }
    with registry.engine.begin() as conn:
        conn.execute(insert(db.inspections).values(**row))
    return get(registry.engine, ident)


def get(engine: Engine, inspection_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(
            select(db.inspections).where(db.inspections.c.inspection_id == inspection_id)
        ).first()
        if row is None:
            raise _err(404, "inspection_id", "no such inspection")
        ev = conn.execute(
            select(db.evidence)
            .where(db.evidence.c.inspection_id == inspection_id)
            .order_by(db.evidence.c.name)
        ).all()
    return _public(dict(row._mapping), [dict(e._mapping) for e in ev])


def _public(row: dict[str, Any], evidence: list[dict[str, Any]]) -> dict[str, Any]:
    result = json.loads(row["result"]) if row.get("result") else None
    finding = result["finding"] if result else None
    figures = result.get("figures", {}) if result else {}
    needed = EVIDENCE.get(row["verifier"], {})
    return {
        "inspection_id": row["inspection_id"],
        "declaration": row["declaration"],
        "party": row["party"],
        "verifier": row["verifier"],
        "reference": row["reference"],
        "beacon": {"tree_size": row["beacon_size"], "root": row["beacon_root"]},
        "opened_at": row["opened_at"],
        "state": row["state"],
        "stage": row["stage"],
        "progress": row["progress"],
        "attempts": row["attempts"],
        "error": row["error"],
        "verdict": finding["verdict"] if finding else None,
        "finding": finding,
        "finding_leaf": row["finding_leaf"],
        "figures": figures,
        "evidence": [
            {k: e[k] for k in ("name", "sha256", "size", "uploaded_by", "uploaded_at")}
            for e in evidence
        ],
        "evidence_needed": sorted(set(needed) - {e["name"] for e in evidence}),
        "updated_at": row["updated_at"],
    }


def listing(
    engine: Engine, declaration: int | None = None, limit: int = 100, offset: int = 0
) -> dict[str, Any]:
    t = db.inspections
    where = [] if declaration is None else [t.c.declaration == declaration]
    with engine.connect() as conn:
        rows = conn.execute(
            select(t).where(*where).order_by(t.c.opened_at.desc(), t.c.inspection_id)
            .limit(limit).offset(offset)
        ).all()  # fmt: skip
        ids = [r.inspection_id for r in rows]
        ev = conn.execute(select(db.evidence).where(db.evidence.c.inspection_id.in_(ids))).all()
    by: dict[str, list[dict[str, Any]]] = {}
    for e in ev:
        by.setdefault(e.inspection_id, []).append(dict(e._mapping))
    items = [_public(dict(r._mapping), by.get(r.inspection_id, [])) for r in rows]
    for item in items:  # pictures only on the inspection itself, not in every listing
        item["figures"] = {}
    return {"items": items}


def status_by_declaration(engine: Engine, leaves: list[int]) -> dict[int, dict[str, Any]]:
    """The most telling inspection of each declaration: the latest one opened."""
    if not leaves:
        return {}
    t = db.inspections
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.declaration, t.c.inspection_id, t.c.state, t.c.progress, t.c.result)
            .where(t.c.declaration.in_(leaves))
            .order_by(t.c.opened_at, t.c.inspection_id)
        ).all()
    out: dict[int, dict[str, Any]] = {}
    for r in rows:
        verdict = json.loads(r.result)["finding"]["verdict"] if r.result else None
        out[int(r.declaration)] = {
            "inspection_id": r.inspection_id,
            "state": r.state,
            "progress": r.progress,
            "verdict": verdict,
        }
    return out


def upload_message(
    inspection_id: str, name: str, sha256: str, size: int, party: str, issued_at: str
) -> bytes:
    """The RFC 8785 bytes a party signs to upload evidence (its declaration key)."""
    return canonical_json(
        {
            "type": UPLOAD_TYPE,
            "inspection_id": inspection_id,
            "name": name,
            "sha256": sha256,
            "size": size,
            "party": party,
            "issued_at": issued_at,
        },
        "upload",
    )


def check_upload_signature(
    registry: Any, row: Mapping[str, Any], name: str, sha256: str, size: int, headers: Any
) -> str:
    """The uploading party's id if its signature over the upload verifies, else an error."""
    party = headers.get("accord-party", "")
    issued_at = headers.get("accord-issued-at", "")
    sig_text = headers.get("accord-signature", "")
    if party != row["party"]:
        raise _err(403, "accord-party", "only the declaring party or an inspector may upload")
    known = registry.parties.get(party)
    if known is None or known.revoked_at is not None:
        raise _err(403, "accord-party", "is not a registered party with a current key")
    try:
        when = dt.datetime.fromisoformat(issued_at)
        sig = base64.b64decode(sig_text, validate=True)
    except ValueError:
        raise _err(401, "accord-signature", "issued_at or signature is malformed") from None
    now = registry.settings.clock()
    if when.tzinfo is None or abs((now - when).total_seconds()) > 600:
        raise _err(422, "accord-issued-at", "is more than 10 minutes from the server's clock")
    msg = upload_message(row["inspection_id"], name, sha256, size, party, issued_at)
    if not known.key.verify(msg, sig):
        raise _err(
            401,
            "accord-signature",
            f"does not verify with {party}'s registered key",
            "sign accord.registry.inspections.upload_message(...) with the party's key",
        )
    return str(party)


def row(engine: Engine, inspection_id: str) -> dict[str, Any]:
    with engine.connect() as conn:
        found = conn.execute(
            select(db.inspections).where(db.inspections.c.inspection_id == inspection_id)
        ).first()
    if found is None:
        raise _err(404, "inspection_id", "no such inspection")
    return dict(found._mapping)


def add_evidence(
    engine: Engine, inspection_id: str, name: str, sha256: str, size: int, uploaded_by: str
) -> bool:
    """Record an uploaded item; True when the inspection is now complete and queued."""
    current = row(engine, inspection_id)
    if current["state"] not in (OPEN, ERROR):
        raise _err(409, "inspection_id", f"is {current['state']}; evidence is closed")
    needed = EVIDENCE[current["verifier"]]
    with engine.begin() as conn:
        t = db.evidence
        where = (t.c.inspection_id == inspection_id) & (t.c.name == name)
        values = {"sha256": sha256, "size": size, "uploaded_by": uploaded_by}
        values["uploaded_at"] = _now()
        if conn.execute(select(t.c.name).where(where)).first():
            conn.execute(update(t).where(where).values(**values))
        else:
            conn.execute(insert(t).values(inspection_id=inspection_id, name=name, **values))
        have = {
            r.name for r in conn.execute(select(t.c.name).where(t.c.inspection_id == inspection_id))
        }
        if set(needed) <= have:
            conn.execute(
                update(db.inspections)
                .where(db.inspections.c.inspection_id == inspection_id)
                .values(state=QUEUED, error=None, attempts=0, enqueued=time.time(),
                        stage="queued", progress=0.0, updated_at=_now())
            )  # fmt: skip
            return True
    return False


def load_case(engine: Engine, inspection_id: str) -> Case:
    r = row(engine, inspection_id)
    signed = declaration_doc(engine, r["declaration"])
    if signed is None:
        raise AccordError("declaration", "is not indexed yet")
    ref_body = None
    if r["reference"] is not None:
        ref = declaration_doc(engine, r["reference"])
        ref_body = None if ref is None else ref.declaration.body
    with engine.connect() as conn:
        ev = conn.execute(
            select(db.evidence.c.name, db.evidence.c.sha256).where(
                db.evidence.c.inspection_id == inspection_id
            )
        ).all()
    runs: tuple[dict[str, Any], ...] = ()
    reported: tuple[dict[str, Any], ...] = ()
    if r["verifier"] == "telemetry":
        runs = tuple(training_runs_before(engine, r["beacon_size"]))
        reported = tuple(
            reported_before(
                engine, r["beacon_size"], r["party"], str(signed.declaration.body["facility_id"])
            )
        )
    return Case(
        runs=runs,
        reported=reported,
        inspection_id=inspection_id,
        verifier=r["verifier"],
        declaration=r["declaration"],
        party=r["party"],
        body=signed.declaration.body,
        reference=r["reference"],
        reference_body=ref_body,
        beacon_size=r["beacon_size"],
        beacon_root=r["beacon_root"],
        evidence={e.name: e.sha256 for e in ev},
    )


def _declared_before(engine: Engine, kind: str, size: int) -> list[tuple[int, str, Any]]:
    t = db.declarations
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.leaf_index, t.c.doc)
            .where((t.c.kind == kind) & (t.c.leaf_index < size))
            .order_by(t.c.leaf_index)
        ).all()
    decls = []
    for r in rows:
        d = SignedDeclaration.model_validate_json(r.doc).declaration
        decls.append((int(r.leaf_index), d.party, d.body))
    return decls


def training_runs_before(engine: Engine, size: int) -> list[dict[str, Any]]:
    """The training runs the log held at ``size`` entries, as the telemetry scan needs."""
    from accord.registry.verify_telemetry import declared_runs

    return declared_runs(_declared_before(engine, "training_run", size))


def reported_before(engine: Engine, size: int, party: str, facility: str) -> list[dict[str, Any]]:
    """The customer runs ``party``'s compute reports for ``facility`` listed at ``size``."""
    from accord.registry.verify_telemetry import reported_runs

    return reported_runs(_declared_before(engine, "compute_report", size), party, facility)
