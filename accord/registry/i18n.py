"""English and Chinese for the dashboard: gettext catalogs plus CLDR formatting (Babel).

The Chinese catalog ships as a ``.po`` file and is compiled in memory at start-up, so there
is no build step and no stale ``.mo``. Numbers, dates and country names come from CLDR
through Babel, so both parties read their own conventions.
"""

from __future__ import annotations

import datetime as dt
import gettext
import io
from functools import lru_cache
from importlib import resources

from babel import Locale
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal

LANGUAGES = {"en": "en", "zh": "zh_Hans_CN"}
"""Language code in URLs and cookies -> CLDR locale."""


@lru_cache(maxsize=4)
def translations(lang: str) -> gettext.NullTranslations:
    if lang == "en":
        return gettext.NullTranslations()
    locale = LANGUAGES[lang]
    path = resources.files("accord.registry").joinpath(f"locale/{locale}/LC_MESSAGES/messages.po")
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def catalog_ids(lang: str) -> dict[str, str]:
    """msgid -> msgstr of a catalog (used by tests to find untranslated strings)."""
    locale = LANGUAGES[lang]
    path = resources.files("accord.registry").joinpath(f"locale/{locale}/LC_MESSAGES/messages.po")
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=locale)
    return {str(m.id): str(m.string) for m in catalog if m.id}


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
