"""The things a rule can be asked about: a chip, a server, a cluster, a shipment, a model.

Each item knows only facts; :mod:`accord.rules.metrics` turns them into the named metrics
that rule conditions test.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from accord.compute.interval import Interval


class ChipCount(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    chip: str = Field(description="Chip id, name or alias from the hardware catalog.")
    count: int = Field(gt=0, le=100_000_000)


Party = Literal["exporter", "front_end_fabricator", "osat"]


class ChipItem(BaseModel):
    """A chip model, as seen by an exporter or by the foundry or packager that makes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["chip"] = "chip"
    chip: str
    party: Party = Field(
        default="exporter",
        description="Who is classifying: an exporter, or a front-end fabricator or OSAT that "
        "must presume advanced logic ICs are 3A090.a (90 FR 5298).",
    )
    designer_attests: bool = Field(
        default=False,
        description="An approved or authorized IC designer attests the IC is not 3A090.a.",
    )
    packager_attests: bool = Field(
        default=False,
        description="The packager (a front-end fabricator outside Macau/D:5 or an approved "
        "OSAT) attests the packaged IC's transistor count is below the threshold.",
    )


class ServerItem(BaseModel):
    """A computer (ECCN 4A090 territory) holding some accelerators."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["server"] = "server"
    name: str = "server"
    chips: list[ChipCount] = Field(min_length=1)


class ClusterItem(BaseModel):
    """Many chips, possibly of several models, counted together so stacking is visible."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["cluster"] = "cluster"
    name: str = "cluster"
    country: str | None = None
    chips: list[ChipCount] = Field(min_length=1)


class ShipmentItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["shipment"] = "shipment"
    items: list[ChipCount] = Field(min_length=1)
    destination: str = Field(description="ISO 3166-1 alpha-2 code of the destination country.")
    end_user: str | None = None
    end_user_hq: str | None = Field(
        default=None, description="Country of the end user's (ultimate parent's) headquarters."
    )
    validated_end_user: Literal["UVEU", "NVEU"] | None = Field(
        default=None,
        description="Validated end-user status of the end user, if any (AI diffusion rule).",
    )
    date: dt.date | None = None

    @field_validator("destination", "end_user_hq")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.strip().upper() if value else value


class ModelItem(BaseModel):
    """A trained model, described by the compute that produced it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["model"] = "model"
    name: str = "model"
    training_compute: Interval = Field(description="Training operations (FLOP), as an interval.")
    base_compute: Interval | None = Field(
        default=None,
        description="For a modification (fine-tune) of another model: the original model's "
        "training compute; training_compute is then the modification's own compute.",
    )
    compute_cost_usd: float | None = Field(default=None, ge=0)
    open_weights: bool | None = None


Item = Annotated[
    ChipItem | ServerItem | ClusterItem | ShipmentItem | ModelItem, Field(discriminator="kind")
]
