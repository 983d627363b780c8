"""Turning the accelerator labels that schedulers write into catalog chips and peak FLOP/s.

Slurm sites name GRES types freely (``a100``, ``h100_80gb``, ``nvidia_h100_80gb_hbm3``),
Kubernetes nodes carry ``nvidia.com/gpu.product`` strings, and public traces use their own
codes. Each distinct label is resolved once against the catalog (plus the legacy GPUs that
public traces contain); a label that does not resolve is *reported*, never guessed, because
a wrong peak would silently scale every estimate built on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from accord.compute.estimate import training_peak
from accord.errors import AccordError
from accord.hardware.catalog import Catalog, ChipSpec, _parse, default_catalog

# Words that carry no model information in scheduler labels.
_NOISE = re.compile(
    r"\b(nvidia|tesla|amd|instinct|intel|habana|huawei|gpu|gpus|hbm\d?e?|"
    r"\d+\s*gb|\d+g)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ChipPeak:
    """A resolved label: the catalog chip and the dense training peak it is measured against."""

    label: str
    chip_id: str
    precision: str
    peak_flops: float


@lru_cache(maxsize=1)
def legacy_catalog() -> Catalog:
    """Older GPUs found in public traces (V100, T4), kept apart from the rules catalog."""
    text = (
        resources.files("accord.verify.telemetry")
        .joinpath("data/legacy_accelerators.yaml")
        .read_text("utf-8")
    )
    return _parse(text, "accord/verify/telemetry/data/legacy_accelerators.yaml")


def _candidates(label: str) -> list[str]:
    raw = label.strip()
    spaced = re.sub(r"[_\-/.:]+", " ", raw)
    stripped = re.sub(r"\s+", " ", _NOISE.sub(" ", spaced)).strip()
    out = [raw, spaced, stripped]
    # "h100 sxm5 80gb" -> also try the first token ("h100") and first two ("h100 sxm5").
    tokens = stripped.split()
    if len(tokens) > 1:
        out.extend([" ".join(tokens[:2]), tokens[0]])
    return [c for c in dict.fromkeys(out) if c]


def _lookup(label: str, catalogs: Iterable[Catalog]) -> ChipSpec | None:
    for candidate in _candidates(label):
        for catalog in catalogs:
            try:
                return catalog.get(candidate)
            except AccordError:
                continue
    return None


class ChipResolver:
    """Resolves labels to peaks once per distinct label, with explicit overrides.

    ``overrides`` maps a trace's label to a catalog chip (for example ``{"MISC": "V100"}``)
    when the analyst accepts that assumption; it is recorded in every report that uses it.
    """

    def __init__(
        self,
        overrides: Mapping[str, str] | None = None,
        *,
        catalogs: Iterable[Catalog] | None = None,
    ) -> None:
        self.catalogs = list(catalogs) if catalogs else [default_catalog(), legacy_catalog()]
        self.overrides = {k.strip().upper(): v for k, v in (overrides or {}).items()}
        self._cache: dict[str, ChipPeak | None] = {}
        for label, target in self.overrides.items():
            if _lookup(target, self.catalogs) is None:
                raise AccordError(
                    "chip map",
                    f"{label!r} is mapped to {target!r}, which is not in the catalog",
                    "map it to a chip listed by `accord chip list`",
                )

    def resolve(self, label: str | None) -> ChipPeak | None:
        if label is None or not label.strip():
            return None
        key = label.strip()
        if key in self._cache:
            return self._cache[key]
        target = self.overrides.get(key.upper(), key)
        spec = self._lookup_set(target) if "|" in target else _lookup(target, self.catalogs)
        peak: ChipPeak | None = None
        if spec is not None:
            try:
                precision, flops = training_peak(spec)
            except AccordError:
                precision, flops = "", 0.0
            if flops > 0:
                peak = ChipPeak(key, spec.id, precision, flops)
        self._cache[key] = peak
        return peak

    def _lookup_set(self, label: str) -> ChipSpec | None:
        """``V100M16|V100M32`` (a job that accepts any of several models) has one peak only
        when every model is the same chip; otherwise the trace cannot say which ran it."""
        parts = [p.strip() for p in label.split("|") if p.strip()]
        specs = [_lookup(self.overrides.get(p.upper(), p), self.catalogs) for p in parts]
        if not specs or any(s is None for s in specs):
            return None
        ids = {s.id for s in specs if s is not None}
        return specs[0] if len(ids) == 1 else None

    def table(self, labels: Iterable[str | None]) -> list[ChipPeak]:
        """The resolved subset of ``labels`` (unresolved ones are left for the report)."""
        out = []
        for label in labels:
            peak = self.resolve(label)
            if peak is not None:
                out.append(peak)
        return out

    def assumptions(self) -> list[str]:
        return [f"trace label {k!r} taken to be {v}" for k, v in sorted(self.overrides.items())]
