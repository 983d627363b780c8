"""Running a verifier for an inspection: the same code in the worker and in ``reproduce``.

An inspection is fully described by a :class:`Case` (the declaration as logged, the
reference declaration if any, the beacon and the evidence digests) and the evidence files.
Everything here is a pure function of those, so anyone holding the evidence re-derives the
same verdict and statistics from the log alone (``accord inspect reproduce``).

Evidence that cannot be used as it is (not an archive, another run's transcript, weights
that are not the declared ones) raises :class:`~accord.registry.evidence.EvidenceError`:
the inspection ends in ``error`` with the reason and no finding, because unusable evidence
says nothing about the declaration and must never read as an accusation.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import accord
from accord.errors import AccordError
from accord.model.finding import Finding, Severity, Verdict
from accord.registry.evidence import EvidenceError, find_root, unpack_archive

Progress = Callable[[str, int, int], None]

VERIFIERS = ("training", "provenance", "location", "telemetry")
EVIDENCE: dict[str, dict[str, tuple[str, ...]]] = {
    # evidence name -> who may upload it ("party" = the declaring party, "inspector")
    "training": {"transcript": ("party", "inspector")},
    "provenance": {"weights": ("party", "inspector"), "reference": ("party", "inspector")},
    "location": {"landmarks": ("inspector",), "measurements": ("party", "inspector")},
    "telemetry": {"export": ("party", "inspector"), "accounts": ("party", "inspector")},
}
KINDS = {
    "training": "training_run",
    "provenance": "model_release",
    "location": "facility",
    "telemetry": "facility",
}
BEACON_DOMAIN = b"accord-inspection-beacon/1\x00"
DEFAULT_UNPACKED_LIMIT = 1 << 30
PROVENANCE_ALPHA = 0.001


def version() -> str:
    """The verifier version a finding names: the package version that ran it."""
    return accord.__version__


def beacon_bytes(root_hex: str, inspection_id: str) -> bytes:
    """An inspection's beacon from what ``GET /v1/inspections/{id}`` shows (``beacon.root``
    and the id): what landmarks need to derive their challenge nonces."""
    return hashlib.sha256(BEACON_DOMAIN + bytes.fromhex(root_hex) + inspection_id.encode()).digest()


@dataclass(frozen=True)
class Case:
    inspection_id: str
    verifier: str
    declaration: int
    party: str
    body: Mapping[str, Any]
    reference: int | None
    reference_body: Mapping[str, Any] | None
    beacon_size: int
    beacon_root: str
    evidence: Mapping[str, str]
    """Evidence name -> SHA-256 of the stored blob."""
    runs: tuple[Mapping[str, Any], ...] = ()
    """Telemetry: the training runs declared before the beacon checkpoint
    (:func:`accord.registry.verify_telemetry.declared_runs`)."""
    reported: tuple[Mapping[str, Any], ...] = ()
    """Telemetry: the customer runs the provider's compute reports for this facility list
    (:func:`accord.registry.verify_telemetry.reported_runs`), before the beacon."""

    def beacon(self) -> bytes:
        """Randomness the inspected party could not know when it declared: the root of a
        log checkpoint signed after the declaration, bound to this inspection's id (which
        the registry draws at random when the inspection opens)."""
        return beacon_bytes(self.beacon_root, self.inspection_id)

    def describe(self) -> dict[str, Any]:
        return {
            "inspection_id": self.inspection_id,
            "declaration": self.declaration,
            "reference": self.reference,
            "verifier_version": version(),
            "beacon": {"tree_size": self.beacon_size, "root": self.beacon_root},
        }


def requirements(verifier: str, body: Mapping[str, Any], ref: Mapping[str, Any] | None) -> None:
    """Refuse to open an inspection the declaration gives nothing to check against."""
    if verifier == "training":
        if body.get("phase") != "completion" or not body.get("chain_head"):
            raise AccordError(
                "declaration",
                "is not a training-run completion that declares a chain_head",
                "inspect the run's completion declaration; it must commit to chain_head",
            )
    elif verifier == "location":
        if not body.get("responder_keys"):
            raise AccordError("declaration", "is not a facility that declares responder_keys")
    elif verifier == "provenance":
        if not body.get("weights_sha256"):
            raise AccordError("declaration", "is not a model release that declares weights_sha256")
        if ref is None or not ref.get("weights_sha256"):
            raise AccordError(
                "reference",
                "must be a model release that declares weights_sha256",
                "name the leaf index of the release of the model to test against",
            )


def _jsonable(value: Any) -> Any:
    """The statistic as the log can hold it (RFC 8785 has no NaN, no infinity)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return float(value)  # RFC 8785 numbers are IEEE doubles: beyond 2^53 as one
    if isinstance(value, str | int | bool) or value is None:
        return value
    return str(value)


def _finish(case: Case, base: Finding, subject: str, explanation: str) -> Finding:
    evidence = {f"evidence:{name}": digest for name, digest in sorted(case.evidence.items())}
    evidence["beacon"] = case.beacon().hex()
    stat = json.loads(json.dumps(_jsonable(dict(base.statistic))))
    stat["inspection"] = case.describe()
    return base.model_copy(
        update={
            "subject": subject[:255],
            "statistic": stat,
            "evidence": evidence,
            "explanation": explanation,
            "p_value": base.p_value,
            "error_bound": (
                base.error_bound
                if base.error_bound is None or math.isfinite(base.error_bound)
                else None
            ),
        }
    )


def run(
    case: Case,
    paths: Mapping[str, Path],
    workdir: Path,
    progress: Progress,
    figures: dict[str, str] | None = None,
) -> Finding:
    """Run the case's verifier over the evidence files; raises EvidenceError for unusable
    evidence, never for what the evidence shows. ``figures`` receives pictures for the
    dashboard (a location map as base64 PNG) that are too big for the log."""
    missing = set(EVIDENCE[case.verifier]) - set(paths)
    if missing:
        raise EvidenceError("evidence", f"missing {sorted(missing)}")
    for name, path in paths.items():
        if _sha256(path) != case.evidence.get(name):
            raise EvidenceError(
                f"evidence.{name}", "does not hash to the digest the inspection recorded"
            )
    if case.verifier == "training":
        return _training(case, paths["transcript"], workdir, progress)
    if case.verifier == "provenance":
        return _provenance(case, paths, workdir, progress)
    if case.verifier == "telemetry":
        from accord.registry.verify_telemetry import run_telemetry

        return run_telemetry(case, paths, _finish, progress)
    if case.verifier == "location":
        from accord.registry.verify_location import run_location

        return run_location(case, paths, _finish, progress, workdir, figures)
    raise EvidenceError("verifier", f"unknown verifier {case.verifier!r}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _training(case: Case, archive: Path, workdir: Path, progress: Progress) -> Finding:
    from accord.verify.training.manifest import parse_manifest
    from accord.verify.training.transcript import parse_chain
    from accord.verify.training.verifier import verify_training

    progress("unpacking", 0, 1)
    dest = workdir / "transcript"
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    root = find_root(unpack_archive(archive, dest, DEFAULT_UNPACKED_LIMIT), "manifest.json")
    body = case.body
    run_id = str(body.get("run_id"))
    try:
        manifest = parse_manifest((root / "manifest.json").read_bytes()[: 8 << 20])
        chain = parse_chain((root / "chain.jsonl").read_bytes()[: 64 << 20])
    except (AccordError, OSError) as err:
        problem = getattr(err, "problem", type(err).__name__)
        raise EvidenceError(
            "evidence.transcript",
            f"is not a readable training transcript ({problem})",
            "upload the directory `accord training` wrote",
        ) from None
    if manifest.run_id != run_id:
        raise EvidenceError(
            "evidence.transcript",
            f"is the transcript of run {manifest.run_id[:64]!r}, not of the declared run "
            f"{run_id!r}",
            "upload the transcript of the declared run",
        )
    declared = str(body["chain_head"])
    if not chain or chain[-1][1] != declared:
        raise EvidenceError(
            "evidence.transcript",
            "does not end in the chain head the declaration commits to: it is another "
            "transcript of this run, or an incomplete one",
            f"upload the transcript whose chain head is {declared}",
        )
    found = verify_training(
        root,
        case.beacon(),
        expected_head=declared,
        declared_flops=body.get("compute_flop"),
        declared_weights_sha256=body.get("final_weights_sha256"),
        threads=1,
        progress=progress,
    )
    head = (
        f"Training run {run_id} declared by {case.party} (log entry {case.declaration}), "
        f"transcript replayed with beacon checkpoint {case.beacon_size}: "
    )
    return _finish(case, found, f"run:{case.party}:{run_id}", head + found.explanation)


def _provenance(
    case: Case, paths: Mapping[str, Path], workdir: Path, progress: Progress
) -> Finding:
    from accord.verify.provenance.api import compare_weights

    body, ref = case.body, case.reference_body or {}
    for name, declared in (
        ("weights", body.get("weights_sha256")),
        ("reference", ref.get("weights_sha256")),
    ):
        if case.evidence.get(name) != declared:
            raise EvidenceError(
                f"evidence.{name}",
                f"has SHA-256 {case.evidence.get(name)}, but the release declares {declared}",
                "upload the weights file the release's weights_sha256 names",
            )
    progress("comparing weights", 0, 1)
    # Copies with a fixed suffix: a file named .bin or .pt would be read with torch.load.
    local = {}
    for name in ("weights", "reference"):
        local[name] = workdir / f"{name}.safetensors"
        shutil.copyfile(paths[name], local[name])
    try:
        found = compare_weights(local["weights"], local["reference"], alpha=PROVENANCE_ALPHA)
    except AccordError as err:
        raise EvidenceError(
            "evidence", f"is not a model the weight test can read ({err.field}: {err.problem})"
        ) from None
    progress("comparing weights", 1, 1)
    derived = found.verdict == Verdict.INCONSISTENT  # the test's verdict on "not derived"
    name, ref_name = str(body.get("model_name")), str(ref.get("model_name"))
    origin, parent = body.get("origin"), body.get("parent_model")
    claims_this_parent = origin == "derived" and parent == ref_name
    if claims_this_parent:
        verdict = Verdict.CONSISTENT if derived else Verdict.INCONCLUSIVE
        severity = Severity.INFO if derived else Severity.LOW
        claim = f"declared as derived from {ref_name}"
    else:
        verdict = Verdict.INCONSISTENT if derived else Verdict.CONSISTENT
        severity = Severity.HIGH if derived else Severity.INFO
        claim = (
            "declared as trained from scratch"
            if origin == "scratch"
            else f"declared as derived from {parent}"
            if origin == "derived"
            else "declared without an origin"
        )
    outcome = (
        f"its weights derive from {ref_name}'s (p = {found.p_value:.3g} < {PROVENANCE_ALPHA})"
        if derived
        else f"no derivation from {ref_name} was found (p = {found.p_value:.3g})"
    )
    text = (
        f"Model {name} by {case.party} (log entry {case.declaration}), {claim}: {outcome}. "
        + found.explanation
    )
    base = found.model_copy(update={"verdict": verdict, "severity": severity})
    return _finish(case, base, f"model:{case.party}:{name}", text)
