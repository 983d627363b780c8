"""Countries and country groups.

Country codes are ISO 3166-1 alpha-2, validated against CLDR's territory list as shipped
by Babel (which also gives English and Chinese names); group membership is dated data in
``data/country_groups.yaml`` because the EAR's groups change with each rule.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from importlib import resources

import yaml
from babel import Locale
from pydantic import ValidationError

from accord.errors import AccordError, NotFoundError
from accord.rules.schema import GroupSet

# CLDR codes that are not countries or territories a shipment can go to.
_NOT_COUNTRIES = {"EU", "EZ", "QO", "UN", "XA", "XB", "ZZ"}


@lru_cache(maxsize=1)
def _territories() -> dict[str, str]:
    names = Locale("en").territories
    return {
        code: str(name)
        for code, name in names.items()
        if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
    }


@lru_cache(maxsize=1)
def _aliases() -> dict[str, str]:
    """Former ISO short names and common short forms, upper-cased (data/country_aliases.yaml)."""
    text = resources.files("accord.rules").joinpath("data/country_aliases.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)["aliases"]
    known = _territories()
    out = {}
    for name, code in raw.items():
        if code not in known:
            raise AccordError(f"country_aliases.yaml:{name}", f"unknown code {code!r}")
        out[str(name).upper()] = str(code)
    return out


def country_name(code: str, locale: str = "en") -> str:
    names = Locale.parse(locale).territories
    return str(names.get(code, code))


def normalise_country(code: str, field: str = "country") -> str:
    """Return the ISO alpha-2 code for ``code`` (a code or an English name) or explain."""
    raw = code.strip()
    upper = raw.upper()
    known = _territories()
    if upper in known:
        return upper
    by_name = {name.upper(): c for c, name in known.items()}
    if upper in by_name:
        return by_name[upper]
    aliases = _aliases()
    if upper in aliases:
        return aliases[upper]
    everything = {**by_name, **aliases}
    close = difflib.get_close_matches(upper, list(everything), n=3, cutoff=0.75)
    if not close and len(upper) >= 4:
        # "Korea" for "South Korea", "Hong" for "Hong Kong SAR China": whole words of a name
        close = [n for n in sorted(everything) if f" {upper} " in f" {n} "][:3]
    codes = list(dict.fromkeys(everything[c] for c in close))
    hint = ", ".join(f"{c} ({known[c]})" for c in codes)
    fix = f"did you mean {hint}?" if hint else "use an ISO 3166-1 alpha-2 code such as CN, MY, AE"
    raise NotFoundError(field, f"unknown country code {code!r}", fix)


@lru_cache(maxsize=1)
def group_sets() -> dict[str, GroupSet]:
    text = resources.files("accord.rules").joinpath("data/country_groups.yaml").read_text("utf-8")
    raw = yaml.safe_load(text)
    out: dict[str, GroupSet] = {}
    for i, entry in enumerate(raw.get("group_sets", [])):
        try:
            gs = GroupSet.model_validate(entry)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"])
            raise AccordError(f"country_groups.yaml:group_sets[{i}].{loc}", first["msg"]) from None
        for members in gs.groups.values():
            for member in members:
                normalise_country(member, f"country_groups.yaml:{gs.id}")
        out[gs.id] = gs
    return out


def groups_of(country: str, set_ids: list[str]) -> frozenset[str]:
    """All group names (e.g. 'D:5', 'Tier 1') that ``country`` belongs to in these sets.

    Sets are applied in order and a later set that defines a group replaces that group's
    membership, so a new rule version can amend one group (say D:5) with a dated set.
    """
    sets = group_sets()
    merged: dict[str, list[str]] = {}
    for set_id in set_ids:
        gs = sets.get(set_id)
        if gs is None:
            raise AccordError("country_groups", f"rule set refers to unknown group set {set_id!r}")
        merged.update(gs.groups)
    return frozenset(name for name, members in merged.items() if country in members)
