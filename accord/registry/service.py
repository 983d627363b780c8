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
import datetime as dt
import hashlib
import json
import queue
import secrets
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, func, insert, select, update

from accord.errors import AccordError, IntegrityError, NotFoundError
from accord.ledger import Log, Signer, Verifier, Witness, leaf_hash, open_store
from accord.ledger.note import ALG_ED25519, parse_note
from accord.ledger.witness import add_cosignatures
from accord.model.declaration import (
    DECLARATION_TYPE,
    FINDING_TYPE,
    PARTY_TYPE,
    Body,
    Kind,
    SignedDeclaration,
    canonical_json,
    parse_body,
    parse_leaf,
    parse_signed,
)
from accord.model.finding import Finding
from accord.registry import db
from accord.registry.accountancy import accountancy_findings
from accord.registry.book import Book, event_date, subject_of
from accord.registry.findings import NewFinding, declaration_findings
from accord.registry.signing import utc_text, verify

MAX_BATCH = 512
T = TypeVar("T")


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
    witnesses: list[Witness] = field(default_factory=list)
    witness_keys: list[Verifier] = field(default_factory=list)


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


class Registry:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine: Engine = db.open_engine(settings.db_url)
        db.migrate(self.engine)
        self._local = threading.local()
        self._readers: list[Log] = []
        self._readers_lock = threading.Lock()
        self.book = Book()
        self.parties: dict[str, Party] = {}
        self.nonces: set[tuple[str, str]] = set()
        self.finding_keys: set[str] = set()
        self.rejections: Counter[str] = Counter()
        self._cache: dict[str, tuple[int, Any]] = {}
        self._queue: queue.Queue[_Submission | _Task | None] = queue.Queue()
        ready: Future[None] = Future()
        self._writer = threading.Thread(
            target=self._run, args=(ready,), name="registry-writer", daemon=True
        )
        self._writer.start()
        ready.result(600)

    def _open(self) -> None:
        """On the writer thread: open the log (SQLite handles are per thread) and replay."""
        store = open_store(self.settings.ledger)
        if store.get_meta("origin") is None:
            self.log = Log.create(store, self.settings.log_key)
        else:
            self.log = Log(store, self.settings.log_key)
        self.log_key = self.log.verifier
        self._reconcile()
        self._replay()

    # -- start-up --------------------------------------------------------------------------

    def _reconcile(self) -> None:
        """Index every log entry past the last indexed one (after a crash mid-batch).

        Party entries are upserts, so re-reading a trailing one is harmless.
        """
        with self.engine.begin() as conn:
            last = max(
                conn.execute(select(func.max(db.declarations.c.leaf_index))).scalar() or -1,
                conn.execute(select(func.max(db.findings.c.leaf_index))).scalar() or -1,
            )
            for index in range(last + 1, self.log.size):
                self._index_leaf(conn, index, self.log.entry(index))

    def _index_leaf(self, conn: Any, index: int, leaf: bytes) -> None:
        data = parse_leaf(leaf)
        kind = data.get("type")
        now = utc_text(self.settings.clock())
        if kind == PARTY_TYPE:
            row = dict(data["party"])
            pid = row["party_id"]
            exists = conn.execute(
                select(db.parties.c.party_id).where(db.parties.c.party_id == pid)
            ).first()
            if exists:
                conn.execute(update(db.parties).where(db.parties.c.party_id == pid).values(**row))
            else:
                conn.execute(insert(db.parties).values(**row))
        elif kind == DECLARATION_TYPE:
            signed = parse_signed({k: data[k] for k in ("declaration", "signature")})
            conn.execute(insert(db.declarations).values(**self._decl_row(index, leaf, signed, now)))
        elif kind == FINDING_TYPE:
            nf = NewFinding(
                data["key"], Finding.model_validate(data["finding"]), tuple(data["refs"])
            )
            conn.execute(insert(db.findings).values(**self._finding_row(index, nf, now)))

    def _replay(self) -> None:
        with self.engine.connect() as conn:
            for row in conn.execute(select(db.parties)):
                self.parties[row.party_id] = Party(
                    row.party_id,
                    row.name,
                    row.role,
                    row.country,
                    Verifier.parse(row.vkey),
                    row.registered_at,
                    row.revoked_at,
                )
            for row in conn.execute(
                select(db.declarations.c.leaf_index, db.declarations.c.doc).order_by(
                    db.declarations.c.leaf_index
                )
            ):
                signed = SignedDeclaration.model_validate_json(row.doc)
                decl = signed.declaration
                self.nonces.add((decl.party, decl.nonce))
                self.book.apply(row.leaf_index, decl.party, decl.kind, decl.parsed_body())
            self.finding_keys = {r[0] for r in conn.execute(select(db.findings.c.key))}

    # -- rows ------------------------------------------------------------------------------

    @staticmethod
    def _decl_row(index: int, leaf: bytes, signed: SignedDeclaration, now: str) -> dict[str, Any]:
        decl = signed.declaration
        body = decl.parsed_body()
        issued = decl.issued()
        return {
            "leaf_index": index,
            "party": decl.party,
            "kind": decl.kind.value,
            "nonce": decl.nonce,
            "issued_at": decl.issued_at,
            "subject": subject_of(body)[:128],
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
            "key": nf.key[:200],
            "subject": f.subject[:200],
            "verifier": f.verifier[:64],
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
        finally:
            self.log.close()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, _Task):
                self._do_task(item)
                continue
            batch = [item]
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None or isinstance(nxt, _Task):
                    self._commit(batch)
                    batch = []
                    if nxt is None:
                        return
                    self._do_task(nxt)
                    break
                batch.append(nxt)
            if batch:
                self._commit(batch)

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
        fut: Future[T] = Future()
        self._queue.put(_Task(fn, fut))
        return fut.result(timeout)

    def _commit(self, batch: list[_Submission]) -> None:
        entries: list[bytes] = []
        accepted: list[tuple[_Submission, int, list[NewFinding]]] = []
        new_findings: list[tuple[int, NewFinding]] = []
        start = self.log.size
        batch_nonces: set[tuple[str, str]] = set()
        try:
            for sub in batch:
                decl = sub.signed.declaration
                key = (decl.party, decl.nonce)
                try:
                    if key in self.nonces or key in batch_nonces:
                        raise RegistryError(
                            409,
                            "declaration.nonce",
                            "was already used by this party (replay)",
                            "sign a fresh declaration with a new nonce",
                        )
                    self.book.check(decl.party, decl.kind, sub.body)
                except AccordError as err:
                    self.rejections[err.field] += 1
                    sub.future.set_exception(err)
                    continue
                batch_nonces.add(key)
                index = start + len(entries)
                entries.append(sub.signed.leaf())
                self.book.apply(index, decl.party, decl.kind, sub.body)
                found = []
                for nf in declaration_findings(self.book, index, decl.party, sub.body):
                    if nf.key in self.finding_keys:
                        continue
                    nf = self._with_evidence(
                        nf, lambda i: entries[i - start] if i >= start else self.log.entry(i)
                    )
                    self.finding_keys.add(nf.key)
                    new_findings.append((start + len(entries), nf))
                    entries.append(nf.leaf())
                    found.append(nf)
                accepted.append((sub, index, found))
            if not entries:
                return
            self.log.append_many(entries)
            now = utc_text(self.settings.clock())
            with self.engine.begin() as conn:
                rows = [
                    self._decl_row(i, entries[i - start], s.signed, now) for s, i, _ in accepted
                ]
                conn.execute(insert(db.declarations), rows)
                if new_findings:
                    conn.execute(
                        insert(db.findings),
                        [self._finding_row(i, nf, now) for i, nf in new_findings],
                    )
            self.nonces |= batch_nonces
            note = self.log.checkpoint()
            size = start + len(entries)
            for sub, index, found in accepted:
                sub.future.set_result(self._receipt(self.log, index, size, note, found))
        except BaseException as err:
            # Nothing was acknowledged: rebuild the book from what is durable and fail all.
            self.book = Book()
            self.nonces = set()
            self._reconcile()
            self._replay()
            for sub in batch:
                if not sub.future.done():
                    sub.future.set_exception(err)

    @staticmethod
    def _with_evidence(nf: NewFinding, entry: Callable[[int], bytes]) -> NewFinding:
        """Name each log entry the finding rests on by its RFC 9162 leaf hash."""
        evidence = {f"leaf:{i}": leaf_hash(entry(i)).hex() for i in nf.refs}
        return NewFinding(nf.key, nf.finding.model_copy(update={"evidence": evidence}), nf.refs)

    def _append_findings(self, found: list[NewFinding]) -> list[int]:
        fresh = [
            self._with_evidence(nf, self.log.entry)
            for nf in found
            if nf.key not in self.finding_keys
        ]
        if not fresh:
            return []
        indexes = self.log.append_many([nf.leaf() for nf in fresh])
        now = utc_text(self.settings.clock())
        with self.engine.begin() as conn:
            conn.execute(
                insert(db.findings),
                [self._finding_row(i, nf, now) for i, nf in zip(indexes, fresh, strict=True)],
            )
        self.finding_keys |= {nf.key for nf in fresh}
        self.log.checkpoint()
        return indexes

    # -- receipts and proofs -------------------------------------------------------------

    def _receipt(
        self, log: Log, index: int, size: int, note: bytes, found: list[NewFinding]
    ) -> dict[str, Any]:
        leaf = log.entry(index)
        return {
            "leaf_index": index,
            "tree_size": size,
            "leaf": _b64(leaf),
            "leaf_hash": leaf_hash(leaf).hex(),
            "inclusion_proof": [_b64(h) for h in log.inclusion_proof(index, size)],
            "checkpoint": note.decode(),
            "log_key": self.log_key.vkey,
            "findings": [{"key": nf.key, **nf.finding.model_dump(mode="json")} for nf in found],
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
        issued = self.reader().checkpoints()
        if not issued:
            raise NotFoundError("checkpoint", "the log has not signed one yet")
        return issued[-1]

    def receipt(self, index: int) -> dict[str, Any]:
        """A fresh receipt for entry ``index`` against the latest checkpoint."""
        log = self.reader()
        size, note = self.latest_checkpoint()
        if not 0 <= index < size:
            raise RegistryError(404, "leaf_index", f"{index} is not in the checkpointed log")
        return self._receipt(log, index, size, note, [])

    # -- submissions -----------------------------------------------------------------------

    def validate(self, raw: bytes | dict[str, Any]) -> tuple[SignedDeclaration, Body]:
        """Shape, party, signature, freshness and body schema: everything but the book."""
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
            good = verify(signed, party.key)
        except AccordError as err:
            raise RegistryError(401, err.field, err.problem) from None
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
            body = parse_body(decl.kind, decl.body)
            leaf = signed.leaf()
        except AccordError as err:
            raise RegistryError(422, err.field, err.problem, err.fix) from None
        if len(leaf) > self.settings.max_body_bytes:
            raise RegistryError(413, "declaration", "is too large once canonicalised")
        return signed, body

    def checked(self, raw: bytes | dict[str, Any]) -> tuple[SignedDeclaration, Body]:
        """:meth:`validate`, counting refusals per field (never their content)."""
        try:
            return self.validate(raw)
        except AccordError as err:
            self.rejections[err.field] += 1
            raise

    def enqueue(self, signed: SignedDeclaration, body: Body) -> Future[dict[str, Any]]:
        fut: Future[dict[str, Any]] = Future()
        self._queue.put(_Submission(signed, body, fut))
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

        key = Verifier.parse(vkey)
        if key.name != party_id or key.alg != ALG_ED25519:
            raise RegistryError(
                422, "vkey", f"must be an Ed25519 key named {party_id!r}", "accord registry keygen"
            )
        if role not in ("state", "lab", "cloud", "inspectorate"):
            raise RegistryError(422, "role", "must be state, lab, cloud or inspectorate")
        try:
            country = _country(country)
        except ValueError as err:
            raise RegistryError(422, "country", str(err)) from None
        now = utc_text(self.settings.clock())
        party = Party(party_id, name, role, country, key, now)

        def write() -> dict[str, Any]:
            if party_id in self.parties:
                raise RegistryError(409, "party_id", f"{party_id!r} is already registered")
            row = {**party.public()}
            leaf = canonical_json({"type": PARTY_TYPE, "party": row}, "party")
            index = self.log.append(leaf)
            with self.engine.begin() as conn:
                conn.execute(insert(db.parties).values(**row))
            self.log.checkpoint()
            self.parties[party_id] = party
            return {**row, "leaf_index": index}

        return self.in_writer(write)

    def revoke_party(self, party_id: str) -> dict[str, Any]:
        def write() -> dict[str, Any]:
            party = self.parties.get(party_id)
            if party is None:
                raise RegistryError(404, "party_id", f"{party_id!r} is not registered")
            party.revoked_at = utc_text(self.settings.clock())
            row = party.public()
            index = self.log.append(canonical_json({"type": PARTY_TYPE, "party": row}, "party"))
            with self.engine.begin() as conn:
                conn.execute(
                    update(db.parties)
                    .where(db.parties.c.party_id == party_id)
                    .values(revoked_at=party.revoked_at)
                )
            self.log.checkpoint()
            return {**row, "leaf_index": index}

        return self.in_writer(write)

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
            issued = self.log.checkpoints()
            note = issued[-1][1] if issued and issued[-1][0] == size else self.log.checkpoint()
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
            found = [
                nf for nf in accountancy_findings(self.book) if nf.key not in self.finding_keys
            ]
            indexes = self._append_findings(found)
            return [{"leaf_index": i, **self.finding_doc(i)} for i in indexes]

        return self.in_writer(write)

    def cached(self, name: str, fn: Callable[[Book], T]) -> T:
        """``fn(book)`` on the writer thread, memoised until the log grows."""

        def run() -> T:
            size = self.log.size
            hit = self._cache.get(name)
            if hit is not None and hit[0] == size:
                return hit[1]  # type: ignore[no-any-return]
            value = fn(self.book)
            self._cache[name] = (size, value)
            return value

        return self.in_writer(run)

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


def decode_kind(value: str) -> Kind:
    try:
        return Kind(value)
    except ValueError:
        raise RegistryError(
            422, "kind", f"unknown kind {value!r}", f"one of {[k.value for k in Kind]}"
        ) from None
