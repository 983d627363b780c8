"""Declarations: what a party files with the inspectorate, and the signed envelope around it.

A declaration is ``{party, kind, body, issued_at, nonce}``. Its canonical form is the
RFC 8785 (JCS) serialisation, and the party's Ed25519 key signs exactly those bytes, so any
JSON library on any platform can re-derive what was signed. The body has one schema per
kind; the schemas are strict (unknown fields are refused) because a field the registry
silently ignored would be a field nobody audited.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from accord.errors import AccordError
from accord.model import jcs

PARTY_PATTERN = r"^[a-z0-9][a-z0-9.\-]{1,62}$"
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$"
NONCE_PATTERN = r"^[A-Za-z0-9_\-]{16,64}$"
ISSUED_AT_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"
MAX_COUNT = 100_000_000
MAX_FLOP = 1e32
MAX_DEPTH = 16
"""JSON nesting deeper than any declaration needs (bodies are three levels deep)."""
MAX_INT_DIGITS = 32
"""Longer integer literals are refused before Python converts them (that costs quadratic
time). RFC 8785 writes floats up to 1e21 as plain digits (21 of them), which must parse."""
TEXT_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
VKEY_PATTERN = r"^[a-z0-9][a-z0-9.\-]{0,62}\+[0-9a-f]{8}\+[A-Za-z0-9+/]{43,60}={0,2}$"
"""Free text carries no control characters: NUL breaks PostgreSQL text columns, and the
rest only ever serve to hide or disguise what a record says."""

DECLARATION_TYPE = "accord.declaration/v1"
FINDING_TYPE = "accord.finding/v1"
PARTY_TYPE = "accord.party/v1"

Ident = Annotated[str, Field(pattern=ID_PATTERN, description="Identifier chosen by the party.")]


# Bounded free text without control characters; the published schema says so too.
Text = Annotated[str, StringConstraints(max_length=200, pattern=TEXT_PATTERN)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=TEXT_PATTERN)]
ChipName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=TEXT_PATTERN)]
Sha256 = Annotated[str, StringConstraints(pattern=SHA256_PATTERN)]
"""A lower-case hex SHA-256 digest: a commitment the party can later be held to."""
VerifierKey = Annotated[str, StringConstraints(max_length=200, pattern=VKEY_PATTERN)]


class Kind(StrEnum):
    FACILITY = "facility"
    CHIP_INVENTORY = "chip_inventory"
    CLUSTER = "cluster"
    TRANSFER = "transfer"
    TRAINING_RUN = "training_run"
    MODEL_RELEASE = "model_release"
    COMPUTE_REPORT = "compute_report"
    AGENT_POLICY = "agent_policy"
    INCIDENT = "incident"


def _chip_id(name: str) -> str:
    """Resolve a chip name through the hardware catalog or refuse it (pydantic reports where)."""
    from accord.hardware import get_chip

    try:
        return get_chip(name).id
    except AccordError as err:
        raise ValueError(f"{err.problem}" + (f" — {err.fix}" if err.fix else "")) from None


def _country(code: str) -> str:
    from accord.rules.countries import normalise_country

    if code != code.strip().upper() or len(code) != 2:
        raise ValueError("must be an upper-case ISO 3166-1 alpha-2 code such as US, CN, MY")
    try:
        return normalise_country(code)
    except AccordError as err:
        raise ValueError(err.problem) from None


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChipLine(Body):
    chip: ChipName = Field(description="Chip id, name or alias.")
    count: int = Field(ge=0, le=MAX_COUNT)

    @field_validator("chip")
    @classmethod
    def _known_chip(cls, value: str) -> str:
        _chip_id(value)
        return value

    @property
    def chip_id(self) -> str:
        return _chip_id(self.chip)


def _unique_chips(lines: list[ChipLine], positive: bool) -> list[ChipLine]:
    seen: set[str] = set()
    for line in lines:
        cid = line.chip_id
        if cid in seen:
            raise ValueError(f"chip {cid} is listed twice; give one line per chip model")
        seen.add(cid)
        if positive and line.count == 0:
            raise ValueError(f"count of {cid} must be positive")
    return lines


class FacilityBody(Body):
    """A site where chips are kept or used: the unit of accountancy."""

    facility_id: Ident
    name: Name
    country: str = Field(description="ISO 3166-1 alpha-2 code of the site's country.")
    site_type: Literal["datacenter", "warehouse", "lab", "fab"] = "datacenter"
    operator: Text | None = None
    responder_keys: list[VerifierKey] | None = Field(
        default=None,
        min_length=1,
        max_length=16,
        description="Signed-note verifier keys (name+hex8+base64) of the challenge responders "
        "that answer location challenges for this facility's chips.",
    )

    @field_validator("country")
    @classmethod
    def _iso(cls, value: str) -> str:
        return _country(value)


class ChipInventoryBody(Body):
    """Chips physically on hand at a facility on a date (a physical inventory listing)."""

    facility_id: Ident
    as_of: dt.date
    chips: list[ChipLine] = Field(min_length=1, max_length=100)

    @field_validator("chips")
    @classmethod
    def _one_line_each(cls, value: list[ChipLine]) -> list[ChipLine]:
        return _unique_chips(value, positive=False)


class ClusterBody(Body):
    """Chips at one facility operated as one training system."""

    cluster_id: Ident
    facility_id: Ident
    as_of: dt.date
    chips: list[ChipLine] = Field(min_length=1, max_length=100)
    interconnect: str | None = Field(default=None, max_length=200)

    @field_validator("chips")
    @classmethod
    def _one_line_each(cls, value: list[ChipLine]) -> list[ChipLine]:
        return _unique_chips(value, positive=True)


class TransferBody(Body):
    """One side of a chip transfer: the shipper files ``shipment``, the receiver ``receipt``."""

    transfer_id: Ident
    role: Literal["shipment", "receipt"]
    date: dt.date
    from_facility: Ident
    from_country: str
    to_facility: Ident
    to_country: str
    chips: list[ChipLine] = Field(min_length=1, max_length=100)
    end_user: Text | None = None
    end_user_hq: str | None = None
    license_ref: Text | None = None

    @field_validator("from_country", "to_country")
    @classmethod
    def _iso(cls, value: str) -> str:
        return _country(value)

    @field_validator("end_user_hq")
    @classmethod
    def _hq(cls, value: str | None) -> str | None:
        return None if value is None else _country(value)

    @field_validator("chips")
    @classmethod
    def _one_line_each(cls, value: list[ChipLine]) -> list[ChipLine]:
        return _unique_chips(value, positive=True)

    @model_validator(mode="after")
    def _two_places(self) -> TransferBody:
        if self.from_facility == self.to_facility:
            raise ValueError("from_facility and to_facility are the same; a transfer moves chips")
        return self


class TrainingRunBody(Body):
    """A training run's start, progress or completion, with the compute used so far."""

    run_id: Ident
    phase: Literal["start", "progress", "completion"]
    date: dt.date
    facility_id: Ident
    cluster_id: Ident | None = None
    chip: ChipName
    chip_count: int = Field(gt=0, le=MAX_COUNT)
    chip_hours: float | None = Field(default=None, ge=0, le=1e12)
    params: float | None = Field(default=None, gt=0, le=1e16)
    active_params: float | None = Field(default=None, gt=0, le=1e16)
    tokens: float | None = Field(default=None, gt=0, le=1e18)
    compute_flop: float | None = Field(
        default=None, ge=0, le=MAX_FLOP, description="Training operations used so far (FLOP)."
    )
    model_name: Text | None = None
    chain_head: Sha256 | None = Field(
        default=None,
        description="On completion: head of the run's training transcript hash chain "
        "(accord.verify.training), the commitment an inspection replays against.",
    )
    final_weights_sha256: Sha256 | None = Field(
        default=None,
        description="On completion: weights digest of the final model (names, dtypes, shapes "
        "and raw bytes, as the transcript records it).",
    )

    @field_validator("chip")
    @classmethod
    def _known_chip(cls, value: str) -> str:
        _chip_id(value)
        return value

    @model_validator(mode="after")
    def _consistent(self) -> TrainingRunBody:
        if self.phase != "start" and self.chip_hours is None:
            raise ValueError(f"a {self.phase} report needs chip_hours")
        if self.phase == "completion" and self.compute_flop is None:
            raise ValueError("a completion report needs compute_flop")
        if self.phase != "completion" and (
            self.chain_head is not None or self.final_weights_sha256 is not None
        ):
            raise ValueError("chain_head and final_weights_sha256 belong in the completion report")
        if (
            self.params is not None
            and self.active_params is not None
            and self.active_params > self.params
        ):
            raise ValueError("active_params exceeds params")
        return self


class ModelReleaseBody(Body):
    """A trained model made available (weights published or served)."""

    model_name: Name
    run_id: Ident
    date: dt.date
    open_weights: bool
    training_compute_flop: float = Field(gt=0, le=MAX_FLOP)
    inspection_ref: Text | None = None
    weights_sha256: Sha256 | None = Field(
        default=None, description="SHA-256 of the released weights file (safetensors)."
    )
    origin: Literal["scratch", "derived"] | None = Field(
        default=None,
        description="What the release claims about its origin: trained from scratch, or "
        "derived from the model named in parent_model.",
    )
    parent_model: Name | None = Field(
        default=None, description="The model this one was derived from (origin 'derived')."
    )

    @model_validator(mode="after")
    def _origin(self) -> ModelReleaseBody:
        if (self.origin == "derived") != (self.parent_model is not None):
            raise ValueError("parent_model is given exactly when origin is 'derived'")
        return self


class CustomerRun(Body):
    """One customer run above the reporting threshold that the provider knows of."""

    customer: Name = Field(description="The customer's registry party id, or its name.")
    accounts: list[Ident] = Field(min_length=1, max_length=32)
    start: dt.date
    end: dt.date
    chip: ChipName
    chip_count: int = Field(gt=0, le=MAX_COUNT)
    compute_flop: float = Field(gt=0, le=MAX_FLOP, description="The provider's estimate.")

    @field_validator("chip")
    @classmethod
    def _known_chip(cls, value: str) -> str:
        _chip_id(value)
        return value

    @model_validator(mode="after")
    def _ordered(self) -> CustomerRun:
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


class ComputeReportBody(Body):
    """A compute provider's report for a period at one of its facilities: the customer runs
    above the reporting threshold that it knows of (none is a report too)."""

    facility_id: Ident
    period_start: dt.date
    date: dt.date = Field(description="The last day of the reporting period.")
    threshold_flop: float = Field(gt=0, le=MAX_FLOP)
    runs: list[CustomerRun] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _period(self) -> ComputeReportBody:
        if self.date < self.period_start:
            raise ValueError("the period ends (date) before it starts (period_start)")
        for n, run in enumerate(self.runs):
            if run.start > self.date or run.end < self.period_start:
                raise ValueError(f"runs.{n} lies outside the reporting period")
        return self


IncidentSeverity = Literal["low", "serious", "critical"]
SEVERITY_ORDER: tuple[str, ...] = ("low", "serious", "critical")
UtcTime = Annotated[
    str,
    StringConstraints(pattern=ISSUED_AT_PATTERN),
    Field(description="UTC date and time, e.g. 2026-03-01T12:00:00Z."),
]


def utc_time(text: str) -> dt.datetime:
    """A UtcTime field as an aware datetime (the pattern has fixed the shape)."""
    return dt.datetime.fromisoformat(text)


class AgentPolicyBody(Body):
    """A deployment's guard policy (``accord guard``), declared so that an inspector can
    check that what ran is what was declared: the record names the same digest."""

    deployment_id: Ident
    date: dt.date = Field(description="The day the policy takes effect.")
    policy_sha256: Sha256 = Field(
        description="SHA-256 of the policy's RFC 8785 canonical JSON (`accord guard check`)."
    )
    policy_name: Name
    policy: dict[str, Any] | None = Field(
        default=None,
        description="The policy document itself (JSON Schema at /v1/schemas or `accord "
        "guard schema`); when given, its digest must be policy_sha256.",
    )
    report_from: IncidentSeverity = Field(
        default="serious",
        description="The deployment's reporting threshold: incidents of this severity or "
        "above are filed to the registry.",
    )
    regimes: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9\-]{1,40}$")]] = Field(
        default_factory=list,
        max_length=16,
        description="Rule-set families whose incident clocks the deployment is under "
        "(ca-sb53, ny-raise, eu-ai-act).",
    )

    @model_validator(mode="after")
    def _digest(self) -> AgentPolicyBody:
        if self.policy is not None:
            from accord.guard.policy import parse_policy

            try:
                digest = parse_policy(self.policy, "policy").digest()
            except AccordError as err:
                raise ValueError(f"policy: {err.problem}") from None
            if digest != self.policy_sha256:
                raise ValueError("policy does not hash to policy_sha256")
        return self


class IncidentBody(Body):
    """A safeguard incident at a deployment: a blocked attack or a policy violation above
    the reporting threshold (``phase: detected``), and later the deployer's statement that
    it reported the incident under named clocks (``phase: reported``)."""

    deployment_id: Ident
    incident_id: Ident
    phase: Literal["detected", "reported"]
    date: dt.date = Field(description="The day of this statement's event.")
    detected_at: UtcTime
    severity: IncidentSeverity
    imminent_risk: bool = Field(
        default=False,
        description="The deployer judges that the incident poses an imminent risk of "
        "death or serious physical injury (shortens some clocks).",
    )
    policy_sha256: Sha256
    summary: Text = ""
    evidence: dict[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")], Sha256] = (
        Field(
            default_factory=dict,
            max_length=16,
            description="Name -> SHA-256 of evidence (the guard log's entries that record the "
            "incident, its signed checkpoint).",
        )
    )
    reported_at: UtcTime | None = None
    clocks: list[Ident] = Field(
        default_factory=list, max_length=16, description="Clocks reported under (reported)."
    )

    @model_validator(mode="after")
    def _phase(self) -> IncidentBody:
        if (self.phase == "reported") != (self.reported_at is not None):
            raise ValueError("reported_at is given exactly when phase is 'reported'")
        event = self.reported_at if self.reported_at is not None else self.detected_at
        if utc_time(event).date() != self.date:
            raise ValueError(f"date is the day of {event} (the statement's event)")
        if self.phase == "reported" and not self.clocks:
            raise ValueError("a report names the clocks it was made under")
        reported = self.reported_at
        if reported is not None and utc_time(reported) < utc_time(self.detected_at):
            raise ValueError("reported_at is before detected_at")
        return self


BODY_MODELS: dict[Kind, type[Body]] = {
    Kind.FACILITY: FacilityBody,
    Kind.CHIP_INVENTORY: ChipInventoryBody,
    Kind.CLUSTER: ClusterBody,
    Kind.TRANSFER: TransferBody,
    Kind.TRAINING_RUN: TrainingRunBody,
    Kind.MODEL_RELEASE: ModelReleaseBody,
    Kind.COMPUTE_REPORT: ComputeReportBody,
    Kind.AGENT_POLICY: AgentPolicyBody,
    Kind.INCIDENT: IncidentBody,
}


class Declaration(BaseModel):
    """The signed statement: who, what kind, the body, when, and a one-time nonce."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    party: str = Field(pattern=PARTY_PATTERN, description="The registered party id.")
    kind: Kind
    body: dict[str, Any]
    issued_at: str = Field(
        pattern=ISSUED_AT_PATTERN, description="UTC time of signing, e.g. 2026-03-01T12:00:00Z."
    )
    nonce: str = Field(
        pattern=NONCE_PATTERN, description="16-64 base64url characters, never reused."
    )

    def issued(self) -> dt.datetime:
        try:  # the pattern has fixed the shape; this checks it is a real date and time
            return dt.datetime.fromisoformat(self.issued_at)
        except ValueError:
            raise AccordError("declaration.issued_at", "is not a real date and time") from None

    def canonical(self) -> bytes:
        """The RFC 8785 bytes a party signs."""
        return canonical_json(self.model_dump(mode="json"), "declaration")

    def parsed_body(self) -> Body:
        return parse_body(self.kind, self.body)


class SignedDeclaration(BaseModel):
    """What a party submits: the declaration and its base64 Ed25519 signature."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    declaration: Declaration
    signature: str = Field(
        min_length=1,
        max_length=200,
        description="Standard base64 of the 64-byte Ed25519 signature over the JCS bytes.",
    )

    def signature_bytes(self) -> bytes:
        try:
            raw = base64.b64decode(self.signature.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise AccordError("signature", "is not valid base64") from None
        if len(raw) != 64:
            raise AccordError("signature", f"is {len(raw)} bytes; Ed25519 signatures are 64")
        if base64.b64encode(raw).decode("ascii") != self.signature:
            # One signature, one spelling: otherwise the same declaration has two log entries.
            raise AccordError("signature", "is not canonical base64", "encode with padding")
        return raw

    def leaf(self, canonical: bytes | None = None) -> bytes:
        """The log entry: JCS of ``{declaration, signature, type}``.

        JCS writes a nested object exactly as it writes that object alone, and the three
        keys sort as written here, so the entry is assembled around the declaration's
        canonical bytes (``canonical``, when the caller has them already) instead of
        canonicalising them a second time.
        """
        return b"".join(
            (
                b'{"declaration":',
                self.declaration.canonical() if canonical is None else canonical,
                b',"signature":',
                canonical_json(self.signature, "signature"),
                b',"type":"' + DECLARATION_TYPE.encode() + b'"}',
            )
        )


def canonical_json(value: Any, field: str) -> bytes:
    """RFC 8785 bytes, or an AccordError naming ``field`` for values JCS cannot carry."""
    try:
        return jcs.dumps(value)
    except jcs.CanonicalError as err:
        raise AccordError(field, f"cannot be canonicalised (RFC 8785): {err}") from None


_SAFE_PART = re.compile(r"^[A-Za-z0-9_\-]{1,40}$")


def shown_field(part: object) -> str:
    """A path element fit to show back: field names are the sender's text, so odd or long
    ones are replaced (an error never echoes what was sent)."""
    if isinstance(part, int):
        return str(part)
    text = str(part)
    return text if _SAFE_PART.match(text) else "<field>"


def error_location(exc: ValidationError, prefix: str) -> AccordError:
    """The first pydantic error as an AccordError naming the JSON path."""
    first = exc.errors(include_input=False, include_url=False)[0]
    loc = ".".join(shown_field(p) for p in first["loc"])
    where = ".".join(part for part in (prefix, loc) if part) or "body"
    msg = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "string_pattern_mismatch" and TEXT_PATTERN in msg:
        msg = "holds a control character (such as NUL or a line break)"
    return AccordError(where, msg[:300], "see the JSON Schema at /v1/schemas")


def parse_body(kind: Kind, body: dict[str, Any], strict: bool = False) -> Body:
    """Validate a body; ``strict`` takes exactly what the published JSON Schema allows.

    New submissions are strict (``true`` is not a count, ``"10"`` is not a number, a
    date-time is not a date), so that the log holds only what an outside auditor's schema
    validator accepts. Entries already in the log are read back leniently.
    """
    model = BODY_MODELS[kind]
    try:
        if strict:
            return model.model_validate_json(json.dumps(body), strict=True)
        return model.model_validate(body)
    except ValidationError as exc:
        raise error_location(exc, "declaration.body") from None


_SIGNED = TypeAdapter(SignedDeclaration)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            # The key is the sender's text: name it only if it is short and plain.
            where = key if _SAFE_PART.match(key) else "body"
            raise AccordError(
                where, "is a key that appears twice in one JSON object", "send each key once"
            )
        out[key] = value
    return out


def _no_constants(name: str) -> Any:
    raise AccordError("body", f"holds {name}, which is not JSON", "send finite numbers")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise AccordError(
            "body", f"holds an integer longer than {MAX_INT_DIGITS} digits", "send smaller numbers"
        )
    return int(text)


_SURROGATE = re.compile("[\ud800-\udfff]")


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abAB]")


def _check_tree(value: Any, text: str) -> None:
    """Depth and text checks over a parsed document, without recursion.

    Raw UTF-8 cannot encode a surrogate, so strings need looking at only when the text
    holds a ``\\uD8xx``-style escape (a valid pair is combined by the parser and passes).
    """
    strings = _SURROGATE_ESCAPE.search(text) is not None
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise AccordError("body", "holds an unpaired UTF-16 surrogate escape")
            continue
        if isinstance(item, dict | list):
            if depth > MAX_DEPTH:
                raise AccordError(
                    "body", f"is nested more than {MAX_DEPTH} levels deep", "flatten it"
                )
            children = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in children:
                if strings or isinstance(child, dict | list):
                    stack.append((child, depth + 1))
                if strings and isinstance(key, str):
                    stack.append((key, depth))


def loads_strict(raw: bytes) -> Any:
    """Parse untrusted JSON: UTF-8 only, no duplicate keys, no NaN or Infinity, bounded
    integers and depth, no unpaired surrogates (which no canonical form can carry)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise AccordError("body", "is not UTF-8") from None
    try:
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_no_constants,
            parse_int=_bounded_int,
        )
    except json.JSONDecodeError as err:
        raise AccordError("body", f"is not JSON ({err.msg} at {err.pos})") from None
    except (RecursionError, MemoryError):
        raise AccordError("body", f"is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError:
        raise AccordError("body", "holds a number Python cannot read") from None
    _check_tree(value, text)
    return value


def parse_signed(raw: bytes | dict[str, Any]) -> SignedDeclaration:
    """Parse a submission into the envelope (body schema is checked separately)."""
    data = loads_strict(raw) if isinstance(raw, bytes) else raw
    if not isinstance(data, dict):
        raise AccordError("body", "must be a JSON object {declaration, signature}")
    try:
        return _SIGNED.validate_python(data)
    except ValidationError as exc:
        raise error_location(exc, "") from None


def parse_leaf(leaf: bytes) -> dict[str, Any]:
    """Decode a log entry written by the registry (declaration or finding)."""
    data = loads_strict(leaf)
    if not isinstance(data, dict) or data.get("type") not in (
        DECLARATION_TYPE,
        FINDING_TYPE,
        PARTY_TYPE,
    ):
        raise AccordError("leaf", "is not an Accord registry entry")
    return data


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema (draft 2020-12, as pydantic emits it) of the envelope and of each body."""
    out: dict[str, dict[str, Any]] = {"envelope": SignedDeclaration.model_json_schema()}
    for kind, model in BODY_MODELS.items():
        schema = model.model_json_schema()
        schema["$id"] = f"https://accord.example/schemas/{kind.value}.json"
        schema["title"] = f"{kind.value} declaration body"
        out[kind.value] = schema
    return out


NONCE_RE = re.compile(NONCE_PATTERN)
