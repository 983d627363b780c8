"""A deterministic demonstration year: states, labs and clouds declaring through 2026.

Two states (US, CN), their labs and clouds, and a cloud provider in a third country (MY).
The story a visitor can find from the dashboard: a US cloud exports 4,000 B200 to a
Malaysian data centre (licensed, confirmed received); the Malaysian operator later
re-ships 1,000 of them to a warehouse in China without a licence (a high-severity rule
finding), and its autumn inventory declares 800 fewer chips than its own book balance
(chips unaccounted for: an inconsistency). Everything else balances, so the diversion
stands out on the balances and findings pages.

Every build makes fresh keys (the log's, the witnesses' and each party's), kept with mode
0600 under the demo directory, so nobody else can file as a demo party or sign a demo
checkpoint. Serving the same directory again reopens that registry as it was: a log key
never signs two different trees of one size. ``seeded=True`` derives every key from a
public seed instead, so two builds file the same declarations (for tests and documentation;
such keys protect nothing); the inspections that follow draw their ids at random, as real
ones must, so only a build without them repeats its root hash exactly.

The year ends with five inspections on real evidence (:mod:`accord.registry.demo_inspections`):
Frontier Labs' probe run replays consistent; Dragon AI's transcript shows three times the
compute it declared; Dragon-3, declared as trained from scratch, derives from Frontier-7; the
Johor Bahru responders answer from China; and Straits Cloud's own Slurm export shows a
customer run above the agreement's threshold, split over two accounts, that nobody declared.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accord.ledger import Signer, Witness
from accord.ledger.note import ALG_COSIGNATURE_V1, ALG_ED25519
from accord.registry.service import Registry, Settings
from accord.registry.signing import make_declaration, sign

DEMO_ORIGIN = "demo.accord.example/registry"


DEMO_CLOSES = dt.date(2026, 12, 31)
"""The demonstration year's accounts are shown as of this date (or today, if later)."""


def demo_signer(name: str, alg: int = ALG_ED25519) -> Signer:
    """A key from a PUBLIC seed: reproducible, and therefore no protection at all."""
    seed = hashlib.sha256(f"accord-demo-key:{name}".encode()).digest()
    return Signer(name, alg, seed)


def _key(out: Path, name: str, alg: int, seeded: bool) -> Signer:
    """The key ``name`` kept under ``out/keys`` (created on first use, mode 0600)."""
    if seeded:
        return demo_signer(name, alg)
    path = out / "keys" / (name.replace("/", "_") + ".key")
    if path.exists():
        return Signer.parse(path.read_text(encoding="ascii"))
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    signer = Signer.generate(name, alg)
    with path.open("x", encoding="ascii") as fh:
        path.chmod(0o600)
        fh.write(signer.skey + "\n")
    return signer


class DemoClock:
    """Fixed time while loading the scenario, the real clock afterwards."""

    def __init__(self) -> None:
        self.fixed: dt.datetime | None = None

    def __call__(self) -> dt.datetime:
        return self.fixed or dt.datetime.now(dt.UTC)

    def timestamp(self) -> float:
        return self().timestamp()


PARTIES = [
    ("state-us", "United States (party)", "state", "US"),
    ("state-cn", "China (party)", "state", "CN"),
    ("frontier-us", "Frontier Labs (US)", "lab", "US"),
    ("hyperscale-us", "Hyperscale Cloud (US)", "cloud", "US"),
    ("dragon-ai", "Dragon AI Lab (CN)", "lab", "CN"),
    ("straits-cloud", "Straits Cloud (MY)", "cloud", "MY"),
]


def _facility(fid: str, name: str, country: str, site: str = "datacenter") -> dict[str, Any]:
    return {"facility_id": fid, "name": name, "country": country, "site_type": site}


def _inv(fid: str, when: str, **chips: int) -> dict[str, Any]:
    return {
        "facility_id": fid,
        "as_of": when,
        "chips": [{"chip": c.replace("_", "-"), "count": n} for c, n in chips.items()],
    }


def _transfer(
    tid: str, role: str, when: str, src: tuple[str, str], dst: tuple[str, str], **extra: Any
) -> dict[str, Any]:
    chips = extra.pop("chips")
    return {
        "transfer_id": tid,
        "role": role,
        "date": when,
        "from_facility": src[0],
        "from_country": src[1],
        "to_facility": dst[0],
        "to_country": dst[1],
        "chips": [{"chip": c, "count": n} for c, n in chips.items()],
        **extra,
    }


VA = ("hs-va-1", "US")
FR = ("fr-dc-1", "US")
JB = ("sc-jb-1", "MY")
BJ = ("dr-bj-1", "CN")
GOV = ("cn-gov-1", "CN")
SZ = ("sz-wh-9", "CN")


def scenario() -> list[tuple[str, str, str, dict[str, Any]]]:
    """(date, party, kind, body) in filing order."""
    s: list[tuple[str, str, str, dict[str, Any]]] = [
        ("2026-01-05", "hyperscale-us", "facility", _facility("hs-va-1", "Ashburn 1", "US")),
        ("2026-01-05", "frontier-us", "facility", _facility("fr-dc-1", "Frontier DC", "US")),
        ("2026-01-06", "dragon-ai", "facility", _facility("dr-bj-1", "Beijing compute", "CN")),
        (
            "2026-01-06",
            "state-cn",
            "facility",
            _facility("cn-gov-1", "National lab 1", "CN", "lab"),
        ),
        ("2026-01-07", "straits-cloud", "facility", _facility("sc-jb-1", "Johor Bahru 1", "MY")),
        (
            "2026-01-10",
            "hyperscale-us",
            "chip_inventory",
            _inv("hs-va-1", "2026-01-10", H200=30000, B200=8000),
        ),
        ("2026-01-10", "frontier-us", "chip_inventory", _inv("fr-dc-1", "2026-01-10", H100=24000)),
        (
            "2026-01-11",
            "dragon-ai",
            "chip_inventory",
            _inv("dr-bj-1", "2026-01-11", H20=12000, ASCEND_910B=8000),
        ),
        (
            "2026-01-11",
            "state-cn",
            "chip_inventory",
            _inv("cn-gov-1", "2026-01-11", ASCEND_910C=6000),
        ),
        ("2026-01-12", "straits-cloud", "chip_inventory", _inv("sc-jb-1", "2026-01-12", L40S=2000)),
        (
            "2026-01-20",
            "frontier-us",
            "cluster",
            {
                "cluster_id": "fr-c1",
                "facility_id": "fr-dc-1",
                "as_of": "2026-01-20",
                "chips": [{"chip": "H100", "count": 24000}],
                "interconnect": "InfiniBand NDR",
            },
        ),
        (
            "2026-01-21",
            "hyperscale-us",
            "cluster",
            {
                "cluster_id": "hs-c1",
                "facility_id": "hs-va-1",
                "as_of": "2026-01-21",
                "chips": [{"chip": "H200", "count": 30000}],
            },
        ),
        (
            "2026-01-22",
            "dragon-ai",
            "cluster",
            {
                "cluster_id": "dr-c1",
                "facility_id": "dr-bj-1",
                "as_of": "2026-01-22",
                "chips": [{"chip": "ASCEND-910B", "count": 8000}],
            },
        ),
        (
            "2026-02-10",
            "hyperscale-us",
            "transfer",
            _transfer(
                "T-2026-001",
                "shipment",
                "2026-02-10",
                VA,
                JB,
                chips={"B200": 4000},
                end_user="Straits Cloud",
                end_user_hq="MY",
                license_ref="D-2026-0117",
            ),
        ),
        (
            "2026-02-20",
            "straits-cloud",
            "transfer",
            _transfer("T-2026-001", "receipt", "2026-02-20", VA, JB, chips={"B200": 4000}),
        ),
        (
            "2026-03-02",
            "frontier-us",
            "training_run",
            {
                "run_id": "frontier-7",
                "phase": "start",
                "date": "2026-03-02",
                "facility_id": "fr-dc-1",
                "cluster_id": "fr-c1",
                "chip": "H100",
                "chip_count": 20000,
                "params": 4.0e11,
                "model_name": "Frontier-7",
            },
        ),
        (
            "2026-03-31",
            "straits-cloud",
            "chip_inventory",
            _inv("sc-jb-1", "2026-03-31", L40S=2000, B200=4000),
        ),
        (
            "2026-04-03",
            "hyperscale-us",
            "transfer",
            _transfer("T-2026-002", "shipment", "2026-04-03", VA, FR, chips={"H200": 8000}),
        ),
        (
            "2026-04-08",
            "frontier-us",
            "transfer",
            _transfer("T-2026-002", "receipt", "2026-04-08", VA, FR, chips={"H200": 8000}),
        ),
        (
            "2026-04-15",
            "dragon-ai",
            "training_run",
            {
                "run_id": "dragon-3",
                "phase": "start",
                "date": "2026-04-15",
                "facility_id": "dr-bj-1",
                "cluster_id": "dr-c1",
                "chip": "ASCEND-910B",
                "chip_count": 8000,
                "params": 1.4e11,
            },
        ),
        (
            "2026-05-05",
            "hyperscale-us",
            "transfer",
            _transfer(
                "T-2026-003",
                "shipment",
                "2026-05-05",
                VA,
                BJ,
                chips={"H200": 2000},
                end_user="Dragon AI Lab",
                end_user_hq="CN",
                license_ref="L-2026-5521",
            ),
        ),
        (
            "2026-05-19",
            "dragon-ai",
            "transfer",
            _transfer("T-2026-003", "receipt", "2026-05-19", VA, BJ, chips={"H200": 2000}),
        ),
        (
            "2026-06-01",
            "frontier-us",
            "training_run",
            {
                "run_id": "frontier-7",
                "phase": "progress",
                "date": "2026-06-01",
                "facility_id": "fr-dc-1",
                "cluster_id": "fr-c1",
                "chip": "H100",
                "chip_count": 20000,
                "chip_hours": 2.0e7,
                "compute_flop": 2.6e25,
            },
        ),
        (
            "2026-06-12",
            "straits-cloud",
            "transfer",
            _transfer(
                "T-2026-004",
                "shipment",
                "2026-06-12",
                JB,
                SZ,
                chips={"B200": 1000},
                end_user="Shenzhen Jiasu Trading",
                end_user_hq="CN",
            ),
        ),
        (
            "2026-06-30",
            "hyperscale-us",
            "chip_inventory",
            _inv("hs-va-1", "2026-06-30", H200=20000, B200=4000),
        ),
        (
            "2026-06-30",
            "frontier-us",
            "chip_inventory",
            _inv("fr-dc-1", "2026-06-30", H100=24000, H200=8000),
        ),
        (
            "2026-06-30",
            "dragon-ai",
            "chip_inventory",
            _inv("dr-bj-1", "2026-06-30", H20=12000, ASCEND_910B=8000, H200=2000),
        ),
        (
            "2026-06-30",
            "state-cn",
            "chip_inventory",
            _inv("cn-gov-1", "2026-06-30", ASCEND_910C=6000),
        ),
        (
            "2026-07-20",
            "dragon-ai",
            "training_run",
            {
                "run_id": "dragon-3",
                "phase": "completion",
                "date": "2026-07-20",
                "facility_id": "dr-bj-1",
                "cluster_id": "dr-c1",
                "chip": "ASCEND-910B",
                "chip_count": 8000,
                "chip_hours": 1.8e7,
                "params": 1.4e11,
                "tokens": 1.5e13,
                "compute_flop": 1.3e25,
            },
        ),
        (
            "2026-08-28",
            "frontier-us",
            "training_run",
            {
                "run_id": "frontier-7",
                "phase": "completion",
                "date": "2026-08-28",
                "facility_id": "fr-dc-1",
                "cluster_id": "fr-c1",
                "chip": "H100",
                "chip_count": 20000,
                "chip_hours": 5.6e7,
                "params": 4.0e11,
                "tokens": 3.2e13,
                "compute_flop": 7.8e25,
            },
        ),
        (
            "2026-09-30",
            "straits-cloud",
            "chip_inventory",
            _inv("sc-jb-1", "2026-09-30", L40S=2000, B200=2200),
        ),
        (
            "2026-10-06",
            "frontier-us",
            "model_release",
            {
                "model_name": "Frontier-7",
                "run_id": "frontier-7",
                "date": "2026-10-06",
                "open_weights": False,
                "training_compute_flop": 7.8e25,
            },
        ),
        (
            "2026-11-02",
            "dragon-ai",
            "model_release",
            {
                "model_name": "Dragon-3",
                "run_id": "dragon-3",
                "date": "2026-11-02",
                "open_weights": True,
                "training_compute_flop": 1.3e25,
            },
        ),
        (
            "2026-12-15",
            "hyperscale-us",
            "chip_inventory",
            _inv("hs-va-1", "2026-12-15", H200=20000, B200=4000),
        ),
        (
            "2026-12-15",
            "frontier-us",
            "chip_inventory",
            _inv("fr-dc-1", "2026-12-15", H100=24000, H200=8000),
        ),
        (
            "2026-12-16",
            "dragon-ai",
            "chip_inventory",
            _inv("dr-bj-1", "2026-12-16", H20=12000, ASCEND_910B=8000, H200=2000),
        ),
        (
            "2026-12-16",
            "state-cn",
            "chip_inventory",
            _inv("cn-gov-1", "2026-12-16", ASCEND_910C=6000),
        ),
        (
            "2026-12-18",
            "straits-cloud",
            "chip_inventory",
            _inv("sc-jb-1", "2026-12-18", L40S=2000, B200=2200),
        ),
    ]
    return s


AGENT_POLICY: dict[str, Any] = {
    "name": "frontier-assistant",
    "version": 1,
    "trusted_values": ["support@frontier.example"],
    "tools": {
        "read_inbox": {"effect": "read", "trusted_fields": ["sender", "id"]},
        "read_file": {"effect": "read", "args": {"path": {"role": "data"}}},
        "send_email": {
            "effect": "write",
            "grants": ["reply", "send", "forward"],
            "args": {"recipients": {"role": "target"}, "body": {"role": "content"}},
        },
    },
}
"""The guard policy of Frontier Labs' deployed assistant (an ``accord guard`` policy)."""


def agent_items() -> list[tuple[str, str, str, dict[str, Any]]]:
    """Frontier Labs runs its assistant under a declared guard policy, within SB 53's
    incident clocks. Two critical incidents (the guard stopped a customer's files going to
    an address planted in a web page): the first is reported within the 15 days, the second
    never is, and the registry's clock finds it overdue."""
    from accord.guard.filing import policy_body
    from accord.guard.policy import parse_policy

    policy = parse_policy(AGENT_POLICY)
    base = {"deployment_id": "frontier-assistant", "severity": "critical",
            "policy_sha256": policy.digest(),
            "summary": "2 call(s) denied by the guard: send_email"}  # fmt: skip
    first = {**base, "incident_id": "fa-2026-0007", "detected_at": "2026-10-14T08:12:00Z"}
    second = {**base, "incident_id": "fa-2026-0011", "detected_at": "2026-11-27T19:40:00Z"}
    return [
        ("2026-09-01", "frontier-us", "agent_policy",
         policy_body(policy, "frontier-assistant", dt.date(2026, 9, 1), "serious", ["ca-sb53"])),
        ("2026-10-14", "frontier-us", "incident",
         {**first, "phase": "detected", "date": "2026-10-14"}),
        ("2026-10-21", "frontier-us", "incident",
         {**first, "phase": "reported", "date": "2026-10-21",
          "reported_at": "2026-10-21T16:00:00Z", "clocks": ["ca-sb53-15d"]}),
        ("2026-11-27", "frontier-us", "incident",
         {**second, "phase": "detected", "date": "2026-11-27"}),
    ]  # fmt: skip


@dataclass
class Demo:
    registry: Registry
    clock: DemoClock
    keys: dict[str, Signer] = field(default_factory=dict)
    receipts: list[dict[str, Any]] = field(default_factory=list)
    inspections: list[dict[str, Any]] = field(default_factory=list)


def demo_settings(
    out: Path, clock: DemoClock, db_url: str | None = None, seeded: bool = False
) -> Settings:
    witnesses_keys = [
        Signer(s.name, s.alg, s.seed, clock=clock.timestamp)
        for s in (
            _key(out, "witness.us-observer", ALG_COSIGNATURE_V1, seeded),
            _key(out, "witness.cn-observer", ALG_COSIGNATURE_V1, seeded),
        )
    ]
    log_key = _key(out, DEMO_ORIGIN, ALG_ED25519, seeded)
    witnesses = [
        Witness(w, [log_key.verifier], out / f"{w.name}.state.json") for w in witnesses_keys
    ]
    return Settings(
        db_url=db_url or f"sqlite:///{out / 'registry.sqlite'}",
        ledger=str(out / "ledger.sqlite") if db_url is None else db_url,
        log_key=log_key,
        clock=clock,
        witnesses=witnesses,
        witness_keys=[w.verifier for w in witnesses_keys],
        accounting_date=lambda: max(DEMO_CLOSES, clock().date()),
        var=out,
        state_file=out / "registry.state",
    )


def open_demo(out: Path, db_url: str | None = None) -> Demo | None:
    """Reopen a demo built earlier under ``out`` as it was, or None if there is none."""
    if not (out / "keys").is_dir():
        return None
    if db_url is None and not (out / "ledger.sqlite").exists():
        return None
    clock = DemoClock()
    registry = Registry(demo_settings(out, clock, db_url))
    if not registry.reader().size:
        registry.close()
        return None
    demo = Demo(registry, clock)
    for pid, *_ in PARTIES:
        demo.keys[pid] = _key(out, pid, ALG_ED25519, False)
    return demo


def build(
    out: Path, db_url: str | None = None, seeded: bool = False, inspections: bool = True
) -> Demo:
    """Load the scenario into a fresh registry under ``out`` (refuses a non-empty log), then,
    with ``inspections``, run the year's five inspections on real evidence (about a minute
    on two cores; :mod:`accord.registry.demo_inspections`)."""
    from accord.errors import AccordError
    from accord.registry import demo_inspections
    from accord.registry.demo_evidence import prepare

    out.mkdir(parents=True, exist_ok=True)
    if (out / "ledger.sqlite").exists() or (out / "keys").exists():
        raise AccordError("out", f"{out} already holds a registry", "give an empty directory")
    clock = DemoClock()
    registry = Registry(demo_settings(out, clock, db_url, seeded))
    if registry.reader().size:
        registry.close()
        raise AccordError("out", f"{out} already holds a registry", "give an empty directory")
    demo = Demo(registry, clock)
    clock.fixed = dt.datetime(2026, 1, 2, 9, 0, tzinfo=dt.UTC)
    for pid, name, role, country in PARTIES:
        key = _key(out, pid, ALG_ED25519, seeded)
        demo.keys[pid] = key
        registry.register_party(pid, name, role, country, key.verifier.vkey)
    items = sorted(scenario() + agent_items(), key=lambda item: item[0])
    evidence = None
    if inspections:
        responder = _key(out, "responder.sc-jb-1", ALG_ED25519, seeded)
        evidence = prepare(out / "demo-evidence", responder)
        items = demo_inspections.amend(items, evidence)
    for number, (day, party, kind, body) in enumerate(items):
        when = dt.datetime.fromisoformat(day).replace(hour=9, minute=number % 60, tzinfo=dt.UTC)
        clock.fixed = when
        nonce = base64.urlsafe_b64encode(
            hashlib.sha256(f"accord-demo-nonce:{number}".encode()).digest()[:18]
        ).decode()
        signed = sign(make_declaration(party, kind, body, when, nonce), demo.keys[party])
        demo.receipts.append(registry.submit(signed.model_dump_json().encode()))
    clock.fixed = dt.datetime(2026, 12, 31, 18, 0, tzinfo=dt.UTC)
    registry.run_accountancy()
    registry.publish()
    if evidence is not None:
        demo.inspections = demo_inspections.inspect(registry, evidence, demo.receipts, items)
        registry.publish()
    clock.fixed = None
    return demo


SUMMARY_FIELDS = ("inspection_id", "verifier", "declaration", "state", "verdict", "finding_leaf")


def _recorded_order(item: dict[str, Any]) -> tuple[bool, int, str]:
    return (item["finding_leaf"] is None, item["finding_leaf"] or 0, str(item["opened_at"]))


def summary(registry: Registry) -> dict[str, Any]:
    from accord.registry.api import registry_findings

    inconsistent = registry_findings(registry, None, "inconsistent", None, 50, 0)
    high = registry_findings(registry, "high", None, None, 50, 0)
    every = registry_findings(registry, None, None, None, 500, 0)
    by_severity: dict[str, int] = {}
    for f in every["items"]:
        by_severity[f["severity"]] = by_severity.get(f["severity"], 0) + 1
    size, note = registry.latest_checkpoint()
    from accord.registry import inspections as ins

    listed = ins.listing(registry.engine, None, 50, 0)["items"]
    return {
        "inspections": [
            {k: i.get(k) for k in SUMMARY_FIELDS} for i in sorted(listed, key=_recorded_order)
        ],
        "parties": len(registry.parties),
        "log_size": size,
        "root": note.decode().split("\n")[2],
        "log_key": registry.log_key.vkey,
        "findings_by_severity": by_severity,
        "inconsistent": [
            {"subject": f["subject"], "explanation": f["explanation"]}
            for f in inconsistent["items"]
        ],
        "high": [{"subject": f["subject"], "explanation": f["explanation"]} for f in high["items"]],
    }
