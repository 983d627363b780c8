"""English and Chinese for the dashboard: gettext catalogs plus CLDR formatting (Babel).

The Chinese catalog ships as a ``.po`` file and is compiled in memory at start-up, so there
is no build step and no stale ``.mo``. Numbers, dates and country names come from CLDR
through Babel, so both parties read their own conventions.

Findings are explained in English in the signed record; :func:`finding_text` shows a
finding's message (id and values, :mod:`accord.registry.messages`) through the catalogue
instead, where the catalogue entry has the message id as its ``msgctxt`` and the English
template as its ``msgid``.
"""

from __future__ import annotations

import datetime as dt
import gettext
import io
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from babel import Locale
from babel.dates import format_date
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

from accord.registry.messages import ParamKind, spec_for

LANGUAGES = {"en": "en", "zh": "zh_Hans_CN"}
"""Language code in URLs and cookies -> CLDR locale."""


def _catalog(lang: str) -> Catalog:
    locale = LANGUAGES[lang]
    path = resources.files("accord.registry").joinpath(f"locale/{locale}/LC_MESSAGES/messages.po")
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


@lru_cache(maxsize=4)
def translations(lang: str) -> gettext.NullTranslations:
    if lang == "en":
        return gettext.NullTranslations()
    buf = io.BytesIO()
    write_mo(buf, _catalog(lang))
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def catalog_ids(lang: str) -> dict[str, str]:
    """msgid -> msgstr of a catalog's entries without a context (tests find untranslated ones)."""
    return {str(m.id): str(m.string) for m in _catalog(lang) if m.id and not m.context}


def catalog_messages(lang: str) -> dict[str, tuple[str, str]]:
    """Finding message id (msgctxt) -> (English msgid, msgstr) of a catalog."""
    return {
        str(m.context): (str(m.id), str(m.string)) for m in _catalog(lang) if m.id and m.context
    }


def number(value: float | int | None, lang: str, digits: int = 0) -> str:
    if value is None:
        return "—"
    fmt = "#,##0" if digits == 0 else "#,##0." + "0" * digits
    return format_decimal(value, format=fmt, locale=LANGUAGES[lang])


def flop(value: float | None, lang: str) -> str:
    if value is None:
        return "—"
    return f"{value:.3g}".replace("e+", "×10^").replace("e-", "×10^-") + " FLOP"


def date(value: dt.date | str | None, lang: str) -> str:
    if value is None:
        return "—"
    when = dt.date.fromisoformat(value) if isinstance(value, str) else value
    return format_date(when, format="medium", locale=LANGUAGES[lang])


def country(code: str, lang: str) -> str:
    name = Locale.parse(LANGUAGES[lang]).territories.get(code)
    return f"{name} ({code})" if name else code


def _value(kind: ParamKind, value: Any, lang: str) -> str:
    if kind in ("count", "quantity"):
        return number(value, lang)
    if kind == "date":
        return date(value, lang)
    if kind == "country":
        return country(value, lang)
    return str(value)


def finding_text(finding: Mapping[str, Any], lang: str) -> str:
    """A finding's explanation for a reader of ``lang``.

    English readers get the signed ``explanation`` itself. Others get the finding's message
    through the catalogue, with its values formatted by CLDR; a finding recorded before
    messages existed, an id this version does not know, values that do not fit the id, or a
    message without a translation all fall back to the signed English.
    """
    stored = str(finding.get("explanation", ""))
    if lang == "en":
        return stored
    raw = finding.get("message")
    spec = spec_for(raw)
    if spec is None or not isinstance(raw, Mapping):
        return stored
    ident = str(raw["id"])
    template = translations(lang).pgettext(ident, spec.english)
    if template == spec.english:
        return stored
    params = raw.get("params", {})
    try:
        values = {name: _value(kind, params[name], lang) for name, kind in spec.params.items()}
        return template.format_map(values)
    except (KeyError, ValueError, IndexError, AttributeError):
        return stored
