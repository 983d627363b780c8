"""Running the registry: settings from command-line values, uvicorn, periodic publishing."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from accord.ledger import Verifier, Witness
from accord.ledger.note import ALG_COSIGNATURE_V1, Signer
from accord.registry.api import Limits
from accord.registry.service import Registry, Settings, load_or_create_key

DEFAULT_ORIGIN = "registry.accord.local/log"
log = logging.getLogger("accord.registry")


def settings_for(
    var: Path,
    db: str | None = None,
    ledger: str | None = None,
    origin: str = DEFAULT_ORIGIN,
    witness_keys: list[str] | None = None,
) -> Settings:
    """SQLite files under ``var`` unless a database URL is given (the log then lives there too)."""
    var.mkdir(parents=True, exist_ok=True)
    db_url = db or f"sqlite:///{var / 'registry.sqlite'}"
    if ledger is None:
        ledger = (
            db
            if db and db.startswith(("postgresql://", "postgres://"))
            else str(var / "ledger.sqlite")
        )
    key = load_or_create_key(var / "log.key", origin)
    return Settings(
        db_url=db_url,
        ledger=ledger,
        log_key=key,
        state_file=var / "registry.state",
        witness_keys=[Verifier.parse(k) for k in (witness_keys or [])],
        var=var,
    )


def local_witness(var: Path, name: str, log: Verifier) -> Witness:
    """A witness whose key and state live under ``var`` (for single-machine setups)."""
    path = var / f"{name}.key"
    if path.exists():
        signer = Signer.parse(path.read_text(encoding="ascii"))
    else:
        signer = Signer.generate(name, ALG_COSIGNATURE_V1)
        path.write_text(signer.skey + "\n", encoding="ascii")
        path.chmod(0o600)
    return Witness(signer, [log], var / f"{name}.state.json")


class Recorder:
    """Every ``interval`` seconds: append the findings workers decided to the log."""

    def __init__(self, registry: Registry, interval: float = 0.5) -> None:
        self.registry, self.interval = registry, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.registry.record_inspections()
            except Exception:  # retried on the next tick; the rows stay decided
                log.exception("recording inspection findings failed")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


class Publisher:
    """Every ``interval`` seconds: run accountancy and publish a cosigned checkpoint."""

    def __init__(self, registry: Registry, interval: float) -> None:
        self.registry, self.interval = registry, interval
        self._stop = threading.Event()
        self._last = -1
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                size = self.registry.reader().size
                if size != self._last:
                    self.registry.run_accountancy()
                    self._last = self.registry.publish()["size"]
            except Exception:  # one failed round must not end publishing for good
                log.exception("accountancy or publishing failed; retrying next interval")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def serve(
    registry: Registry,
    host: str,
    port: int,
    limits: Limits | None = None,
    publish_every: float = 30.0,
) -> None:
    import uvicorn

    from accord.registry.api import create_app

    app = create_app(registry, limits)
    publisher = Publisher(registry, publish_every)
    publisher.start()
    recorder = Recorder(registry)
    recorder.start()
    try:
        # access_log off: request lines can carry query text; nothing sensitive is logged.
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        recorder.stop()
        publisher.stop()
        registry.close()
