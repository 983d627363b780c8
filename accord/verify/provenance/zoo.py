"""Build a zoo of small language models and their derivatives, on CPU, from offline text.

The zoo is what the provenance tests are measured on: independently seeded base models (the
null pairs) and, for some of them, derived models (the positive pairs). Every model is saved as
safetensors with its config in the metadata, and ``zoo.json`` lists what each one is, so that a
user can run ``accord provenance test`` on any pair and compare with the truth.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from accord.errors import AccordError
from accord.verify.provenance import derive
from accord.verify.provenance.corpus import stdlib_text
from accord.verify.provenance.tinygpt import TinyConfig, TinyGPT, eval_loss, save_model, train

MANIFEST = "zoo.json"

DERIVATIONS = (
    "finetune",
    "finetune_other_domain",
    "prune50",
    "prune_units75",
    "drop_block",
    "quant8",
    "permuted",
    "rescaled_permuted",
    "finetune_permuted",
    "merged",
    "relabelled",
    "relabelled_permuted",
    "distilled_soft",
    "distilled_hard",
)
WEIGHT_DERIVED = frozenset(DERIVATIONS) - {"distilled_soft", "distilled_hard"}


@dataclass(frozen=True)
class ZooSpec:
    d_model: int = 64
    n_layer: int = 2
    n_head: int = 4
    d_ff: int = 256
    ctx: int = 64
    seeds: int = 4
    parents: int = 1
    steps: int = 300
    finetune_steps: int = 100
    distill_steps: int = 300
    batch: int = 32
    corpus_bytes: int = 1_000_000
    derivations: tuple[str, ...] = DERIVATIONS
    # "per_seed": each base model sees its own batch order; "shared": every base model sees
    # the same batches in the same order (only the initialisation differs), the harder null
    shared_data_order: bool = False

    def config(self) -> TinyConfig:
        return TinyConfig(self.d_model, self.n_layer, self.n_head, self.d_ff, self.ctx)


# The smallest zoo that still separates derived from independent models: the test suite
# and `eval_provenance --quick` both use it, so a quick evaluation reproduces what CI checks.
QUICK_SPEC = ZooSpec(
    d_model=32,
    n_layer=2,
    n_head=2,
    d_ff=128,
    ctx=32,
    seeds=6,
    parents=1,
    steps=150,
    finetune_steps=60,
    distill_steps=150,
    batch=16,
    corpus_bytes=300_000,
)


@dataclass
class ZooEntry:
    name: str
    kind: str  # "base" or a derivation name
    parent: str | None
    seed: int
    file: str
    seconds: float
    loss_docs: float
    loss_code: float


@dataclass
class Zoo:
    root: Path
    spec: ZooSpec
    entries: list[ZooEntry] = field(default_factory=list)

    def path(self, name: str) -> Path:
        return self.root / next(e.file for e in self.entries if e.name == name)

    def bases(self) -> list[ZooEntry]:
        return [e for e in self.entries if e.kind == "base"]

    def derived(self) -> list[ZooEntry]:
        return [e for e in self.entries if e.kind != "base"]

    def save(self) -> None:
        data = {"spec": asdict(self.spec), "entries": [asdict(e) for e in self.entries]}
        (self.root / MANIFEST).write_text(json.dumps(data, indent=2))

    @staticmethod
    def load(root: str | Path) -> Zoo:
        root = Path(root)
        try:
            data = json.loads((root / MANIFEST).read_text())
            spec_raw = dict(data["spec"])
            spec_raw["derivations"] = tuple(spec_raw.get("derivations", DERIVATIONS))
            zoo = Zoo(root, ZooSpec(**spec_raw), [ZooEntry(**e) for e in data["entries"]])
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise AccordError(str(root), f"not a readable zoo ({err})", "rebuild it") from None
        return zoo


def build_zoo(
    out_dir: str | Path,
    spec: ZooSpec | None = None,
    progress: Callable[[str], None] | None = None,
) -> Zoo:
    """Train the base models and derive the children; reuses a finished zoo with the same spec."""
    spec = spec or ZooSpec()
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    if (root / MANIFEST).exists():
        old = Zoo.load(root)
        if old.spec == spec and all((root / e.file).exists() for e in old.entries):
            return old
    unknown = set(spec.derivations) - set(DERIVATIONS)
    if unknown:
        raise AccordError("derivations", f"unknown: {sorted(unknown)}", f"use {DERIVATIONS}")
    if spec.parents > spec.seeds:
        raise AccordError("parents", "more parents than seeds", "lower --parents")
    docs = stdlib_text("docs", spec.corpus_bytes)
    code = stdlib_text("code", spec.corpus_bytes)
    zoo = Zoo(root, spec)
    say = progress or (lambda _m: None)

    def record(
        name: str, kind: str, parent: str | None, seed: int, model: TinyGPT, t0: float
    ) -> None:
        file = f"{name}.safetensors"
        save_model(model, root / file, {"zoo_kind": kind, "zoo_parent": parent or ""})
        entry = ZooEntry(
            name,
            kind,
            parent,
            seed,
            file,
            round(time.perf_counter() - t0, 2),
            round(eval_loss(model, docs), 4),
            round(eval_loss(model, code), 4),
        )
        zoo.entries.append(entry)
        say(f"{name}: {entry.seconds:.1f}s, loss docs {entry.loss_docs:.3f}")

    cfg = spec.config()
    bases: dict[int, TinyGPT] = {}
    for seed in range(spec.seeds):
        t0 = time.perf_counter()
        torch.manual_seed(seed)
        model = TinyGPT(cfg)
        train(model, docs, spec.steps, 0 if spec.shared_data_order else seed, batch=spec.batch)
        bases[seed] = model
        record(f"seed{seed}", "base", None, seed, model, t0)

    for seed in range(spec.parents):
        parent = bases[seed]
        pname = f"seed{seed}"
        made: dict[str, TinyGPT] = {}
        fts = 100 + seed  # distinct data order for the children

        def make(
            kind: str,
            parent: TinyGPT = parent,
            seed: int = seed,
            fts: int = fts,
            made: dict[str, TinyGPT] = made,
        ) -> TinyGPT:
            if kind == "finetune":
                return derive.finetune(parent, docs, spec.finetune_steps, fts)
            if kind == "finetune_other_domain":
                return derive.finetune(parent, code, spec.finetune_steps, fts + 1)
            if kind == "prune50":
                return derive.prune_magnitude(parent, 0.5)
            if kind == "prune_units75":
                return derive.prune_units(parent, 0.75)
            if kind == "drop_block":
                keep = [i for i in range(parent.cfg.n_layer) if i != parent.cfg.n_layer - 1]
                return derive.drop_blocks(parent, keep or [0])
            if kind == "quant8":
                return derive.quantise_int8(parent)
            if kind == "permuted":
                return derive.permute(parent, 7 + seed)
            if kind == "rescaled_permuted":
                return derive.permute(derive.rescale(parent, 11 + seed), 13 + seed)
            if kind == "finetune_permuted":
                ft = made.get("finetune") or derive.finetune(parent, docs, spec.finetune_steps, fts)
                return derive.permute(ft, 17 + seed)
            if kind == "relabelled":
                return derive.relabel_vocab(parent, 19 + seed)[0]
            if kind == "relabelled_permuted":
                ft = made.get("finetune") or derive.finetune(parent, docs, spec.finetune_steps, fts)
                return derive.permute(derive.relabel_vocab(ft, 23 + seed)[0], 29 + seed)
            if kind == "merged":
                a = made.get("finetune") or derive.finetune(parent, docs, spec.finetune_steps, fts)
                b = made.get("finetune_other_domain") or derive.finetune(
                    parent, code, spec.finetune_steps, fts + 1
                )
                return derive.merge(a, b)
            if kind == "distilled_soft":
                return derive.distil(parent, docs, spec.distill_steps, 1000 + seed)
            if kind == "distilled_hard":
                return derive.distil(parent, docs, spec.distill_steps, 2000 + seed, True)
            raise AccordError("derivation", f"unknown {kind!r}", None)

        for kind in spec.derivations:
            t0 = time.perf_counter()
            child = make(kind)
            made[kind] = child
            record(f"{pname}-{kind}", kind, pname, seed, child, t0)
    zoo.save()
    return zoo
