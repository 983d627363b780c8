"""The inspection job queue (huey over SQL) and the ``accord worker`` process.

huey's ``SqlHuey`` keeps the queue in a database table through peewee: a SQLite file next to
the registry's in the embedded default (``VAR/jobs.sqlite``), the registry's own PostgreSQL
database when it runs on PostgreSQL (``FOR UPDATE SKIP LOCKED``, so workers on more machines
share one queue with no code change). Workers are separate processes; a task has a time
limit (SIGALRM in huey's process workers), and a failure that is not the evidence's fault is
retried with exponential backoff.

huey removes a message when a worker takes it, so a worker killed mid-task loses its
message. The inspection row is therefore the record: the worker holds a lease on it that
its heartbeat renews, and every worker sweeps for rows whose lease ran out (or whose message
was lost while queued) and queues them again. Duplicates are harmless (the row is claimed
with a conditional update), and the finding is recorded once per inspection by key.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from accord.errors import AccordError
from accord.registry import db
from accord.registry import inspection_state as state
from accord.registry import inspections as ins
from accord.registry.evidence import EvidenceError, EvidenceStore
from accord.registry.verifiers import run as run_verifier

log = logging.getLogger("accord.worker")
QUEUE_NAME = "accord-inspections"
DEFAULT_LEASE = 30.0
DEFAULT_TIMEOUT = 3600
DEFAULT_EVIDENCE_BYTES = 64 << 20


def queue_url(db_url: str, var: Path) -> str:
    """Where the queue lives: the registry's PostgreSQL database, or a SQLite file in var."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if db_url.startswith(prefix):
            return "psycopg3://" + db_url[len(prefix) :]
    return f"sqlite:///{var.resolve() / 'jobs.sqlite'}"


def _storage_class() -> Any:
    """huey's SQL storage with its tables named ``jobs_*``: in the registry's own PostgreSQL
    database, huey's default names (``task``, ``kv``, ...) would be anybody's."""
    from huey.contrib.sql_huey import SqlStorage

    class Storage(SqlStorage):  # type: ignore[misc]
        def create_models(self) -> Any:
            models = super().create_models()
            for model, name in zip(models, ("kv", "schedule", "task", "counter"), strict=True):
                model._meta.set_table_name(f"jobs_{name}")
            task = models[2]  # its index was bound to the old table name: bind it again
            task._meta.indexes = []
            task.add_index(task.priority.desc(), task.id)
            return models

    return Storage


@dataclass
class Jobs:
    """The queue as the API (producer) and ``accord worker`` (consumer) both see it."""

    db_url: str
    var: Path
    lease: float = DEFAULT_LEASE
    timeout: int = DEFAULT_TIMEOUT
    _engines: dict[int, Engine] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from huey import Huey

        self.var = self.var.resolve()
        self.store = EvidenceStore(self.var / "evidence", DEFAULT_EVIDENCE_BYTES)
        self.huey = Huey(
            name=QUEUE_NAME,
            storage_class=_storage_class(),
            database=queue_url(self.db_url, self.var),
            results=False,
            utc=True,
        )
        self.task = self.huey.task(
            name="accord.run_inspection",
            retries=ins.MAX_ATTEMPTS - 1,
            retry_delay=2,
            retry_backoff=2.0,
            timeout=self.timeout,
        )(self._run)

    def engine(self) -> Engine:
        """One engine per process: huey's process workers are forked, and a pooled
        connection must never cross a fork."""
        pid = os.getpid()
        engine = self._engines.get(pid)
        if engine is None:
            engine = db.open_engine(self.db_url)
            self._engines = {pid: engine}
        return engine

    def enqueue(self, inspection_id: str) -> None:
        self.task(inspection_id)

    def sweep(self) -> list[str]:
        """Queue again what a dead worker or a lost message left behind."""
        engine = self.engine()
        found = state.stale(engine, self.lease, requeue_after=max(60.0, 4 * self.lease))
        for ident in found:
            state.touch_enqueued(engine, ident)
            self.enqueue(ident)
        return found

    # -- the task -----------------------------------------------------------------------

    def run_now(self, inspection_id: str) -> None:
        """Run one inspection in this process, as a worker would (the demonstration year,
        tests): claimed, heartbeating and decided exactly like a queued job."""
        self._run(inspection_id)

    def _run(self, inspection_id: str) -> None:
        engine = self.engine()
        attempt = state.claim(engine, inspection_id, self.lease)
        if attempt is None:
            return
        stop = threading.Event()

        def heartbeat() -> None:
            while not stop.wait(max(0.2, self.lease / 3)):
                try:
                    state.beat(engine, inspection_id)
                except Exception:  # a missed beat only shortens the lease
                    log.exception("heartbeat failed")

        beating = threading.Thread(target=heartbeat, name="heartbeat", daemon=True)
        beating.start()
        work = Path(tempfile.mkdtemp(prefix=f"{inspection_id}-", dir=self._workdir()))
        try:
            self._attempt(engine, inspection_id, work)
        except Exception as err:
            from huey.exceptions import TaskTimeout

            if isinstance(err, TaskTimeout):
                state.fail(engine, inspection_id, f"the verifier ran past {self.timeout} s", False)
                return
            reason = f"attempt {attempt} failed: {type(err).__name__}: {str(err)[:300]}"
            log.exception("inspection %s: %s", inspection_id, reason)
            retry = attempt < ins.MAX_ATTEMPTS
            state.fail(engine, inspection_id, reason, retry)
            if retry:
                raise  # huey schedules the retry with backoff
        finally:
            stop.set()
            beating.join(timeout=5)
            shutil.rmtree(work, ignore_errors=True)

    def _workdir(self) -> Path:
        path = self.var / "work"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _attempt(self, engine: Engine, inspection_id: str, work: Path) -> None:
        case = ins.load_case(engine, inspection_id)
        paths = {name: self.store.path(digest) for name, digest in case.evidence.items()}
        last = [0.0]

        def progress(stage: str, done: int, total: int) -> None:
            import time

            now = time.monotonic()
            if now - last[0] >= 0.5 or done >= total:
                last[0] = now
                state.beat(engine, inspection_id, stage, done / total if total else 0.0)

        figures: dict[str, str] = {}
        try:
            finding = run_verifier(case, paths, work, progress, figures)
        except EvidenceError as err:
            reason = f"{err.field}: {err.problem}" + (f" ({err.fix})" if err.fix else "")
            state.fail(engine, inspection_id, reason, retry=False)
            return
        except AccordError as err:  # the verifier refused its inputs: not worth a retry
            state.fail(engine, inspection_id, f"{err.field}: {err.problem}", retry=False)
            return
        refs = [case.declaration] + ([case.reference] if case.reference is not None else [])
        state.decide(engine, inspection_id, finding, refs, figures)


def run_worker(db_url: str, var: Path, workers: int = 1, lease: float = DEFAULT_LEASE) -> None:
    """``accord worker``: consume the queue in ``workers`` processes until interrupted."""
    jobs = Jobs(db_url, var, lease=lease)
    db.migrate(jobs.engine())
    jobs.store.discard_temp()
    jobs.sweep()
    jobs._engines.clear()  # the consumer forks next: children open their own engines
    stop = threading.Event()

    def sweeper() -> None:
        while not stop.wait(max(0.5, lease / 2)):
            try:
                jobs.sweep()
            except Exception:
                log.exception("sweep failed")

    consumer: Any = jobs.huey.create_consumer(
        workers=workers,
        worker_type="process",
        periodic=False,
        initial_delay=0.1,
        backoff=1.15,
        max_delay=1.0,
        check_worker_health=True,
    )
    thread = threading.Thread(target=sweeper, name="sweeper", daemon=True)
    jobs.huey.storage.close()  # nor a queue connection
    thread.start()
    try:
        consumer.run()
    finally:
        stop.set()
