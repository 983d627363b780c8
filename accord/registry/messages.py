"""Registry finding messages: stable ids, their English sentences, and what each value is.

A finding is a signed log entry, so its English ``explanation`` has to be reproducible and
self-contained. Every registry finding builds that sentence here from a template and named
values, and also records the id and values (:class:`accord.model.Message`), so a reader in
another language can be shown the same sentence from the catalogue, with numbers, dates and
countries in their own conventions (:func:`accord.registry.i18n.finding_text`).

Rules for changing this table, because old log entries keep their ids forever: an id never
changes what its values are or mean; rewording the English of an id is allowed (the
catalogue's ``msgid`` follows, its translation is kept), a different statement is a new id.
Ids never leave this table, so old findings stay translatable.
"""

from __future__ import annotations

import datetime as dt
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from accord.model.finding import Message, MessageParam

ParamKind = Literal["text", "count", "quantity", "date", "country"]
"""How a value is shown: ``count`` an integer with digit grouping, ``quantity`` a real number
rounded to a whole one, ``date`` an ISO date, ``country`` an ISO 3166-1 alpha-2 code,
``text`` verbatim (identifiers, party names, and English rule text)."""

_COUNTRY = re.compile(r"^[A-Z]{2}$")


@dataclass(frozen=True)
class MessageSpec:
    english: str
    params: Mapping[str, ParamKind]


MESSAGES: dict[str, MessageSpec] = {
    "registry.rules.unclassified": MessageSpec(
        "the rules could not classify this {item}: {problem}",
        {"item": "text", "problem": "text"},
    ),
    "registry.transfer.licensed": MessageSpec(
        "{headline}; licence {licence} declared.",
        {"headline": "text", "licence": "text"},
    ),
    "registry.transfer.unlicensed": MessageSpec(
        "{headline}; no licence reference was declared. "
        "A licence may exist outside the registry: ask the shipper for it.",
        {"headline": "text"},
    ),
    "registry.transfer.undetermined": MessageSpec("{headline}", {"headline": "text"}),
    "registry.cluster.declared": MessageSpec(
        "Declared as required. {headline}", {"headline": "text"}
    ),
    "registry.compute.ceiling": MessageSpec(
        "Declared compute exceeds what the declared chips can do at 100 % of peak for the "
        "declared chip-hours: the chips, hours or compute are misdeclared.",
        {},
    ),
    "registry.compute.low": MessageSpec(
        "Declared compute is below the hardware estimate at 30 % utilisation: possible "
        "under-reporting, or a badly run job.",
        {},
    ),
    "registry.compute.architecture": MessageSpec(
        "Declared compute is outside 6·N·D (widened x1.5) for the declared parameters and tokens.",
        {},
    ),
    "registry.cap.prohibited": MessageSpec(
        "{party}'s own declared compute crosses {clause}: prohibited without prior inspection.",
        {"party": "text", "clause": "text"},
    ),
    "registry.cap.declared": MessageSpec(
        "{party}'s own declared compute crosses {clause}: a declarable run, and it is declared.",
        {"party": "text", "clause": "text"},
    ),
    "registry.release.checked": MessageSpec("{headline}", {"headline": "text"}),
    "registry.release.uninspected": MessageSpec(
        "{headline}; no inspection reference for a model past the cap.", {"headline": "text"}
    ),
    "registry.balance.unaccounted": MessageSpec(
        "{party} declared {declared} chips on hand at {facility} ({country}) on {date}, but "
        "its own inventory, receipts and shipments give {book}: {missing} chips unaccounted "
        "for.",
        {
            "party": "text",
            "declared": "count",
            "facility": "text",
            "country": "country",
            "date": "date",
            "book": "count",
            "missing": "count",
        },
    ),
    "registry.balance.surplus": MessageSpec(
        "{facility} declared {surplus} more chips on hand than its book balance: an "
        "undeclared receipt.",
        {"facility": "text", "surplus": "count"},
    ),
    "registry.transfer.difference": MessageSpec(
        "{shipper} shipped {shipped} chips; {receiver} declared receiving {received}.",
        {"shipper": "text", "shipped": "count", "receiver": "text", "received": "count"},
    ),
    "registry.transfer.unreceived": MessageSpec(
        "Transfer {transfer} of {date}: {party} never declared receiving it within {days} days.",
        {"transfer": "text", "date": "date", "party": "text", "days": "count"},
    ),
    "registry.transfer.unshipped": MessageSpec(
        "Transfer {transfer} of {date}: {party} never declared shipping it within {days} days.",
        {"transfer": "text", "date": "date", "party": "text", "days": "count"},
    ),
    "registry.transfer.unconfirmed_shipment": MessageSpec(
        "{claimant} declared shipping transfer {transfer} on {date}; no receipt of it has been "
        "declared within {days} days.",
        {"claimant": "text", "transfer": "text", "date": "date", "days": "count"},
    ),
    "registry.transfer.unconfirmed_receipt": MessageSpec(
        "{claimant} declared receiving transfer {transfer} on {date}; no shipment of it has "
        "been declared within {days} days.",
        {"claimant": "text", "transfer": "text", "date": "date", "days": "count"},
    ),
    "registry.cap.share": MessageSpec(
        "{capped} {chip} were declared shipped to China and Macau under {clause}, more than "
        "{share} % of the {base} declared shipped to US end users: the cap is exceeded unless "
        "shipments outside the registry make up the difference.",
        {"chip": "text", "capped": "count", "clause": "text", "share": "count", "base": "count"},
    ),
    "registry.cluster.undeclared": MessageSpec(
        "{facility} holds {h100e} H100-equivalents but no cluster is declared there (A-1 "
        "applies if they are operated as one).",
        {"facility": "text", "h100e": "quantity"},
    ),
    "registry.incident.late": MessageSpec(
        "{party} reported incident '{incident}' at {reported}, after the {hours}-hour deadline "
        "{due} of {citation}.",
        {
            "party": "text",
            "incident": "text",
            "reported": "text",
            "hours": "count",
            "due": "text",
            "citation": "text",
        },
    ),
    "registry.incident.overdue": MessageSpec(
        "{party} declared incident '{incident}' detected at {detected}; the {hours}-hour "
        "deadline of {citation} passed at {due} and no report under it has been declared.",
        {
            "party": "text",
            "incident": "text",
            "detected": "text",
            "hours": "count",
            "citation": "text",
            "due": "text",
        },
    ),
    "registry.inspection.location_balance": MessageSpec(
        "The {count} chips the book holds at facility {facility} ({country}) are in question: "
        "a location inspection (log entry {leaf}) found the facility's declared responders "
        "answering from outside {country}.",
        {"count": "count", "facility": "text", "country": "country", "leaf": "text"},
    ),
    "registry.inspection.derived_controls": MessageSpec(
        "Model {model} by {party}, declared {claim}, derives from {parent} (log entry {leaf}); "
        "the release is flagged under the clauses that cover {parent}: {clauses}.",
        {
            "model": "text",
            "party": "text",
            "claim": "text",
            "parent": "text",
            "leaf": "text",
            "clauses": "text",
        },
    ),
    "registry.inspection.undeclared_run": MessageSpec(
        "{provider}'s customer records attribute {accounts} account(s) at facility {facility} "
        "to {customer}; together they ran at least {flop} FLOP with no matching training-run "
        "declaration (log entry {leaf}). The attribution is the provider's: {customer} is "
        "asked to answer it.",
        {
            "provider": "text",
            "accounts": "count",
            "facility": "text",
            "customer": "text",
            "flop": "text",
            "leaf": "text",
        },
    ),
    "registry.inspection.unreported_run": MessageSpec(
        "{provider}'s own telemetry of facility {facility} shows {runs} customer run(s) with no "
        "matching training-run declaration, the largest of at least {flop} FLOP, and its "
        "compute reports do not list them (log entry {leaf}).",
        {"provider": "text", "facility": "text", "runs": "count", "flop": "text", "leaf": "text"},
    ),
}


def placeholders(template: str) -> set[str]:
    """The named fields of a template; raises ValueError for anything but plain ``{name}``.

    Translations are formatted with ``str.format``, so a field with a format spec,
    conversion, index or attribute would be a hole a catalogue edit could open.
    """
    names = set()
    for _text, name, spec, conversion in string.Formatter().parse(template):
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ValueError(f"placeholder {{{name}}} in {template!r} is not a plain name")
        names.add(name)
    return names


def _fits(kind: ParamKind, value: object) -> bool:
    if isinstance(value, bool):
        return False
    if kind == "count":
        return isinstance(value, int)
    if kind == "quantity":
        return isinstance(value, int | float)
    if kind == "country":
        return isinstance(value, str) and bool(_COUNTRY.match(value))
    if kind == "date":
        if not isinstance(value, str):
            return False
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return False
        return True
    return isinstance(value, str)


def spec_for(msg: Mapping[str, object] | Message | None) -> MessageSpec | None:
    """The spec a stored message can be rendered with, or None (unknown id, wrong values).

    Stored messages come from log entries, which may be older or newer than this code.
    """
    if isinstance(msg, Message):
        ident: object = msg.id
        params: object = msg.params
    elif isinstance(msg, Mapping):
        ident, params = msg.get("id"), msg.get("params", {})
    else:
        return None
    spec = MESSAGES.get(ident) if isinstance(ident, str) else None
    if spec is None or not isinstance(params, Mapping):
        return None
    if not all(name in params and _fits(kind, params[name]) for name, kind in spec.params.items()):
        return None
    return spec


def message(ident: str, **params: MessageParam) -> Message:
    """A message with exactly the values its spec names, each of the right kind."""
    spec = MESSAGES[ident]
    if set(params) != set(spec.params) or spec_for({"id": ident, "params": params}) is None:
        raise ValueError(f"message {ident} takes {dict(spec.params)}, got {params!r}")
    return Message(id=ident, params=params)


def _english_value(kind: ParamKind, value: MessageParam) -> str:
    if kind == "count":
        return f"{value:,}"
    if kind == "quantity":
        return f"{value:,.0f}"
    return str(value)


def english(msg: Message) -> str:
    """The English explanation of a message: the text that is signed into the log."""
    spec = MESSAGES[msg.id]
    return spec.english.format_map(
        {name: _english_value(kind, msg.params[name]) for name, kind in spec.params.items()}
    )
