"""Guard policies: declared data, never code.

A deployer writes which tools exist, which have side effects, which result fields are
trustworthy or private and which argument values choose a recipient, host or path. The
decision engine reads nothing else, so an inspector holding the same policy file re-derives
every decision. Unknown keys are rejected: a typo in a safeguard must not silently relax it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from accord.errors import AccordError
from accord.model import jcs

Effect = Literal["read", "write"]
Role = Literal["target", "content", "data"]
Outcome = Literal["deny", "ask"]
Source = Literal["request", "policy", "trusted", "delegated"]
SOURCES: tuple[Source, ...] = ("request", "policy", "trusted", "delegated")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArgRule(_Strict):
    """How one argument is checked.

    ``target`` picks who or what the call acts on (a recipient, an IBAN, a URL, a file id):
    each value must be endorsed by the user or by trusted data. ``content`` is carried to
    the targets' readers: private values in it need readers the user named. ``data`` is
    neither (amounts, dates, titles) and is only recorded.
    """

    role: Role = "data"
    endorsed_by: list[Source] = Field(
        default_factory=lambda: list(SOURCES),
        description="For a `target`: which sources may endorse its values — the user's "
        "`request`, the `policy`'s trusted values, a `trusted` result field, a record the "
        "user `delegated` to. A booking that commits the user's money may require "
        "`[request, policy]`: a platform's listing is trusted to exist, not to be the "
        "user's choice.",
    )


class ToolRule(_Strict):
    """One tool the agent may call."""

    effect: Effect = Field(description="`write` changes the world (send, pay, delete, post).")
    grants: list[str] = Field(
        default_factory=list,
        description="Words in the user's request that authorise this write tool, matched "
        "as whole words with plain inflections (send, sends, sent is not); a trailing `*` "
        "matches any word starting so (`reserv*`). A write tool with no grants is never "
        "authorised by the request alone.",
    )
    args: dict[str, ArgRule] = Field(default_factory=dict)
    trusted_fields: list[str] = Field(
        default_factory=list,
        description="Result field names whose values the tool's system sets (ids, senders, "
        "account numbers): they endorse arguments. Every other field is untrusted; `*` "
        "marks the whole result trusted (a platform's own listings).",
    )
    private_fields: list[str] = Field(
        default_factory=list,
        description="Result field names holding private values (passwords, passport "
        "numbers, security codes); `*` marks the whole result private.",
    )
    incident_severity: Literal["low", "serious", "critical"] = Field(
        default="serious",
        description="How serious an incident is in which a call of this tool was stopped "
        "(a payment or a key upload may be `critical`).",
    )


class Policy(_Strict):
    """A deployment's declared guard policy."""

    name: str = Field(min_length=1)
    version: int = Field(default=1, ge=1)
    tools: dict[str, ToolRule]
    trusted_values: list[str] = Field(
        default_factory=list,
        description="Recipients, hosts, paths or accounts trusted ahead of any request.",
    )
    delegation: Literal["allow", "ask", "off"] = Field(
        default="ask",
        description="A target value found in a record the user named (`pay the bill in "
        "bill.txt`) and in nothing more trusted: `allow` the call, `ask` the user, or treat "
        "it as unendorsed (`off`). Whoever can write that record can choose the value.",
    )
    on_violation: Outcome = Field(
        default="deny", description="What an information-flow violation yields."
    )
    incident_threshold: int = Field(
        default=1, ge=1, description="Violations in one session that make an incident."
    )
    answers: Literal["allow", "label", "quarantine"] = Field(
        default="quarantine",
        description="What the agent says to its user: a sentence copied word for word "
        "from untrusted text is passed on (`allow`), passed on marked as untrusted "
        "(`label`), or withheld and recorded (`quarantine`).",
    )
    quote_phrases: list[str] = Field(
        default_factory=list,
        description="Phrases with which a user asks to be told what a record they name "
        "says (`what it says`, `summarise`): the answer may then repeat that record's "
        "text; any other sentence lifted from untrusted text falls under `answers`.",
    )
    follow_phrases: list[str] = Field(
        default_factory=list,
        description="Phrases with which a user hands authority to a record they name "
        "(`follow the instructions`, `do the actions`): a write tool is then also granted "
        "by that record's text. Targets still need endorsement from something other than "
        "that record.",
    )

    def digest(self) -> str:
        """SHA-256 of the policy's canonical JSON: what a declaration and a log name."""
        return hashlib.sha256(jcs.dumps(self.model_dump(mode="json"))).hexdigest()


def policy_schema() -> dict[str, Any]:
    """The published JSON Schema of a policy file."""
    schema = Policy.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://accord.invalid/schemas/guard-policy.json"
    return schema


def parse_policy(data: Any, source: str = "policy") -> Policy:
    """Validate loaded YAML/JSON; the first problem is reported with its field path."""
    try:
        return Policy.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise AccordError(f"{source}: {where}", first["msg"], "see `accord guard schema`") from None


def load_policy(path: Path) -> Policy:
    """Read a policy from a YAML or JSON file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AccordError(str(path), "does not exist", "give a policy file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise AccordError(str(path), f"cannot read: {err}", "give a UTF-8 policy file") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        raise AccordError(str(path), f"is not valid YAML/JSON: {err}".splitlines()[0]) from None
    return parse_policy(data, str(path))
