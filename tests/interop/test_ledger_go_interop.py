"""Go's sumdb/note and sumdb/tlog accept Accord's checkpoints, proofs and tiles unchanged.

The Go program is built from Debian's golang-go and golang-golang-x-mod-dev (installed by
.ci/golang.sh); without them the test skips locally and fails under CI=true.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from accord.ledger import ALG_COSIGNATURE_V1, Log, Signer, Witness, add_cosignatures, open_store
from accord.ledger.tiles import export_tiles

SOURCE = Path(__file__).with_name("accordcheck") / "main.go"
GOPATH = Path("/usr/share/gocode")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def accordcheck(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None or not (GOPATH / "src/golang.org/x/mod/sumdb/tlog").is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("Go or golang.org/x/mod is missing under CI: run .ci/golang.sh")
        pytest.skip("Go and golang.org/x/mod are not installed (run .ci/golang.sh)")
    out = tmp_path_factory.mktemp("go")
    env = {
        **os.environ,
        "GOPATH": str(GOPATH),
        "GO111MODULE": "off",
        "GOCACHE": str(out / "cache"),
        "GOFLAGS": "",
    }
    binary = out / "accordcheck"
    subprocess.run([go, "build", "-o", str(binary), str(SOURCE)], check=True, env=env, timeout=300)
    return binary


def run_check(
    binary: Path, tmp_path: Path, payload: dict[str, object]
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "input.json"
    path.write_text(json.dumps(payload))
    return subprocess.run([str(binary), str(path)], capture_output=True, text=True, timeout=120)


def test_go_accepts_accord_checkpoints_proofs_and_tiles(accordcheck: Path, tmp_path: Path) -> None:
    signer = Signer.generate("example.com/accord-interop")
    log = Log.create(open_store(tmp_path / "log.db"), signer)
    sizes = [1, 7, 256, 1000, 70_001]
    roots: dict[int, bytes] = {}
    for size in sizes:
        log.append_many([b"declaration %d" % i for i in range(log.size, size)])
        roots[size] = log.root()
    note = log.checkpoint()
    size = log.size
    export_tiles(log, tmp_path / "tiles", note)
    # Witness cosignature lines must not disturb a client that does not know the witness.
    witness = Witness(
        Signer.generate("witness.example/w1", ALG_COSIGNATURE_V1),
        [signer.verifier],
        tmp_path / "witness.json",
    )
    cosigned = add_cosignatures(note, [witness.add_checkpoint(note, 0, [])])
    indexes = [0, 1, 255, 256, 999, 65_535, 65_536, size - 1]
    payload = {
        "vkey": signer.verifier.vkey,
        "checkpoint": cosigned.decode(),
        "tiles": str(tmp_path / "tiles"),
        "inclusion": [
            {
                "index": i,
                "leaf_hash": b64(log.leaf_hash(i)),
                "proof": [b64(p) for p in log.inclusion_proof(i, size)],
            }
            for i in indexes
        ],
        "consistency": [
            {
                "old": old,
                "old_root": b64(roots[old]),
                "proof": [b64(p) for p in log.consistency_proof(old, size)],
            }
            for old in sizes
        ],
    }
    result = run_check(accordcheck, tmp_path, payload)
    assert result.returncode == 0, result.stderr
    assert f"size={size} inclusion={len(indexes)} consistency={len(sizes)}" in result.stdout

    # The independent verifier also rejects what Accord rejects: a wrong proof and a
    # checkpoint signed by another key.
    bad = dict(payload)
    bad["inclusion"] = [dict(payload["inclusion"][3], index=2)]  # type: ignore[index]
    assert run_check(accordcheck, tmp_path, bad).returncode != 0
    other = Signer.generate("example.com/accord-interop")
    wrong_key = dict(payload, vkey=other.verifier.vkey)
    assert "note.Open" in run_check(accordcheck, tmp_path, wrong_key).stderr
