"""Three-valued logic over intervals, and defensive parsing of rule files."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.compute.interval import Interval
from accord.errors import AccordError
from accord.rules import all_rule_sets, load_rule_set_file
from accord.rules.library import parse_rule_set
from accord.rules.logic import Classes, Tri, evaluate, tri_and, tri_not, tri_or

finite = st.floats(min_value=0, max_value=1e30, allow_nan=False)
ops = st.sampled_from(["gt", "ge", "lt", "le"])


@given(lo=finite, width=finite, threshold=finite, op=ops, frac=st.floats(0, 1))
def test_interval_verdict_agrees_with_every_point(
    lo: float, width: float, threshold: float, op: str, frac: float
) -> None:
    """TRUE/FALSE on an interval must hold for every point in it; UNKNOWN only if both occur."""
    hi = min(lo + width, 1e30)
    interval = Interval(lo=lo, hi=hi)
    point = lo + (hi - lo) * frac
    whole = evaluate({"metric": "x", op: threshold}, {"x": interval}, [])
    at_point = evaluate({"metric": "x", op: threshold}, {"x": point}, [])
    if whole is not Tri.UNKNOWN:
        assert at_point is whole
    else:
        at_lo = evaluate({"metric": "x", op: threshold}, {"x": lo}, [])
        at_hi = evaluate({"metric": "x", op: threshold}, {"x": hi}, [])
        assert at_lo is not at_hi


tri = st.sampled_from(list(Tri))


@given(a=tri, b=tri)
def test_kleene_laws(a: Tri, b: Tri) -> None:
    assert tri_not(tri_and([a, b])) is tri_or([tri_not(a), tri_not(b)])  # De Morgan
    assert tri_and([a, Tri.TRUE]) is a and tri_or([a, Tri.FALSE]) is a


def test_unknown_only_where_it_could_change_the_outcome() -> None:
    cond = {"any": [{"metric": "tpp", "ge": 4800}, {"metric": "pd", "ge": 5.92}]}
    assert evaluate(cond, {"tpp": 5000, "pd": None}, []) is Tri.TRUE
    assert evaluate(cond, {"tpp": 2000, "pd": None}, []) is Tri.UNKNOWN
    assert evaluate(cond, {"tpp": 2000, "pd": 1.0}, []) is Tri.FALSE


def test_partly_known_class_sets() -> None:
    cond = {"metric": "classes", "in": ["3A090.a"]}
    assert evaluate(cond, {"classes": Classes(definite=frozenset({"3A090.a"}))}, []) is Tri.TRUE
    maybe = Classes(possible=frozenset({"3A090.a"}))
    assert evaluate(cond, {"classes": maybe}, []) is Tri.UNKNOWN
    assert evaluate(cond, {"classes": Classes()}, []) is Tri.FALSE


def test_packaged_rule_sets_are_complete() -> None:
    sets = all_rule_sets()
    assert {"us-bis-2022-10", "us-bis-2023-10", "us-bis-2025-01", "eu-ai-act-2024"} <= {
        rs.id for rs in sets
    }
    for rs in sets:
        assert rs.url.startswith("http") and rs.citation and rs.retrieved
        for clause in rs.clauses:
            assert clause.citation, (rs.id, clause.id)


_BASE: dict[str, Any] = {
    "id": "mine",
    "family": "agreement",
    "title": "t",
    "jurisdiction": "INTL",
    "authority": "a",
    "citation": "c",
    "url": "https://example.org",
    "published": "2026-01-01",
    "effective": "2026-01-01",
    "retrieved": "2026-01-01",
    "default": False,
}


def test_user_agreement_file_inherits_and_is_validated(tmp_path: Path) -> None:
    good = dict(_BASE)
    good["clauses"] = [
        {
            "id": "cap",
            "kind": "threshold",
            "title": "cap",
            "citation": "art 1",
            "applies_to": ["model"],
            "when": {"metric": "training_compute", "gt": 1e24},
        }
    ]
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(good))
    assert load_rule_set_file(path).clauses[0].id == "cap"
    good["clauses"][0]["when"] = {"metric": "training_compute", "gt": "lots"}
    path.write_text(yaml.safe_dump(good))
    with pytest.raises(AccordError, match="threshold must be a number"):
        load_rule_set_file(path)


def test_missing_rule_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(AccordError, match="file not found"):
        load_rule_set_file(tmp_path / "absent.yaml")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=10,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    patch=st.dictionaries(
        st.sampled_from([*list(_BASE), "clauses", "inherits", "remove", "ends"]), json_values
    )
)
def test_rule_parser_never_crashes(patch: dict[str, Any]) -> None:
    """Arbitrary rule files either parse or raise AccordError — never anything else."""
    doc = {**_BASE, **patch}
    try:
        text = yaml.safe_dump(doc)
    except yaml.YAMLError:
        return
    with contextlib.suppress(AccordError):
        parse_rule_set(text, "fuzz.yaml")


@settings(max_examples=200)
@given(text=st.text(max_size=200))
def test_rule_parser_survives_garbage_text(text: str) -> None:
    with contextlib.suppress(AccordError):
        parse_rule_set(text, "garbage.yaml")
