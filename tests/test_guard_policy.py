"""Policies are data: a published JSON Schema, strict loading, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from accord.errors import AccordError
from accord.guard import load_policy, parse_policy, policy_schema
from tests.cli_process import accord as run_accord

DATA = Path(__file__).parent / "data" / "guard"
POLICIES = [
    DATA / "mailbox.yaml",
    Path(__file__).parents[1] / "benchmarks" / "guard" / "agentdojo_policy.yaml",
]


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_shipped_policies_follow_the_published_schema(path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = policy_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    assert load_policy(path).digest() == load_policy(path).digest()


def test_schema_rejects_what_the_loader_rejects() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    bad = {"name": "x", "tools": {"send": {"effect": "write", "grant": ["send"]}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, policy_schema())
    with pytest.raises(AccordError, match=r"tools\.send\.grant"):
        parse_policy(bad)


def test_digest_changes_with_any_rule() -> None:
    base = load_policy(DATA / "mailbox.yaml")
    looser = base.model_copy(update={"delegation": "allow"})
    assert base.digest() != looser.digest()


def test_cli_check_and_schema(tmp_path: Path) -> None:
    ok = run_accord("guard", "check", str(DATA / "mailbox.yaml"), "--json")
    assert ok.returncode == 0
    assert json.loads(ok.stdout)["write_tools"] == ["delete_file", "send_email", "send_money"]
    schema = run_accord("guard", "schema")
    assert json.loads(schema.stdout)["title"] == "Policy"
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: x\ntools:\n  t: {effect: maybe}\n")
    bad = run_accord("guard", "check", str(broken))
    assert bad.returncode == 2
    assert "tools.t.effect" in bad.stderr and "Traceback" not in bad.stderr


def test_published_schema_is_the_one_the_code_enforces() -> None:
    published = Path(__file__).parents[1] / "docs" / "schemas" / "guard_policy.json"
    assert json.loads(published.read_text()) == policy_schema(), (
        "run `accord guard schema > docs/schemas/guard_policy.json`"
    )
