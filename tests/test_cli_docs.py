"""docs/cli.md is generated from the CLI; this fails when the two drift apart."""

from __future__ import annotations

from pathlib import Path

from accord.cli.docgen import render

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def test_cli_md_is_what_the_cli_generates() -> None:
    generated = render()
    assert DOC.read_text(encoding="utf-8") == generated, (
        "docs/cli.md is out of date: run `python -m accord.cli.docgen > docs/cli.md`"
    )


def test_every_command_group_is_documented() -> None:
    import typer.main

    from accord.cli.main import app

    groups = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    text = DOC.read_text(encoding="utf-8")
    assert len(groups) >= 13  # demo, locate, serve and ten groups
    for name in groups:
        assert f"### `accord {name}`" in text, name
