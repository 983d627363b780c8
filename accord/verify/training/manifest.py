"""The transcript manifest: what the lab declares about a run, parsed defensively.

A manifest arrives from a party with an interest in passing verification, so it is parsed as
untrusted bytes: size-limited, strict types, bounded numbers, no unknown fields, and every
failure turned into an :class:`IntegrityError` that names the field.
"""

from __future__ import annotations

import json
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator

from accord.errors import IntegrityError

FORMAT: Literal["accord-pol/1"] = "accord-pol/1"
MAX_MANIFEST_BYTES = 8 * 1024 * 1024
MAX_MODEL_DIM = 4096
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_FILE = re.compile(r"^ckpt/step_[0-9]{8}\.safetensors$")


def _hex(value: str) -> str:
    if not _HEX64.fullmatch(value):
        raise ValueError("must be 64 lower-case hex digits (a SHA-256 digest)")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class TaskSpec(_Strict):
    name: Literal["blobs", "shapes", "charlm", "shards"]
    seed: int = Field(ge=0, lt=2**63)
    n_samples: int = Field(ge=1, le=200_000)


class ModelSpec(_Strict):
    arch: Literal["mlp", "cnn", "transformer", "module"]
    kwargs: dict[str, int | float] = Field(max_length=16)
    init_seed: int = Field(ge=0, lt=2**63)

    @field_validator("kwargs")
    @classmethod
    def _bounded(cls, v: dict[str, int | float]) -> dict[str, int | float]:
        # A hostile manifest must not make the verifier allocate a giant model.
        for key, val in v.items():
            if not 0 < val <= MAX_MODEL_DIM:
                raise ValueError(f"{key}={val} is outside 1..{MAX_MODEL_DIM}")
        return v


class OptimizerSpec(_Strict):
    name: Literal["sgd", "adamw"]
    lr: float = Field(gt=0, le=10)
    momentum: float = Field(default=0.0, ge=0, lt=1)
    weight_decay: float = Field(default=0.0, ge=0, le=1)
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = Field(default=1e-8, gt=0, le=1)


_CODE_FILE = re.compile(r"^code/[A-Za-z_][A-Za-z0-9_]{0,63}\.py$")
_SHARD_FILE = re.compile(r"^data/shard_[0-9]{5}\.safetensors$")


class CodeSpec(_Strict):
    """The lab's model code, handed over as one Python module file in the transcript;
    ``builder`` is the function that takes the model kwargs and returns the model."""

    file: str
    sha256: str
    builder: str = Field(default="build_model", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")

    @field_validator("file")
    @classmethod
    def _file(cls, v: str) -> str:
        if not _CODE_FILE.fullmatch(v):
            raise ValueError("must look like code/model.py")
        return v

    @field_validator("sha256")
    @classmethod
    def _digest(cls, v: str) -> str:
        return _hex(v)


class ShardFile(_Strict):
    """One data shard file (safetensors, tensors ``x`` and ``y``) and its SHA-256; samples
    are numbered across shards in order, so a committed sample index fixes its shard and
    offset."""

    file: str
    sha256: str
    samples: int = Field(ge=1, le=10_000_000)

    @field_validator("file")
    @classmethod
    def _file(cls, v: str) -> str:
        if not _SHARD_FILE.fullmatch(v):
            raise ValueError("must look like data/shard_00000.safetensors")
        return v

    @field_validator("sha256")
    @classmethod
    def _digest(cls, v: str) -> str:
        return _hex(v)


class GroupSpec(_Strict):
    """One optimizer parameter group: its parameters by name and its initial hyper-parameters
    (a weight-decay mask is a group with ``weight_decay`` 0)."""

    params: list[str] = Field(min_length=1, max_length=100_000)
    hyper: dict[str, JsonValue] = Field(max_length=64)


class SchedulerSpec(_Strict):
    """A ``torch.optim.lr_scheduler`` class, its constructor arguments and, for
    ``SequentialLR``/``ChainedScheduler``, the schedulers it runs."""

    name: str = Field(min_length=1, max_length=200)
    args: dict[str, JsonValue] = Field(default_factory=dict, max_length=32)
    children: list[SchedulerSpec] = Field(default_factory=list, max_length=16)


class RecipeSpec(_Strict):
    """The full training step: optimizer class and groups, schedule, accumulation, clipping,
    precision, and the custom autograd functions the model used (the verifier must rebuild
    every one of them before a replay means anything)."""

    optimizer: str = Field(min_length=1, max_length=200)
    groups: list[GroupSpec] = Field(min_length=1, max_length=1000)
    scheduler: SchedulerSpec | None = None
    micro_batches: int = Field(default=1, ge=1, le=4096)
    clip_grad_norm: float | None = Field(default=None, gt=0, le=1e6)
    # The order of the parameters whose norm is clipped: the model's (a plain loop, the
    # HF Trainer) or the optimizer's groups' (Lightning). The total norm is a float sum, so
    # the order shows in its last bits, and the clip factor multiplies every gradient.
    clip_order: Literal["model", "optimizer"] = "model"
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"
    grad_scaler: bool = False
    custom_autograd: list[str] = Field(default_factory=list, max_length=100)


class DataCommitment(_Strict):
    shard_size: int = Field(ge=1, le=1_000_000)
    shard_hashes: list[str] = Field(max_length=100_000)
    data_root: str

    @field_validator("data_root")
    @classmethod
    def _root(cls, v: str) -> str:
        return _hex(v)

    @field_validator("shard_hashes")
    @classmethod
    def _shards(cls, v: list[str]) -> list[str]:
        return [_hex(h) for h in v]


class BatchCommitment(_Strict):
    indices_file: Literal["indices.bin"]
    indices_sha256: str
    merkle_root: str
    segment_roots: list[str] = Field(max_length=1_000_000)

    @field_validator("indices_sha256", "merkle_root")
    @classmethod
    def _digest(cls, v: str) -> str:
        return _hex(v)

    @field_validator("segment_roots")
    @classmethod
    def _roots(cls, v: list[str]) -> list[str]:
        return [_hex(h) for h in v]


class CheckpointEntry(_Strict):
    step: int = Field(ge=0, le=10**9)
    file: str
    sha256: str
    weights_sha256: str

    @field_validator("file")
    @classmethod
    def _file(cls, v: str) -> str:
        if not _FILE.fullmatch(v):
            raise ValueError("must look like ckpt/step_00000100.safetensors")
        return v

    @field_validator("sha256", "weights_sha256")
    @classmethod
    def _digest(cls, v: str) -> str:
        return _hex(v)


class Manifest(_Strict):
    format: Literal["accord-pol/1"]
    run_id: str = Field(min_length=1, max_length=200)
    task: TaskSpec
    model: ModelSpec
    optimizer: OptimizerSpec | None = None
    recipe: RecipeSpec | None = None
    code: CodeSpec | None = None
    shards: list[ShardFile] | None = Field(default=None, max_length=100_000)
    loss: Literal["cross_entropy"]
    k: int = Field(ge=1, le=10**6)
    steps: int = Field(ge=1, le=10**9)
    batch_size: int = Field(ge=1, le=1_000_000)
    tokens_per_sample: int = Field(ge=1, le=10**7)
    parameter_count: int = Field(ge=1, le=10**13)
    training_flops_per_sample: int = Field(ge=1, le=10**18)
    declared_training_flops: float = Field(gt=0, le=1e30)
    threads: int = Field(ge=1, le=1024)
    world_size: int = Field(default=1, ge=1, le=1024)
    torch_version: str = Field(max_length=100)
    data: DataCommitment
    batches: BatchCommitment
    checkpoints: list[CheckpointEntry] = Field(min_length=2, max_length=1_000_000)
    final_weights_sha256: str

    @field_validator("final_weights_sha256")
    @classmethod
    def _digest(cls, v: str) -> str:
        return _hex(v)

    @property
    def samples_per_step(self) -> int:
        return self.batch_size

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.tokens_per_sample

    @property
    def n_segments(self) -> int:
        return -(-self.steps // self.k)

    def segment_bounds(self, j: int) -> tuple[int, int]:
        return j * self.k, min((j + 1) * self.k, self.steps)


def parse_manifest(raw: bytes) -> Manifest:
    """Parse untrusted manifest bytes or raise IntegrityError naming what is wrong."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise IntegrityError("manifest.json", f"is {len(raw)} bytes", "a manifest is < 8 MiB")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise IntegrityError(
            "manifest.json", f"is not valid JSON ({exc})", "re-export it"
        ) from None
    if not isinstance(data, dict):
        raise IntegrityError("manifest.json", "is not a JSON object", "re-export the transcript")
    opt = data.get("optimizer")
    if isinstance(opt, dict) and isinstance(opt.get("betas"), list):
        opt = dict(opt)
        opt["betas"] = tuple(opt["betas"])
        data = {**data, "optimizer": opt}
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise IntegrityError(
            f"manifest.json:{loc}", first["msg"], f"{exc.error_count()} problem(s) in all"
        ) from None
    _check_consistency(manifest)
    return manifest


def _check_consistency(m: Manifest) -> None:
    """Cross-field rules: one optimizer declaration, checkpoints every k steps from 0 to the
    last step, in order."""
    if (m.optimizer is None) == (m.recipe is None):
        raise IntegrityError(
            "manifest.json:optimizer",
            "a manifest declares either optimizer or recipe, and exactly one",
            "re-export the transcript",
        )
    if (m.model.arch == "module") != (m.code is not None):
        raise IntegrityError(
            "manifest.json:code",
            "model code is declared exactly when the model is a handed-over module",
            "declare model.arch 'module' with its code file, or a registered architecture",
        )
    if (m.task.name == "shards") != (m.shards is not None):
        raise IntegrityError(
            "manifest.json:shards",
            "shard files are declared exactly when the task is 'shards'",
            "list the shard files for a 'shards' task",
        )
    if m.shards is not None and sum(s.samples for s in m.shards) != m.task.n_samples:
        raise IntegrityError(
            "manifest.json:shards", "shard sample counts do not add up to task.n_samples", None
        )
    if m.world_size > 1 and m.recipe is None:
        raise IntegrityError("manifest.json:world_size", "a distributed run needs a recipe", None)
    if m.batch_size % m.world_size:
        raise IntegrityError(
            "manifest.json:world_size",
            f"{m.world_size} ranks do not divide the batch of {m.batch_size}",
            "each rank takes an equal share of every step's batch",
        )
    if m.recipe is not None and (m.batch_size // m.world_size) % m.recipe.micro_batches:
        raise IntegrityError(
            "manifest.json:recipe.micro_batches",
            f"{m.recipe.micro_batches} micro-batches do not divide the batch of {m.batch_size}",
            "each step's batch is split into equal micro-batches",
        )
    if len(m.checkpoints) != m.n_segments + 1:
        raise IntegrityError(
            "manifest.json:checkpoints",
            f"{len(m.checkpoints)} checkpoints for {m.steps} steps at k={m.k}",
            f"expected {m.n_segments + 1} (every k steps and the last step)",
        )
    expected = [*range(0, m.steps, m.k), m.steps]
    got = [c.step for c in m.checkpoints]
    if got != expected:
        raise IntegrityError(
            "manifest.json:checkpoints",
            f"steps {got[:4]}... do not match every k={m.k} steps up to {m.steps}",
            "a transcript has a checkpoint at 0, k, 2k, ... and at the last step",
        )
    for c in m.checkpoints:
        if c.file != f"ckpt/step_{c.step:08d}.safetensors":
            raise IntegrityError("manifest.json:checkpoints", f"{c.file} is misnamed", None)
    if len(m.batches.segment_roots) != m.n_segments:
        raise IntegrityError(
            "manifest.json:batches.segment_roots",
            f"{len(m.batches.segment_roots)} roots for {m.n_segments} segments",
            "one Merkle root per k-step segment",
        )
    if m.checkpoints[-1].weights_sha256 != m.final_weights_sha256:
        raise IntegrityError(
            "manifest.json:final_weights_sha256",
            "differs from the last checkpoint's weights",
            "the final model must be the last checkpoint",
        )
