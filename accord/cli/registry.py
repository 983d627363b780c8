"""`accord registry ...`: party keys, signing and filing declarations, receipts, the demo."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from accord.cli._http import load_signer, request_json
from accord.cli.output import JSON_OPTION, console, err_console, handle_errors, print_json
from accord.errors import AccordError

if TYPE_CHECKING:
    from accord.ledger import Verifier
    from accord.registry.receipts import ReceiptReport

NAME = "registry"
app = typer.Typer(help="Safeguards registry: keys, declarations, receipts, the demo year.")


@app.command("keygen")
@handle_errors
def keygen(
    party: str = typer.Argument(..., help="Party id, e.g. frontier-us."),
    out: Path = typer.Option(..., "--out", help="File for the private key (mode 0600)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a party's Ed25519 key; prints the public key to register with the inspectorate."""
    from accord.registry.signing import party_key

    if out.exists():
        raise AccordError("--out", f"{out} exists", "choose a new file; keys are never overwritten")
    key = party_key(party)
    out.write_text(key.skey + "\n", encoding="ascii")
    out.chmod(0o600)
    result = {"party": party, "vkey": key.verifier.vkey, "key_file": str(out)}
    if as_json:
        print_json(result)
    else:
        console.print(f"public key: {key.verifier.vkey}")


@app.command("sign")
@handle_errors
def sign_cmd(
    kind: str = typer.Argument(..., help="facility, chip_inventory, cluster, transfer, ..."),
    body: Path = typer.Argument(..., help="JSON file with the declaration body."),
    key: Path = typer.Option(..., "--key", help="The party's private key file."),
    out: Path = typer.Option(None, "--out", help="Write the signed declaration here."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Sign a declaration body as the key's party (fresh nonce, issued now)."""
    from accord.model.declaration import loads_strict, parse_body
    from accord.registry.signing import make_declaration, sign

    signer = load_signer(key)
    data = loads_strict(body.read_bytes())
    if not isinstance(data, dict):
        raise AccordError("body", "must be a JSON object")
    decl = make_declaration(signer.name, kind, data)
    parse_body(decl.kind, decl.body)
    signed = sign(decl, signer)
    text = signed.model_dump_json(indent=2)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
    if as_json or not out:
        print_json(json.loads(text))


MAX_RECEIPT_BYTES = 64 << 20


def _read_file(path: Path, what: str, fix: str, limit: int = MAX_RECEIPT_BYTES) -> bytes:
    """A user-named file's bytes, or one line saying what is wrong and how to fix it."""
    try:
        if path.stat().st_size > limit:
            raise AccordError(what, f"{path} is larger than {limit} bytes", fix)
        return path.read_bytes()
    except FileNotFoundError:
        raise AccordError(what, f"{path} does not exist", fix) from None
    except IsADirectoryError:
        raise AccordError(what, f"{path} is a directory", fix) from None
    except OSError as err:
        raise AccordError(what, f"cannot read {path}: {err.strerror}", fix) from None


def _json_file(path: Path, what: str, fix: str) -> object:
    from accord.model.declaration import loads_strict

    raw = _read_file(path, what, fix)
    try:
        return loads_strict(raw)
    except AccordError as err:
        raise AccordError(what, f"{path} {err.problem}", fix) from None


def _pinned_key(value: str, option: str) -> Verifier:
    """A verifier key given as its text or as a file holding it (never from a receipt)."""
    from accord.registry.receipts import parse_key

    fix = "pass the key text (name+hex8+base64) or a file holding it"
    path = Path(value)
    try:
        is_file = path.is_file()
    except (OSError, ValueError):
        is_file = False
    if is_file:
        try:
            text = _read_file(path, option, fix, 64 << 10).decode("ascii")
        except UnicodeDecodeError:
            raise AccordError(option, f"{path} is not a key file (not ASCII)", fix) from None
    elif "+" in value:
        text = value
    else:
        raise AccordError(option, f"{value!r} is neither a file nor a key", fix)
    try:
        return parse_key(text, option)
    except AccordError as err:
        raise AccordError(option, err.problem, err.fix or fix) from None


def _report(report: ReceiptReport, as_json: bool, party_hint: bool = True) -> None:
    """Print every check; exit 1 when one failed (a receipt that does not hold)."""
    if as_json:
        print_json(report.to_dict())
    else:
        marks = {"pass": "[green]  ok[/]", "fail": "[bold red]FAIL[/]", "not checked": "  --"}
        for step in report.steps:
            line = f"{marks[step.status]} {step.field}: {step.detail}"
            console.print(line, highlight=False, soft_wrap=True)
        if report.valid:
            console.print(f"holds: {report.reason}", highlight=False)
            if (
                party_hint
                and report.party
                and any(s.field.endswith("leaf.signature") for s in report.unchecked)
            ):
                console.print(
                    f"to check {report.party}'s signature too, pass --party-key", highlight=False
                )
    if not report.valid:
        first = report.failures[0]
        err_console.print(
            f"[bold red]does not hold[/] {first.field}: {first.detail}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)


LOG_KEY_HELP = (
    "The log's public key (text or file), from the inspectorate; never taken from a receipt."
)


@app.command("submit")
@handle_errors
def submit(
    signed: Path = typer.Argument(..., help="Signed declaration (from `accord registry sign`)."),
    log_key: str = typer.Option(..., "--log-key", help=LOG_KEY_HELP),
    url: str = typer.Option("http://127.0.0.1:8000", help="Registry base URL."),
    receipt: Path = typer.Option(None, "--receipt", help="Save the receipt here."),
    as_json: bool = JSON_OPTION,
) -> None:
    """File a signed declaration; reports success only if the whole receipt checks out."""

    from accord.model.declaration import parse_signed
    from accord.registry.receipts import check_receipt_document

    pinned = _pinned_key(log_key, "--log-key")
    raw = _read_file(signed, "SIGNED", "sign one with `accord registry sign`", 1 << 20)
    mine = parse_signed(raw)
    data = request_json(
        "POST",
        url,
        "/v1/declarations",
        ok=lambda status: status == 201,
        timeout=60,
        content=raw,
        headers={"content-type": "application/json"},
    )
    report = check_receipt_document(data, pinned, submitted=mine)
    if report.valid and receipt:
        receipt.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if not report.valid or as_json:
        _report(report, as_json, party_hint=False)
    else:
        console.print(
            f"accepted as log entry {report.leaf_index}; receipt checked against the pinned "
            f"log key ({len(report.steps)} checks, {report.findings} finding(s))",
            highlight=False,
        )


@app.command("verify")
@handle_errors
def verify(
    receipt: Path = typer.Argument(
        ..., help="Receipt JSON: the answer to a filing, or GET /v1/declarations/{i}."
    ),
    log_key: str = typer.Option(..., "--log-key", help=LOG_KEY_HELP),
    party_key: str = typer.Option(
        None, "--party-key", help="The declaring party's public key (text or file)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Check a receipt offline: every field, the proofs, the findings, the party's signature.

    Exit status 0: the receipt holds; 1: a check failed (named); 2: bad input.
    """
    from accord.registry.receipts import check_receipt_document

    pinned = _pinned_key(log_key, "--log-key")
    party = _pinned_key(party_key, "--party-key") if party_key is not None else None
    doc = _json_file(
        receipt,
        "RECEIPT",
        "save the registry's answer to POST /v1/declarations (or GET /v1/declarations/{i}) "
        "to a file and pass its path",
    )
    _report(check_receipt_document(doc, pinned, party), as_json)


@app.command("demo")
@handle_errors
def demo(
    out: Path = typer.Option(..., "--out", help="Empty directory to build the demo registry in."),
    seeded: bool = typer.Option(
        False,
        "--seeded",
        help="Derive every key from a public seed (same root hash each build; insecure).",
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Build the demonstration year (fresh keys under OUT/keys), print what it found, exit."""
    from accord.registry.demo import build, summary

    with console.status("building the demonstration year and running its inspections…"):
        built = build(out, seeded=seeded)
    try:
        info = summary(built.registry)
    finally:
        built.registry.close()
    if as_json:
        print_json(info)
        return
    console.print(
        f"demo registry in {out}: {info['parties']} parties, log size {info['log_size']}, "
        f"root {info['root']}"
    )
    console.print(f"findings by severity: {info['findings_by_severity']}")
    for i in info["inspections"]:
        console.print(
            f"inspection {i['inspection_id']}: {i['verifier']} of declaration "
            f"{i['declaration']} — {i['verdict'] or i['state']} (finding {i['finding_leaf']})",
            highlight=False,
        )
    for f in info["high"]:
        console.print(f"[bold red]{f['subject']}[/]: {f['explanation']}", highlight=False)
    console.print(f"browse it: accord serve --demo --var {out}")


@app.command("token")
@handle_errors
def token(
    label: str = typer.Argument(..., help="Who holds the token."),
    var: Path = typer.Option(Path("var"), help="The registry's directory."),
    db: str = typer.Option(None, "--db", help="Database URL."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create an inspector token (printed once; only its hash is stored)."""
    from accord.registry import db as regdb

    engine = regdb.open_engine(db or f"sqlite:///{var / 'registry.sqlite'}")
    regdb.migrate(engine)
    import datetime as dt
    import hashlib
    import secrets

    from sqlalchemy import insert

    secret = "acc_" + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(
            insert(regdb.tokens).values(
                token_hash=hashlib.sha256(secret.encode()).hexdigest(),
                label=label[:200],
                scope="inspector",
                created_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
        )
    engine.dispose()
    if as_json:
        print_json({"label": label, "token": secret})
    else:
        typer.echo(secret)
