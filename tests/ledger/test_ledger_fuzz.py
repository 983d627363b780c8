"""Fuzz the proof-file decoder and verifier: any input ends in a result or an AccordError."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.errors import AccordError
from accord.ledger import Log, Signer, open_store
from accord.ledger.proof_json import ConsistencyProof, InclusionProof, decode_proof

SIGNER = Signer.generate("example.com/fuzz")


@pytest.fixture(scope="module")
def proof_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    log = Log.create(open_store(tmp_path_factory.mktemp("fuzz") / "log.db"), SIGNER)
    log.append_many([b"%d" % i for i in range(300)])
    old = log.checkpoint()
    log.append_many([b"more"] * 20)
    note = log.checkpoint()
    inc = InclusionProof(7, 320, log.leaf_hash(7), tuple(log.inclusion_proof(7, 320)), note)
    con = ConsistencyProof(300, 320, tuple(log.consistency_proof(300, 320)), note, old)
    inc.verify(SIGNER.verifier, b"7")
    con.verify(SIGNER.verifier)
    return json.dumps(inc.to_json()).encode(), json.dumps(con.to_json()).encode()


def _check(data: bytes) -> None:
    with contextlib.suppress(AccordError):
        decode_proof(data).verify(SIGNER.verifier)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(data: bytes) -> None:
    _check(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["inclusion", "consistency", "x"]),
    st.dictionaries(
        st.sampled_from(["index", "size", "old", "new", "proof", "leaf_hash", "checkpoint"]),
        json_values,
    ),
)
def test_structured_json(kind: str, fields: dict[str, object]) -> None:
    _check(json.dumps({"type": kind, **fields}).encode())


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.integers(0, 10**6), st.integers(1, 255), st.booleans())
def test_every_mutated_proof_file_fails(
    proof_files: tuple[bytes, bytes], position: int, xor: int, which: bool
) -> None:
    original = proof_files[which]
    data = bytearray(original)
    data[position % len(data)] ^= xor
    try:
        parsed = decode_proof(bytes(data))
        if isinstance(parsed, ConsistencyProof):
            parsed.verify(SIGNER.verifier)
        else:
            parsed.verify(SIGNER.verifier, b"7")
    except AccordError:
        return
    # Surviving mutations may only touch JSON layout, never the proven content.
    assert json.loads(bytes(data)) == json.loads(original)
