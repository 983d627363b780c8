"""A registry in this process on real SQLite files, with a clock the test moves."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accord.errors import AccordError
from accord.ledger import Signer
from accord.registry.service import Registry, Settings, load_or_create_key
from accord.registry.signing import make_declaration, party_key, sign


@dataclass
class Clock:
    now: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC))

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, days: float) -> None:
        self.now += dt.timedelta(days=days)


@dataclass
class Harness:
    var: Path
    clock: Clock = field(default_factory=Clock)
    keys: dict[str, Signer] = field(default_factory=dict)
    registry: Registry | None = None

    def settings(self) -> Settings:
        return Settings(
            db_url=f"sqlite:///{self.var / 'registry.sqlite'}",
            ledger=str(self.var / "ledger.sqlite"),
            log_key=load_or_create_key(self.var / "log.key", "test.accord.local/log"),
            clock=self.clock,
            state_file=self.var / "registry.state",
        )

    def start(self) -> Registry:
        self.var.mkdir(parents=True, exist_ok=True)
        self.registry = Registry(self.settings())
        return self.registry

    def restart(self) -> Registry:
        self.reg.close()
        return self.start()

    @property
    def reg(self) -> Registry:
        assert self.registry is not None
        return self.registry

    def party(self, pid: str, country: str = "US", role: str = "lab") -> Signer:
        key = party_key(pid)
        self.reg.register_party(pid, pid, role, country, key.verifier.vkey)
        self.keys[pid] = key
        return key

    def signed(self, pid: str, kind: str, body: dict[str, Any], nonce: str | None = None) -> bytes:
        decl = make_declaration(pid, kind, body, self.clock(), nonce)
        return sign(decl, self.keys[pid]).model_dump_json().encode()

    def file(self, pid: str, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.reg.submit(self.signed(pid, kind, body), timeout=60)

    def status(self, pid: str, kind: str, body: dict[str, Any]) -> int:
        """201, or the status the registry refuses with (never a non-registry error)."""
        try:
            self.file(pid, kind, body)
        except AccordError as err:
            return int(getattr(err, "status", 422))
        return 201
