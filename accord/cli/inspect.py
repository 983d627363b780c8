"""`accord inspect`: open an inspection, upload evidence, follow it, reproduce its finding."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import typer

from accord.cli._http import load_signer, request_json
from accord.cli.output import JSON_OPTION, console, handle_errors, print_json
from accord.errors import AccordError

NAME = "inspect"
app = typer.Typer(help="Inspections: verify a declaration against evidence, on the record.")
URL_OPTION = typer.Option("http://127.0.0.1:8000", "--url", help="Registry base URL.")


def _token(token_file: Path | None) -> str:
    if token_file is None:
        raise AccordError("--token-file", "an inspector token is needed", "pass --token-file")
    try:
        return token_file.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as err:
        raise AccordError("--token-file", f"cannot read {token_file}: {err}") from None


def _show(ins: dict[str, Any]) -> None:
    pct = f" {100 * ins['progress']:.0f}%" if ins["state"] == "running" else ""
    console.print(
        f"{ins['inspection_id']}: {ins['verifier']} of log entry {ins['declaration']} — "
        f"[bold]{ins['state']}[/]{pct}"
        + (f", verdict [bold]{ins['verdict']}[/]" if ins.get("verdict") else "")
        + (f", finding at log entry {ins['finding_leaf']}" if ins.get("finding_leaf") else ""),
        highlight=False,
    )
    if ins.get("error"):
        console.print(f"  reason: {ins['error']}", highlight=False)
    for item in ins.get("evidence", []):
        console.print(f"  evidence {item['name']}: sha256 {item['sha256']}", highlight=False)
    if ins.get("evidence_needed"):
        console.print(f"  waiting for: {', '.join(ins['evidence_needed'])}", highlight=False)


@app.command("open")
@handle_errors
def open_cmd(
    declaration: int = typer.Argument(..., min=0, help="Leaf index of the declaration."),
    verifier: str = typer.Option(..., "--verifier", help="training or provenance."),
    reference: int = typer.Option(
        None, "--reference", min=0, help="Provenance: leaf index of the model to test against."
    ),
    url: str = URL_OPTION,
    token_file: Path = typer.Option(None, "--token-file", help="Inspector token file."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Open an inspection of a declaration (inspector)."""
    body: dict[str, Any] = {"declaration": declaration, "verifier": verifier}
    if reference is not None:
        body["reference"] = reference
    headers = {"authorization": f"Bearer {_token(token_file)}"}
    ins = request_json("POST", url, "/v1/inspections", json=body, headers=headers)
    if as_json:
        print_json(ins)
    else:
        _show(ins)


def _evidence_bytes(path: Path) -> bytes:
    """A file as it is, or a directory packed as a gzip tar of its contents."""
    if path.is_dir():
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w:gz") as tar:
            tar.add(path, arcname=".")
        return buf.getvalue()
    try:
        return path.read_bytes()
    except OSError as err:
        raise AccordError("FILE", f"cannot read {path}: {err.strerror}") from None


@app.command("upload")
@handle_errors
def upload(
    inspection_id: str = typer.Argument(..., help="The inspection (ins-...)."),
    name: str = typer.Argument(..., help="transcript, weights or reference."),
    file: Path = typer.Argument(..., help="The evidence file (a directory is sent as .tar.gz)."),
    url: str = URL_OPTION,
    key: Path = typer.Option(None, "--key", help="The declaring party's private key file."),
    token_file: Path = typer.Option(None, "--token-file", help="Inspector token file."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Upload one evidence item, signed with the party's key or with an inspector token."""
    import base64

    from accord.registry.inspections import upload_message
    from accord.registry.signing import utc_text

    data = _evidence_bytes(file)
    headers = {"content-type": "application/octet-stream"}
    if key is not None:
        signer = load_signer(key)
        issued = utc_text(dt.datetime.now(dt.UTC))
        digest = hashlib.sha256(data).hexdigest()
        msg = upload_message(inspection_id, name, digest, len(data), signer.name, issued)
        headers |= {
            "accord-party": signer.name,
            "accord-issued-at": issued,
            "accord-signature": base64.b64encode(signer.sign(msg)).decode(),
        }
    else:
        headers["authorization"] = f"Bearer {_token(token_file)}"
    path = f"/v1/inspections/{inspection_id}/evidence/{name}"
    ins = request_json("PUT", url, path, content=data, headers=headers)
    if as_json:
        print_json(ins)
    else:
        _show(ins)


@app.command("status")
@handle_errors
def status(
    inspection_id: str = typer.Argument(..., help="The inspection (ins-...)."),
    url: str = URL_OPTION,
    wait: float = typer.Option(0.0, "--wait", min=0, help="Seconds to wait for an outcome."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Where an inspection stands. Exit 1 when it ended in error or not consistent."""
    deadline = time.monotonic() + wait
    while True:
        ins = request_json("GET", url, f"/v1/inspections/{inspection_id}")
        if ins["state"] in ("recorded", "error") or time.monotonic() >= deadline:
            break
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    if as_json:
        print_json(ins)
    else:
        _show(ins)
    if ins["state"] == "error" or (ins["verdict"] not in (None, "consistent")):
        raise typer.Exit(1)


@app.command("list")
@handle_errors
def list_cmd(
    url: str = URL_OPTION,
    declaration: int | None = typer.Option(
        None, "--declaration", min=0, help="Only the inspections of this log entry."
    ),
    limit: int = typer.Option(50, "--limit", min=1, max=500, help="At most this many."),
    as_json: bool = JSON_OPTION,
) -> None:
    """The registry's inspections, newest first: what each checks and where it stands."""
    from rich.table import Table

    params = "" if declaration is None else f"&declaration={declaration}"
    page = request_json("GET", url, f"/v1/inspections?limit={limit}{params}")
    items = page["items"]
    if as_json:
        print_json(items)
        return
    if not items:
        console.print("no inspections")
        return
    table = Table()
    table.add_column("inspection", no_wrap=True)  # an id is copied whole, never cut
    for name in ("verifier", "declaration", "party", "state", "verdict", "finding"):
        table.add_column(name, overflow="fold")
    for ins in items:
        table.add_row(
            ins["inspection_id"],
            ins["verifier"],
            str(ins["declaration"]),
            ins["party"],
            ins["state"],
            ins.get("verdict") or "",
            "" if ins.get("finding_leaf") is None else str(ins["finding_leaf"]),
        )
    console.print(table)


def _digests(folder: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest = hashlib.sha256()
            with path.open("rb") as fh:
                while block := fh.read(1 << 20):
                    digest.update(block)
            out.setdefault(digest.hexdigest(), path)
    return out


def differences(recorded: Any, again: Any, where: str = "", rel: float = 1e-9) -> list[str]:
    """Where two findings' values differ (floats within ``rel``), as dotted paths."""
    if isinstance(recorded, dict) and isinstance(again, dict):
        out = []
        for key in sorted(set(recorded) | set(again), key=str):
            path = f"{where}.{key}" if where else str(key)
            if key not in recorded or key not in again:
                out.append(f"{path}: only in the {'recorded' if key in recorded else 'new'} run")
            else:
                out += differences(recorded[key], again[key], path, rel)
        return out
    if isinstance(recorded, list) and isinstance(again, list) and len(recorded) == len(again):
        return [
            d for i, (a, b) in enumerate(zip(recorded, again, strict=True))
            for d in differences(a, b, f"{where}[{i}]", rel)
        ]  # fmt: skip
    numbers = (int, float)
    if (
        isinstance(recorded, numbers)
        and isinstance(again, numbers)
        and not isinstance(recorded, bool)
        and math.isclose(recorded, again, rel_tol=rel)
    ):
        return []
    if recorded == again:
        return []
    return [f"{where or 'value'}: recorded {recorded!r}, now {again!r}"]


@app.command("reproduce")
@handle_errors
def reproduce(
    leaf_index: int = typer.Argument(..., min=0, help="Log entry of the inspection's finding."),
    evidence: Path = typer.Option(..., "--evidence", help="Folder holding the evidence files."),
    url: str = URL_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Re-run the verifier on the evidence; exit 0 when verdict and statistics agree."""
    from accord.registry.evidence import EvidenceError
    from accord.registry.verifiers import Case, run

    entry = request_json("GET", url, f"/v1/log/entries/{leaf_index}")["entry"]
    finding = entry.get("finding") if isinstance(entry, dict) else None
    info = (finding or {}).get("statistic", {}).get("inspection")
    if not isinstance(info, dict):
        raise AccordError("LEAF_INDEX", f"log entry {leaf_index} is not an inspection finding")
    assert finding is not None
    if not evidence.is_dir():
        raise AccordError("--evidence", f"{evidence} is not a folder")

    def body(index: int | None) -> tuple[str, dict[str, Any]] | None:
        if index is None:
            return None
        signed = request_json("GET", url, f"/v1/declarations/{index}")["signed"]["declaration"]
        return str(signed["party"]), dict(signed["body"])

    main = body(int(info["declaration"]))
    assert main is not None
    ref = body(info.get("reference"))
    named = {
        k.removeprefix("evidence:"): v
        for k, v in finding["evidence"].items()
        if k.startswith("evidence:")
    }
    have = _digests(evidence)
    missing = [f"{n} ({d})" for n, d in named.items() if d not in have]
    if missing:
        raise AccordError(
            "--evidence", f"{evidence} lacks {', '.join(missing)}", "put the evidence files there"
        )
    verifier = str(finding["verifier"]).removeprefix("verify.").split(".")[0]
    runs: tuple[dict[str, Any], ...] = ()
    reported: tuple[dict[str, Any], ...] = ()
    if verifier == "telemetry":
        from accord.registry.verify_telemetry import declared_runs, reported_runs

        size = int(info["beacon"]["tree_size"])
        runs = tuple(declared_runs(_declared_before(url, "training_run", size)))
        facility = str(main[1].get("facility_id"))
        reported = tuple(
            reported_runs(_declared_before(url, "compute_report", size), main[0], facility)
        )
    case = Case(
        runs=runs,
        reported=reported,
        inspection_id=str(info["inspection_id"]),
        verifier=verifier,
        declaration=int(info["declaration"]),
        party=main[0],
        body=main[1],
        reference=info.get("reference"),
        reference_body=ref[1] if ref else None,
        beacon_size=int(info["beacon"]["tree_size"]),
        beacon_root=str(info["beacon"]["root"]),
        evidence=named,
    )
    with tempfile.TemporaryDirectory(prefix="accord-reproduce-") as work:
        try:
            again = run(case, {n: have[d] for n, d in named.items()}, Path(work), _quiet)
        except EvidenceError as err:
            raise AccordError(err.field, err.problem, err.fix) from None
    now = again.model_dump(mode="json")
    recorded = {k: v for k, v in finding.items() if k != "evidence"}
    now.pop("evidence", None)
    for side in (recorded, now):
        side["statistic"] = {k: v for k, v in side["statistic"].items() if k != "inspection"}
    diffs = differences(recorded, now)
    if as_json:
        print_json({"verdict": now["verdict"], "same": not diffs, "differences": diffs})
    else:
        console.print(
            f"verdict [bold]{now['verdict']}[/] (recorded: {finding['verdict']}); "
            + ("statistics identical" if not diffs else f"{len(diffs)} difference(s):"),
            highlight=False,
        )
        for line in diffs[:50]:
            console.print(f"  {line}", highlight=False)
        console.print(json.dumps(now["statistic"], sort_keys=True)[:2000], highlight=False)
    if diffs:
        raise typer.Exit(1)


def _declared_before(url: str, kind: str, size: int) -> list[tuple[int, str, Any]]:
    """``(leaf, party, body)`` of every ``kind`` declaration among the first ``size`` log
    entries, read from the registry's API, in log order."""
    decls, offset = [], 0
    while True:
        page = request_json("GET", url, f"/v1/declarations?kind={kind}&limit=500&offset={offset}")
        for item in page["items"]:
            if int(item["leaf_index"]) < size:
                doc = request_json("GET", url, f"/v1/declarations/{item['leaf_index']}")
                d = doc["signed"]["declaration"]
                decls.append((int(item["leaf_index"]), str(d["party"]), d["body"]))
        offset += 500
        if offset >= int(page["total"]):
            break
    return sorted(decls, key=lambda x: x[0])


def _quiet(stage: str, done: int, total: int) -> None:
    return None
