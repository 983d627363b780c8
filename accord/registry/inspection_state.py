"""An inspection's life after its evidence is in: claimed, heartbeating, decided, recorded.

The row in ``reg_inspections`` is the state of record (see :mod:`accord.registry.inspections`);
every change here is a conditional update on that row, so two workers, a duplicated queue
message or a restart can never move one inspection along twice.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from sqlalchemy import Engine, select, update

from accord.model.declaration import FINDING_TYPE, canonical_json
from accord.model.finding import Finding
from accord.registry import db
from accord.registry.inspections import DECIDED, ERROR, QUEUED, RECORDED, RUNNING
from accord.registry.signing import utc_text


def _now() -> str:
    import datetime as dt

    return utc_text(dt.datetime.now(dt.UTC))


# -- worker side --------------------------------------------------------------------------


def claim(engine: Engine, inspection_id: str, lease: float) -> int | None:
    """Take the inspection for this worker; the attempt number, or None if it is not ours
    (running under a live lease elsewhere, already decided, or waiting for evidence)."""
    t = db.inspections
    now = time.time()
    with engine.begin() as conn:
        current = conn.execute(
            select(t.c.state, t.c.heartbeat, t.c.attempts).where(t.c.inspection_id == inspection_id)
        ).first()
        if current is None:
            return None
        stale = current.state == RUNNING and current.heartbeat < now - lease
        if current.state != QUEUED and not stale:
            return None
        attempt = int(current.attempts) + 1
        done = conn.execute(
            update(t)
            .where(
                (t.c.inspection_id == inspection_id)
                & (t.c.state == current.state)
                & (t.c.attempts == current.attempts)
            )
            .values(state=RUNNING, attempts=attempt, heartbeat=now, stage="starting",
                    updated_at=_now())
        ).rowcount  # fmt: skip
    return attempt if done == 1 else None


def beat(
    engine: Engine, inspection_id: str, stage: str | None = None, progress: float | None = None
) -> None:
    values: dict[str, Any] = {"heartbeat": time.time()}
    if stage is not None:
        values["stage"] = stage[:64]
    if progress is not None:
        values["progress"] = max(0.0, min(1.0, progress))
    t = db.inspections
    with engine.begin() as conn:
        conn.execute(
            update(t).where((t.c.inspection_id == inspection_id) & (t.c.state == RUNNING))
            .values(**values)
        )  # fmt: skip


def decide(
    engine: Engine,
    inspection_id: str,
    finding: Finding,
    refs: list[int],
    figures: dict[str, str] | None = None,
) -> bool:
    """Store the worker's finding (and the dashboard's pictures, which stay out of the log)."""
    doc = {"finding": finding.model_dump(mode="json"), "refs": refs, "figures": figures or {}}
    result = json.dumps(doc)
    t = db.inspections
    with engine.begin() as conn:
        return bool(
            conn.execute(
                update(t).where((t.c.inspection_id == inspection_id) & (t.c.state == RUNNING))
                .values(state=DECIDED, result=result, stage="recording", progress=1.0,
                        error=None, updated_at=_now())
            ).rowcount
        )  # fmt: skip


def fail(engine: Engine, inspection_id: str, reason: str, retry: bool) -> str:
    """End the attempt: back to the queue (``retry``) or the ``error`` state with the reason."""
    t = db.inspections
    state = QUEUED if retry else ERROR
    with engine.begin() as conn:
        conn.execute(
            update(t).where((t.c.inspection_id == inspection_id) & (t.c.state == RUNNING))
            .values(state=state, error=reason[:2000], stage=state, enqueued=time.time(),
                    updated_at=_now())
        )  # fmt: skip
    return state


def stale(engine: Engine, lease: float, requeue_after: float) -> list[str]:
    """Inspections whose worker died (lease run out) or whose queue message was lost."""
    t = db.inspections
    now = time.time()
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.inspection_id).where(
                ((t.c.state == RUNNING) & (t.c.heartbeat < now - lease))
                | ((t.c.state == QUEUED) & (t.c.enqueued < now - requeue_after))
            )
        ).all()
    return [r.inspection_id for r in rows]


def touch_enqueued(engine: Engine, inspection_id: str) -> None:
    t = db.inspections
    with engine.begin() as conn:
        conn.execute(
            update(t).where((t.c.inspection_id == inspection_id) & (t.c.state == QUEUED))
            .values(enqueued=time.time())
        )  # fmt: skip


# -- recording (on the registry's writer) -------------------------------------------------


def finding_leaf(key: str, refs: list[int], finding: Finding, signer: Any) -> bytes:
    """The log entry of an inspection finding, signed by the inspectorate's log key over the
    RFC 8785 bytes of the entry without its ``signature`` member."""
    body = {
        "type": FINDING_TYPE,
        "key": key,
        "refs": refs,
        "finding": finding.model_dump(mode="json"),
    }
    unsigned = canonical_json(body, "finding")
    sig = base64.b64encode(signer.sign(unsigned)).decode("ascii")
    return canonical_json(
        {**body, "signature": {"key": signer.verifier.vkey, "ed25519": sig}}, "finding"
    )


def decided(engine: Engine) -> list[dict[str, Any]]:
    t = db.inspections
    with engine.connect() as conn:
        rows = conn.execute(
            select(t.c.inspection_id, t.c.result).where(t.c.state == DECIDED).limit(64)
        ).all()
    return [{"inspection_id": r.inspection_id, "result": json.loads(r.result)} for r in rows]


def fail_decided(engine: Engine, inspection_id: str, reason: str) -> None:
    """A decided finding the log cannot take: the inspection ends in ``error``."""
    t = db.inspections
    with engine.begin() as conn:
        conn.execute(
            update(t).where((t.c.inspection_id == inspection_id) & (t.c.state == DECIDED))
            .values(state=ERROR, error=reason[:2000], stage=ERROR, updated_at=_now())
        )  # fmt: skip


def mark_recorded(engine: Engine, inspection_id: str, leaf: int) -> None:
    t = db.inspections
    with engine.begin() as conn:
        conn.execute(
            update(t).where(t.c.inspection_id == inspection_id)
            .values(state=RECORDED, finding_leaf=leaf, stage="recorded", updated_at=_now())
        )  # fmt: skip
