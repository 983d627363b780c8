"""`accord serve`: run the safeguards registry (API and dashboard)."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import typer

from accord.cli.output import JSON_OPTION, handle_errors, print_json
from accord.errors import AccordError


def check_port(host: str, port: int) -> None:
    """Fail before anything is written (keys, tokens, the demo year) if the server could
    not listen: a port out of range, an address this machine does not have, a busy port."""
    if not 1 <= port <= 65535:
        raise AccordError("--port", f"{port} is not a TCP port", "give 1-65535, e.g. --port 8000")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as err:
        raise AccordError("--host", f"{host!r} is not an address here ({err.strerror})",
                          "use 127.0.0.1, 0.0.0.0 or this machine's name") from None  # fmt: skip
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # The server sets SO_REUSEADDR too, so a port in TIME_WAIT is not reported busy.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise AccordError(
                    "--port", f"{port} is already in use on {host}",
                    f"stop what listens there or choose another, e.g. --port {_free_port(host)}",
                ) from None  # fmt: skip
            if err.errno == errno.EACCES:
                raise AccordError(
                    "--port", f"{port} needs administrator rights on this machine",
                    "choose a port above 1023, e.g. --port 8000",
                ) from None  # fmt: skip
            raise AccordError(
                "--host", f"cannot listen on {host}:{port} ({err.strerror})",
                "use 127.0.0.1 or an address of this machine",
            ) from None  # fmt: skip


def _free_port(host: str) -> int:
    try:
        with socket.socket() as s:
            s.bind((host, 0))
            return int(s.getsockname()[1])
    except OSError:
        return 8080


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
        check_port(host, port)
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
            built = open_demo(out, db)
            if built is None:
                typer.echo(
                    "building the demonstration year and running its five inspections "
                    "(under a minute on two cores)…",
                    err=True,
                )
                built = build(out, db)
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
        try:
            run(registry, host, port, limits, publish_every)
        except SystemExit as stop:  # the server could not start after all (a lost race)
            if stop.code not in (0, None):
                raise AccordError(
                    "--port", f"the server could not listen on {host}:{port}",
                    "choose another --port",
                ) from None  # fmt: skip
            raise
