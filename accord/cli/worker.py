"""`accord worker`: run inspection jobs from the registry's queue in separate processes."""

from __future__ import annotations

from pathlib import Path

import typer

from accord.cli.output import handle_errors


def register(app: typer.Typer) -> None:
    @app.command("worker")
    @handle_errors
    def worker(
        var: Path = typer.Option(Path("var"), help="The registry's --var directory."),
        db: str = typer.Option(None, "--db", help="The registry's database URL, if not SQLite."),
        workers: int = typer.Option(1, "--workers", min=1, max=64, help="Worker processes."),
        lease: float = typer.Option(
            30.0, "--lease", min=0.5, help="Seconds without a heartbeat before a job is retried."
        ),
    ) -> None:
        """Consume inspection jobs (huey over the registry's database) until interrupted."""
        from accord.registry.jobs import run_worker

        run_worker(db or f"sqlite:///{var.resolve() / 'registry.sqlite'}", var, workers, lease)
