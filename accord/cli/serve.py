"""`accord serve`: run the safeguards registry (API and dashboard)."""

from __future__ import annotations

from pathlib import Path

import typer

from accord.cli.output import JSON_OPTION, handle_errors, print_json


def register(app: typer.Typer) -> None:
    @app.command("serve")
    @handle_errors
    def serve(
        host: str = typer.Option("127.0.0.1", help="Address to listen on."),
        port: int = typer.Option(8000, help="TCP port."),
        var: Path = typer.Option(Path("var"), help="Directory for SQLite files and keys."),
        db: str = typer.Option(
            None, "--db", help="Database URL (sqlite:///PATH or postgresql://...)."
        ),
        demo: bool = typer.Option(False, "--demo", help="Load the demonstration year first."),
        witness: list[str] = typer.Option(
            [], "--witness-key", help="Verifier key of an external witness (repeatable)."
        ),
        local_witnesses: int = typer.Option(
            0, help="Run this many witnesses in-process (keys under --var)."
        ),
        publish_every: float = typer.Option(30.0, help="Seconds between published checkpoints."),
        rate: float = typer.Option(50.0, help="Requests per second per client address."),
        declaration_rate: float = typer.Option(20.0, help="Declarations per second per party."),
        as_json: bool = JSON_OPTION,
    ) -> None:
        """Serve the registry API and dashboard (SQLite under --var by default)."""
        from accord.registry.api import Limits
        from accord.registry.server import local_witness, settings_for
        from accord.registry.server import serve as run
        from accord.registry.service import Registry

        limits = Limits(
            requests_per_second=rate,
            burst=max(1, int(rate * 4)),
            declarations_per_second=declaration_rate,
            declaration_burst=max(1, int(declaration_rate * 5)),
        )
        if demo:
            from accord.registry.demo import build, open_demo, summary

            # --var may name a demo built by `accord registry demo --out DIR` itself.
            out = var if (var / "keys").is_dir() else var / "demo"
            # A demo built before is reopened as it was: deleting it would let the same
            # log key sign a different tree of a size it already signed.
            built = open_demo(out, db) or build(out, db)
            registry = built.registry
            info = summary(registry)
        else:
            settings = settings_for(var, db, witness_keys=witness)
            registry = Registry(settings)
            for n in range(local_witnesses):
                w = local_witness(var, f"witness-{n + 1}.local", registry.log_key)
                settings.witnesses.append(w)
                settings.witness_keys.append(w.signer.verifier)
            info = {"log_size": registry.reader().size, "log_key": registry.log_key.vkey}
            if not registry.has_tokens():
                token = registry.create_token("first inspector token")
                path = var / "inspector.token"
                path.write_text(token + "\n", encoding="ascii")
                path.chmod(0o600)
                info["inspector_token_file"] = str(path)
        info["url"] = f"http://{host}:{port}/"
        if as_json:
            print_json(info)
        else:
            typer.echo(f"Accord registry on {info['url']} (log key {info['log_key']})")
            if "inspector_token_file" in info:
                typer.echo(f"inspector token written to {info['inspector_token_file']}")
        run(registry, host, port, limits, publish_every)
