"""Commitments in declarations: new optional fields, old entries unchanged byte for byte."""

from __future__ import annotations

import pytest

from accord.errors import AccordError
from accord.ledger import Signer
from accord.ledger.note import ALG_ED25519
from accord.model.declaration import (
    Kind,
    ModelReleaseBody,
    TrainingRunBody,
    parse_body,
    parse_leaf,
    parse_signed,
)
from accord.registry.signing import make_declaration, party_key, sign

OLD_RELEASE = {
    "model_name": "m-1",
    "run_id": "R-1",
    "date": "2026-03-01",
    "open_weights": True,
    "training_compute_flop": 1.5e24,
}
COMPLETION = {
    "run_id": "R-1",
    "phase": "completion",
    "date": "2026-03-01",
    "facility_id": "f1",
    "chip": "H100-SXM",
    "chip_count": 8,
    "chip_hours": 100.0,
    "compute_flop": 1.5e21,
}


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        (Kind.MODEL_RELEASE, OLD_RELEASE),
        (Kind.TRAINING_RUN, COMPLETION),
        (Kind.FACILITY, {"facility_id": "f1", "name": "F", "country": "MY"}),
    ],
)
def test_entries_without_commitments_reencode_byte_for_byte(kind: Kind, body: dict) -> None:
    key = party_key("lab-a")
    leaf = sign(make_declaration("lab-a", kind, body), key).leaf()
    data = parse_leaf(leaf)
    again = parse_signed({k: data[k] for k in ("declaration", "signature")})
    assert again.leaf() == leaf
    parsed = parse_body(kind, again.declaration.body, strict=True)
    assert all(getattr(parsed, f, None) is None for f in ("chain_head", "weights_sha256"))


def test_commitments_parse_strictly() -> None:
    head = "ab" * 32
    body = parse_body(Kind.TRAINING_RUN, {**COMPLETION, "chain_head": head}, strict=True)
    assert isinstance(body, TrainingRunBody) and body.chain_head == head
    release = parse_body(
        Kind.MODEL_RELEASE,
        {**OLD_RELEASE, "weights_sha256": "0" * 64, "origin": "derived", "parent_model": "p"},
        strict=True,
    )
    assert isinstance(release, ModelReleaseBody) and release.parent_model == "p"
    vkey = Signer.generate("resp.f1", ALG_ED25519).verifier.vkey
    fac = parse_body(
        Kind.FACILITY,
        {"facility_id": "f1", "name": "F", "country": "MY", "responder_keys": [vkey]},
        strict=True,
    )
    assert getattr(fac, "responder_keys", None) == [vkey]


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        (Kind.TRAINING_RUN, {**COMPLETION, "chain_head": "AB" * 32}, "chain_head"),
        (Kind.TRAINING_RUN, {**COMPLETION, "phase": "progress", "chain_head": "ab" * 32}, ""),
        (Kind.MODEL_RELEASE, {**OLD_RELEASE, "origin": "derived"}, ""),
        (Kind.MODEL_RELEASE, {**OLD_RELEASE, "origin": "scratch", "parent_model": "x"}, ""),
        (Kind.MODEL_RELEASE, {**OLD_RELEASE, "weights_sha256": "1" * 63}, "weights_sha256"),
        (
            Kind.FACILITY,
            {"facility_id": "f", "name": "F", "country": "MY", "responder_keys": ["x"]},
            "responder_keys",
        ),
    ],
)
def test_bad_commitments_name_the_field(kind: Kind, body: dict, field: str) -> None:
    with pytest.raises(AccordError) as err:
        parse_body(kind, body, strict=True)
    assert err.value.field.startswith("declaration.body")
    assert field in err.value.field


def test_reproduce_names_every_difference() -> None:
    from accord.cli.inspect import differences

    recorded = {"verdict": "consistent", "statistic": {"a": 1.0, "b": [1, 2], "c": "x"}}
    same = {"verdict": "consistent", "statistic": {"a": 1.0 + 1e-12, "b": [1, 2], "c": "x"}}
    assert differences(recorded, same) == []
    other = {"verdict": "inconsistent", "statistic": {"a": 1.5, "b": [1, 3], "d": 0}}
    assert differences(recorded, other) == [
        "statistic.a: recorded 1.0, now 1.5",
        "statistic.b[1]: recorded 2, now 3",
        "statistic.c: only in the recorded run",
        "statistic.d: only in the new run",
        "verdict: recorded 'consistent', now 'inconsistent'",
    ]


REPORT = {
    "facility_id": "f1",
    "period_start": "2026-01-01",
    "date": "2026-03-31",
    "threshold_flop": 1e26,
    "runs": [
        {
            "customer": "nimbus",
            "accounts": ["nimbus-a", "nimbus-b"],
            "start": "2026-01-10",
            "end": "2026-03-01",
            "chip": "H100-SXM",
            "chip_count": 16384,
            "compute_flop": 2e26,
        }
    ],
}


def test_compute_report_parses_strictly_and_refuses_runs_outside_its_period() -> None:
    body = parse_body(Kind.COMPUTE_REPORT, REPORT, strict=True)
    assert body.runs[0].accounts == ["nimbus-a", "nimbus-b"]
    assert parse_body(Kind.COMPUTE_REPORT, {**REPORT, "runs": []}, strict=True)
    late = {**REPORT["runs"][0], "start": "2026-04-02", "end": "2026-04-03"}
    for bad in (
        {**REPORT, "period_start": "2026-04-01"},
        {**REPORT, "runs": [late]},
        {**REPORT, "runs": [{**REPORT["runs"][0], "accounts": []}]},
    ):
        with pytest.raises(AccordError) as err:
            parse_body(Kind.COMPUTE_REPORT, bad, strict=True)
        assert err.value.field.startswith("declaration.body")
