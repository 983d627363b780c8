"""The accelerator catalog: real chips, every figure with its source.

The catalog is a data file (``data/accelerators.yaml``) rather than code so that a new
chip or a corrected figure is a reviewed data change with a citation, not a code change.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from accord.errors import AccordError, NotFoundError

PRECISIONS = ("fp64", "fp32", "tf32", "bf16", "fp16", "int16", "fp8", "int8", "fp6", "fp4", "int4")


class Source(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    url: str
    title: str | None = None
    publisher: str | None = None
    fields: list[str] = Field(default_factory=list)
    retrieved: str | None = None

    @field_validator("retrieved", mode="before")
    @classmethod
    def _retrieved_as_text(cls, value: Any) -> Any:
        return None if value is None else str(value)


class ChipSpec(BaseModel):
    """One accelerator model as published by its vendor or reliable measurement."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    aliases: list[str] = Field(default_factory=list)
    vendor: str
    architecture: str | None = None
    released: str | None = None
    datacenter: bool | None = None
    dense_tops: dict[str, float | None] = Field(
        default_factory=dict,
        description="Dense (no sparsity) peak tera-operations per second by precision.",
    )
    die_area_mm2: float | None = None
    die_count: int | None = None
    process: str | None = None
    process_node_nm: float | None = Field(
        default=None,
        description="Smallest logic node of the chip's dies in nm, when ``process`` names none.",
    )
    transistors_billion: float | None = Field(
        default=None, description="Approximate transistor count of the packaged IC, billions."
    )
    variants: list[str] = Field(
        default_factory=list,
        description="Ids of the binned variants this name covers; a chip sold under the bare "
        "name may be any of them, so it is classified over all of them.",
    )
    variant_of: str | None = None
    memory_gb: float | None = None
    memory_type: str | None = None
    memory_bandwidth_gbs: float | None = None
    interconnect_bandwidth_gbs: float | None = None
    tdp_w: float | None = None
    tpp_published: float | None = None
    sources: list[Source] = Field(default_factory=list)
    notes: str | None = None

    @model_validator(mode="after")
    def _figures_have_sources(self) -> ChipSpec:
        figures = [
            self.die_area_mm2,
            self.memory_gb,
            self.memory_bandwidth_gbs,
            self.interconnect_bandwidth_gbs,
            self.tdp_w,
            self.tpp_published,
            self.transistors_billion,
            *self.dense_tops.values(),
        ]
        if any(f is not None for f in figures) and not self.sources:
            raise ValueError(f"{self.id} has figures but no sources; cite where each came from")
        return self

    @field_validator("released", mode="before")
    @classmethod
    def _released_as_text(cls, value: Any) -> Any:
        return None if value is None else str(value)

    @field_validator("dense_tops")
    @classmethod
    def _known_precisions(cls, value: dict[str, float | None]) -> dict[str, float | None]:
        unknown = set(value) - set(PRECISIONS)
        if unknown:
            raise ValueError(f"unknown precision(s) {sorted(unknown)}; use {list(PRECISIONS)}")
        for key, tops in value.items():
            if tops is not None and tops < 0:
                raise ValueError(f"dense_tops.{key} must be >= 0")
        return value


class Catalog(BaseModel):
    """The whole catalog plus the bit-length table that TPP needs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: int
    compiled: str
    bit_lengths: dict[str, int]
    bit_lengths_source: str | None = None
    chips: list[ChipSpec]

    @field_validator("compiled", mode="before")
    @classmethod
    def _compiled_as_text(cls, value: Any) -> Any:
        return str(value)

    def __iter__(self) -> Iterator[ChipSpec]:  # type: ignore[override]
        return iter(self.chips)

    def get(self, name: str) -> ChipSpec:
        """Find a chip by id, name or alias, forgiving case, spaces and hyphens."""
        key = _normalise(name)
        index = _index(self)
        if key in index:
            return index[key]
        close = difflib.get_close_matches(key, list(index), n=4, cutoff=0.5)
        suggestions = sorted({index[c].id for c in close})
        fix = (
            f"did you mean {', '.join(suggestions)}?"
            if suggestions
            else "run `accord chip list` to see known chips"
        )
        raise NotFoundError("chip", f"unknown chip {name!r}", fix)


def _normalise(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).upper()


_INDEXES: dict[int, dict[str, ChipSpec]] = {}


def _index(catalog: Catalog) -> dict[str, ChipSpec]:
    cached = _INDEXES.get(id(catalog))
    if cached is None:
        cached = {}
        for chip in catalog.chips:
            for label in (chip.id, chip.name, *chip.aliases):
                cached.setdefault(_normalise(label), chip)
        _INDEXES[id(catalog)] = cached
    return cached


def load_catalog(path: Path | None = None) -> Catalog:
    """Load and validate a catalog file; the packaged one when ``path`` is None."""
    if path is None:
        return default_catalog()
    return _parse(path.read_text(encoding="utf-8"), str(path))


@lru_cache(maxsize=1)
def default_catalog() -> Catalog:
    text = resources.files("accord.hardware").joinpath("data/accelerators.yaml").read_text("utf-8")
    return _parse(text, "accord/hardware/data/accelerators.yaml")


def _parse(text: str, where: str) -> Catalog:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AccordError(where, f"not valid YAML ({exc})", "fix the syntax") from None
    try:
        catalog = Catalog.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise AccordError(f"{where}:{loc}", first["msg"], "see docs/hardware.md") from None
    ids = [c.id for c in catalog.chips]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise AccordError(where, f"duplicate chip ids {sorted(dupes)}", "make ids unique")
    by_id = {c.id: c for c in catalog.chips}
    for chip in catalog.chips:
        for v in chip.variants:
            if v not in by_id or by_id[v].variant_of != chip.id:
                raise AccordError(
                    f"{where}:{chip.id}.variants",
                    f"{v!r} is not a chip whose variant_of is {chip.id}",
                    "list only catalogue ids that name this chip in variant_of",
                )
        if chip.variant_of is not None and chip.id not in by_id.get(chip.variant_of, chip).variants:
            raise AccordError(
                f"{where}:{chip.id}.variant_of",
                f"{chip.variant_of!r} does not list {chip.id} among its variants",
                "add it to that chip's variants",
            )
    return catalog


def get_chip(name: str) -> ChipSpec:
    return default_catalog().get(name)
