"""The registry service: validate, append, index and answer with receipts.

One writer thread owns the ledger's write side and the in-memory book. Submissions are
checked for shape, signature and freshness in the caller's thread, then queued; the writer
takes everything waiting (group commit), checks each against the book and the nonce store,
appends the batch and its findings to the log in one durable transaction, indexes them in
the database, signs one checkpoint for the batch and hands every caller a receipt with an
inclusion proof against it. A refused submission never reaches the log or the database.

The database is an index of the log: at start-up every log entry without a row is indexed
again, so a crash between the durable append and the row insert loses nothing.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import logging
import queue
import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, delete, func, insert, select, update

from accord.errors import AccordError, IntegrityError, NotFoundError
from accord.ledger import Log, Signer, Verifier, Witness, leaf_hash, open_store
from accord.ledger.note import ALG_ED25519, parse_note
from accord.ledger.witness import add_cosignatures
from accord.model.declaration import (
    DECLARATION_TYPE,
    FINDING_TYPE,
    PARTY_PATTERN,
    PARTY_TYPE,
    TEXT_PATTERN,
    Body,
    Kind,
    SignedDeclaration,
    canonical_json,
    parse_body,
    parse_leaf,
    parse_signed,
)
from accord.model.finding import Finding
from accord.registry import db, snapshot
from accord.registry.accountancy import accountancy_findings
from accord.registry.agents import incident_findings
from accord.registry.book import Book, event_date, subject_of
from accord.registry.findings import NewFinding, declaration_findings, rules_error
from accord.registry.signing import utc_text, verify
from accord.registry.views import Views

MAX_BATCH = 512
PARTY_RE = re.compile(PARTY_PATTERN)
TEXT_RE = re.compile(TEXT_PATTERN)
MAX_REJECTION_KEYS = 256
T = TypeVar("T")
log = logging.getLogger("accord.registry")


class RegistryError(AccordError):
    """An AccordError with the HTTP status the API answers with."""

    def __init__(self, status: int, field: str, problem: str, fix: str | None = None) -> None:
        super().__init__(field, problem, fix)
        self.status = status


@dataclass
class Settings:
    db_url: str
    ledger: str
    log_key: Signer
    clock: Callable[[], dt.datetime] = field(default=lambda: dt.datetime.now(dt.UTC))
    max_age: dt.timedelta = dt.timedelta(minutes=10)
    max_skew: dt.timedelta = dt.timedelta(minutes=2)
    max_body_bytes: int = 32_768
    max_backdate: dt.timedelta = dt.timedelta(days=730)
    max_postdate: dt.timedelta = dt.timedelta(days=1)
    accounting_date: Callable[[], dt.date] | None = None
    """The accountancy's "today"; the clock's date unless a closed period is being shown."""
    state_file: Path | None = None
    """Where the writer's state is saved (on a clean stop and every ``snapshot_every`` new
    entries) so that a restart replays only the log's tail."""
    snapshot_every: int = 100_000
    witnesses: list[Witness] = field(default_factory=list)
    witness_keys: list[Verifier] = field(default_factory=list)
    var: Path | None = None
    """Where evidence blobs and the embedded job queue live; inspections need it."""
    max_evidence_bytes: int = 64 << 20
    """Largest evidence upload (one archive or weights file)."""


@dataclass
class Party:
    party_id: str
    name: str
    role: str
    country: str
    key: Verifier
    registered_at: str
    revoked_at: str | None = None

    def public(self) -> dict[str, Any]:
        return {
            "party_id": self.party_id,
            "name": self.name,
            "role": self.role,
            "country": self.country,
            "vkey": self.key.vkey,
            "registered_at": self.registered_at,
            "revoked_at": self.revoked_at,
        }


@dataclass
class _Submission:
    signed: SignedDeclaration
    body: Body
    future: Future[dict[str, Any]]
    leaf: bytes


@dataclass
class _Task:
    fn: Callable[[], Any]
    future: Future[Any]


def load_or_create_key(path: Path, name: str) -> Signer:
    """The log's signing key from ``path``, created (mode 0600) on first use."""
    if path.exists():
        return Signer.parse(path.read_text(encoding="ascii"))
    path.parent.mkdir(parents=True, exist_ok=True)
    signer = Signer.generate(name, ALG_ED25519)
    fd = path.open("x", encoding="ascii")
    path.chmod(0o600)
    with fd:
        fd.write(signer.skey + "\n")
    return signer


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unavailable() -> RegistryError:
    return RegistryError(
        503,
        "server",
        "the registry's writer is not running; nothing was recorded",
        "see /healthz; retry after the registry restarts",
    )


class Registry:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: Engine = db.open_engine(settings.db_url)
        db.migrate(self.engine)
        self.index_engine: Engine = db.open_engine(settings.db_url, durable=False)
        self._local = threading.local()
        self._readers: list[Log] = []
        self._readers_lock = threading.Lock()
        self.book = Book()
        self.views = Views(self.today)
        self.parties: dict[str, Party] = {}
        self.party_leaf: dict[str, int] = {}
        self.nonces: dict[tuple[str, str], int] = {}
        self.finding_keys: set[str] = set()
        self.quarantined: dict[int, str] = {}
        self.rejections: Counter[str] = Counter()
        self._rejections_lock = threading.Lock()
        self._checkpoint: tuple[int, bytes] | None = None
        self._snapshot_size = 0
        self.restored_from = 0
        """The log size the saved state was restored at (0: replayed from the start)."""
        self.failure: str | None = None
        self._jobs: Any = None
        self._queue: queue.Queue[_Submission | _Task | None] = queue.Queue()
        ready: Future[None] = Future()
        self._writer = threading.Thread(
            target=self._run, args=(ready,), name="registry-writer", daemon=True
        )
        self._writer.start()
        ready.result(3600)

    def now(self) -> dt.datetime:
        """The registry's time for deadlines: its clock, or the start of the accounting
        date when a closed period is shown (a deadline later that day has not passed)."""
        if self.settings.accounting_date is not None:
            return dt.datetime.combine(self.settings.accounting_date(), dt.time(), dt.UTC)
        return self.settings.clock()

    def today(self) -> dt.date:
        """The accounting date: the registry's clock, never a date someone declared."""
        if self.settings.accounting_date is not None:
            return self.settings.accounting_date()
        return self.settings.clock().date()

    def _open(self) -> None:
        """On the writer thread: open the log (SQLite handles are per thread) and replay."""
        store = open_store(self.settings.ledger)
        if store.get_meta("origin") is None:
            self.log = Log.create(store, self.settings.log_key)
        else:
            self.log = Log(store, self.settings.log_key)
        self.log_key = self.log.verifier
        self._checkpoint = self.log.last_checkpoint()
        self._load_quarantine()
        self.restored_from = self._restore()
        self._replay(self.restored_from)
        self._snapshot_size = self.log.size
        self._reconcile()

    def _restore(self) -> int:
        """Adopt the saved state if the log still has its root; returns where to replay."""
        path = self.settings.state_file
        if path is None:
            return 0
        loaded = snapshot.load(path, self.log.origin)
        if loaded is None:
            return 0
        state, data = loaded
        if state.size > self.log.size or self.log.root(state.size) != state.root:
            log.warning("registry snapshot does not match the log; replaying it all")
            return 0
        parts = state.parts
        self.book = parts["book"]
        self.parties = parts["parties"]
        self.party_leaf = parts["party_leaf"]
        self.nonces = parts["nonces"]
        self.finding_keys = parts["finding_keys"]
        origin = self.log.origin
        # The views decode their own copy from the same bytes on their first read, off the
        # writer and out of the start-up time.
        self.views.seed(lambda: snapshot_book(data, origin))
        return state.size

    def _save_snapshot(self) -> None:
        """On the writer, between batches: the state matches the log at its current size."""
        path = self.settings.state_file
        if path is None:
            return
        size = self.log.size
        parts = {
            "book": self.book,
            "parties": self.parties,
            "party_leaf": self.party_leaf,
            "nonces": self.nonces,
            "finding_keys": self.finding_keys,
        }
        try:
            snapshot.save(path, snapshot.State(self.log.origin, size, self.log.root(size), parts))
            self._snapshot_size = size
        except Exception:  # a snapshot is an optimisation; the log stays the record
            log.exception("could not save the registry snapshot")

    # -- start-up --------------------------------------------------------------------------

    def _load_quarantine(self) -> None:
        with self.engine.connect() as conn:
            for row in conn.execute(select(db.quarantine.c.leaf_index, db.quarantine.c.error)):
                self.quarantined[int(row.leaf_index)] = str(row.error)

    def _replay(self, first: int = 0) -> None:
        """Rebuild parties, nonces, finding keys and the book from the log itself, from
        entry ``first`` on (after a snapshot).

        The log, not the database, is the record: an entry whose index rows could not be
        written still counts. An entry that cannot even be read is quarantined and skipped,
        so one bad entry can never stop the registry from starting.
        """
        size = self.log.size
        chunk = 4096
        for start in range(first, size, chunk):
            for offset, leaf in enumerate(self.log.entries(start, min(size, start + chunk))):
                index = start + offset
                try:
                    self._absorb(index, leaf)
                except Exception as err:  # quarantined, never fatal
                    self._quarantine(index, f"cannot be read back: {err}")

    def _absorb(self, index: int, leaf: bytes) -> None:
        data = parse_leaf(leaf)
        kind = data.get("type")
        if kind == PARTY_TYPE:
            row = data["party"]
            self.parties[row["party_id"]] = Party(
                row["party_id"],
                row["name"],
                row["role"],
                row["country"],
                Verifier.parse(row["vkey"]),
                row["registered_at"],
                row.get("revoked_at"),
            )
            self.party_leaf[row["party_id"]] = index
        elif kind == DECLARATION_TYPE:
            signed = parse_signed({k: data[k] for k in ("declaration", "signature")})
            decl = signed.declaration
            body = decl.parsed_body()
            self.nonces[(decl.party, decl.nonce)] = index
            self.book.apply(index, decl.party, decl.kind, body)
            self.views.push((index, decl.party, decl.kind, body))
        elif kind == FINDING_TYPE:
            self.finding_keys.add(db.finding_key(str(data["key"])))

    def _reconcile(self) -> None:
        """Index every log entry past the last indexed one, and retry quarantined ones."""
        with self.engine.connect() as conn:
            last = max(
                conn.execute(select(func.max(db.declarations.c.leaf_index))).scalar() or -1,
                conn.execute(select(func.max(db.findings.c.leaf_index))).scalar() or -1,
            )
        todo = sorted(set(range(last + 1, self.log.size)) | set(self.quarantined))
        for start in range(0, len(todo), 512):
            part = todo[start : start + 512]
            self._index([(i, self.log.entry(i)) for i in part])

    # -- indexing ------------------------------------------------------------------------

    def _rows(self, index: int, leaf: bytes, now: str) -> tuple[str, dict[str, Any]]:
        """(table, row) for one log entry."""
        data = parse_leaf(leaf)
        kind = data.get("type")
        if kind == PARTY_TYPE:
            return "party", dict(data["party"])
        if kind == DECLARATION_TYPE:
            signed = parse_signed({k: data[k] for k in ("declaration", "signature")})
            return "declaration", self._decl_row(index, leaf, signed, now, None)
        nf = NewFinding(data["key"], Finding.model_validate(data["finding"]), tuple(data["refs"]))
        return "finding", self._finding_row(index, nf, now)

    def _index(
        self,
        entries: list[tuple[int, bytes]],
        known: dict[int, tuple[str, dict[str, Any]]] | None = None,
    ) -> None:
        """Write the index rows of appended entries; never raises.

        ``known`` holds rows the caller built from what it had parsed already (the writer
        does not parse its own entries a second time). One transaction for the batch; if
        it fails, one per entry, and an entry that still fails is quarantined: it stays in
        the log and the book, the registry keeps serving, and /healthz reports it until a
        restart indexes it.
        """
        if not entries:
            return
        now = utc_text(self.settings.clock())
        known = known or {}
        try:
            rows = [
                (i, *(known[i] if i in known else self._rows(i, leaf, now))) for i, leaf in entries
            ]
            with self.index_engine.begin() as conn:
                decls = [r for _, t, r in rows if t == "declaration"]
                finds = [r for _, t, r in rows if t == "finding"]
                if decls:
                    conn.execute(insert(db.declarations), decls)
                if finds:
                    conn.execute(insert(db.findings), finds)
                for _, table, row in rows:
                    if table == "party":
                        self._upsert_party(conn, row)
                retried = [i for i, _ in entries if i in self.quarantined]
                if retried:
                    conn.execute(
                        delete(db.quarantine).where(db.quarantine.c.leaf_index.in_(retried))
                    )
            for i in retried:
                self.quarantined.pop(i, None)
            return
        except Exception:  # fall back to one entry at a time
            pass
        for index, leaf in entries:
            try:
                with self.index_engine.begin() as conn:
                    table, row = self._rows(index, leaf, now)
                    if table == "party":
                        self._upsert_party(conn, row)
                    else:
                        target = db.declarations if table == "declaration" else db.findings
                        there = conn.execute(
                            select(target.c.leaf_index).where(target.c.leaf_index == index)
                        ).first()
                        if there is None:
                            conn.execute(insert(target).values(**row))
                    conn.execute(delete(db.quarantine).where(db.quarantine.c.leaf_index == index))
                self.quarantined.pop(index, None)
            except Exception as err:  # quarantined, never fatal
                self._quarantine(index, f"index row not written: {type(err).__name__}")

    def _quarantine(self, index: int, error: str) -> None:
        self.quarantined[index] = error
        log.error("log entry %d quarantined: %s", index, error)
        with contextlib.suppress(Exception), self.index_engine.begin() as conn:
            conn.execute(delete(db.quarantine).where(db.quarantine.c.leaf_index == index))
            conn.execute(
                insert(db.quarantine).values(
                    leaf_index=index, error=error, at=utc_text(self.settings.clock())
                )
            )

    @staticmethod
    def _upsert_party(conn: Any, row: dict[str, Any]) -> None:
        pid = row["party_id"]
        exists = conn.execute(
            select(db.parties.c.party_id).where(db.parties.c.party_id == pid)
        ).first()
        if exists:
            conn.execute(update(db.parties).where(db.parties.c.party_id == pid).values(**row))
        else:
            conn.execute(insert(db.parties).values(**row))

    # -- rows ------------------------------------------------------------------------------

    @staticmethod
    def _decl_row(
        index: int, leaf: bytes, signed: SignedDeclaration, now: str, body: Body | None
    ) -> dict[str, Any]:
        decl = signed.declaration
        body = decl.parsed_body() if body is None else body
        issued = decl.issued()
        return {
            "leaf_index": index,
            "party": decl.party,
            "kind": decl.kind.value,
            "nonce": decl.nonce,
            "issued_at": decl.issued_at,
            "subject": subject_of(body),
            "event_date": str(event_date(body, issued.date())),
            "digest": hashlib.sha256(leaf).hexdigest(),
            "doc": signed.model_dump_json(),
            "received_at": now,
        }

    @staticmethod
    def _finding_row(index: int, nf: NewFinding, now: str) -> dict[str, Any]:
        f = nf.finding
        doc = {"key": nf.key, "refs": list(nf.refs), "finding": f.model_dump(mode="json")}
        return {
            "leaf_index": index,
            "key": db.finding_key(nf.key),
            "subject": f.subject,
            "verifier": f.verifier,
            "verdict": f.verdict.value,
            "severity": f.severity.value,
            "doc": json.dumps(doc, sort_keys=True),
            "created_at": now,
        }

    # -- the writer --------------------------------------------------------------------------

    def _run(self, ready: Future[None]) -> None:
        try:
            self._open()
        except BaseException as err:
            ready.set_exception(err)
            return
        ready.set_result(None)
        try:
            self._loop()
            self._save_snapshot()
        except BaseException as err:  # only a bug in the loop itself gets here
            self.failure = f"the writer stopped: {type(err).__name__}"
            log.exception("registry writer stopped")
            self._fail_pending()
        finally:
            self.log.close()

    def _fail_pending(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None and not item.future.done():
                item.future.set_exception(_unavailable())

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, _Task):
                self._do_task(item)
                continue
            batch = [item]
            stop = False
            task: _Task | None = None
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                if isinstance(nxt, _Task):
                    task = nxt
                    break
                batch.append(nxt)
            self._commit_safely(batch)
            if self.log.size - self._snapshot_size >= self.settings.snapshot_every:
                self._save_snapshot()
            if task is not None:
                self._do_task(task)
            if stop:
                return

    @staticmethod
    def _do_task(task: _Task) -> None:
        try:
            task.future.set_result(task.fn())
        except BaseException as err:  # handed to the caller, who re-raises it
            task.future.set_exception(err)

    def in_writer(self, fn: Callable[[], T], timeout: float = 120.0) -> T:
        """Run ``fn`` on the writer thread (it alone touches the book and the log's tail)."""
        if threading.current_thread() is self._writer:
            return fn()
        if not self._writer.is_alive():
            raise _unavailable()
        fut: Future[T] = Future()
        self._queue.put(_Task(fn, fut))
        return fut.result(timeout)

    def _commit_safely(self, batch: list[_Submission]) -> None:
        try:
            self._commit(batch)
        except Exception as err:  # a bug must cost one batch, not the writer
            log.exception("registry commit failed")
            # The book may hold part of the batch: read everything back from the log,
            # which also tells which of these declarations it recorded.
            with contextlib.suppress(Exception):
                self._rebuild()
            recorded = self._recorded_since(batch)
            for sub in batch:
                if not sub.future.done():
                    sub.future.set_exception(
                        RegistryError(
                            500,
                            "server",
                            f"internal error ({type(err).__name__}) "
                            + (
                                "after the log recorded this batch"
                                if recorded
                                else "before the log recorded anything"
                            ),
                            "resend the same signed declaration: if it was recorded, its "
                            "receipt is returned",
                        )
                    )

    def _recorded_since(self, batch: list[_Submission]) -> bool:
        try:
            return any(
                (s.signed.declaration.party, s.signed.declaration.nonce) in self.nonces
                for s in batch
            )
        except Exception:
            return False

    def _rebuild(self) -> None:
        """After a failed append: the book holds what the log refused; read it back."""
        self.book = Book()
        self.views = Views(self.today, self.views.max_staleness)
        self.nonces = {}
        self.finding_keys = set()
        self.parties = {}
        self._replay()

    def _commit(self, batch: list[_Submission]) -> None:
        entries: list[bytes] = []
        accepted: list[tuple[_Submission, int, list[tuple[int, NewFinding]]]] = []
        repeats: list[tuple[_Submission, int]] = []
        pushed: list[tuple[int, str, Kind, Body]] = []
        start = self.log.size
        batch_nonces: dict[tuple[str, str], int] = {}
        batch_keys: set[str] = set()
        for sub in batch:
            decl = sub.signed.declaration
            key = (decl.party, decl.nonce)
            leaf = sub.leaf
            try:
                earlier = self.nonces.get(key, batch_nonces.get(key))
                if earlier is not None:
                    same = entries[earlier - start] if earlier >= start else self.log.entry(earlier)
                    if same == leaf:  # a retry after a lost answer: the receipt again
                        repeats.append((sub, earlier))
                        continue
                    raise RegistryError(
                        409,
                        "declaration.nonce",
                        "was already used by this party for another declaration (replay)",
                        "sign a fresh declaration with a new nonce",
                    )
                self.book.check(decl.party, decl.kind, sub.body)
            except AccordError as err:
                self.reject(err.field)
                sub.future.set_exception(err)
                continue
            index = start + len(entries)
            batch_nonces[key] = index
            entries.append(leaf)
            self.book.apply(index, decl.party, decl.kind, sub.body)
            pushed.append((index, decl.party, decl.kind, sub.body))
            found = []
            for nf in self._findings_for(index, decl.party, sub.body):
                stored = db.finding_key(nf.key)
                if stored in self.finding_keys or stored in batch_keys:
                    continue
                nf = self._with_evidence(
                    nf, lambda i: entries[i - start] if i >= start else self.log.entry(i)
                )
                batch_keys.add(stored)
                found.append((start + len(entries), nf))
                entries.append(nf.leaf())
            accepted.append((sub, index, found))
        if entries:
            try:
                # Entries were numbered from ``start`` (findings cite them): land exactly
                # there or not at all.
                self.log.append_many(entries, at=start)
            except Exception as err:  # the log is the record: ask it
                if self.log.size == start:
                    log.exception("log append failed; nothing recorded")
                    self._rebuild()
                    for sub, _, _ in accepted:
                        sub.future.set_exception(
                            RegistryError(
                                503,
                                "log",
                                f"the log could not record it ({type(err).__name__}); "
                                "nothing was recorded",
                                "retry shortly",
                            )
                        )
                    accepted = []
                    entries = []
                elif self.log.size != start + len(entries):
                    raise
                # else: the commit landed before the error surfaced; it is recorded.
        if entries:
            self.nonces.update(batch_nonces)
            self.finding_keys |= batch_keys
            for item in pushed:
                self.views.push(item)
            now = utc_text(self.settings.clock())
            known: dict[int, tuple[str, dict[str, Any]]] = {}
            for sub, index, found in accepted:
                row = self._decl_row(index, sub.leaf, sub.signed, now, sub.body)
                known[index] = ("declaration", row)
                for at, nf in found:
                    known[at] = ("finding", self._finding_row(at, nf, now))
            self._index([(start + i, e) for i, e in enumerate(entries)], known)
        if not entries and not repeats:
            return
        try:
            latest = self._checkpoint
            if not entries and latest is not None and latest[0] == self.log.size:
                note = latest[1]  # only resends: the newest checkpoint covers them
            else:
                note = self._sign_checkpoint()
        except Exception as err:  # recorded, but no signed head to prove it
            log.exception("checkpoint signing failed")
            for sub, index, _ in accepted:
                sub.future.set_exception(
                    RegistryError(
                        503,
                        "checkpoint",
                        f"recorded as log entry {index}, but no checkpoint could be signed "
                        f"({type(err).__name__})",
                        f"fetch the receipt later from /v1/declarations/{index}",
                    )
                )
            for sub, _ in repeats:
                sub.future.set_exception(_unavailable())
            return
        size = start + len(entries)
        for sub, index, found in accepted:
            sub.future.set_result(self._receipt(self.log, index, size, note, found, sub.leaf))
        for sub, index in repeats:
            sub.future.set_result(self._receipt(self.log, index, size, note, []))

    def _findings_for(self, index: int, party: str, body: Body) -> list[NewFinding]:
        try:
            return declaration_findings(self.book, index, party, body)
        except Exception as err:  # the declaration stands; say the rules failed
            log.exception("rules evaluation failed for entry %d", index)
            return [rules_error(index, body, f"internal error ({type(err).__name__})")]

    def _sign_checkpoint(self) -> bytes:
        note = self.log.checkpoint()
        self._checkpoint = (self.log.size, note)
        return note

    @staticmethod
    def _with_evidence(nf: NewFinding, entry: Callable[[int], bytes]) -> NewFinding:
        """Name each log entry the finding rests on by its RFC 9162 leaf hash."""
        evidence = {f"leaf:{i}": leaf_hash(entry(i)).hex() for i in nf.refs}
        return NewFinding(nf.key, nf.finding.model_copy(update={"evidence": evidence}), nf.refs)

    def _append_findings(self, found: list[NewFinding]) -> list[tuple[int, NewFinding]]:
        """Log the findings not on the record yet; returns them with their leaf indexes."""
        fresh: list[NewFinding] = []
        keys: set[str] = set()
        for nf in found:
            stored = db.finding_key(nf.key)
            if stored in self.finding_keys or stored in keys:
                continue
            keys.add(stored)
            fresh.append(self._with_evidence(nf, self.log.entry))
        if not fresh:
            return []
        leaves = [nf.leaf() for nf in fresh]
        indexes = self.log.append_many(leaves)
        self.finding_keys |= keys
        now = utc_text(self.settings.clock())
        appended = list(zip(indexes, fresh, strict=True))
        known = {i: ("finding", self._finding_row(i, nf, now)) for i, nf in appended}
        self._index(list(zip(indexes, leaves, strict=True)), known)
        self._sign_checkpoint()
        return appended

    # -- receipts and proofs -------------------------------------------------------------

    def _receipt(
        self,
        log: Log,
        index: int,
        size: int,
        note: bytes,
        found: list[tuple[int, NewFinding]],
        leaf: bytes | None = None,
    ) -> dict[str, Any]:
        leaf = log.entry(index) if leaf is None else leaf
        findings = []
        for at, nf in found:
            entry = nf.leaf()
            findings.append(
                {
                    "key": nf.key,
                    "leaf_index": at,
                    "leaf": _b64(entry),
                    "leaf_hash": leaf_hash(entry).hex(),
                    "inclusion_proof": [_b64(h) for h in log.inclusion_proof(at, size)],
                    "refs": list(nf.refs),
                    **nf.finding.model_dump(mode="json"),
                }
            )
        return {
            "leaf_index": index,
            "tree_size": size,
            "leaf": _b64(leaf),
            "leaf_hash": leaf_hash(leaf).hex(),
            "inclusion_proof": [_b64(h) for h in log.inclusion_proof(index, size)],
            "checkpoint": note.decode(),
            "log_key": self.log_key.vkey,
            "findings": findings,
        }

    def reader(self) -> Log:
        """A read-only Log for this thread (SQLite connections are per thread)."""
        log: Log | None = getattr(self._local, "log", None)
        if log is None:
            log = Log(open_store(self.settings.ledger))
            self._local.log = log
            with self._readers_lock:
                self._readers.append(log)
        return log

    def latest_checkpoint(self) -> tuple[int, bytes]:
        """The newest checkpoint this registry signed (kept in memory: no store scan)."""
        latest = self._checkpoint
        if latest is None:
            raise NotFoundError("checkpoint", "the log has not signed one yet")
        return latest

    def receipt(self, index: int) -> dict[str, Any]:
        """A fresh receipt for entry ``index`` against the latest checkpoint."""
        log = self.reader()
        size, note = self.latest_checkpoint()
        if not 0 <= index < size:
            raise RegistryError(404, "leaf_index", f"{index} is not in the checkpointed log")
        return self._receipt(log, index, size, note, [])

    def health(self) -> dict[str, Any]:
        alive = self._writer.is_alive() and self.failure is None
        status = "failed" if not alive else ("degraded" if self.quarantined else "ok")
        return {
            "ok": status == "ok",
            "status": status,
            "writer": "running" if alive else (self.failure or "stopped"),
            "log_size": self.reader().size,
            "quarantined": sorted(self.quarantined)[:100],
            "quarantined_total": len(self.quarantined),
        }

    # -- submissions -----------------------------------------------------------------------

    def reject(self, field_name: str) -> None:
        """Count a refusal by field; the map is bounded whatever names senders invent."""
        with self._rejections_lock:
            if field_name not in self.rejections and len(self.rejections) >= MAX_REJECTION_KEYS:
                field_name = "other"
            self.rejections[field_name] += 1

    def validate(self, raw: bytes | dict[str, Any]) -> tuple[SignedDeclaration, Body]:
        """Shape, party, signature, freshness and body schema: everything but the book."""
        signed, body, _ = self.validate_entry(raw)
        return signed, body

    def validate_entry(self, raw: bytes | dict[str, Any]) -> tuple[SignedDeclaration, Body, bytes]:
        """:meth:`validate`, also returning the log entry (canonicalised once)."""
        if isinstance(raw, bytes) and len(raw) > self.settings.max_body_bytes:
            raise RegistryError(413, "body", f"is larger than {self.settings.max_body_bytes} bytes")
        try:
            signed = parse_signed(raw)
        except RegistryError:
            raise
        except AccordError as err:
            raise RegistryError(422, err.field, err.problem, err.fix) from None
        decl = signed.declaration
        party = self.parties.get(decl.party)
        if party is None:
            raise RegistryError(
                401,
                "declaration.party",
                f"{decl.party!r} is not a registered party",
                "the inspectorate registers parties and their keys",
            )
        if party.revoked_at is not None:
            raise RegistryError(403, "declaration.party", "this party's key has been revoked")
        try:
            canonical = decl.canonical()
            good = verify(signed, party.key, canonical)
        except AccordError as err:
            raise RegistryError(401, err.field, err.problem, err.fix) from None
        if not good:
            raise RegistryError(
                401,
                "signature",
                f"does not verify with {decl.party}'s registered key",
                "sign the RFC 8785 bytes of the declaration with the party's key",
            )
        now = self.settings.clock()
        try:
            issued = decl.issued()
        except AccordError as err:
            raise RegistryError(422, err.field, err.problem) from None
        if issued < now - self.settings.max_age or issued > now + self.settings.max_skew:
            raise RegistryError(
                422,
                "declaration.issued_at",
                f"{decl.issued_at} is outside the accepted window "
                f"(-{self.settings.max_age}, +{self.settings.max_skew}) around {utc_text(now)}",
                "sign the declaration just before sending it",
            )
        try:
            body = parse_body(decl.kind, decl.body, strict=True)
            leaf = signed.leaf(canonical)
        except AccordError as err:
            raise RegistryError(422, err.field, err.problem, err.fix) from None
        self._check_dates(body, issued.date())
        if len(leaf) > self.settings.max_body_bytes:
            raise RegistryError(413, "declaration", "is too large once canonicalised")
        return signed, body, leaf

    def _check_dates(self, body: Body, issued: dt.date) -> None:
        """Event dates lie in a plausible window around ``issued_at``: a future inventory or
        a shipment dated 1900 would otherwise steer the accountancy and the rules."""
        earliest = issued - self.settings.max_backdate
        latest = issued + self.settings.max_postdate
        for name in ("date", "as_of"):
            value = getattr(body, name, None)
            if isinstance(value, dt.date) and not earliest <= value <= latest:
                raise RegistryError(
                    422,
                    f"declaration.body.{name}",
                    f"{value} is outside {earliest} .. {latest} "
                    f"({self.settings.max_backdate.days} days before to "
                    f"{self.settings.max_postdate.days} day after issued_at)",
                    "declare events when they happen, dated when they happened",
                )

    def checked(self, raw: bytes | dict[str, Any]) -> tuple[SignedDeclaration, Body, bytes]:
        """:meth:`validate_entry`, counting refusals per field (never their content)."""
        try:
            return self.validate_entry(raw)
        except AccordError as err:
            self.reject(err.field)
            raise

    def enqueue(
        self, signed: SignedDeclaration, body: Body, leaf: bytes | None = None
    ) -> Future[dict[str, Any]]:
        fut: Future[dict[str, Any]] = Future()
        if not self._writer.is_alive():
            fut.set_exception(_unavailable())
            return fut
        self._queue.put(_Submission(signed, body, fut, signed.leaf() if leaf is None else leaf))
        return fut

    def submit_future(self, raw: bytes | dict[str, Any]) -> Future[dict[str, Any]]:
        return self.enqueue(*self.checked(raw))

    def submit(self, raw: bytes | dict[str, Any], timeout: float = 120.0) -> dict[str, Any]:
        return self.submit_future(raw).result(timeout)

    # -- parties, tokens, witnesses ------------------------------------------------------

    def register_party(
        self, party_id: str, name: str, role: str, country: str, vkey: str
    ) -> dict[str, Any]:
        from accord.model.declaration import _country

        if not PARTY_RE.match(party_id):
            raise RegistryError(422, "party_id", "must be 2-63 of a-z, 0-9, '.', '-'")
        if not 1 <= len(name) <= 200 or not TEXT_RE.match(name):
            raise RegistryError(
                422, "name", "must be 1-200 characters with no control characters (such as NUL)"
            )
        key = self._party_key(party_id, vkey)
        if role not in ("state", "lab", "cloud", "inspectorate"):
            raise RegistryError(422, "role", "must be state, lab, cloud or inspectorate")
        try:
            country = _country(country)
        except ValueError as err:
            raise RegistryError(422, "country", str(err)) from None

        def write() -> dict[str, Any]:
            if party_id in self.parties:
                raise RegistryError(409, "party_id", f"{party_id!r} is already registered")
            party = Party(party_id, name, role, country, key, utc_text(self.settings.clock()))
            return self._write_party(party)

        return self.in_writer(write)

    @staticmethod
    def _party_key(party_id: str, vkey: str) -> Verifier:
        try:
            key = Verifier.parse(vkey)
        except AccordError as err:
            raise RegistryError(422, "vkey", err.problem, "accord registry keygen") from None
        if key.name != party_id or key.alg != ALG_ED25519:
            raise RegistryError(
                422, "vkey", f"must be an Ed25519 key named {party_id!r}", "accord registry keygen"
            )
        return key

    def _write_party(self, party: Party) -> dict[str, Any]:
        """On the writer: log the party's current state, index it, sign a checkpoint."""
        row = party.public()
        leaf = canonical_json({"type": PARTY_TYPE, "party": row}, "party")
        index = self.log.append(leaf)
        self.parties[party.party_id] = party
        self.party_leaf[party.party_id] = index
        self._index([(index, leaf)])
        self._sign_checkpoint()
        return {**row, "leaf_index": index}

    def revoke_party(self, party_id: str) -> dict[str, Any]:
        def write() -> dict[str, Any]:
            party = self.parties.get(party_id)
            if party is None:
                raise RegistryError(404, "party_id", f"{party_id!r} is not registered")
            if party.revoked_at is not None:
                raise RegistryError(
                    409, "party_id", f"{party_id!r} was already revoked at {party.revoked_at}"
                )
            revoked = dataclasses.replace(party, revoked_at=utc_text(self.settings.clock()))
            return self._write_party(revoked)

        return self.in_writer(write)

    def rotate_party_key(self, party_id: str, vkey: str) -> dict[str, Any]:
        """Replace a party's key; declarations it signed before stay verified by the old key,
        which the log keeps in the party's earlier entry."""
        key = self._party_key(party_id, vkey)

        def write() -> dict[str, Any]:
            party = self.parties.get(party_id)
            if party is None:
                raise RegistryError(404, "party_id", f"{party_id!r} is not registered")
            if party.revoked_at is not None:
                raise RegistryError(409, "party_id", f"{party_id!r} is revoked")
            if party.key.vkey == key.vkey:
                raise RegistryError(409, "vkey", "is already this party's key")
            return self._write_party(dataclasses.replace(party, key=key))

        return self.in_writer(write)

    def party_record(self, party_id: str) -> dict[str, Any]:
        party = self.parties.get(party_id)
        if party is None:
            raise RegistryError(404, "party_id", f"{party_id!r} is not registered")
        return {**party.public(), "leaf_index": self.party_leaf.get(party_id)}

    def create_token(self, label: str, scope: str = "inspector") -> str:
        """A new bearer token; only its SHA-256 is stored, the secret is returned once."""
        if scope not in ("inspector",):
            raise RegistryError(422, "scope", "must be 'inspector'")
        secret = "acc_" + secrets.token_urlsafe(32)
        with self.engine.begin() as conn:
            conn.execute(
                insert(db.tokens).values(
                    token_hash=hashlib.sha256(secret.encode()).hexdigest(),
                    label=label[:200],
                    scope=scope,
                    created_at=utc_text(self.settings.clock()),
                )
            )
        return secret

    def token_scope(self, secret: str) -> str | None:
        digest = hashlib.sha256(secret.encode()).hexdigest()
        with self.engine.connect() as conn:
            row = conn.execute(
                select(db.tokens.c.scope, db.tokens.c.revoked_at).where(
                    db.tokens.c.token_hash == digest
                )
            ).first()
        if row is None or row.revoked_at is not None:
            return None
        return str(row.scope)

    def has_tokens(self) -> bool:
        with self.engine.connect() as conn:
            return bool(conn.execute(select(func.count()).select_from(db.tokens)).scalar())

    def publish(self) -> dict[str, Any]:
        """Sign a checkpoint of the whole log and collect local witnesses' cosignatures."""

        def write() -> dict[str, Any]:
            size = self.log.size
            latest = self._checkpoint
            note = latest[1] if latest and latest[0] == size else self._sign_checkpoint()
            lines = []
            for witness in self.settings.witnesses:
                last = witness.latest(self.log.origin)
                old = last.checkpoint.size if last else 0
                proof = self.log.consistency_proof(old, size) if old else []
                lines.append(witness.add_checkpoint(note, old, proof))
            cosigned = add_cosignatures(note, lines) if lines else note
            self._store_cosigned(size, cosigned)
            return {"size": size, "checkpoint": cosigned.decode()}

        return self.in_writer(write)

    def _store_cosigned(self, size: int, note: bytes) -> None:
        now = utc_text(self.settings.clock())
        with self.engine.begin() as conn:
            exists = conn.execute(
                select(db.cosigned.c.size).where(db.cosigned.c.size == size)
            ).first()
            if exists:
                conn.execute(
                    update(db.cosigned)
                    .where(db.cosigned.c.size == size)
                    .values(note=note.decode(), updated_at=now)
                )
            else:
                conn.execute(
                    insert(db.cosigned).values(size=size, note=note.decode(), updated_at=now)
                )

    def add_cosignature(self, size: int, line: str) -> dict[str, Any]:
        """Attach an external witness's cosignature line to the checkpoint of ``size``."""
        from accord.ledger.witness import WitnessPolicy

        note = self.cosigned_checkpoint(size)
        line = line.strip()
        if not line or "\n" in line or len(line) > 500:
            raise RegistryError(422, "line", "must be one signature line '— <name> <base64>'")
        candidate = add_cosignatures(note.encode(), [line])
        parsed = parse_note(candidate)
        new_sig = parsed.signatures[-1]
        known = {(w.name, w.key_id) for w in self.settings.witness_keys}
        if (new_sig.name, new_sig.key_id) not in known:
            raise RegistryError(403, "line", "is not signed by a witness this registry knows")
        try:
            WitnessPolicy(self.log_key, self.settings.witness_keys, 0).check(candidate)
        except IntegrityError as err:
            raise RegistryError(422, "line", err.problem) from None
        self._store_cosigned(size, candidate)
        return {"size": size, "checkpoint": candidate.decode()}

    def cosigned_checkpoint(self, size: int | None = None) -> str:
        with self.engine.connect() as conn:
            query = select(db.cosigned.c.size, db.cosigned.c.note)
            if size is None:
                query = query.order_by(db.cosigned.c.size.desc()).limit(1)
            else:
                query = query.where(db.cosigned.c.size == size)
            row = conn.execute(query).first()
        if row is None:
            if size is None:
                return self.latest_checkpoint()[1].decode()
            raise RegistryError(404, "size", f"no published checkpoint of size {size}")
        return str(row.note)

    # -- accountancy ---------------------------------------------------------------------

    def run_accountancy(self) -> list[dict[str, Any]]:
        """Append every new balance finding to the log; returns the new ones."""

        def write() -> list[dict[str, Any]]:
            self.book.today = self.today()
            found = accountancy_findings(self.book) + incident_findings(
                self.book.agents, self.now()
            )
            return [
                {"leaf_index": i, "key": nf.key, "refs": list(nf.refs), **nf.finding.model_dump()}
                for i, nf in self._append_findings(found)
            ]

        return self.in_writer(write)

    def jobs(self) -> Any:
        """The inspection job queue (producer side), or None without a var directory."""
        if self.settings.var is None:
            return None
        with self._readers_lock:
            if self._jobs is None:
                from accord.registry.jobs import Jobs

                self._jobs = Jobs(self.settings.db_url, self.settings.var)
                self._jobs.store.max_bytes = self.settings.max_evidence_bytes
            return self._jobs

    def record_inspections(self) -> list[dict[str, Any]]:
        """Append each decided inspection's finding to the log, exactly once per inspection.

        The key ``inspection:<id>`` is checked against the finding keys rebuilt from the log
        itself, so a finding appended just before a crash is found, not appended again.
        """
        from accord.registry import inspection_state as state
        from accord.registry import inspections as ins
        from accord.registry.consequences import consequences

        todo = state.decided(self.engine)
        if not todo:
            return []

        def write() -> list[dict[str, Any]]:
            out = []
            for item in todo:
                try:
                    out.append(record_one(item))
                except Exception as err:  # one bad result must not hold up the others
                    log.exception("inspection %s could not be recorded", item["inspection_id"])
                    state.fail_decided(
                        self.engine,
                        item["inspection_id"],
                        f"the finding could not be recorded ({type(err).__name__}: "
                        f"{str(err)[:200]})",
                    )
            return out

        def record_one(item: dict[str, Any]) -> dict[str, Any]:
            ident = item["inspection_id"]
            key = f"inspection:{ident}"
            stored = db.finding_key(key)
            if stored in self.finding_keys:
                leaf = self._finding_index(stored)
                if leaf is None:  # in the log, its index row quarantined
                    leaf = self._scan_for_key(key)
            else:
                result = item["result"]
                refs = [int(i) for i in result["refs"]]
                finding = Finding.model_validate(result["finding"])
                hashes = {f"leaf:{i}": leaf_hash(self.log.entry(i)).hex() for i in refs}
                finding = finding.model_copy(update={"evidence": {**finding.evidence, **hashes}})
                entry = state.finding_leaf(key, refs, finding, self.settings.log_key)
                leaf = self.log.append_many([entry])[0]
                self.finding_keys.add(stored)
                self._index([(leaf, entry)])
                self._sign_checkpoint()
            # Drawn on every pass, not only the first: a crash between the two appends
            # leaves the inspection decided, and the keys keep a second pass from filing
            # any consequence twice.
            drawn: list[tuple[int, NewFinding]] = []
            try:
                self.book.today = self.today()
                case = ins.load_case(self.engine, ident)
                recorded = Finding.model_validate(parse_leaf(self.log.entry(leaf))["finding"])
                drawn = self._append_findings(consequences(self.book, case, recorded, leaf))
            except Exception:  # the finding is on the record: say so, and log the fault
                log.exception("inspection %s: its consequences could not be drawn", ident)
            state.mark_recorded(self.engine, ident, leaf)
            return {
                "inspection_id": ident,
                "leaf_index": leaf,
                "consequences": [i for i, _ in drawn],
            }

        return self.in_writer(write)

    def _scan_for_key(self, key: str) -> int:
        """The log entry of a finding whose index row is missing (newest first)."""
        for index in range(self.log.size - 1, -1, -1):
            data = parse_leaf(self.log.entry(index))
            if data.get("type") == FINDING_TYPE and data.get("key") == key:
                return index
        raise IntegrityError("log", f"holds no finding {key!r}")

    def _finding_index(self, stored_key: str) -> int | None:
        with self.engine.connect() as conn:
            found = conn.execute(
                select(db.findings.c.leaf_index).where(db.findings.c.key == stored_key)
            ).first()
        return None if found is None else int(found.leaf_index)

    def cached(self, name: str, fn: Callable[[Book], T]) -> T:
        """``fn(book)`` over the read views' own book: never on the writer thread."""
        return self.views.get(name, fn)

    # -- reading -------------------------------------------------------------------------

    def entry(self, index: int) -> dict[str, Any]:
        log = self.reader()
        if not 0 <= index < log.size:
            raise RegistryError(404, "leaf_index", f"{index} is not in the log")
        return parse_leaf(log.entry(index))

    def finding_doc(self, index: int) -> dict[str, Any]:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(db.findings.c.doc).where(db.findings.c.leaf_index == index)
            ).first()
        if row is None:
            raise RegistryError(404, "leaf_index", f"{index} is not a finding")
        doc: dict[str, Any] = json.loads(row.doc)
        return {"key": doc["key"], "refs": doc["refs"], **doc["finding"]}

    def close(self) -> None:
        self._queue.put(None)
        self._writer.join(timeout=30)
        with self._readers_lock:
            for log in self._readers:
                with contextlib.suppress(Exception):
                    log.close()
        self.engine.dispose()
        self.index_engine.dispose()


def snapshot_book(data: bytes, origin: str) -> Book:
    state = snapshot.decode(data, origin)
    if state is None:  # the same bytes decoded a moment ago: cannot happen
        raise IntegrityError("snapshot", "no longer decodes")
    book: Book = state.parts["book"]
    return book


def decode_kind(value: str) -> Kind:
    try:
        return Kind(value)
    except ValueError:
        raise RegistryError(
            422, "kind", f"unknown kind {value!r}", f"one of {[k.value for k in Kind]}"
        ) from None
