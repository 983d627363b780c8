"""The book: the state every accepted declaration builds, replayed in log order.

Pure and in memory, like a material-balance ledger kept by hand: facilities and who runs
them, transfers with their shipping and receiving sides, physical inventories, clusters,
training runs and model releases. ``check`` refuses a declaration that contradicts the
record or speaks for someone else's facility; ``apply`` adds an accepted one. The
registry rebuilds the book at start-up by replaying the log, so the database and the log
can never disagree about what the book says.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

from accord.errors import AccordError
from accord.model.declaration import (
    Body,
    ChipInventoryBody,
    ClusterBody,
    ComputeReportBody,
    FacilityBody,
    Kind,
    ModelReleaseBody,
    TrainingRunBody,
    TransferBody,
)

RELEASE_TOLERANCE = 0.01
"""A release may restate its run's compute rounded, but not differ by more than 1 %."""


if TYPE_CHECKING:
    from accord.registry.agents import AgentBook


class Contradiction(AccordError):
    """The declaration contradicts the record (422), or claims what is not the party's."""


@dataclass
class Facility:
    facility_id: str
    party: str
    country: str
    name: str
    site_type: str
    leaf: int


@dataclass
class Movement:
    date: dt.date
    facility_id: str
    chip: str
    delta: int
    transfer_id: str
    leaf: int


@dataclass
class Inventory:
    facility_id: str
    as_of: dt.date
    chips: dict[str, int]
    leaf: int


class SideRecord(NamedTuple):
    """What the accountancy reads of one side of a transfer: a plain tuple, because the
    book keeps one for every transfer ever declared (and is saved and restored with it)."""

    transfer_id: str
    role: str
    date: dt.date
    from_facility: str
    from_country: str
    to_facility: str
    to_country: str
    chips: tuple[tuple[str, int], ...]

    @classmethod
    def of(cls, body: TransferBody) -> SideRecord:
        return cls(
            body.transfer_id,
            body.role,
            body.date,
            body.from_facility,
            body.from_country,
            body.to_facility,
            body.to_country,
            tuple((line.chip_id, line.count) for line in body.chips),
        )


@dataclass
class TransferSide:
    party: str
    body: SideRecord
    leaf: int

    def chips(self) -> dict[str, int]:
        return dict(self.body.chips)


TransferKey = tuple[str, str, str]
"""(transfer_id, from_facility, to_facility): a transfer is named by its id and both ends, so
one party's identifiers can never occupy another party's transfer."""


@dataclass
class Transfer:
    transfer_id: str
    from_facility: str = ""
    to_facility: str = ""
    shipment: TransferSide | None = None
    receipt: TransferSide | None = None

    @property
    def key(self) -> TransferKey:
        return (self.transfer_id, self.from_facility, self.to_facility)


def transfer_key(body: TransferBody) -> TransferKey:
    return (body.transfer_id, body.from_facility, body.to_facility)


@dataclass
class Cluster:
    cluster_id: str
    party: str
    facility_id: str
    chips: dict[str, int]
    as_of: dt.date
    leaf: int


@dataclass
class Run:
    run_id: str
    party: str
    facility_id: str
    chip: str
    chip_count: int
    start: dt.date
    reports: list[tuple[dt.date, str, float, float | None, int]] = field(default_factory=list)
    completed: bool = False

    @property
    def chip_hours(self) -> float:
        return max((r[2] for r in self.reports), default=0.0)

    @property
    def compute(self) -> float | None:
        values = [r[3] for r in self.reports if r[3] is not None]
        return max(values) if values else None


@dataclass
class Release:
    party: str
    body: ModelReleaseBody
    leaf: int


@dataclass
class Book:
    """Runs and clusters are keyed by (party, id) and transfers by id and both ends: each
    party names its own things, and nobody can squat a name another party will need."""

    facilities: dict[str, Facility] = field(default_factory=dict)
    transfers: dict[TransferKey, Transfer] = field(default_factory=dict)
    movements: dict[str, list[Movement]] = field(default_factory=lambda: defaultdict(list))
    inventories: dict[str, list[Inventory]] = field(default_factory=lambda: defaultdict(list))
    clusters: dict[tuple[str, str], Cluster] = field(default_factory=dict)
    runs: dict[tuple[str, str], Run] = field(default_factory=dict)
    releases: list[Release] = field(default_factory=list)
    latest_date: dt.date | None = None
    today: dt.date | None = None
    """The accounting date: the registry's clock, never a date someone declared."""
    agents: AgentBook = field(default_factory=lambda: _agent_book())
    """Guarded agent deployments and their incidents (accord.registry.agents)."""

    # -- checking ------------------------------------------------------------------------

    def _own_facility(self, party: str, facility_id: str, where: str) -> Facility:
        facility = self.facilities.get(facility_id)
        if facility is None:
            raise Contradiction(
                where, f"facility {facility_id!r} has not been declared", "declare it first"
            )
        if facility.party != party:
            raise Contradiction(
                where,
                f"facility {facility_id!r} is declared by another party",
                "a party may declare only about its own facilities",
            )
        return facility

    def check(self, party: str, kind: Kind, body: Body) -> None:
        """Raise :class:`Contradiction` if ``body`` cannot be accepted from ``party`` now."""
        prefix = "declaration.body"
        if kind in (Kind.AGENT_POLICY, Kind.INCIDENT):
            self.agents.check(party, body)
            return
        if isinstance(body, FacilityBody):
            known = self.facilities.get(body.facility_id)
            if known is not None and known.party != party:
                raise Contradiction(
                    f"{prefix}.facility_id",
                    f"{body.facility_id!r} is already declared by another party",
                    "choose another facility_id",
                )
            if known is not None and known.country != body.country:
                raise Contradiction(
                    f"{prefix}.country",
                    f"facility {body.facility_id!r} was declared in {known.country}",
                    "a facility cannot move; declare a new facility_id",
                )
        elif isinstance(body, ChipInventoryBody):
            self._own_facility(party, body.facility_id, f"{prefix}.facility_id")
            earlier = self.inventories.get(body.facility_id) or []
            if earlier and body.as_of <= earlier[-1].as_of:
                raise Contradiction(
                    f"{prefix}.as_of",
                    f"an inventory of {body.facility_id!r} as of {earlier[-1].as_of} exists",
                    "inventories must move forward in time",
                )
        elif isinstance(body, ClusterBody):
            self._own_facility(party, body.facility_id, f"{prefix}.facility_id")
            known_cluster = self.clusters.get((party, body.cluster_id))
            if known_cluster is not None and known_cluster.facility_id != body.facility_id:
                raise Contradiction(
                    f"{prefix}.facility_id",
                    f"cluster {body.cluster_id!r} was declared at {known_cluster.facility_id!r}",
                    "a cluster cannot move; declare a new cluster_id",
                )
        elif isinstance(body, TransferBody):
            self._check_transfer(party, body, prefix)
        elif isinstance(body, ComputeReportBody):
            self._own_facility(party, body.facility_id, f"{prefix}.facility_id")
        elif isinstance(body, TrainingRunBody):
            self._check_run(party, body, prefix)
        elif isinstance(body, ModelReleaseBody):
            run = self.runs.get((party, body.run_id))
            if run is None:
                raise Contradiction(
                    f"{prefix}.run_id",
                    f"{body.run_id!r} is not a training run declared by {party}",
                    "declare the run's start and completion first",
                )
            if not run.completed:
                raise Contradiction(f"{prefix}.run_id", f"run {body.run_id!r} has not completed")
            compute = run.compute or 0.0
            if abs(body.training_compute_flop - compute) > RELEASE_TOLERANCE * compute:
                raise Contradiction(
                    f"{prefix}.training_compute_flop",
                    f"is {body.training_compute_flop:.3g} FLOP but run {body.run_id!r} "
                    f"was declared complete at {compute:.3g} FLOP",
                    "restate the compute of the completed run",
                )
            if body.date < run.start:
                raise Contradiction(f"{prefix}.date", "is before the run started")

    def _check_transfer(self, party: str, body: TransferBody, prefix: str) -> None:
        mine, field_name = (
            (body.from_facility, "from_facility")
            if body.role == "shipment"
            else (body.to_facility, "to_facility")
        )
        self._own_facility(party, mine, f"{prefix}.{field_name}")
        for side, country_field in (
            ("from_facility", "from_country"),
            ("to_facility", "to_country"),
        ):
            facility = self.facilities.get(getattr(body, side))
            if facility is not None and facility.country != getattr(body, country_field):
                raise Contradiction(
                    f"{prefix}.{country_field}",
                    f"is {getattr(body, country_field)} but facility {facility.facility_id!r} "
                    f"is declared in {facility.country}",
                )
        transfer = self.transfers.get(transfer_key(body))
        if transfer is None:
            return
        same = transfer.shipment if body.role == "shipment" else transfer.receipt
        if same is not None:
            raise Contradiction(
                f"{prefix}.transfer_id",
                f"a {body.role} of {body.transfer_id!r} between these facilities was already "
                "declared",
                "each side declares a transfer once; use a new transfer_id",
            )

    def _check_run(self, party: str, body: TrainingRunBody, prefix: str) -> None:
        self._own_facility(party, body.facility_id, f"{prefix}.facility_id")
        if body.cluster_id is not None:
            cluster = self.clusters.get((party, body.cluster_id))
            if cluster is None or cluster.facility_id != body.facility_id:
                raise Contradiction(
                    f"{prefix}.cluster_id",
                    f"{body.cluster_id!r} is not a cluster declared at {body.facility_id!r}",
                )
        run = self.runs.get((party, body.run_id))
        if body.phase == "start":
            if run is not None:
                raise Contradiction(f"{prefix}.run_id", f"run {body.run_id!r} has already started")
            return
        if run is None:
            raise Contradiction(
                f"{prefix}.phase",
                f"{body.phase} of run {body.run_id!r}, which has no start",
                "declare the start first",
            )
        if run.completed:
            raise Contradiction(f"{prefix}.phase", f"run {body.run_id!r} is already complete")
        if body.date < run.start:
            raise Contradiction(f"{prefix}.date", f"is before the run started ({run.start})")
        if body.chip_hours is not None and body.chip_hours < run.chip_hours:
            raise Contradiction(
                f"{prefix}.chip_hours",
                f"went down from {run.chip_hours:g} to {body.chip_hours:g}",
                "report cumulative chip-hours",
            )
        last = run.compute
        if body.compute_flop is not None and last is not None and body.compute_flop < last:
            raise Contradiction(
                f"{prefix}.compute_flop",
                f"went down from {last:.3g} to {body.compute_flop:.3g}",
                "report cumulative compute",
            )

    # -- applying ------------------------------------------------------------------------

    def apply(self, leaf: int, party: str, kind: Kind, body: Body) -> None:
        if kind in (Kind.AGENT_POLICY, Kind.INCIDENT):  # not chips: the accountancy's dates
            self.agents.apply(leaf, party, body)  # stay those of chip events
            return
        when = _event_date(body)
        if when is not None and (self.latest_date is None or when > self.latest_date):
            self.latest_date = when
        if isinstance(body, FacilityBody):
            self.facilities[body.facility_id] = Facility(
                body.facility_id, party, body.country, body.name, body.site_type, leaf
            )
        elif isinstance(body, ChipInventoryBody):
            chips = {line.chip_id: line.count for line in body.chips}
            self.inventories[body.facility_id].append(
                Inventory(body.facility_id, body.as_of, chips, leaf)
            )
        elif isinstance(body, ClusterBody):
            chips = {line.chip_id: line.count for line in body.chips}
            self.clusters[(party, body.cluster_id)] = Cluster(
                body.cluster_id, party, body.facility_id, chips, body.as_of, leaf
            )
        elif isinstance(body, TransferBody):
            transfer = self.transfers.setdefault(
                transfer_key(body),
                Transfer(body.transfer_id, body.from_facility, body.to_facility),
            )
            side = TransferSide(party, SideRecord.of(body), leaf)
            if body.role == "shipment":
                transfer.shipment = side
                where, sign = body.from_facility, -1
            else:
                transfer.receipt = side
                where, sign = body.to_facility, 1
            for line in body.chips:
                self.movements[where].append(
                    Movement(
                        body.date, where, line.chip_id, sign * line.count, body.transfer_id, leaf
                    )
                )
        elif isinstance(body, TrainingRunBody):
            run = self.runs.get((party, body.run_id))
            if run is None:
                run = Run(
                    body.run_id,
                    party,
                    body.facility_id,
                    _chip(body.chip),
                    body.chip_count,
                    body.date,
                )
                self.runs[(party, body.run_id)] = run
            run.chip_count = max(run.chip_count, body.chip_count)
            run.reports.append(
                (body.date, body.phase, body.chip_hours or 0.0, body.compute_flop, leaf)
            )
            if body.phase == "completion":
                run.completed = True
        elif isinstance(body, ModelReleaseBody):
            self.releases.append(Release(party, body, leaf))


def _agent_book() -> AgentBook:
    from accord.registry.agents import AgentBook

    return AgentBook()


def _chip(name: str) -> str:
    from accord.hardware import get_chip

    return get_chip(name).id


def _event_date(body: Body) -> dt.date | None:
    fields = type(body).model_fields  # a missing attribute is a slow path in pydantic
    for name in ("date", "as_of"):
        value = getattr(body, name) if name in fields else None
        if isinstance(value, dt.date):
            return value
    return None


def subject_of(body: Body) -> str:
    """A short key naming what the declaration is about, for listing and search."""
    fields = type(body).model_fields
    for name in ("transfer_id", "run_id", "cluster_id", "facility_id", "model_name"):
        value = getattr(body, name) if name in fields else None
        if isinstance(value, str):
            return value
    return ""


def event_date(body: Body, fallback: dt.date) -> dt.date:
    return _event_date(body) or fallback
