"""`accord cluster classify`: what a cluster of mixed chips adds up to."""

from __future__ import annotations

from pathlib import Path

import typer
import yaml

from accord.cli import _render
from accord.cli._parse import iso_date, today, yaml_error
from accord.cli.output import JSON_OPTION, console, handle_errors, print_json
from accord.errors import AccordError
from accord.rules import ClusterItem, RuleSet, classify, load_rule_set_file
from accord.rules.countries import normalise_country

NAME = "cluster"
app = typer.Typer(help="Clusters: aggregate TPP and H100-equivalents, classes and thresholds.")


def load_cluster(path: Path) -> ClusterItem:
    """Read a cluster file: ``name``, optional ``country``, and ``chips: [{chip, count}]``."""
    if not path.is_file():
        raise AccordError(str(path), "file not found", "give the path to a cluster YAML file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise yaml_error(str(path), exc) from None
    if not isinstance(raw, dict):
        raise AccordError(str(path), "must be a mapping with 'chips'", "see examples/cluster.yaml")
    raw.setdefault("kind", "cluster")
    if raw.get("country"):
        raw["country"] = normalise_country(str(raw["country"]), f"{path}:country")
    from accord.rules import parse_item

    item = parse_item(raw)
    if not isinstance(item, ClusterItem):
        raise AccordError(f"{path}:kind", "must be 'cluster'")
    return item


def _agreement(path: Path) -> RuleSet:
    """An agreement's rule-set file; its YAML syntax is checked here first so that a
    mistake is reported as one line with its line and column."""
    if path.is_file():
        try:
            yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise yaml_error(str(path), exc) from None
    return load_rule_set_file(path)


@app.command("classify")
@handle_errors
def classify_cluster(
    path: Path = typer.Argument(..., help="Cluster YAML file (see examples/cluster.yaml)."),
    date: str | None = typer.Option(None, "--date", help="Rules in force on YYYY-MM-DD."),
    agreement: Path | None = typer.Option(
        None, "--agreement", help="Also apply an agreement's rule-set file (opt-in caps)."
    ),
    show_all: bool = typer.Option(False, "--all", help="Also list clauses that do not apply."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Aggregate a cluster (stacking many weaker chips stays visible) and classify it."""
    cluster = load_cluster(path)
    extra = [_agreement(agreement)] if agreement else []
    verdict = classify(cluster, rules_at=iso_date(date) or today(), extra_rules=extra)
    if as_json:
        print_json(verdict)
        return
    _render.verdict(verdict, show_all=show_all)
    for part in verdict.parts:
        console.print(f"  [dim]chip[/] {part.headline}")
