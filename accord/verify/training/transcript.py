"""The transcript directory: layout, hash chain, loading with integrity checks, ledger summary.

Layout::

    manifest.json        the declaration (task, model, optimizer, k, steps, commitments)
    indices.bin          int64 little-endian sample indices, one row of batch_size per step
    ckpt/step_XXXXXXXX.safetensors   weights + optimizer + RNG state every k steps and at the end
    chain.jsonl          the hash chain, one {"record", "hash"} object per line

The chain runs through every checkpoint file, every segment's batch-index Merkle root, the
manifest, and ends with the final weights' hash. Its head is what goes into the ledger when
the run ends; the bulky files stay with the lab until an inspector asks, and the head proves
they were not changed after that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from accord.errors import IntegrityError, NotFoundError
from accord.verify.training.checkpoint import (
    MODEL_PREFIX,
    file_digest,
    read_bounded,
    read_checkpoint,
    weights_digest,
)
from accord.verify.training.hashing import (
    batch_leaf,
    batches_root,
    canonical_json,
    chain_genesis,
    chain_step,
    merkle_root,
    sha256_hex,
)
from accord.verify.training.manifest import Manifest, parse_manifest

MANIFEST = "manifest.json"
INDICES = "indices.bin"
CHAIN = "chain.jsonl"
MAX_CHAIN_BYTES = 512 * 1024**2


def ckpt_name(step: int) -> str:
    return f"ckpt/step_{step:08d}.safetensors"


def expected_records(m: Manifest, manifest_sha: str) -> list[dict[str, Any]]:
    """The chain's records in order, as the manifest says they must be."""
    records: list[dict[str, Any]] = []
    for j in range(m.n_segments):
        c = m.checkpoints[j]
        records.append(
            {"kind": "checkpoint", "step": c.step, "sha256": c.sha256, "weights": c.weights_sha256}
        )
        first, last = m.segment_bounds(j)
        records.append(
            {
                "kind": "batches",
                "segment": j,
                "first": first,
                "last": last,
                "root": m.batches.segment_roots[j],
            }
        )
    c = m.checkpoints[-1]
    records.append(
        {"kind": "checkpoint", "step": c.step, "sha256": c.sha256, "weights": c.weights_sha256}
    )
    records.append({"kind": "manifest", "sha256": manifest_sha})
    records.append({"kind": "final", "weights": m.final_weights_sha256})
    return records


def chain_hashes(run_id: str, records: list[dict[str, Any]]) -> list[str]:
    out, prev = [], chain_genesis(run_id)
    for rec in records:
        prev = chain_step(prev, rec)
        out.append(prev)
    return out


def ledger_summary(m: Manifest, head: str, manifest_sha: str) -> dict[str, Any]:
    """The few hashes that go into the ledger when a run ends (the files stay with the lab)."""
    return {
        "format": m.format,
        "run_id": m.run_id,
        "chain_head": head,
        "manifest_sha256": manifest_sha,
        "final_weights_sha256": m.final_weights_sha256,
        "data_root": m.data.data_root,
        "batches_root": m.batches.merkle_root,
        "steps": m.steps,
        "declared_training_flops": m.declared_training_flops,
    }


def ledger_summary_bytes(summary: dict[str, Any]) -> bytes:
    return canonical_json(summary)


@dataclass
class Transcript:
    """A loaded transcript whose manifest, chain and batch commitments have been checked."""

    root: Path
    manifest: Manifest
    manifest_sha256: str
    chain_head: str
    indices: np.ndarray
    _weights_cache: dict[int, dict[str, np.ndarray]] = field(default_factory=dict, repr=False)

    def ledger_summary(self) -> dict[str, Any]:
        return ledger_summary(self.manifest, self.chain_head, self.manifest_sha256)

    def checkpoint_tensors(self, j: int) -> dict[str, Any]:
        """Read checkpoint j and check its file hash and weights hash against the manifest."""
        entry = self.manifest.checkpoints[j]
        raw, tensors = read_checkpoint(self.root / entry.file, entry.file)
        if file_digest(raw) != entry.sha256:
            raise IntegrityError(
                entry.file, "SHA-256 differs from the manifest and chain", "the file was altered"
            )
        weights = {
            k[len(MODEL_PREFIX) :]: v.numpy()
            for k, v in tensors.items()
            if k.startswith(MODEL_PREFIX)
        }
        if weights_digest(weights) != entry.weights_sha256:
            raise IntegrityError(entry.file, "weights hash differs from the manifest", None)
        return tensors

    def weights(self, j: int) -> dict[str, np.ndarray]:
        if j not in self._weights_cache:
            tensors = self.checkpoint_tensors(j)
            self._weights_cache[j] = {
                k[len(MODEL_PREFIX) :]: v.numpy()
                for k, v in tensors.items()
                if k.startswith(MODEL_PREFIX)
            }
        return self._weights_cache[j]


def _read(path: Path, what: str, limit: int) -> bytes:
    return read_bounded(
        path, what, limit, "a transcript needs manifest.json, chain.jsonl and indices.bin"
    )


def parse_chain(raw: bytes) -> list[tuple[dict[str, Any], str]]:
    lines: list[tuple[dict[str, Any], str]] = []
    for n, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise IntegrityError(
                f"chain.jsonl:{n}", "is not valid JSON", "re-export the transcript"
            ) from None
        if (
            not isinstance(obj, dict)
            or not isinstance(obj.get("record"), dict)
            or not isinstance(obj.get("hash"), str)
        ):
            raise IntegrityError(f"chain.jsonl:{n}", "needs a 'record' object and a 'hash'", None)
        lines.append((obj["record"], obj["hash"]))
    return lines


def load_transcript(root: Path | str, expected_head: str | None = None) -> Transcript:
    """Open a transcript and check everything that needs no replay.

    Checked here: the manifest parses and is self-consistent, the chain recomputes link by
    link and matches the manifest, the head equals ``expected_head`` (the value the ledger
    recorded, when given), and the batch indices match their Merkle roots.
    """
    root = Path(root)
    if not root.is_dir():
        raise NotFoundError(
            "TRANSCRIPT_DIR", f"{root} is not a directory", "give a transcript directory"
        )
    raw_manifest = _read(root / MANIFEST, MANIFEST, 8 * 1024**2)
    manifest = parse_manifest(raw_manifest)
    manifest_sha = sha256_hex(raw_manifest)

    chain = parse_chain(_read(root / CHAIN, CHAIN, MAX_CHAIN_BYTES))
    records = expected_records(manifest, manifest_sha)
    hashes = chain_hashes(manifest.run_id, records)
    if len(chain) != len(records):
        raise IntegrityError(
            CHAIN,
            f"has {len(chain)} records, the manifest implies {len(records)}",
            "the chain is truncated or padded",
        )
    prev = chain_genesis(manifest.run_id)
    for n, ((rec, h), want_rec, want_h) in enumerate(
        zip(chain, records, hashes, strict=True), start=1
    ):
        if chain_step(prev, rec) != h:
            raise IntegrityError(
                f"chain.jsonl:{n}",
                "hash does not follow from the previous link",
                "the chain was edited",
            )
        if rec != want_rec or h != want_h:
            raise IntegrityError(
                f"chain.jsonl:{n}",
                f"record {rec.get('kind')!r} disagrees with the manifest",
                "the manifest or chain was altered",
            )
        prev = h
    head = hashes[-1]
    if expected_head is not None and head != expected_head.lower():
        raise IntegrityError(
            "chain head",
            f"{head} differs from the ledger's {expected_head}",
            "the transcript changed after it was logged",
        )

    m = manifest
    raw_idx = _read(root / INDICES, INDICES, 8 * m.steps * m.batch_size)
    if len(raw_idx) != 8 * m.steps * m.batch_size:
        raise IntegrityError(
            INDICES,
            f"has {len(raw_idx)} bytes, expected {8 * m.steps * m.batch_size}",
            "the file is truncated",
        )
    if sha256_hex(raw_idx) != m.batches.indices_sha256:
        raise IntegrityError(
            INDICES, "SHA-256 differs from the manifest", "the data order was altered"
        )
    indices = np.frombuffer(raw_idx, dtype="<i8").reshape(m.steps, m.batch_size)
    if indices.min() < 0 or indices.max() >= m.task.n_samples:
        raise IntegrityError(INDICES, "has sample indices outside the dataset", None)
    for j in range(m.n_segments):
        first, last = m.segment_bounds(j)
        if batches_root(first, indices[first:last]) != m.batches.segment_roots[j]:
            raise IntegrityError(INDICES, f"segment {j} does not match its Merkle root", None)
    leaves = [batch_leaf(s, indices[s]) for s in range(m.steps)]
    if merkle_root(leaves) != m.batches.merkle_root:
        raise IntegrityError(INDICES, "does not match the batches Merkle root", None)
    return Transcript(root, manifest, manifest_sha, head, indices)
