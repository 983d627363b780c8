"""HTTP endpoints of inspections: open (inspector), upload evidence (party or inspector), read.

Evidence uploads are the one place the registry takes large bodies, so their route has its
own size limit (``Settings.max_evidence_bytes``), counted while the body streams in. A party
uploads with a signed request: headers ``Accord-Party``, ``Accord-Issued-At`` and
``Accord-Signature`` (base64 Ed25519, with the party's declaration key, over
:func:`accord.registry.inspections.upload_message`: the inspection, evidence name, SHA-256
and size of the body, party and time). Who may upload is checked from the headers before
the body is read; the signature after, because it covers the body's digest.
"""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from accord.registry import inspections as ins
from accord.registry.evidence import TooLarge
from accord.registry.service import Registry, RegistryError
from accord.registry.verifiers import EVIDENCE

EVIDENCE_PATH = re.compile(r"^/v1/inspections/[^/]+/evidence/[^/]+$")
ID_PATTERN = r"^ins-[0-9a-f]{16}$"


class InspectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    declaration: int = Field(ge=0, lt=1 << 62, description="Leaf index of the declaration.")
    verifier: Literal["training", "provenance", "location", "telemetry"]
    reference: int | None = Field(
        default=None,
        ge=0,
        lt=1 << 62,
        description="Provenance: leaf index of the release of the model to test against.",
    )


class Beacon(BaseModel):
    tree_size: int
    root: str


class EvidenceItem(BaseModel):
    name: str
    sha256: str
    size: int
    uploaded_by: str
    uploaded_at: str


class InspectionOut(BaseModel):
    inspection_id: str
    declaration: int
    party: str
    verifier: str
    reference: int | None
    beacon: Beacon
    opened_at: str
    state: str = Field(
        description="awaiting_evidence, queued, running, decided, recorded or error."
    )
    stage: str
    progress: float
    attempts: int
    error: str | None
    verdict: str | None
    finding: dict[str, Any] | None
    finding_leaf: int | None
    figures: dict[str, str] = Field(
        default_factory=dict, description="Pictures for people (map_png: base64 PNG)."
    )
    evidence: list[EvidenceItem]
    evidence_needed: list[str]
    updated_at: str


class InspectionPage(BaseModel):
    items: list[InspectionOut]


def evidence_limit(registry: Registry, path: str) -> int | None:
    """The body limit of an evidence upload route, or None for every other route."""
    return registry.settings.max_evidence_bytes if EVIDENCE_PATH.match(path) else None


def add_inspection_routes(app: FastAPI, registry: Registry, inspector: Any) -> None:
    from fastapi import Depends

    def jobs() -> Any:
        found = registry.jobs()
        if found is None:
            raise RegistryError(
                503, "inspections", "this registry has no var directory for evidence and jobs"
            )
        return found

    @app.post(
        "/v1/inspections",
        status_code=201,
        response_model=InspectionOut,
        tags=["inspections"],
        dependencies=[Depends(inspector)],
        summary="Open an inspection of a declaration (inspector)",
    )
    def open_inspection(body: InspectionIn) -> dict[str, Any]:
        return ins.open_inspection(registry, body.declaration, body.verifier, body.reference)

    @app.get("/v1/inspections", response_model=InspectionPage, tags=["inspections"])
    def list_inspections(
        declaration: Annotated[int | None, Query(ge=0, lt=1 << 62)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=1 << 40)] = 0,
    ) -> dict[str, Any]:
        return ins.listing(registry.engine, declaration, limit, offset)

    @app.get("/v1/inspections/{inspection_id}", response_model=InspectionOut, tags=["inspections"])
    def get_inspection(
        inspection_id: Annotated[str, PathParam(pattern=ID_PATTERN)],
    ) -> dict[str, Any]:
        return ins.get(registry.engine, inspection_id)

    @app.put(
        "/v1/inspections/{inspection_id}/evidence/{name}",
        status_code=201,
        response_model=InspectionOut,
        tags=["inspections"],
        summary="Upload one evidence item (declaring party, signed; or inspector token)",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        },
    )
    async def upload(
        request: Request,
        inspection_id: Annotated[str, PathParam(pattern=ID_PATTERN)],
        name: Annotated[str, PathParam(pattern=ins.NAME_PATTERN)],
    ) -> dict[str, Any]:
        queue = jobs()
        row = await asyncio.to_thread(ins.row, registry.engine, inspection_id)
        if name not in EVIDENCE[row["verifier"]]:
            raise RegistryError(
                404,
                "name",
                f"the {row['verifier']} verifier takes {sorted(EVIDENCE[row['verifier']])}",
            )
        if row["state"] not in (ins.OPEN, ins.ERROR):
            raise RegistryError(409, "inspection_id", f"is {row['state']}; evidence is closed")
        by_inspector = bool(request.headers.get("authorization"))
        if by_inspector:
            inspector(request)
        elif "party" not in EVIDENCE[row["verifier"]][name]:
            raise RegistryError(403, "name", f"only an inspector uploads {name!r}")
        elif request.headers.get("accord-party") != row["party"]:
            raise RegistryError(
                401,
                "accord-party",
                "only the declaring party (signed request) or an inspector token may upload",
                "send Accord-Party, Accord-Issued-At and Accord-Signature, or 'Bearer <token>'",
            )
        up = queue.store.begin()
        try:
            try:
                async for chunk in request.stream():
                    up.write(chunk)
            except TooLarge as err:
                raise RegistryError(413, err.field, err.problem, err.fix) from None
            if up.size == 0:
                raise RegistryError(422, "body", "is empty", "send the evidence file")
            uploader = "inspector"
            if not by_inspector:
                uploader = ins.check_upload_signature(
                    registry, row, name, up.sha256, up.size, request.headers
                )
            stored = await asyncio.to_thread(up.commit)
        finally:
            up.abort()
        complete = await asyncio.to_thread(
            ins.add_evidence, registry.engine, inspection_id, name, stored.sha256, stored.size,
            uploader,
        )  # fmt: skip
        if complete:
            await asyncio.to_thread(queue.enqueue, inspection_id)
        return await asyncio.to_thread(ins.get, registry.engine, inspection_id)
