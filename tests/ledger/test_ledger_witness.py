"""Witness cosigning, k-of-n policy and split-view evidence with real keys and logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from accord.errors import AccordError, IntegrityError
from accord.ledger import (
    ALG_COSIGNATURE_V1,
    Checkpoint,
    Log,
    Signer,
    Witness,
    WitnessPolicy,
    add_cosignatures,
    conflict_evidence,
    open_store,
    verify_evidence,
)
from accord.ledger.witness import (
    SplitViewDetected,
    WitnessConflict,
    format_add_checkpoint,
    parse_add_checkpoint,
)
from accord.model.finding import Verdict


@pytest.fixture()
def log(tmp_path: Path) -> Log:
    return Log.create(open_store(tmp_path / "log.db"), Signer.generate("example.com/wlog"))


def make_witness(tmp_path: Path, log: Log, name: str) -> Witness:
    signer = Signer.generate(name, ALG_COSIGNATURE_V1)
    return Witness(signer, [log.verifier], tmp_path / f"{name.replace('/', '_')}.json")


def test_witness_cosigns_only_consistent_growth(tmp_path: Path, log: Log) -> None:
    witness = make_witness(tmp_path, log, "w.example/one")
    log.append_many([b"a", b"b", b"c"])
    first = log.checkpoint()
    line = witness.add_checkpoint(first, 0, [])
    assert line.startswith("\u2014 w.example/one ")
    log.append_many([b"d", b"e"])
    second = log.checkpoint()
    with pytest.raises(WitnessConflict) as conflict:
        witness.add_checkpoint(second, 0, [])
    assert conflict.value.size == 3
    with pytest.raises(IntegrityError):
        witness.add_checkpoint(second, 3, [bytes(32)])
    witness.add_checkpoint(second, 3, log.consistency_proof(3, 5))
    # State survives a restart of the witness.
    again = Witness(witness.signer, [log.verifier], witness.state_path)
    latest = again.latest("example.com/wlog")
    assert latest is not None and latest.checkpoint.size == 5
    with pytest.raises(IntegrityError, match="older"):
        again.add_checkpoint(first, 5, [])


def test_split_view_same_size_yields_verifiable_evidence(tmp_path: Path, log: Log) -> None:
    assert log.signer is not None
    witness = make_witness(tmp_path, log, "w.example/two")
    log.append_many([b"a", b"b"])
    honest = log.checkpoint()
    witness.add_checkpoint(honest, 0, [])
    forged = Checkpoint("example.com/wlog", 2, bytes(32)).sign([log.signer])
    with pytest.raises(SplitViewDetected) as caught:
        witness.add_checkpoint(forged, 2, [])
    finding = verify_evidence(json.dumps(caught.value.evidence).encode(), log.verifier)
    assert finding.verdict == Verdict.INCONSISTENT
    assert finding.error_bound is not None and finding.error_bound < 1e-30
    other = Signer.generate("example.com/wlog")
    with pytest.raises(IntegrityError):
        verify_evidence(caught.value.evidence, other.verifier)


def test_conflicting_entry_evidence_from_two_forks(tmp_path: Path) -> None:
    signer = Signer.generate("example.com/fork")
    a = Log.create(open_store(tmp_path / "a.db"), signer)
    b = Log.create(open_store(tmp_path / "b.db"), signer)
    common = [b"entry %d" % i for i in range(600)]
    a.append_many(common)
    b.append_many([*common[:300], b"rewritten", *common[301:]])
    b.append_many([b"more"] * 50)
    note_a, note_b = a.checkpoint(), b.checkpoint()
    bundle = conflict_evidence(signer.verifier, note_a, a.tree(), note_b, b.tree())
    assert bundle is not None and bundle["conflict"]["index"] == 300
    assert verify_evidence(bundle).verdict == Verdict.INCONSISTENT
    # Tampering with the bundle breaks it.
    bundle["conflict"]["index"] = 299
    with pytest.raises(IntegrityError):
        verify_evidence(bundle)
    # Consistent trees produce no evidence.
    c = Log.create(open_store(tmp_path / "c.db"), signer)
    c.append_many(common[:400])
    assert conflict_evidence(signer.verifier, c.checkpoint(), c.tree(), note_a, a.tree()) is None


def test_k_of_n_policy(tmp_path: Path, log: Log) -> None:
    witnesses = [make_witness(tmp_path, log, f"w.example/{i}") for i in range(3)]
    log.append(b"x")
    note = log.checkpoint()
    lines = [w.add_checkpoint(note, 0, []) for w in witnesses[:2]]
    cosigned = add_cosignatures(note, lines)
    keys = [w.signer.verifier for w in witnesses]
    assert WitnessPolicy(log.verifier, keys, 2).check(cosigned).checkpoint.size == 1
    with pytest.raises(IntegrityError, match="2 of the required 3"):
        WitnessPolicy(log.verifier, keys, 3).check(cosigned)
    with pytest.raises(AccordError):
        WitnessPolicy(log.verifier, keys, 4)
    # A forged witness line by a known key rejects the note.
    bad = cosigned.replace(lines[0][-10:-1].encode(), b"AAAAAAAAA")
    with pytest.raises(AccordError):
        WitnessPolicy(log.verifier, keys, 1).check(bad)


def test_add_checkpoint_request_round_trip(log: Log) -> None:
    log.append_many([b"1", b"2", b"3"])
    note = log.checkpoint()
    proof = log.consistency_proof(1, 3)
    body = format_add_checkpoint(1, proof, note)
    assert parse_add_checkpoint(body) == (1, proof, note)
    for bad in (b"", b"old x\n\n" + note, b"new 1\n\n" + note, b"old 1\n!!\n\n" + note):
        with pytest.raises(IntegrityError):
            parse_add_checkpoint(bad)
