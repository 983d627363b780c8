"""The HTTP API (FastAPI) and the security around it.

Roles: a *party* authenticates each declaration by its Ed25519 signature (signed requests:
no token, no session); the *inspectorate* holds scoped bearer tokens (stored as SHA-256
only) for registering parties, running accountancy and publishing checkpoints; the
*public* reads the record. Every request is rate limited per client address, declarations
also per party, and request bodies are capped before they are parsed. Errors are JSON
``{"error": {"field", "problem", "fix"}}`` and never echo secrets or request bodies;
nothing about a refused declaration is stored or logged.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from starlette.exceptions import HTTPException as StarletteHTTPException

from accord import __version__
from accord.errors import AccordError, NotFoundError
from accord.model.declaration import (
    TEXT_PATTERN,
    Kind,
    SignedDeclaration,
    json_schemas,
    shown_field,
)
from accord.model.finding import Finding
from accord.registry import db
from accord.registry.accountancy import (
    compute_by_party,
    country_balances,
    country_series,
    facility_balances,
)
from accord.registry.receipts import ReceiptCheck, check_receipt
from accord.registry.service import Registry, RegistryError


@dataclass
class Limits:
    requests_per_second: float = 50.0
    burst: int = 200
    declarations_per_second: float = 20.0
    declaration_burst: int = 100


class _Buckets:
    """Token buckets keyed by client; thread-safe, forgets idle keys."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 if allowed, else seconds to wait."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._state.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._state[key] = (tokens - 1.0, now)
                if len(self._state) > 100_000:
                    self._state.clear()
                return 0.0
            self._state[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


_SECURITY = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
_CSP_PAGES = (
    b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    b"script-src 'none'; frame-ancestors 'none'"
)
_CSP_REFERENCE = (
    b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    b"script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; frame-ancestors 'none'"
)


class Guard:
    """Per-address rate limit, an early Content-Length check and the security headers.

    A plain ASGI middleware: Starlette's request/response middleware wraps every body in
    extra tasks and copies, which cost more than the rest of a small read.
    """

    def __init__(
        self,
        app: Any,
        per_client: _Buckets,
        limit: int,
        limit_for: Callable[[str], int | None],
    ) -> None:
        self.app, self.per_client, self.limit, self.limit_for = app, per_client, limit, limit_for

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        wait = self.per_client.take(client[0] if client else "unknown")
        if wait:
            resp = _error(429, "rate", "too many requests from this address", "slow down")
            resp.headers["Retry-After"] = str(max(1, round(wait)))
            await resp(scope, receive, send)
            return
        path: str = scope["path"]
        for name, value in scope["headers"]:
            if name == b"content-length":
                if not value.isdigit():
                    await _error(400, "content-length", "is not a number")(scope, receive, send)
                    return
                cap = self.limit_for(path) or self.limit
                if int(value) > cap:
                    await _error(413, "body", f"is larger than {cap} bytes")(scope, receive, send)
                    return
        # The API reference is a script page (our own copy of Swagger UI and ReDoc, with
        # one inline bootstrap); it shows no record data. Every other page runs no script.
        reference = path in ("/docs", "/redoc") or path.startswith(REFERENCE_ASSETS)
        extra = [
            *_SECURITY,
            (b"content-security-policy", _CSP_REFERENCE if reference else _CSP_PAGES),
        ]

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)


def _error(status: int, field: str, problem: str, fix: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"field": field, "problem": problem, "fix": fix}}, status_code=status
    )


class BodyTooLarge(StarletteHTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"is larger than {limit} bytes")


class BodyLimit:
    """Cap every request body while it streams in, chunked uploads included.

    A Content-Length check alone lets ``Transfer-Encoding: chunked`` through, and framework
    parsers read a whole body before any handler runs; counting in ``receive`` stops the
    upload at the limit, on every endpoint, before authentication or parsing.
    """

    def __init__(
        self, app: Any, limit: int, limit_for: Callable[[str], int | None] | None = None
    ) -> None:
        self.app, self.limit, self.limit_for = app, limit, limit_for

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        total = 0
        special = self.limit_for(scope.get("path", "")) if self.limit_for else None
        limit = self.limit if special is None else special

        async def limited() -> Any:
            nonlocal total
            message = await receive()
            if message["type"] == "http.request":
                total += len(message.get("body", b""))
                if total > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited, send)


# -- response models (they make the OpenAPI document precise) --------------------------------


class ErrorBody(BaseModel):
    field: str
    problem: str
    fix: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class FindingOut(Finding):
    model_config = ConfigDict(frozen=True, extra="allow")
    key: str
    leaf_index: int | None = None
    refs: list[int] = Field(default_factory=list)


class Receipt(BaseModel):
    leaf_index: int = Field(description="Index of the declaration in the log.")
    tree_size: int = Field(description="Size of the tree the proof and checkpoint are for.")
    leaf: str = Field(description="Base64 of the log entry (JCS of declaration + signature).")
    leaf_hash: str = Field(description="Hex RFC 9162 leaf hash SHA-256(0x00 || leaf).")
    inclusion_proof: list[str] = Field(description="Base64 hashes, leaf side first.")
    checkpoint: str = Field(description="C2SP signed checkpoint note.")
    log_key: str = Field(description="The log's verifier key (name+id+base64).")
    findings: list[dict[str, Any]] = Field(default_factory=list)


class DeclarationSummary(BaseModel):
    leaf_index: int
    party: str
    kind: str
    subject: str
    event_date: str
    issued_at: str
    digest: str


class DeclarationPage(BaseModel):
    total: int
    items: list[DeclarationSummary]


class DeclarationRecord(BaseModel):
    leaf_index: int
    signed: SignedDeclaration
    digest: str
    received_at: str
    receipt: Receipt


class PartyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    party_id: str = Field(pattern=r"^[a-z0-9][a-z0-9.\-]{1,62}$")
    name: str = Field(min_length=1, max_length=200, pattern=TEXT_PATTERN)
    role: str = Field(pattern=r"^(state|lab|cloud|inspectorate)$")
    country: str = Field(min_length=2, max_length=2)
    vkey: str = Field(min_length=10, max_length=200)


class PartyKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    vkey: str = Field(min_length=10, max_length=200)


class PartyOut(BaseModel):
    party_id: str
    name: str
    role: str
    country: str
    vkey: str
    registered_at: str
    revoked_at: str | None = None
    leaf_index: int | None = None


class FindingPage(BaseModel):
    total: int
    items: list[FindingOut]


class ProofCheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    leaf: str = Field(max_length=100_000, description="Base64 of the log entry.")
    leaf_index: int = Field(ge=0, lt=1 << 62)
    inclusion_proof: list[str] = Field(max_length=64)
    checkpoint: str = Field(max_length=100_000)
    log_key: str | None = Field(
        default=None,
        max_length=300,
        description="Must be this registry's log key if given; the check always uses it.",
    )
    tree_size: int | None = Field(default=None, ge=0, lt=1 << 62)
    leaf_hash: str | None = Field(default=None, max_length=64)


class ProofCheckOut(BaseModel):
    valid: bool
    field: str | None
    reason: str
    tree_size: int | None
    root: str | None
    leaf_hash: str | None


class CosignatureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int = Field(ge=0, lt=1 << 62)
    line: str = Field(min_length=1, max_length=500)


class PublishedCheckpoint(BaseModel):
    size: int
    checkpoint: str


class InclusionProof(BaseModel):
    leaf_index: int
    tree_size: int
    leaf_hash: str
    inclusion_proof: list[str]


class ConsistencyProof(BaseModel):
    old: int
    new: int
    consistency_proof: list[str]


class LogEntry(BaseModel):
    leaf_index: int
    leaf: str
    leaf_hash: str
    entry: dict[str, Any]


REFERENCE_ASSETS = "/static-offline-docs"

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 422, 429)
}


def create_app(registry: Registry, limits: Limits | None = None, web: bool = True) -> FastAPI:
    limits = limits or Limits()
    per_client = _Buckets(limits.requests_per_second, limits.burst)
    per_party = _Buckets(limits.declarations_per_second, limits.declaration_burst)
    max_body = registry.settings.max_body_bytes

    # The API reference (/docs, /redoc) is served from assets the fastapi-offline package
    # ships: no CDN, nothing fetched at run time.
    app = FastAPIOffline(
        title="Accord safeguards registry",
        version=__version__,
        description="Signed declarations, chip and compute accountancy, findings and a "
        "witnessed Merkle log. See docs/registry.md.",
        responses=ERRORS,
    )
    app.state.registry = registry
    from accord.registry.api_inspections import add_inspection_routes, evidence_limit

    def body_limit(path: str) -> int | None:
        return evidence_limit(registry, path)

    app.add_middleware(BodyLimit, limit=max_body, limit_for=body_limit)

    @app.exception_handler(AccordError)
    async def _accord_error(_: Request, err: AccordError) -> JSONResponse:
        status = getattr(err, "status", 404 if isinstance(err, NotFoundError) else 422)
        return _error(status, err.field, err.problem, err.fix)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, err: RequestValidationError) -> JSONResponse:
        errors = err.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        # Field names in a body are the sender's text: shown only when short and plain.
        loc = ".".join(shown_field(p) for p in first.get("loc", ()))
        return _error(422, loc or "request", str(first.get("msg", "invalid"))[:300])

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, err: StarletteHTTPException) -> JSONResponse:
        field = "body" if isinstance(err, BodyTooLarge) else "request"
        resp = _error(err.status_code, field, str(err.detail))
        for name, value in (err.headers or {}).items():
            resp.headers[name] = value  # e.g. Allow on 405
        return resp

    @app.exception_handler(Exception)
    async def _internal(_: Request, err: Exception) -> JSONResponse:
        # Whether a declaration was recorded cannot be known here: never claim it was not.
        return _error(
            500,
            "server",
            "internal error",
            "to learn whether a declaration was recorded, resend the same signed "
            "declaration: if it was, its receipt is returned",
        )

    app.add_middleware(Guard, per_client=per_client, limit=max_body, limit_for=body_limit)

    async def read_body(request: Request) -> bytes:
        chunks, total = [], 0
        async for chunk in request.stream():
            total += len(chunk)
            if total > max_body:
                raise RegistryError(413, "body", f"is larger than {max_body} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def inspector(request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret:
            raise RegistryError(
                401, "authorization", "an inspector token is required", "send 'Bearer <token>'"
            )
        scope = registry.token_scope(secret.strip())
        if scope != "inspector":
            raise RegistryError(403, "authorization", "the token is not a valid inspector token")
        return scope

    guarded = [Depends(inspector)]

    # -- declarations ----------------------------------------------------------------------

    @app.post(
        "/v1/declarations",
        status_code=201,
        response_model=Receipt,
        tags=["declarations"],
        summary="File a signed declaration; answered with a receipt",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/SignedDeclaration"}
                    }
                },
            }
        },
    )
    async def post_declaration(request: Request) -> dict[str, Any]:
        raw = await read_body(request)
        signed, body, leaf = await asyncio.to_thread(registry.checked, raw)
        # Limited after the signature check so nobody can spend another party's budget.
        if per_party.take(signed.declaration.party):
            raise RegistryError(429, "rate", "too many declarations from this party")
        return await asyncio.wrap_future(registry.enqueue(signed, body, leaf))

    @app.get("/v1/declarations", response_model=DeclarationPage, tags=["declarations"])
    def list_declarations(
        party: Annotated[str | None, Query(max_length=64)] = None,
        kind: Kind | None = None,
        subject: Annotated[str | None, Query(max_length=128)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        offset: Annotated[int, Query(ge=0, le=1 << 40)] = 0,
    ) -> dict[str, Any]:
        return registry_declarations(registry, party, kind, subject, limit, offset)

    @app.get(
        "/v1/declarations/{leaf_index}", response_model=DeclarationRecord, tags=["declarations"]
    )
    def get_declaration(
        leaf_index: Annotated[int, PathParam(ge=0, lt=1 << 62)],
    ) -> Response:
        # The busiest read: answered as built (the stored document is already the
        # validated declaration), without re-validating it through the response model.
        record = declaration_record(registry, leaf_index, parsed=False)
        return Response(json.dumps(record), media_type="application/json")

    published = json_schemas()

    @app.get("/v1/schemas", tags=["declarations"])
    def schemas() -> dict[str, Any]:
        return published

    @app.get("/v1/schemas/{kind}", tags=["declarations"])
    def schema(kind: Annotated[str, PathParam(max_length=64)]) -> dict[str, Any]:
        found = published.get(kind)
        if found is None:
            raise RegistryError(404, "kind", f"no schema named {kind!r}")
        return found

    # -- parties ---------------------------------------------------------------------------

    @app.get("/v1/parties", response_model=list[PartyOut], tags=["parties"])
    def parties() -> list[dict[str, Any]]:
        return [registry.party_record(pid) for pid in sorted(registry.parties)]

    @app.post(
        "/v1/parties",
        response_model=PartyOut,
        status_code=201,
        tags=["parties"],
        dependencies=guarded,
    )
    def register(party: PartyIn) -> dict[str, Any]:
        return registry.register_party(
            party.party_id, party.name, party.role, party.country, party.vkey
        )

    @app.post(
        "/v1/parties/{party_id}/revoke",
        response_model=PartyOut,
        tags=["parties"],
        dependencies=guarded,
    )
    def revoke(party_id: Annotated[str, PathParam(max_length=64)]) -> dict[str, Any]:
        return registry.revoke_party(party_id)

    @app.post(
        "/v1/parties/{party_id}/key",
        response_model=PartyOut,
        tags=["parties"],
        dependencies=guarded,
        summary="Rotate a party's key (earlier declarations stay verified by the old one)",
    )
    def rotate(
        party_id: Annotated[str, PathParam(max_length=64)], body: PartyKeyIn
    ) -> dict[str, Any]:
        return registry.rotate_party_key(party_id, body.vkey)

    # -- accountancy -----------------------------------------------------------------------

    @app.get("/v1/findings", response_model=FindingPage, tags=["accountancy"])
    def findings(
        severity: Annotated[str | None, Query(pattern="^(info|low|medium|high|critical)$")] = None,
        verdict: Annotated[
            str | None, Query(pattern="^(consistent|inconsistent|inconclusive)$")
        ] = None,
        subject: Annotated[str | None, Query(max_length=200)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        offset: Annotated[int, Query(ge=0, le=1 << 40)] = 0,
    ) -> dict[str, Any]:
        return registry_findings(registry, severity, verdict, subject, limit, offset)

    @app.get("/v1/balances/facilities", tags=["accountancy"])
    def balances_facilities() -> list[dict[str, Any]]:
        """Each facility's balance; ``flags`` lists the log entries of findings that put its
        chips in question (a location inspection placing its responders elsewhere)."""
        return with_flags(
            registry,
            registry.cached(
                "facilities", lambda book: [b.to_dict() for b in facility_balances(book)]
            ),
        )

    @app.get("/v1/balances/countries", tags=["accountancy"])
    def balances_countries() -> list[dict[str, Any]]:
        return registry.cached(
            "countries", lambda book: [b.to_dict() for b in country_balances(book)]
        )

    @app.get("/v1/balances/series", tags=["accountancy"])
    def balances_series() -> dict[str, list[dict[str, Any]]]:
        series = registry.cached("series", country_series)
        return {
            c: [{"date": str(d), "book_total": n} for d, n in points]
            for c, points in series.items()
        }

    @app.get("/v1/compute", tags=["accountancy"])
    def compute() -> list[dict[str, Any]]:
        return registry.cached("compute", compute_by_party)

    @app.post(
        "/v1/accountancy/run",
        response_model=list[FindingOut],
        tags=["accountancy"],
        dependencies=guarded,
    )
    def run_accountancy() -> list[dict[str, Any]]:
        return registry.run_accountancy()

    @app.get("/v1/admin/rejections", tags=["accountancy"], dependencies=guarded)
    def rejections() -> dict[str, int]:
        """Counts of refused submissions per field (no content is ever kept)."""
        return dict(registry.rejections)

    # -- the log ---------------------------------------------------------------------------

    @app.get("/v1/log/checkpoint", response_class=PlainTextResponse, tags=["log"])
    def checkpoint() -> str:
        """The latest published checkpoint with witness cosignatures (C2SP signed note)."""
        return registry.cosigned_checkpoint()

    @app.get("/v1/log/key", response_class=PlainTextResponse, tags=["log"])
    def log_key() -> str:
        return registry.log_key.vkey + "\n"

    @app.get("/v1/log/entries/{leaf_index}", response_model=LogEntry, tags=["log"])
    def log_entry(leaf_index: Annotated[int, PathParam(ge=0, lt=1 << 62)]) -> dict[str, Any]:
        import base64

        from accord.ledger import leaf_hash

        log = registry.reader()
        if not 0 <= leaf_index < log.size:
            raise RegistryError(404, "leaf_index", f"{leaf_index} is not in the log")
        leaf = log.entry(leaf_index)
        return {
            "leaf_index": leaf_index,
            "leaf": base64.b64encode(leaf).decode(),
            "leaf_hash": leaf_hash(leaf).hex(),
            "entry": registry.entry(leaf_index),
        }

    @app.get("/v1/log/proof/inclusion", response_model=InclusionProof, tags=["log"])
    def proof_inclusion(
        leaf_index: Annotated[int, Query(ge=0, lt=1 << 62)],
        tree_size: Annotated[int | None, Query(ge=1, lt=1 << 62)] = None,
    ) -> dict[str, Any]:
        import base64

        log = registry.reader()
        size = tree_size or registry.latest_checkpoint()[0]
        if size > log.size or leaf_index >= size:
            raise RegistryError(404, "tree_size", f"need leaf_index < tree_size <= {log.size}")
        return {
            "leaf_index": leaf_index,
            "tree_size": size,
            "leaf_hash": log.leaf_hash(leaf_index).hex(),
            "inclusion_proof": [
                base64.b64encode(h).decode() for h in log.inclusion_proof(leaf_index, size)
            ],
        }

    @app.get("/v1/log/proof/consistency", response_model=ConsistencyProof, tags=["log"])
    def proof_consistency(
        old: Annotated[int, Query(ge=0, lt=1 << 62)],
        new: Annotated[int, Query(ge=0, lt=1 << 62)],
    ) -> dict[str, Any]:
        import base64

        log = registry.reader()
        if not old <= new <= log.size:
            raise RegistryError(404, "new", f"need old <= new <= {log.size}")
        return {
            "old": old,
            "new": new,
            "consistency_proof": [
                base64.b64encode(h).decode() for h in log.consistency_proof(old, new)
            ],
        }

    @app.post("/v1/log/verify", response_model=ProofCheckOut, tags=["log"])
    def verify(check: ProofCheckIn) -> dict[str, Any]:
        """Check a leaf, inclusion proof and checkpoint against THIS registry's log key.

        The registry vouches only for its own log: a caller-supplied key is compared with
        the registry's and never used; the leaf must also be what the log holds at that
        index, and any stated tree size or leaf hash must match.
        """
        return verify_against_log(registry, check).to_dict()

    @app.post(
        "/v1/log/publish", response_model=PublishedCheckpoint, tags=["log"], dependencies=guarded
    )
    def publish() -> dict[str, Any]:
        return registry.publish()

    @app.post("/v1/log/cosignatures", response_model=PublishedCheckpoint, tags=["log"])
    def cosign(body: CosignatureIn) -> dict[str, Any]:
        """A witness attaches its cosignature line to a published checkpoint."""
        return registry.add_cosignature(body.size, body.line)

    @app.get("/healthz", tags=["log"])
    def health() -> JSONResponse:
        """``ok``, ``degraded`` (serving; some entries' index rows await a restart) or
        ``failed`` (503: the writer is not running)."""
        state = registry.health()
        return JSONResponse(state, status_code=503 if state["status"] == "failed" else 200)

    add_inspection_routes(app, registry, inspector)

    if web:
        from accord.registry.web import add_pages

        add_pages(app, registry)
    return app


BALANCE_FLAGS = ("registry.accountancy.location",)
"""Verifiers of the findings that put a facility's book balance in question."""


def with_flags(registry: Registry, facilities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of the (cached, shared) balance rows with their ``flags``: leaf indexes."""
    t = db.findings
    with registry.engine.connect() as conn:
        rows = conn.execute(
            select(t.c.leaf_index, t.c.subject).where(t.c.verifier.in_(BALANCE_FLAGS))
            .order_by(t.c.leaf_index)
        ).all()  # fmt: skip
    flags: dict[str, list[int]] = {}
    for row in rows:
        flags.setdefault(str(row.subject).removeprefix("facility:"), []).append(row.leaf_index)
    return [{**f, "flags": flags.get(f["facility_id"], [])} for f in facilities]


def verify_against_log(registry: Registry, check: ProofCheckIn) -> ReceiptCheck:
    import base64
    import binascii

    own = registry.log_key.vkey
    if check.log_key is not None and check.log_key.strip() != own:
        return ReceiptCheck(False, "log_key", "is not this registry's log key; nothing checked")
    result = check_receipt(
        check.leaf, check.leaf_index, check.inclusion_proof, check.checkpoint, own
    )
    if not result.valid:
        return result
    if check.tree_size is not None and check.tree_size != result.tree_size:
        return ReceiptCheck(False, "tree_size", "differs from the checkpoint's tree size")
    if check.leaf_hash is not None and check.leaf_hash.lower() != result.leaf_hash:
        return ReceiptCheck(False, "leaf_hash", "is not the hash of the leaf")
    log = registry.reader()
    try:
        leaf = base64.b64decode(check.leaf, validate=True)
    except (binascii.Error, ValueError):
        return ReceiptCheck(False, "leaf", "is not valid base64")
    if check.leaf_index >= log.size or log.entry(check.leaf_index) != leaf:
        return ReceiptCheck(False, "leaf", "is not the entry this log holds at that index")
    return result


def registry_declarations(
    registry: Registry,
    party: str | None,
    kind: Kind | None,
    subject: str | None,
    limit: int,
    offset: int,
) -> dict[str, Any]:
    t = db.declarations
    where = []
    if party:
        where.append(t.c.party == party)
    if kind:
        where.append(t.c.kind == kind.value)
    if subject:
        where.append(t.c.subject == subject)
    with registry.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(t).where(*where)).scalar() or 0
        rows = conn.execute(
            select(
                t.c.leaf_index,
                t.c.party,
                t.c.kind,
                t.c.subject,
                t.c.event_date,
                t.c.issued_at,
                t.c.digest,
            )
            .where(*where)
            .order_by(t.c.leaf_index.desc())
            .limit(limit)
            .offset(offset)
        ).all()
    return {"total": total, "items": [dict(r._mapping) for r in rows]}


def declaration_record(registry: Registry, leaf_index: int, parsed: bool = True) -> dict[str, Any]:
    """The stored declaration with a fresh receipt; ``parsed=False`` leaves the signed
    document as the JSON it was stored as (written from the validated model)."""
    t = db.declarations
    with registry.engine.connect() as conn:
        row = conn.execute(select(t).where(t.c.leaf_index == leaf_index)).first()
    if row is None:
        raise RegistryError(404, "leaf_index", f"{leaf_index} is not a declaration")
    return {
        "leaf_index": leaf_index,
        "signed": SignedDeclaration.model_validate_json(row.doc) if parsed else json.loads(row.doc),
        "digest": row.digest,
        "received_at": row.received_at,
        "receipt": registry.receipt(leaf_index),
    }


def registry_findings(
    registry: Registry,
    severity: str | None,
    verdict: str | None,
    subject: str | None,
    limit: int,
    offset: int,
    attention: bool = False,
) -> dict[str, Any]:
    """A page of findings; ``attention`` keeps the inconsistent, high and critical ones."""
    import json

    from sqlalchemy import or_

    t = db.findings
    where = []
    if attention:
        where.append(or_(t.c.verdict == "inconsistent", t.c.severity.in_(("high", "critical"))))
    if severity:
        where.append(t.c.severity == severity)
    if verdict:
        where.append(t.c.verdict == verdict)
    if subject:
        where.append(t.c.subject == subject)
    with registry.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(t).where(*where)).scalar() or 0
        rows = conn.execute(
            select(t.c.leaf_index, t.c.doc)
            .where(*where)
            .order_by(t.c.leaf_index.desc())
            .limit(limit)
            .offset(offset)
        ).all()
    items = []
    for r in rows:
        doc = json.loads(r.doc)
        items.append(
            {"leaf_index": r.leaf_index, "key": doc["key"], "refs": doc["refs"], **doc["finding"]}
        )
    return {"total": total, "items": items}
