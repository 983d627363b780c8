"""C2SP signed notes and checkpoints against notes made by Go's sumdb/note."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ledger_helpers import load_vectors, naive_mth

from accord.errors import AccordError, IntegrityError
from accord.ledger.checkpoint import Checkpoint, open_checkpoint
from accord.ledger.note import (
    ALG_COSIGNATURE_V1,
    Signer,
    Verifier,
    key_id,
    open_note,
    parse_note,
    sign_note,
)

NOTES = load_vectors("signed_notes.json")


def test_go_example_keys_parse_and_round_trip() -> None:
    signer = Signer.parse(NOTES["signer_key"])
    verifier = Verifier.parse(NOTES["verifier_key"])
    assert signer.verifier == verifier
    assert signer.skey == NOTES["signer_key"]
    assert verifier.vkey == NOTES["verifier_key"]
    assert f"{key_id('PeterNeumann', 1, verifier.public_key):08x}" == "c74f20a3"


def test_signatures_are_byte_identical_to_go() -> None:
    signer = Signer.parse(NOTES["signer_key"])
    for case in NOTES["notes"]:
        data = case["signed_note"].encode()
        note = parse_note(data)
        assert sign_note(note.text, [signer]) == data
        opened, good = open_note(data, [Verifier.parse(NOTES["verifier_key"])])
        assert good == [signer.verifier] and opened.text == note.text


def test_go_checkpoint_vector_is_the_rfc_tree(rfc_leaves: list[bytes]) -> None:
    data = NOTES["notes"][1]["signed_note"].encode()
    verifier = Verifier.parse(NOTES["verifier_key"])
    signed = open_checkpoint(data, verifier, origin="example.com/accord-test-log")
    assert signed.checkpoint.size == 8
    assert signed.checkpoint.root == naive_mth(rfc_leaves)
    assert signed.checkpoint.body() == parse_note(data).text


def test_wrong_key_and_altered_notes_fail() -> None:
    data = NOTES["notes"][0]["signed_note"].encode()
    verifier = Verifier.parse(NOTES["verifier_key"])
    other = Signer.generate("PeterNeumann").verifier
    with pytest.raises(IntegrityError, match="not signed by any trusted key"):
        open_note(data, [other])
    altered = data.replace(b"cryptography", b"cryptographY")
    with pytest.raises(IntegrityError, match="does not verify"):
        open_note(altered, [verifier])
    with pytest.raises(IntegrityError):
        open_note(data[:-3], [verifier])


def test_keys_reject_mismatched_ids_and_bad_names() -> None:
    vkey = NOTES["verifier_key"]
    with pytest.raises(AccordError, match="key ID"):
        Verifier.parse(vkey.replace("c74f20a3", "c74f20a4"))
    with pytest.raises(AccordError):
        Verifier.parse("PeterNeumann+c74f20a3")
    with pytest.raises(AccordError):
        Signer.parse(NOTES["signer_key"].replace("AYEK", "AYEL"))
    with pytest.raises(AccordError):
        Signer.generate("bad name")


def test_cosignature_keys_use_type_4() -> None:
    witness = Signer.generate("witness.example/w1", ALG_COSIGNATURE_V1)
    v = witness.verifier
    assert v.key_id == key_id("witness.example/w1", 4, v.public_key)
    assert Verifier.parse(v.vkey) == v
    text = Checkpoint("example.com/log", 3, bytes(32)).body()
    sig = witness.sign(text)
    assert len(sig) == 72 and v.verify(text, sig)
    assert not v.verify(text + b"x\n", sig)
    # A type-1 key over the same material must not accept a cosignature and vice versa.
    plain = Verifier(v.name, 1, v.public_key)
    assert not plain.verify(text, sig)


def test_checkpoint_parser_is_strict() -> None:
    good = Checkpoint("example.com/log", 10, bytes(range(32)), ("ext",)).body()
    assert Checkpoint.parse(good).extensions == ("ext",)
    for bad in (
        b"example.com/log\n010\n" + good.split(b"\n")[2] + b"\n",
        b"example.com/log\n10\n" + good.split(b"\n")[2],
        b"\n10\n" + good.split(b"\n")[2] + b"\n",
        b"example.com/log\n10\nAAAA\n",
        b"example.com/log\n-1\n" + good.split(b"\n")[2] + b"\n",
        b"example.com/log\n10\n",
        good + b"\n",
        b"\xff\n1\n2\n",
    ):
        with pytest.raises(IntegrityError):
            Checkpoint.parse(bad)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_note_parser_never_crashes(data: bytes) -> None:
    verifier = Verifier.parse(NOTES["verifier_key"])
    with contextlib.suppress(AccordError):
        open_note(data, [verifier])


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_checkpoint_parser_never_crashes(text: str) -> None:
    try:
        cp = Checkpoint.parse(text.encode())
    except AccordError:
        return
    assert Checkpoint.parse(cp.body()) == cp


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2000), st.integers(0, 255))
def test_any_bit_flip_in_a_signed_note_is_caught(position: int, bit: int) -> None:
    data = bytearray(NOTES["notes"][1]["signed_note"].encode())
    position %= len(data)
    data[position] ^= 1 << (bit % 8)
    verifier = Verifier.parse(NOTES["verifier_key"])
    with pytest.raises(AccordError):
        open_checkpoint(bytes(data), verifier, origin="example.com/accord-test-log")
