"""The lab-side hook: wrap a plain PyTorch loop and write a transcript as training runs.

The training thread only does what must happen in order: copy each step's sample indices
into a preallocated row of the current segment, and every k steps copy the state into a
reused buffer laid out as the checkpoint file's data section (a memcpy per tensor). Hashing
and file writes happen on a background thread, so the recorder costs about a copy of the
weights every k steps. Indices are hashed, never the data itself: the data are committed to
once, by shard, before training starts.

Usage::

    rec = TranscriptRecorder(out_dir, model, optimizer, task=task, model_spec=spec, k=50,
                             batch_size=32, dataset=data)
    for idx in schedule:
        rec.record_batch(idx)
        train_step(model, optimizer, data, idx)
        rec.after_step()
    head = rec.finish()          # the chain head, for the ledger
"""

from __future__ import annotations

import hashlib
import os
import queue
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from accord.errors import AccordError
from accord.verify.training.checkpoint import Snapshot, Snapshotter, rank_rng_key
from accord.verify.training.handover import take_code, take_shards
from accord.verify.training.hashing import (
    batch_leaf_nodes,
    chain_genesis,
    chain_step,
    merkle_level,
    merkle_root,
    merkle_root_of_nodes,
    sha256_hex,
    shared_height,
)
from accord.verify.training.loop import optimizer_spec_of
from accord.verify.training.manifest import (
    FORMAT,
    BatchCommitment,
    CheckpointEntry,
    CodeSpec,
    DataCommitment,
    Manifest,
    ModelSpec,
    RecipeSpec,
    ShardFile,
    TaskSpec,
)
from accord.verify.training.recipe import (
    StepParts,
    custom_autograd_functions,
    meta_state,
    meta_tensor,
    recipe_of,
)
from accord.verify.training.tasks import SHARD_SIZE, Dataset, forward_flops_per_sample, make_dataset
from accord.verify.training.transcript import CHAIN, INDICES, MANIFEST, ckpt_name, ledger_summary

_STOP = object()
_INT64 = np.dtype(np.int64)


class TranscriptRecorder:
    """Record a run into ``out_dir``; see the module docstring for the loop it expects."""

    def __init__(
        self,
        out_dir: Path | str,
        model: Any,
        optimizer: Any,
        *,
        task: TaskSpec,
        model_spec: ModelSpec,
        batch_size: int,
        k: int = 50,
        dataset: Dataset | None = None,
        run_id: str | None = None,
        threads: int = 1,
        asynchronous: bool = True,
        declared_training_flops: float | None = None,
        scheduler: Any = None,
        scaler: Any = None,
        micro_batches: int = 1,
        clip_grad_norm: float | None = None,
        clip_order: str = "model",
        precision: str = "fp32",
        recipe: bool | None = None,
        model_code: Path | str | None = None,
        code_builder: str = "build_model",
        shard_files: list[Path] | None = None,
        world_size: int = 1,
        rank_rng: list[Any] | None = None,
    ) -> None:
        import torch

        started = time.thread_time()
        # train_thread_s: checkpoint copies; per_step_s: record_batch/after_step (wall clock).
        self.cost = dict.fromkeys(
            ("setup_s", "train_thread_s", "per_step_s", "worker_cpu_s", "finish_s"), 0.0
        )
        if k < 1:
            raise AccordError("k", "must be at least 1", "checkpoint every k >= 1 steps")
        if batch_size < 1:
            raise AccordError("batch_size", "must be at least 1", None)
        self.root = Path(out_dir)
        if (self.root / MANIFEST).exists():
            raise AccordError(
                str(self.root), "already holds a transcript", "choose a new directory"
            )
        (self.root / "ckpt").mkdir(parents=True, exist_ok=True)
        self.model, self.optimizer = model, optimizer
        self.task, self.model_spec, self.k, self.batch_size = task, model_spec, k, batch_size
        self.run_id = run_id or uuid.uuid4().hex
        self.threads = threads
        self.declared = declared_training_flops
        self.shards: list[ShardFile] | None = None
        self.code: CodeSpec | None = None
        if (model_code is None) != (model_spec.arch != "module"):
            raise AccordError(
                "model_code", "is needed exactly when model.arch is 'module'", "hand it over"
            )
        if model_code is not None:
            self.code = take_code(Path(model_code), self.root, code_builder)
        if (shard_files is None) != (task.name != "shards"):
            raise AccordError("shard_files", "are needed exactly when the task is 'shards'", None)
        if shard_files is not None:
            self.shards, data = take_shards(list(shard_files), self.root)
            if len(data) != task.n_samples:
                raise AccordError(
                    "task.n_samples", f"the shards hold {len(data)} samples", "declare that"
                )
        else:
            data = (
                dataset
                if dataset is not None
                else make_dataset(task.name, task.seed, task.n_samples)
            )
        self.data = data
        self.shard_digests = data.shard_hashes(SHARD_SIZE)
        self.params = sum(int(p.numel()) for p in model.parameters())
        self.flops_per_sample = 3 * forward_flops_per_sample(model, data.x[0])
        if world_size < 1 or batch_size % world_size:
            raise AccordError("world_size", f"{world_size} ranks do not divide the batch", None)
        self.world_size = world_size
        # RNG states of ranks 1.. at the next checkpoint, set by DistributedRecorder.
        self.rank_rng: list[Any] = list(rank_rng or [])
        self.clip_order = clip_order
        self.recipe = self._declare(
            recipe, scheduler, scaler, micro_batches, clip_grad_norm, precision, data
        )
        self.parts = (
            None
            if self.recipe is None
            else StepParts(model, optimizer, self.recipe, scheduler, scaler)
        )
        self._scale_before = 0.0
        self.step = 0
        self._row_shape = (batch_size,)
        self._rows: list[bytes] = []
        self._pending: bytes | None = None
        self._hot_s = 0.0
        self._snapshots = Snapshotter()
        self._records: list[dict[str, Any]] = []
        self._seg_roots: list[str] = []
        self._nodes: list[bytes] = []
        self._idx_sha = hashlib.sha256()
        self._error: BaseException | None = None
        self._async = asynchronous
        self._q: queue.SimpleQueue[object] = queue.SimpleQueue()  # C-level, cheaper than Queue
        self._idx_file = (self.root / INDICES).open("wb", buffering=1 << 20)
        self._worker: threading.Thread | None = None
        if asynchronous:
            self._worker = threading.Thread(target=self._drain, daemon=True)
            self._worker.start()
        self._finished = False
        torch.set_num_threads(threads)
        self._submit(self._snapshots.take(0, model, optimizer, self._meta(), self._ranks()))
        self.cost["setup_s"] = time.thread_time() - started

    def _declare(
        self,
        recipe: bool | None,
        scheduler: Any,
        scaler: Any,
        micro_batches: int,
        clip_grad_norm: float | None,
        precision: str,
        data: Dataset,
    ) -> RecipeSpec | None:
        """The recipe, unless the run is a plain single-group SGD/AdamW run at a constant rate
        (declared with the shorter ``optimizer`` entry the step count understands)."""
        import torch

        if precision not in ("fp32", "bf16", "fp16"):
            raise AccordError("precision", f"{precision!r} is not known", "use fp32, bf16 or fp16")
        if micro_batches < 1 or (self.batch_size // self.world_size) % micro_batches:
            raise AccordError(
                "micro_batches", f"{micro_batches} does not divide the batch", "use a divisor"
            )
        functions = custom_autograd_functions(self.model, torch.from_numpy(data.x[:1]))
        plain = (
            scheduler is None
            and scaler is None
            and micro_batches == 1
            and clip_grad_norm is None
            and precision == "fp32"
            and not functions
            and len(self.optimizer.param_groups) == 1
            and self.world_size == 1
            and type(self.optimizer) in (torch.optim.SGD, torch.optim.AdamW)
        )
        if recipe is False and not plain:
            raise AccordError("recipe", "is needed for this run's features", "leave it unset")
        if not (recipe or not plain):
            return None
        return recipe_of(
            self.model,
            self.optimizer,
            scheduler=scheduler,
            scaler=scaler,
            micro_batches=micro_batches,
            clip_grad_norm=clip_grad_norm,
            precision=precision,
            custom_autograd=functions,
            clip_order=self.clip_order,
        )

    def _ranks(self) -> list[tuple[str, Any]]:
        if self.world_size > 1 and len(self.rank_rng) != self.world_size - 1:
            raise AccordError("rank_rng", "needs the RNG state of every other rank", None)
        return [(rank_rng_key(r), t) for r, t in enumerate(self.rank_rng, start=1)]

    def _meta(self) -> Any:
        if self.parts is None:
            return None
        tensor = meta_tensor(meta_state(self.parts))
        self.parts.skipped = []
        return tensor

    # -- training-thread side -------------------------------------------------------------
    # The per-step calls are timed with perf_counter (about 50 ns a call) rather than
    # thread_time (about 600 ns, a system call): four thread_time calls a step were more than
    # half of the hot path. Wall time over a microsecond-long call is never less than its
    # CPU time, so this can only over-count the recorder.
    def record_batch(self, indices: Any) -> None:
        """Note the sample indices of the step about to run (numpy array or tensor)."""
        t = time.perf_counter()
        try:  # the common case, an int64 row, with as few calls as possible
            ok = indices.dtype is _INT64 and indices.shape == self._row_shape
        except AttributeError:
            ok = False
        self._pending = (indices if ok else self._as_row(indices)).tobytes()
        if self.parts is not None and self.parts.scaler is not None:
            self._scale_before = self.parts.scaler.get_scale()
        self._hot_s += time.perf_counter() - t

    def _as_row(self, indices: Any) -> np.ndarray:
        row = np.asarray(indices, dtype=np.int64).reshape(-1)
        if row.shape[0] != self.batch_size:
            raise AccordError(
                "indices", f"batch of {row.shape[0]}, declared {self.batch_size}", None
            )
        return row

    def fill_rows(self, block: np.ndarray) -> None:
        """Replace the rows of the open segment (steps recorded since the last checkpoint,
        the pending one included) with ``block``: a distributed run learns the other ranks'
        indices only when the segment closes (:mod:`accord.verify.training.distributed`)."""
        rows = [self._as_row(r).tobytes() for r in np.asarray(block, dtype=np.int64)]
        held = len(self._rows) + (self._pending is not None)
        if len(rows) != held:
            raise AccordError("fill_rows", f"{len(rows)} rows for {held} open steps", None)
        if self._pending is not None:
            self._rows, self._pending = rows[:-1], rows[-1]
        else:
            self._rows = rows

    def after_step(self) -> None:
        """Call after ``optimizer.step()``; checkpoints every k steps."""
        t = time.perf_counter()
        if self._pending is None:
            raise AccordError("record_batch", "was not called before this step", "call it first")
        self._rows.append(self._pending)
        self._pending = None
        parts = self.parts
        if parts is not None and parts.scaler is not None:
            skipped = parts.scaler.get_scale() < self._scale_before
            if skipped:  # the scale backed off: the scaler skipped this update
                parts.skipped.append(self.step)
        self.step += 1
        self._hot_s += time.perf_counter() - t
        if len(self._rows) == self.k:
            c = time.thread_time()
            self._close_segment()
            self.cost["train_thread_s"] += time.thread_time() - c

    def _close_segment(self) -> None:
        rows, self._rows = self._rows, []
        snap = self._snapshots.take(
            self.step, self.model, self.optimizer, self._meta(), self._ranks()
        )
        self._submit((self.step - len(rows), rows, snap))

    def _submit(self, item: object) -> None:
        if self._async:
            self._q.put(item)
        else:
            self._handle(item)

    # -- background side ------------------------------------------------------------------
    def _drain(self) -> None:
        while True:
            item = self._q.get()
            if item is _STOP:
                # The thread's whole CPU time, waking up and queue handling included.
                self.cost["worker_cpu_s"] = time.thread_time()
                return
            if self._error is None:
                try:
                    self._handle(item)
                except BaseException as exc:  # surfaced by finish()
                    self._error = exc

    def _handle(self, item: object) -> None:
        if isinstance(item, Snapshot):
            self._write_checkpoint(item)
            return
        assert isinstance(item, tuple)
        first, row_bytes, snap = item
        joined = b"".join(row_bytes)
        rows = np.frombuffer(joined, dtype=np.int64).reshape(len(row_bytes), self.batch_size)
        raw = joined if sys.byteorder == "little" else rows.astype("<i8").tobytes()
        shared = merkle_level(batch_leaf_nodes(first, rows), shared_height(self.k))
        root = merkle_root_of_nodes(shared)
        self._nodes.extend(shared)  # the run's tree is built on these in finish
        self._idx_sha.update(raw)
        self._idx_file.write(raw)
        self._seg_roots.append(root)
        self._records.append(
            {
                "kind": "batches",
                "segment": len(self._seg_roots) - 1,
                "first": first,
                "last": first + rows.shape[0],
                "root": root,
            }
        )
        self._write_checkpoint(snap)

    def _write_checkpoint(self, snap: Snapshot) -> None:
        """Hash and write one snapshot: header and data straight from the snapshot buffer."""
        header, data = snap.header(), snap.data()
        file_sha = hashlib.sha256(header)
        file_sha.update(data)
        name = ckpt_name(snap.step)
        record = {
            "kind": "checkpoint",
            "step": snap.step,
            "sha256": file_sha.hexdigest(),
            "weights": snap.weights_sha256(),
        }
        fd = os.open(self.root / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            _write_all(fd, header)
            _write_all(fd, data)
        finally:
            os.close(fd)
        snap.release()
        self._records.append(record)  # the manifest's entries are built from these in finish

    def finish(self) -> str:
        """Flush, write the manifest and chain, and return the chain head for the ledger."""
        if self._finished:
            raise AccordError("finish", "was already called", None)
        if self.step == 0:
            raise AccordError("steps", "no step was recorded", "train at least one step")
        self._finished = True
        t = time.thread_time()
        if self._rows:
            self._close_segment()
        if self._worker is not None:
            self._q.put(_STOP)
            self._worker.join()  # waiting costs no CPU; the worker counts its own
        self._idx_file.close()
        if self._error is not None:
            raise AccordError("recorder", f"writing the transcript failed: {self._error}", None)
        per_step_flops = self.flops_per_sample * self.batch_size
        ckpts = [
            CheckpointEntry(
                step=r["step"],
                file=ckpt_name(r["step"]),
                sha256=r["sha256"],
                weights_sha256=r["weights"],
            )
            for r in self._records
            if r["kind"] == "checkpoint"
        ]
        manifest = Manifest(
            format=FORMAT,
            run_id=self.run_id,
            task=self.task,
            model=self.model_spec,
            optimizer=None if self.recipe else optimizer_spec_of(self.optimizer),
            recipe=self.recipe,
            code=self.code,
            shards=self.shards,
            loss="cross_entropy",
            k=self.k,
            steps=self.step,
            batch_size=self.batch_size,
            tokens_per_sample=self.data.tokens_per_sample,
            parameter_count=self.params,
            training_flops_per_sample=self.flops_per_sample,
            declared_training_flops=float(self.declared or per_step_flops * self.step),
            threads=self.threads,
            world_size=self.world_size,
            torch_version=_torch_version(),
            data=DataCommitment(
                shard_size=SHARD_SIZE,
                shard_hashes=self.shard_digests,
                data_root=merkle_root([bytes.fromhex(h) for h in self.shard_digests]),
            ),
            batches=BatchCommitment(
                indices_file="indices.bin",
                indices_sha256=self._idx_sha.hexdigest(),
                merkle_root=merkle_root_of_nodes(self._nodes),
                segment_roots=self._seg_roots,
            ),
            checkpoints=ckpts,
            final_weights_sha256=ckpts[-1].weights_sha256,
        )
        raw_manifest = manifest.model_dump_json(indent=2).encode()
        (self.root / MANIFEST).write_bytes(raw_manifest)
        manifest_sha = sha256_hex(raw_manifest)
        records = [
            *self._records,
            {"kind": "manifest", "sha256": manifest_sha},
            {"kind": "final", "weights": manifest.final_weights_sha256},
        ]
        head = write_chain(self.root, self.run_id, records)
        self.summary = ledger_summary(manifest, head, manifest_sha)
        self.cost["per_step_s"] = self._hot_s
        self.cost["finish_s"] = time.thread_time() - t
        return head

    def overhead_seconds(self) -> float:
        """CPU seconds the recorder spent: its calls on the training thread, the writer
        thread, setup (data shard hashing) and finish, i.e. what it adds to training.

        Thread CPU clocks, not wall clocks, so that preemption by other processes on a busy
        machine is not billed to the recorder, except for the per-step calls, whose wall time
        (an upper bound on their CPU time) is far cheaper to read; see ``record_batch``.
        """
        return sum(self.cost.values())

    def training_thread_seconds(self) -> float:
        """The part of :meth:`overhead_seconds` spent on the training thread (setup, the
        per-step calls, the checkpoint copies, finish): what lengthens the steps themselves
        when the writer thread has a core of its own."""
        return sum(v for key, v in self.cost.items() if key != "worker_cpu_s")


def write_chain(root: Path, run_id: str, records: list[dict[str, Any]]) -> str:
    import json

    prev = chain_genesis(run_id)
    lines = []
    for rec in records:
        prev = chain_step(prev, rec)
        lines.append(json.dumps({"record": rec, "hash": prev}, sort_keys=True))
    (root / CHAIN).write_text("\n".join(lines) + "\n")
    return prev


def _torch_version() -> str:
    import torch

    return str(torch.__version__)


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
