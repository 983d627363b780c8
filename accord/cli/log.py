"""`accord log`: run a tamper-evident log, prove entries, witness and audit it.

`verify` and `audit` check evidence: a proof, note or log that fails its check exits 1
("does not hold"), bad input (a missing file, a malformed key) exits 2. `witness` exits 1
only on a proven split view; a checkpoint it cannot cosign yet (no consistency proof) is 2.

A log lives in a directory holding its signing key (``log.key``, mode 0600), its public
verifier key (``log.vkey``) and a ``store`` file naming its database (a SQLite file in the
directory by default, or a postgresql:// URL).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from accord.cli.output import (
    JSON_OPTION,
    console,
    does_not_hold,
    handle_errors,
    handle_verdict,
    print_json,
)
from accord.errors import AccordError, IntegrityError

if TYPE_CHECKING:
    from accord.ledger import Log, Verifier

NAME = "log"
app = typer.Typer(
    help="Tamper-evident ledger: append entries, sign checkpoints, prove, witness, audit.",
    no_args_is_help=True,
)

LOG_DIR = typer.Option(
    Path("accord-log"), "--log", help="Log directory (keys and store).", envvar="ACCORD_LOG"
)


def _read(path: Path, what: str) -> bytes:
    if str(path) == "-":
        return sys.stdin.buffer.read()
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise AccordError(what, f"{path} does not exist") from None
    except OSError as err:
        raise AccordError(what, f"cannot read {path}: {err.strerror}") from None


def _verifier(text: str, option: str = "--key") -> Verifier:
    """A verifier key given inline (name+hex+base64) or as a file holding one."""
    from accord.ledger import Verifier

    candidate = Path(text)
    if "+" not in text or candidate.is_file():
        text = _read(candidate, option).decode("utf-8", errors="replace").strip()
    try:
        return Verifier.parse(text)
    except AccordError as err:
        raise AccordError(option, err.problem, err.fix) from None


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")


def _open_log(log_dir: Path, signing: bool = False) -> Log:
    from accord.ledger import Log, Signer, open_store

    store_file = log_dir / "store"
    if not store_file.is_file():
        raise AccordError("--log", f"{log_dir} is not a log directory", "run `accord log init`")
    location = store_file.read_text().strip()
    if not location.startswith(("postgresql://", "postgres://")):
        location = str(log_dir / location)
    signer = None
    if signing:
        signer = Signer.parse(_read(log_dir / "log.key", "log key").decode().strip())
    return Log(open_store(location), signer)


@app.command()
@handle_errors
def init(
    origin: str = typer.Option(..., "--origin", help="Log name, e.g. example.com/accord."),
    store: str = typer.Option(
        "log.db", "--store", help="SQLite file in the log directory, or a postgresql:// URL."
    ),
    log_dir: Path = LOG_DIR,
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a log: a new Ed25519 key named after the origin, and an empty store."""
    from accord.ledger import Log, Signer, open_store

    if (log_dir / "store").exists():
        raise AccordError("--log", f"{log_dir} already holds a log")
    signer = Signer.generate(origin)
    log_dir.mkdir(parents=True, exist_ok=True)
    location = store if store.startswith(("postgresql://", "postgres://")) else str(log_dir / store)
    Log.create(open_store(location), signer).close()
    _write_secret(log_dir / "log.key", signer.skey)
    (log_dir / "log.vkey").write_text(signer.verifier.vkey + "\n")
    (log_dir / "store").write_text(store + "\n")
    if as_json:
        print_json({"origin": origin, "vkey": signer.verifier.vkey, "log": str(log_dir)})
    else:
        console.print(f"created log [bold]{origin}[/] in {log_dir}")
        console.print(f"verifier key: {signer.verifier.vkey}", highlight=False, soft_wrap=True)


@app.command()
@handle_errors
def keygen(
    name: str = typer.Argument(..., help="Key name, e.g. witness.example.org/w1."),
    out: Path = typer.Option(..., "--out", help="Where to write the private key (mode 0600)."),
    witness: bool = typer.Option(False, "--witness", help="A cosignature (type 0x04) key."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Make a signing key; prints its public verifier key."""
    from accord.ledger import ALG_COSIGNATURE_V1, ALG_ED25519, Signer

    if out.exists():
        raise AccordError("--out", f"{out} exists", "choose a new file")
    signer = Signer.generate(name, ALG_COSIGNATURE_V1 if witness else ALG_ED25519)
    _write_secret(out, signer.skey)
    if as_json:
        print_json({"name": name, "vkey": signer.verifier.vkey, "key_file": str(out)})
    else:
        console.print(signer.verifier.vkey, highlight=False, soft_wrap=True)


@app.command()
@handle_errors
def append(
    files: list[Path] = typer.Argument(None, help="Each file is one entry ('-' for stdin)."),
    lines: bool = typer.Option(False, "--lines", help="Each line of stdin is one entry."),
    log_dir: Path = LOG_DIR,
    as_json: bool = JSON_OPTION,
) -> None:
    """Append entries in one durable batch; prints their indexes once committed."""
    if lines:
        entries = [line for line in sys.stdin.buffer.read().split(b"\n") if line]
    elif files:
        entries = [_read(f, "entry") for f in files]
    else:
        entries = [sys.stdin.buffer.read()]
    log = _open_log(log_dir)
    try:
        indexes = log.append_many(entries)
    finally:
        log.close()
    if as_json:
        print_json({"indexes": indexes})
    elif indexes:
        console.print(f"appended {len(indexes)} entries: {indexes[0]}..{indexes[-1]}")
    else:
        console.print("nothing to append")


@app.command()
@handle_errors
def checkpoint(
    tiles: Path | None = typer.Option(None, "--tiles", help="Also export static tiles here."),
    log_dir: Path = LOG_DIR,
    as_json: bool = JSON_OPTION,
) -> None:
    """Sign and store a checkpoint of the current tree; prints the signed note."""
    from accord.ledger import Checkpoint, parse_note
    from accord.ledger.tiles import export_tiles

    log = _open_log(log_dir, signing=True)
    try:
        note = log.checkpoint()
        report = export_tiles(log, tiles, note) if tiles else None
    finally:
        log.close()
    cp = Checkpoint.parse(parse_note(note).text)
    if as_json:
        out: dict[str, Any] = {"size": cp.size, "root": cp.root.hex(), "note": note.decode()}
        if report:
            out["tiles_written"] = report.tiles_written
        print_json(out)
    else:
        sys.stdout.write(note.decode())


@app.command()
@handle_errors
def prove(
    index: int | None = typer.Option(None, "--index", help="Inclusion proof for this entry."),
    old: int | None = typer.Option(None, "--old", help="Consistency proof from this size."),
    size: int | None = typer.Option(
        None, "--size", help="Tree size (default: the latest checkpoint's)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Write the proof file here."),
    log_dir: Path = LOG_DIR,
    as_json: bool = JSON_OPTION,
) -> None:
    """Write a self-contained proof (JSON, with the signed checkpoint it refers to)."""
    from accord.ledger import Checkpoint, parse_note
    from accord.ledger.log import checkpoint_of_size
    from accord.ledger.proof_json import ConsistencyProof, InclusionProof

    if (index is None) == (old is None):
        raise AccordError("--index/--old", "give exactly one of them")
    log = _open_log(log_dir)
    try:
        if size is None:
            note = log.latest_checkpoint()
            size = Checkpoint.parse(parse_note(note).text).size
        else:
            found = checkpoint_of_size(log, size)
            if found is None:
                raise AccordError("--size", f"the log issued no checkpoint of size {size}")
            note = found
        proof: InclusionProof | ConsistencyProof
        if index is not None:
            proof = InclusionProof(
                index, size, log.leaf_hash(index), tuple(log.inclusion_proof(index, size)), note
            )
        else:
            assert old is not None
            proof = ConsistencyProof(
                old,
                size,
                tuple(log.consistency_proof(old, size)),
                note,
                checkpoint_of_size(log, old),
            )
    finally:
        log.close()
    text = json.dumps(proof.to_json(), indent=2) + "\n"
    if out is not None:
        out.write_text(text)
        if not as_json:
            console.print(f"wrote {proof.to_json()['type']} proof to {out}")
            return
    sys.stdout.write(text)


@app.command()
@handle_verdict
def verify(
    proof: Path | None = typer.Argument(None, help="Proof file from `accord log prove`."),
    key: str = typer.Option(..., "--key", help="The log's verifier key (string or file)."),
    entry: Path | None = typer.Option(None, "--entry", help="Check this is the proven entry."),
    old_checkpoint: Path | None = typer.Option(
        None, "--old-checkpoint", help="Earlier checkpoint for a consistency proof."
    ),
    checkpoint: Path | None = typer.Option(
        None, "--checkpoint", help="Verify a (cosigned) checkpoint note instead."
    ),
    witness: list[str] = typer.Option([], "--witness", help="Witness verifier key(s)."),
    quorum: int = typer.Option(0, "--quorum", help="Witness cosignatures required."),
    evidence: Path | None = typer.Option(
        None, "--evidence", help="Verify a split-view evidence bundle instead."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Verify a proof, a checkpoint's (co)signatures, or split-view evidence, offline."""
    from accord.ledger import WitnessPolicy, verify_evidence
    from accord.ledger.proof_json import InclusionProof, decode_proof

    log_key = _verifier(key)
    chosen = [x for x in (proof, checkpoint, evidence) if x is not None]
    if len(chosen) != 1:
        raise AccordError("arguments", "give exactly one of PROOF, --checkpoint, --evidence")
    if evidence is not None:
        finding = verify_evidence(_read(evidence, "--evidence"), log_key)
        if as_json:
            print_json(finding)
        else:
            console.print(f"[bold red]split view proven[/]: {finding.explanation}")
        return
    if checkpoint is not None:
        policy = WitnessPolicy(log_key, [_verifier(w, "--witness") for w in witness], quorum)
        signed = policy.check(_read(checkpoint, "--checkpoint"))
        result: dict[str, Any] = {
            "valid": True,
            "origin": signed.checkpoint.origin,
            "size": signed.checkpoint.size,
            "root": signed.checkpoint.root.hex(),
            "signed_by": [v.name for v in signed.verified_by],
        }
    else:
        assert proof is not None
        parsed = decode_proof(_read(proof, "proof"))
        if isinstance(parsed, InclusionProof):
            entry_bytes = _read(entry, "--entry") if entry is not None else None
            cp = parsed.verify(log_key, entry_bytes)
            result = {"valid": True, "type": "inclusion", "index": parsed.index, "size": cp.size}
        else:
            old_note = _read(old_checkpoint, "--old-checkpoint") if old_checkpoint else None
            cp = parsed.verify(log_key, old_note)
            result = {"valid": True, "type": "consistency", "old": parsed.old, "new": cp.size}
        result["root"] = cp.root.hex()
    if as_json:
        print_json(result)
    else:
        text = ", ".join(f"{k}={v}" for k, v in result.items() if k != "valid")
        console.print("[bold green]valid[/] " + text, highlight=False, soft_wrap=True)


@app.command("witness")
@handle_errors
def witness_cmd(
    checkpoint: Path = typer.Argument(..., help="Signed checkpoint to cosign ('-' for stdin)."),
    key: Path = typer.Option(..., "--key", help="Witness private key file (keygen --witness)."),
    log_key: list[str] = typer.Option(..., "--log-key", help="Verifier key of a followed log."),
    state: Path = typer.Option(..., "--state", help="Witness state file (JSON)."),
    proof: Path | None = typer.Option(
        None, "--proof", help="Consistency proof from `prove --old <witness size>`."
    ),
    out: Path | None = typer.Option(None, "--out", help="Write the cosigned note here."),
    evidence_out: Path = typer.Option(
        Path("split-view-evidence.json"), "--evidence-out", help="Where split-view goes."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Cosign a checkpoint only if it is consistent with the last one this witness signed."""
    from accord.ledger import Signer, Witness, add_cosignatures
    from accord.ledger.proof_json import ConsistencyProof, decode_proof
    from accord.ledger.witness import SplitViewDetected

    try:
        signer = Signer.parse(_read(key, "--key").decode("utf-8", errors="replace").strip())
    except AccordError as err:  # the witness's own key is input, not evidence
        raise AccordError("--key", err.problem, err.fix) from None
    witness = Witness(signer, [_verifier(k, "--log-key") for k in log_key], state)
    note = _read(checkpoint, "checkpoint")
    old = 0
    hashes: tuple[bytes, ...] = ()
    if proof is not None:
        parsed = decode_proof(_read(proof, "--proof"))
        if not isinstance(parsed, ConsistencyProof):
            raise AccordError("--proof", "must be a consistency proof (prove --old)")
        old, hashes = parsed.old, parsed.proof
    try:
        line = witness.add_checkpoint(note, old, list(hashes))
    except SplitViewDetected as split:
        evidence_out.write_text(json.dumps(split.evidence, indent=2) + "\n")
        raise does_not_hold(
            IntegrityError(
                "checkpoint",
                "split view: the log signed two roots for one size",
                f"see {evidence_out}",
            ),
            as_json,
        ) from None
    cosigned = add_cosignatures(note, [line])
    if out is not None:
        out.write_bytes(cosigned)
    if as_json:
        print_json({"cosignature": line.strip(), "note": cosigned.decode()})
    elif out is None:
        sys.stdout.write(cosigned.decode())
    else:
        console.print(f"cosigned; wrote {out}")


@app.command()
@handle_verdict
def audit(
    source: str = typer.Argument(..., help="Tile directory or http(s) URL prefix."),
    key: str = typer.Option(..., "--key", help="The log's verifier key (string or file)."),
    previous: Path | None = typer.Option(
        None, "--previous", help="A checkpoint seen earlier; the log must extend it."
    ),
    state: Path | None = typer.Option(
        None, "--state", help="Remember the audited checkpoint here and check growth next time."
    ),
    compare: str | None = typer.Option(
        None, "--compare", help="A second copy of the log (dir or URL) to check for a fork."
    ),
    evidence_out: Path = typer.Option(
        Path("split-view-evidence.json"), "--evidence-out", help="Where split-view goes."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Verify the whole log from its public key and static tiles alone."""
    from accord.ledger.audit import audit as run_audit
    from accord.ledger.audit import compare_views
    from accord.ledger.tiles import open_source

    log_key = _verifier(key)
    if compare is not None:
        bundle = compare_views(open_source(source), open_source(compare), log_key)
        if bundle is not None:
            evidence_out.write_text(json.dumps(bundle, indent=2) + "\n")
            raise IntegrityError(
                "log", "the two copies are a split view (the log forked)", f"see {evidence_out}"
            )
    earlier = _read(previous, "--previous") if previous else None
    if earlier is None and state is not None and state.exists():
        earlier = _read(state, "--state")
    source_obj = open_source(source)
    report = run_audit(source_obj, log_key, previous=earlier)
    if state is not None:
        tmp = state.with_name(state.name + ".tmp")
        tmp.write_bytes(report.note)
        os.replace(tmp, state)
    finding = report.finding()
    if as_json:
        print_json(finding)
    else:
        console.print(f"[bold green]log verified[/]: {finding.explanation}")
