"""A realistic declaration stream for the registry benchmark, and preloaded registries.

The stream is what a safeguards registry would see from a handful of parties: new
facilities now and then, each opened with a physical inventory; periodic inventories
that agree with the book; and chip transfers, each filed twice (the shipper's shipment,
later the receiver's receipt), mostly domestic, some across borders (those raise an
export-rule finding, i.e. an extra log entry). It is deterministic (seeded) and its state
can be saved, so a preloaded registry can be continued with declarations the book accepts.

Preloading 10^5 or 10^6 entries over HTTP would take hours, so a preloaded directory is
built in-process, either through ``Registry.submit_future`` (the real write path, full
validation, group commit) or, for large sizes, in bulk: log entries with
:meth:`accord.ledger.Log.append_many` in large batches and the registry's own index rows
(``Registry._decl_row`` / ``_finding_row``) inserted many at a time. Directories are
cached under ``/tmp`` keyed by size, mode, workload version and a digest of the registry
and ledger code that writes them.
"""

from __future__ import annotations

import bisect
import datetime as dt
import hashlib
import json
import multiprocessing
import pickle
import random
import shutil
import time
import zlib
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accord.ledger import Signer
from accord.ledger.note import ALG_ED25519

VERSION = 2
"""Bumped whenever the stream or the directory layout changes (invalidates the cache)."""

CACHE = Path("/tmp/accord-regbench")
BASE_DAY = dt.date(2025, 6, 2)
PER_DAY = 2000
"""Declarations per calendar day of event dates: 10^6 declarations span 500 days, inside
the registry's window of event dates (730 days before issued_at); a run after mid-2027
needs a later BASE_DAY."""

PARTIES: list[tuple[str, str, str]] = [
    ("lab-us-1", "lab", "US"),
    ("cloud-us-1", "cloud", "US"),
    ("cloud-us-2", "cloud", "US"),
    ("lab-cn-1", "lab", "CN"),
    ("cloud-cn-1", "cloud", "CN"),
    ("cloud-my-1", "cloud", "MY"),
    ("cloud-ae-1", "cloud", "AE"),
    ("lab-gb-1", "lab", "GB"),
]
ABROAD = ["MY", "AE", "GB", "IN", "SG"]
CHIPS = {
    "CN": ["H20", "ASCEND-910B"],
    "*": ["H100", "H200", "B200", "A100", "MI300X", "L40S"],
}
MIN_SITES = 24


def party_signer(party: str) -> Signer:
    """A deterministic key per party, so a cached registry can be continued later."""
    return Signer(party, ALG_ED25519, hashlib.sha256(f"accord-bench:{party}".encode()).digest())


@dataclass
class Site:
    fid: str
    party: str
    country: str
    stock: dict[str, int]
    last_inventory: int = -1


class _Among(Sequence[Site]):
    """The sites of one country (``inside``) or of all others, in filing order, minus one.

    ``rng.choice`` needs only ``len`` and indexing, so this picks the same site a filtered
    list would, in O(log^2 n) instead of building the list (which made the stream
    quadratic in the number of facilities).
    """

    def __init__(self, w: Workload, country: str, inside: bool, skip: Site) -> None:
        self.sites, self.skip = w.sites, skip
        self.mine = w.positions.get(country, [])
        self.inside = inside

    def _all(self) -> int:
        return len(self.mine) if self.inside else len(self.sites) - len(self.mine)

    def _skipped(self) -> int:
        """Position of ``skip`` among the candidates before removal, or -1."""
        pos = self.skip_position
        if pos < 0:
            return -1
        i = bisect.bisect_left(self.mine, pos)
        in_mine = i < len(self.mine) and self.mine[i] == pos
        if in_mine != self.inside:
            return -1
        return i if self.inside else pos - i

    @property
    def skip_position(self) -> int:
        return int(self.skip.fid.rsplit("-f", 1)[1])

    def __len__(self) -> int:
        return self._all() - (self._skipped() >= 0)

    def _nth(self, k: int) -> Site:
        if self.inside:
            return self.sites[self.mine[k]]
        lo, hi = 0, len(self.sites) - 1  # the smallest p with k + 1 outsiders in 0..p
        while lo < hi:
            mid = (lo + hi) // 2
            if mid + 1 - bisect.bisect_right(self.mine, mid) >= k + 1:
                hi = mid
            else:
                lo = mid + 1
        return self.sites[lo]

    def __getitem__(self, k: int) -> Site:  # type: ignore[override]
        if not 0 <= k < len(self):
            raise IndexError(k)
        skipped = self._skipped()
        return self._nth(k + 1 if 0 <= skipped <= k else k)


@dataclass
class Spec:
    """One declaration before signing; ``lane`` keeps dependent declarations in order."""

    party: str
    kind: str
    body: dict[str, Any]
    nonce: str
    lane_key: str

    def lane(self, lanes: int) -> int:
        return zlib.crc32(self.lane_key.encode()) % lanes


@dataclass
class Workload:
    seed: int = 1
    step: int = 0
    transfers: int = 0
    sites: list[Site] = field(default_factory=list)
    positions: dict[str, list[int]] = field(default_factory=dict)
    pending: deque[Spec] = field(default_factory=deque)
    opening: deque[Spec] = field(default_factory=deque)
    cursor: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self.rng.seed(self.seed)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """States saved before ``positions`` existed get it rebuilt from their sites."""
        self.__dict__.update(state)
        if "positions" not in state:
            self.positions = {}
            for i, site in enumerate(self.sites):
                self.positions.setdefault(site.country, []).append(i)

    def today(self) -> int:
        return self.step // PER_DAY

    def _date(self) -> str:
        return str(BASE_DAY + dt.timedelta(days=self.today()))

    def _nonce(self) -> str:
        return f"bench{self.seed:03d}n{self.step:012d}"

    def next(self) -> Spec:
        """The next declaration; every one is acceptable after all earlier ones in its lane."""
        self.step += 1
        if self.opening:
            return self.opening.popleft()
        if self.pending and (len(self.pending) >= 8 or self.rng.random() < 0.45):
            receipt = self.pending.popleft()
            receipt.nonce = self._nonce()
            return receipt
        r = self.rng.random()
        if len(self.sites) < MIN_SITES or r < 0.02:
            return self._facility()
        if r < 0.22:
            spec = self._inventory()
            if spec is not None:
                return spec
        return self._shipment()

    def _facility(self) -> Spec:
        party, role, home = self.rng.choice(PARTIES)
        country = home if role == "lab" or self.rng.random() < 0.8 else self.rng.choice(ABROAD)
        fid = f"{party}-f{len(self.sites):06d}"
        chips = CHIPS["CN"] if country == "CN" else CHIPS["*"]
        stock = {c: self.rng.randint(500, 20_000) for c in self.rng.sample(chips, 2)}
        site = Site(fid, party, country, stock, self.today())
        self.positions.setdefault(country, []).append(len(self.sites))
        self.sites.append(site)
        body = {
            "facility_id": fid,
            "name": f"{party} site {len(self.sites)}",
            "country": country,
            "site_type": "datacenter" if self.rng.random() < 0.9 else "warehouse",
        }
        self.opening.append(self._inventory_of(site, nonce=f"{self._nonce()}o"))
        return Spec(party, "facility", body, self._nonce(), fid)

    def _inventory_of(self, site: Site, nonce: str) -> Spec:
        site.last_inventory = self.today()
        lines = [{"chip": c, "count": n} for c, n in sorted(site.stock.items())]
        body = {"facility_id": site.fid, "as_of": self._date(), "chips": lines}
        return Spec(site.party, "chip_inventory", body, nonce, site.fid)

    def _inventory(self) -> Spec | None:
        for _ in range(4):
            self.cursor = (self.cursor + 1) % len(self.sites)
            site = self.sites[self.cursor]
            if site.last_inventory < self.today():
                return self._inventory_of(site, self._nonce())
        return None

    def _shipment(self) -> Spec:
        src = self.rng.choice(self.sites)
        while not any(src.stock.values()):
            src = self.rng.choice(self.sites)
        chip = self.rng.choice([c for c, n in src.stock.items() if n > 0])
        count = self.rng.randint(1, min(src.stock[chip], 500))
        abroad = self.rng.random() < 0.15
        candidates = _Among(self, src.country, not abroad, src)
        if not candidates:
            candidates = _Among(self, src.country, abroad, src)
        dst = self.rng.choice(candidates)
        src.stock[chip] -= count
        dst.stock[chip] = dst.stock.get(chip, 0) + count
        self.transfers += 1
        tid = f"T{self.seed:03d}-{self.transfers:09d}"
        body: dict[str, Any] = {
            "transfer_id": tid,
            "role": "shipment",
            "date": self._date(),
            "from_facility": src.fid,
            "from_country": src.country,
            "to_facility": dst.fid,
            "to_country": dst.country,
            "chips": [{"chip": chip, "count": count}],
        }
        receipt = {**body, "role": "receipt"}
        if dst.country != src.country:
            body["end_user"] = dst.party
            body["end_user_hq"] = dict((p, c) for p, _, c in PARTIES)[dst.party]
            if self.rng.random() < 0.8:
                body["license_ref"] = f"L-{tid}"
        self.pending.append(Spec(dst.party, "transfer", receipt, "", dst.fid))
        return Spec(src.party, "transfer", body, self._nonce(), src.fid)

    def take(self, n: int) -> list[Spec]:
        return [self.next() for _ in range(n)]


# -- signing ---------------------------------------------------------------------------------

_KEYS: dict[str, Signer] = {}


def _key(party: str) -> Signer:
    if party not in _KEYS:
        _KEYS[party] = party_signer(party)
    return _KEYS[party]


def sign_raw(specs: list[Spec], issued_at: dt.datetime) -> list[bytes]:
    """The JSON bytes a party would POST (signed envelope), one per spec."""
    from accord.registry.signing import make_declaration, sign

    out = []
    for s in specs:
        decl = make_declaration(s.party, s.kind, s.body, issued_at, s.nonce)
        out.append(sign(decl, _key(s.party)).model_dump_json().encode())
    return out


def _sign_rows(job: tuple[list[Spec], dt.datetime]) -> list[tuple[bytes, dict[str, Any]]]:
    """Worker: sign and build the leaf and the registry's index row (leaf_index set later)."""
    from accord.registry.service import Registry
    from accord.registry.signing import make_declaration, sign, utc_text

    specs, issued_at = job
    now = utc_text(issued_at)
    out = []
    for s in specs:
        signed = sign(make_declaration(s.party, s.kind, s.body, issued_at, s.nonce), _key(s.party))
        leaf = signed.leaf()
        out.append((leaf, Registry._decl_row(-1, leaf, signed, now, None)))
    return out


def _sign_job(job: tuple[list[Spec], dt.datetime]) -> list[bytes]:
    return sign_raw(*job)


def chunks(workload: Workload, total: int, size: int) -> Iterator[list[Spec]]:
    done = 0
    while done < total:
        n = min(size, total - done)
        done += n
        yield workload.take(n)


# -- preloaded directories ----------------------------------------------------------------


@dataclass
class Preloaded:
    """A cached registry directory (``var``) and the workload state that continues it."""

    root: Path
    meta: dict[str, Any]

    @property
    def var(self) -> Path:
        return self.root / "var"

    def workload(self) -> Workload:
        state: Workload = pickle.loads((self.root / "workload.pkl").read_bytes())
        return state

    def copy_to(self, dest: Path) -> Path:
        shutil.copytree(self.var, dest)
        return dest


MODES = ("registry", "bulk")


CODE = [
    "accord/registry/db.py",
    "accord/registry/migrations",
    "accord/registry/service.py",
    "accord/registry/book.py",
    "accord/registry/findings.py",
    "accord/model/declaration.py",
    "accord/ledger/log.py",
    "accord/ledger/store_sqlite.py",
]


def code_fingerprint() -> str:
    """Digest of the code that decides what a registry directory holds.

    Part of the cache key, so a directory built by an older registry is never reused.
    """
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for name in CODE:
        path = root / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for f in files:
            digest.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()[:10]


def pick_mode(size: int, mode: str) -> str:
    if mode != "auto":
        return mode
    return "registry" if size <= 100_000 else "bulk"


def preloaded(size: int, mode: str = "auto", workers: int = 2, log: Any = print) -> Preloaded:
    """The cached directory for ``size`` declarations, built if missing."""
    mode = pick_mode(size, mode)
    root = CACHE / f"v{VERSION}-{code_fingerprint()}-{mode}-{size}"
    if (root / "meta.json").exists():
        return Preloaded(root, json.loads((root / "meta.json").read_text()))
    building = CACHE / f".building-{root.name}"
    shutil.rmtree(building, ignore_errors=True)
    (building / "var").mkdir(parents=True)
    log(f"preloading {size:,} declarations ({mode}) into {root} ...")
    start = time.perf_counter()
    workload = Workload()
    build = _build_registry if mode == "registry" else _build_bulk
    indexes, log_size = build(building / "var", workload, size, workers, log)
    seconds = time.perf_counter() - start
    rng = random.Random(7)
    meta = {
        "size": size,
        "mode": mode,
        "version": VERSION,
        "log_size": log_size,
        "build_seconds": round(seconds, 1),
        "rate": round(size / seconds, 1) if size else None,
        "built": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "declaration_indexes": sorted(rng.sample(indexes, min(len(indexes), 20_000))),
    }
    (building / "workload.pkl").write_bytes(pickle.dumps(workload))
    (building / "meta.json").write_text(json.dumps(meta))
    shutil.rmtree(root, ignore_errors=True)
    building.rename(root)
    log(f"preloaded {size:,} in {seconds:.1f} s ({meta['rate']}/s), log size {log_size:,}")
    return Preloaded(root, meta)


def register_all(registry: Any) -> None:
    for party, role, country in PARTIES:
        registry.register_party(party, party, role, country, party_signer(party).verifier.vkey)


def _pipelined(pool: Any, fn: Any, jobs: Iterator[Any], depth: int = 4) -> Iterator[Any]:
    """``pool.imap`` with at most ``depth`` jobs in flight (imap would drain the generator)."""
    waiting: deque[Any] = deque()
    for job in jobs:
        waiting.append(pool.apply_async(fn, (job,)))
        if len(waiting) >= depth:
            yield waiting.popleft().get()
    while waiting:
        yield waiting.popleft().get()


def _build_registry(
    var: Path, workload: Workload, size: int, workers: int, log: Any
) -> tuple[list[int], int]:
    """Through ``Registry.submit_future``: full validation, the writer's group commit."""
    from accord.registry.server import settings_for
    from accord.registry.service import Registry

    registry = Registry(settings_for(var))
    register_all(registry)
    indexes: list[int] = []
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers) as pool:
        jobs = ((c, dt.datetime.now(dt.UTC)) for c in chunks(workload, size, 1_000))
        for n, raws in enumerate(_pipelined(pool, _sign_job, jobs)):
            futures = [registry.submit_future(r) for r in raws]
            indexes += [f.result(600)["leaf_index"] for f in futures]
            if n % 20 == 19:
                log(f"  {len(indexes):,} filed")
    log_size = registry.reader().size
    registry.close()
    return indexes, log_size


def _build_bulk(
    var: Path, workload: Workload, size: int, workers: int, log: Any
) -> tuple[list[int], int]:
    """Log entries in large ``append_many`` batches; the registry's own rows, in bulk."""
    from sqlalchemy import insert

    from accord.ledger import Log, open_store
    from accord.model.declaration import PARTY_TYPE, Kind, canonical_json, parse_body
    from accord.registry import db
    from accord.registry.book import Book
    from accord.registry.findings import declaration_findings
    from accord.registry.server import DEFAULT_ORIGIN
    from accord.registry.service import Registry, load_or_create_key
    from accord.registry.signing import utc_text

    key = load_or_create_key(var / "log.key", DEFAULT_ORIGIN)
    ledger = Log.create(open_store(var / "ledger.sqlite"), key)
    engine = db.open_engine(f"sqlite:///{var / 'registry.sqlite'}")
    db.migrate(engine)
    now = utc_text(dt.datetime.now(dt.UTC))
    party_rows = [
        {
            "party_id": p,
            "name": p,
            "role": role,
            "country": country,
            "vkey": party_signer(p).verifier.vkey,
            "registered_at": now,
            "revoked_at": None,
        }
        for p, role, country in PARTIES
    ]
    ledger.append_many(
        canonical_json({"type": PARTY_TYPE, "party": r}, "party") for r in party_rows
    )
    with engine.begin() as conn:
        conn.execute(insert(db.parties), party_rows)
    book = Book()
    indexes: list[int] = []
    leaves: list[bytes] = []
    decl_rows: list[dict[str, Any]] = []
    finding_rows: list[dict[str, Any]] = []

    def flush() -> None:
        ledger.append_many(leaves)
        with engine.begin() as conn:
            conn.execute(insert(db.declarations), decl_rows)
            if finding_rows:
                conn.execute(insert(db.findings), finding_rows)
        leaves.clear()
        decl_rows.clear()
        finding_rows.clear()

    def entry(i: int) -> bytes:
        """A log entry by index, whether already appended or still in this batch."""
        base = ledger.size
        return leaves[i - base] if i >= base else ledger.entry(i)

    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers) as pool:
        jobs = ((c, dt.datetime.now(dt.UTC)) for c in chunks(workload, size, 5_000))
        for n, signed_rows in enumerate(_pipelined(pool, _sign_rows, jobs)):
            for leaf, row in signed_rows:
                base = ledger.size
                index = base + len(leaves)
                row["leaf_index"] = index
                leaves.append(leaf)
                decl_rows.append(row)
                indexes.append(index)
                decl = json.loads(row["doc"])["declaration"]
                kind = Kind(decl["kind"])
                body = parse_body(kind, decl["body"])
                book.apply(index, decl["party"], kind, body)
                for nf in declaration_findings(book, index, decl["party"], body):
                    nf = Registry._with_evidence(nf, entry)
                    finding_rows.append(Registry._finding_row(base + len(leaves), nf, now))
                    leaves.append(nf.leaf())
            if n % 8 == 7:
                flush()
                log(f"  {len(indexes):,} written, log size {ledger.size:,}")
        if leaves:
            flush()
    ledger.checkpoint()
    log_size = ledger.size
    ledger.close()
    engine.dispose()
    return indexes, log_size
