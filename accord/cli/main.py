"""Entry point of the `accord` command: discovers the command groups in this package."""

from __future__ import annotations

import importlib
import pkgutil

import typer

import accord
import accord.cli

app = typer.Typer(
    name="accord",
    help="Accord — declare, account, verify and record AI compute under export controls "
    "and international AI agreements.",
    pretty_exceptions_enable=False,
    add_completion=False,
)

_NOT_GROUPS = {"main", "output", "docgen"}


def _register_groups() -> None:
    for info in sorted(pkgutil.iter_modules(accord.cli.__path__), key=lambda m: m.name):
        if info.name in _NOT_GROUPS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"accord.cli.{info.name}")
        group = getattr(module, "app", None)
        name = getattr(module, "NAME", None)
        if isinstance(group, typer.Typer) and isinstance(name, str):
            app.add_typer(group, name=name)
        register = getattr(module, "register", None)
        if callable(register):
            register(app)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        typer.echo(accord.__version__)
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit()


_register_groups()

if __name__ == "__main__":  # pragma: no cover
    app()
