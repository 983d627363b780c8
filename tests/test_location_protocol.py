"""Signed challenge-response over real UDP on 127.0.0.1, tampering, and fuzzed frames."""

from __future__ import annotations

import contextlib
import dataclasses
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.errors import AccordError, IntegrityError
from accord.verify.location.inputs import Landmark
from accord.verify.location.locate import locate
from accord.verify.location.loopback import EchoSigner, measure, require_loopback
from accord.verify.location.protocol import (
    Challenge,
    LandmarkStation,
    MeasurementRecord,
    TargetResponder,
    decode_response,
    verify_records,
)


@pytest.fixture(scope="module")
def exchange() -> tuple[LandmarkStation, TargetResponder, list[MeasurementRecord]]:
    station = LandmarkStation("lm-fra-1", Ed25519PrivateKey.generate())
    responder = TargetResponder(Ed25519PrivateKey.generate())
    with EchoSigner(responder, max_requests=50, max_seconds=20.0) as server:
        records = measure(station, server.address, responder.public_key, count=25)
    return station, responder, records


def test_loopback_measurement_yields_verified_tiny_rtts(
    exchange: tuple[LandmarkStation, TargetResponder, list[MeasurementRecord]],
) -> None:
    station, responder, records = exchange
    assert len(records) >= 20  # UDP on loopback may drop, rarely
    samples = verify_records(
        records, {station.landmark_id: station.public_key}, responder.public_key, "chip-1"
    )
    assert all(0 < s.rtt_ms < 50 for s in samples)
    # the target is on this machine: the region is a small disc around the landmark
    report = locate(
        [Landmark(station.landmark_id, 50.11, 8.68)],
        samples,
        claim="DE",
        declared=(50.11, 8.68),
        restricted=["CN"],
    )
    assert report.declared is not None and report.declared.max_distance_km < 5000
    assert report.countries[0].relation == "excluded"


def test_records_survive_json_round_trip(
    exchange: tuple[LandmarkStation, TargetResponder, list[MeasurementRecord]],
) -> None:
    _, _, records = exchange
    for rec in records:
        assert MeasurementRecord.from_json(rec.to_json()) == rec


@pytest.mark.parametrize(
    "tamper",
    [
        lambda r: dataclasses.replace(r, received_ns=r.received_ns - 1),  # shorter RTT
        lambda r: dataclasses.replace(r, sent_ns=r.sent_ns + 10),
        lambda r: dataclasses.replace(r, nonce=bytes(32)),
        lambda r: dataclasses.replace(r, landmark_id="lm-other"),
    ],
)
def test_any_edit_to_a_record_breaks_it(
    exchange: tuple[LandmarkStation, TargetResponder, list[MeasurementRecord]], tamper
) -> None:  # type: ignore[no-untyped-def]
    station, responder, records = exchange
    keys = {station.landmark_id: station.public_key, "lm-other": station.public_key}
    with pytest.raises(IntegrityError):
        verify_records([tamper(records[0])], keys, responder.public_key)


def test_replay_wrong_target_and_time_travel_are_refused(
    exchange: tuple[LandmarkStation, TargetResponder, list[MeasurementRecord]],
) -> None:
    station, responder, records = exchange
    keys = {station.landmark_id: station.public_key}
    with pytest.raises(IntegrityError, match="reuses a nonce"):
        verify_records([records[0], records[0]], keys, responder.public_key)
    other = TargetResponder(Ed25519PrivateKey.generate())
    with pytest.raises(IntegrityError, match="different target key"):
        verify_records(records[:1], keys, other.public_key)
    with pytest.raises(IntegrityError, match="unknown landmark"):
        verify_records(records[:1], {}, responder.public_key)
    # a landmark that signs a record claiming the answer came before the challenge
    rec = records[0]
    early = dataclasses.replace(rec, received_ns=rec.sent_ns - 5, landmark_signature=b"")
    signed = dataclasses.replace(early, landmark_signature=station._key.sign(early.signed_bytes()))
    with pytest.raises(IntegrityError, match="does not follow the challenge"):
        verify_records([signed], keys, responder.public_key)


def test_target_cannot_answer_a_challenge_it_has_not_seen() -> None:
    station = LandmarkStation("lm", Ed25519PrivateKey.generate())
    responder = TargetResponder(Ed25519PrivateKey.generate())
    guessed = Challenge("lm", bytes(32))  # a nonce the target guessed in advance
    early_answer = responder.respond(guessed.encode())
    real = station.new_challenge()
    with pytest.raises(IntegrityError, match="different nonce"):
        station.complete(real, early_answer, responder.public_key, 1, 2)
    with pytest.raises(IntegrityError, match="did not issue"):
        station.complete(guessed, early_answer, responder.public_key, 1, 2)


def test_only_loopback_addresses_are_accepted() -> None:
    assert require_loopback("127.0.0.1") == "127.0.0.1"
    assert require_loopback("::1") == "::1"
    for host in ("10.0.0.1", "192.168.1.1", "8.8.8.8", "localhost-ish"):
        with pytest.raises(AccordError):
            require_loopback(host)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_frames_only_raise_integrity_errors(data: bytes) -> None:
    for decode in (Challenge.decode, decode_response, MeasurementRecord.from_json):
        with contextlib.suppress(IntegrityError):
            decode(data)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "landmark_id",
                "target_key",
                "nonce",
                "sent_ns",
                "received_ns",
                "response_signature",
                "landmark_signature",
                "x",
            ]
        ),
        st.one_of(st.integers(-(2**70), 2**70), st.text(max_size=130), st.none(), st.booleans()),
        max_size=8,
    )
)
def test_fuzz_record_json_objects(obj: dict[str, object]) -> None:
    with contextlib.suppress(IntegrityError):
        MeasurementRecord.from_json(json.dumps(obj))
