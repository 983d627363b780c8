"""Loading rule sets, resolving their version chains, and choosing what governs on a date."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml
from pydantic import ValidationError

from accord.errors import AccordError, NotFoundError
from accord.rules.schema import Clause, RuleSet

RuleSelector = date | str | RuleSet | Sequence[str | RuleSet] | None


def parse_rule_set(text: str, where: str) -> RuleSet:
    """Parse one rule-set file, naming the exact field of any mistake."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AccordError(where, f"not valid YAML ({exc})", "fix the syntax") from None
    if not isinstance(raw, dict):
        raise AccordError(where, "a rule-set file must be a mapping", "see docs/rules.md")
    try:
        return RuleSet.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise AccordError(f"{where}:{loc}", first["msg"], "see docs/rules.md") from None


def _stamp(rs: RuleSet) -> RuleSet:
    """Give each clause the compliance date of the version that introduced it.

    A new version's delayed compliance date must not suspend clauses it merely inherits.
    """
    if rs.compliance is None:
        return rs
    clauses = [
        c if c.binding_from is not None else c.model_copy(update={"binding_from": rs.compliance})
        for c in rs.clauses
    ]
    return rs.model_copy(update={"clauses": clauses})


@lru_cache(maxsize=1)
def _packaged() -> dict[str, RuleSet]:
    folder = resources.files("accord.rules").joinpath("data/rulesets")
    raw: dict[str, RuleSet] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".yaml"):
            rs = parse_rule_set(entry.read_text("utf-8"), f"rulesets/{entry.name}")
            if rs.id in raw:
                raise AccordError(f"rulesets/{entry.name}", f"duplicate rule-set id {rs.id!r}")
            raw[rs.id] = _stamp(rs)
    return {rs_id: _resolve(rs_id, raw, ()) for rs_id in raw}


def _resolve(rs_id: str, raw: dict[str, RuleSet], seen: tuple[str, ...]) -> RuleSet:
    """Flatten ``inherits`` so a resolved rule set carries every clause that governs."""
    rs = raw[rs_id]
    if rs.inherits is None:
        return rs
    if rs.inherits in seen or rs.inherits == rs_id:
        raise AccordError(f"rule set {rs_id}", "inheritance cycle", "fix 'inherits'")
    if rs.inherits not in raw:
        raise AccordError(f"rule set {rs_id}.inherits", f"unknown rule set {rs.inherits!r}")
    parent = _resolve(rs.inherits, raw, (*seen, rs_id))
    clauses: dict[str, Clause] = {c.id: c for c in parent.clauses}
    for gone in rs.remove:
        if gone not in clauses:
            raise AccordError(f"rule set {rs_id}.remove", f"no inherited clause {gone!r}")
        del clauses[gone]
    clauses.update({c.id: c for c in rs.clauses})
    groups = list(dict.fromkeys([*parent.country_groups, *rs.country_groups]))
    return rs.model_copy(update={"clauses": list(clauses.values()), "country_groups": groups})


def all_rule_sets() -> list[RuleSet]:
    return sorted(_packaged().values(), key=lambda r: (r.family, r.effective))


def get_rule_set(rs_id: str) -> RuleSet:
    sets = _packaged()
    if rs_id in sets:
        return sets[rs_id]
    close = difflib.get_close_matches(rs_id, list(sets), n=3, cutoff=0.5)
    fix = f"did you mean {', '.join(close)}?" if close else "run `accord rules list`"
    raise NotFoundError("rules", f"unknown rule set {rs_id!r}", fix)


def in_force(on: date, families: Iterable[str] | None = None) -> list[RuleSet]:
    """The latest version of each default family in force on ``on``."""
    wanted = set(families) if families is not None else None
    best: dict[str, RuleSet] = {}
    for rs in _packaged().values():
        if not rs.default or not rs.in_force(on):
            continue
        if wanted is not None and rs.family not in wanted:
            continue
        current = best.get(rs.family)
        if current is None or rs.effective > current.effective:
            best[rs.family] = rs
    return sorted(best.values(), key=lambda r: r.family)


def earliest(family: str) -> RuleSet | None:
    versions = [r for r in _packaged().values() if r.family == family]
    return min(versions, key=lambda r: r.effective) if versions else None


def load_rule_set_file(path: Path) -> RuleSet:
    """A user's own rule set (e.g. an agreement's caps); it may inherit a packaged one."""
    if not path.is_file():
        raise AccordError(str(path), "file not found", "give the path to a rule-set YAML file")
    rs = _stamp(parse_rule_set(path.read_text(encoding="utf-8"), str(path)))
    if rs.inherits is None:
        return rs
    raw = dict(_packaged())
    raw[rs.id] = rs
    return _resolve(rs.id, raw, ())


def select(selector: RuleSelector, on: date | None, families: Iterable[str]) -> list[RuleSet]:
    """Turn the ``rules_at`` argument of :func:`classify` into concrete rule sets."""
    if selector is None:
        selector = on or date.today()
    if isinstance(selector, date):
        chosen = in_force(selector, families)
        if not chosen:
            firsts = [e for f in families if (e := earliest(f)) is not None]
            first = min(firsts, key=lambda r: r.effective) if firsts else None
            hint = f"the earliest is {first.id}, in force from {first.effective}" if first else ""
            raise AccordError(
                "date",
                f"no rule set in Accord's data governs on {selector.isoformat()}",
                f"choose a later date; {hint}" if hint else "choose a later date",
            )
        return chosen
    if isinstance(selector, RuleSet):
        return [selector]
    if isinstance(selector, str):
        return [get_rule_set(selector)]
    return [s if isinstance(s, RuleSet) else get_rule_set(s) for s in selector]
