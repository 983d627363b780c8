"""The lab-side hook: wrap a plain PyTorch loop and write a transcript as training runs.

The training thread only does what must happen in order: append each step's sample indices
to a list, and every k steps copy the state (a memcpy). Hashing, safetensors serialisation
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

import queue
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from accord.errors import AccordError
from accord.verify.training.checkpoint import Snapshot, serialise, take_snapshot, weights_digest
from accord.verify.training.hashing import (
    batch_leaf,
    batches_root,
    chain_genesis,
    chain_step,
    merkle_root,
    sha256_hex,
)
from accord.verify.training.loop import optimizer_spec_of
from accord.verify.training.manifest import (
    FORMAT,
    BatchCommitment,
    CheckpointEntry,
    DataCommitment,
    Manifest,
    ModelSpec,
    TaskSpec,
)
from accord.verify.training.tasks import SHARD_SIZE, Dataset, forward_flops_per_sample, make_dataset
from accord.verify.training.transcript import CHAIN, INDICES, MANIFEST, ckpt_name, ledger_summary

_STOP = object()


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
    ) -> None:
        import torch

        started = time.thread_time()
        self.cost = {"setup_s": 0.0, "train_thread_s": 0.0, "worker_cpu_s": 0.0, "finish_s": 0.0}
        if k < 1:
            raise AccordError("k", "must be at least 1", "checkpoint every k >= 1 steps")
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
        data = (
            dataset if dataset is not None else make_dataset(task.name, task.seed, task.n_samples)
        )
        self.data = data
        self.shards = data.shard_hashes(SHARD_SIZE)
        self.params = sum(int(p.numel()) for p in model.parameters())
        self.flops_per_sample = 3 * forward_flops_per_sample(model, data.x[0])
        self.step = 0
        self._rows: list[np.ndarray] = []
        self._pending: np.ndarray | None = None
        self._records: list[dict[str, Any]] = []
        self._ckpts: list[CheckpointEntry] = []
        self._seg_roots: list[str] = []
        self._leaves: list[bytes] = []
        self._error: BaseException | None = None
        self._async = asynchronous
        self._q: queue.Queue[object] = queue.Queue()
        self._idx_file = (self.root / INDICES).open("wb")
        self._worker: threading.Thread | None = None
        if asynchronous:
            self._worker = threading.Thread(target=self._drain, daemon=True)
            self._worker.start()
        self._finished = False
        torch.set_num_threads(threads)
        self._submit(take_snapshot(0, model, optimizer))
        self.cost["setup_s"] = time.thread_time() - started

    # -- training-thread side -------------------------------------------------------------
    def record_batch(self, indices: Any) -> None:
        """Note the sample indices of the step about to run (numpy array or tensor)."""
        t = time.thread_time()
        row = np.asarray(indices, dtype=np.int64).reshape(-1)
        if row.shape[0] != self.batch_size:
            raise AccordError(
                "indices", f"batch of {row.shape[0]}, declared {self.batch_size}", None
            )
        self._pending = row.copy()
        self.cost["train_thread_s"] += time.thread_time() - t

    def after_step(self) -> None:
        """Call after ``optimizer.step()``; checkpoints every k steps."""
        t = time.thread_time()
        if self._pending is None:
            raise AccordError("record_batch", "was not called before this step", "call it first")
        self._rows.append(self._pending)
        self._pending = None
        self.step += 1
        if self.step % self.k == 0:
            self._close_segment()
        self.cost["train_thread_s"] += time.thread_time() - t

    def _close_segment(self) -> None:
        first = self.step - len(self._rows)
        self._submit(("batches", first, np.stack(self._rows)))
        self._rows = []
        self._submit(take_snapshot(self.step, self.model, self.optimizer))

    def _submit(self, item: object) -> None:
        if self._async:
            self._q.put(item)
        else:
            self._handle(item)

    # -- background side ------------------------------------------------------------------
    def _drain(self) -> None:
        cpu = 0.0
        while True:
            item = self._q.get()
            if item is _STOP:
                self.cost["worker_cpu_s"] = cpu
                return
            t = time.thread_time()
            if self._error is None:
                try:
                    self._handle(item)
                except BaseException as exc:  # surfaced by finish()
                    self._error = exc
            cpu += time.thread_time() - t

    def _handle(self, item: object) -> None:
        if isinstance(item, Snapshot):
            raw = serialise(item)
            entry = CheckpointEntry(
                step=item.step,
                file=ckpt_name(item.step),
                sha256=sha256_hex(raw),
                weights_sha256=weights_digest(item.weights()),
            )
            (self.root / entry.file).write_bytes(raw)
            self._ckpts.append(entry)
            self._records.append(
                {
                    "kind": "checkpoint",
                    "step": entry.step,
                    "sha256": entry.sha256,
                    "weights": entry.weights_sha256,
                }
            )
            return
        assert isinstance(item, tuple)
        _, first, rows = item
        j = len(self._seg_roots)
        root = batches_root(first, rows)
        self._leaves.extend(batch_leaf(first + i, rows[i]) for i in range(rows.shape[0]))
        self._idx_file.write(np.ascontiguousarray(rows, dtype="<i8").tobytes())
        self._seg_roots.append(root)
        self._records.append(
            {
                "kind": "batches",
                "segment": j,
                "first": first,
                "last": first + rows.shape[0],
                "root": root,
            }
        )

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
        raw_idx = (self.root / INDICES).read_bytes()
        per_step_flops = self.flops_per_sample * self.batch_size
        manifest = Manifest(
            format=FORMAT,
            run_id=self.run_id,
            task=self.task,
            model=self.model_spec,
            optimizer=optimizer_spec_of(self.optimizer),
            loss="cross_entropy",
            k=self.k,
            steps=self.step,
            batch_size=self.batch_size,
            tokens_per_sample=self.data.tokens_per_sample,
            parameter_count=self.params,
            training_flops_per_sample=self.flops_per_sample,
            declared_training_flops=float(self.declared or per_step_flops * self.step),
            threads=self.threads,
            torch_version=_torch_version(),
            data=DataCommitment(
                shard_size=SHARD_SIZE,
                shard_hashes=self.shards,
                data_root=merkle_root([bytes.fromhex(h) for h in self.shards]),
            ),
            batches=BatchCommitment(
                indices_file="indices.bin",
                indices_sha256=sha256_hex(raw_idx),
                merkle_root=merkle_root(self._leaves),
                segment_roots=self._seg_roots,
            ),
            checkpoints=self._ckpts,
            final_weights_sha256=self._ckpts[-1].weights_sha256,
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
        self.cost["finish_s"] = time.thread_time() - t
        return head

    def overhead_seconds(self) -> float:
        """CPU seconds the recorder spent: its calls on the training thread, the writer
        thread, setup (data shard hashing) and finish, i.e. what it adds to training.

        Thread CPU clocks, not wall clocks, so that preemption by other processes on a busy
        machine is not billed to the recorder.
        """
        return sum(self.cost.values())


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
