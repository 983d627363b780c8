"""The `accord` command line: a thin shell over the library, one module per command group.

Each module in this package that defines ``app`` (a ``typer.Typer``) and ``NAME`` is added
as a command group by :mod:`accord.cli.main`. Modules import heavy dependencies (torch,
FastAPI, DuckDB) inside their commands so that ``accord --help`` stays fast.
"""
