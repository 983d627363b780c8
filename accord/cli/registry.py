"""`accord registry ...`: party keys, signing and filing declarations, receipts, the demo."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from accord.cli.output import JSON_OPTION, console, handle_errors, print_json
from accord.errors import AccordError

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


def _load_key(path: Path) -> object:
    from accord.ledger import Signer

    try:
        return Signer.parse(path.read_text(encoding="ascii"))
    except OSError as err:
        raise AccordError("--key", f"cannot read {path}: {err.strerror}") from None


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
    from accord.ledger import Signer
    from accord.model.declaration import loads_strict, parse_body
    from accord.registry.signing import make_declaration, sign

    signer = _load_key(key)
    assert isinstance(signer, Signer)
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


@app.command("submit")
@handle_errors
def submit(
    signed: Path = typer.Argument(..., help="Signed declaration (from `accord registry sign`)."),
    url: str = typer.Option("http://127.0.0.1:8000", help="Registry base URL."),
    receipt: Path = typer.Option(None, "--receipt", help="Save the receipt here."),
    as_json: bool = JSON_OPTION,
) -> None:
    """File a signed declaration; verifies the receipt before reporting success."""
    import httpx

    from accord.registry.receipts import check_receipt

    resp = httpx.post(
        url.rstrip("/") + "/v1/declarations",
        content=signed.read_bytes(),
        headers={"content-type": "application/json"},
        timeout=60,
    )
    data = resp.json()
    if resp.status_code != 201:
        err = data.get("error", {})
        raise AccordError(err.get("field", "response"), err.get("problem", resp.text[:200]))
    check = check_receipt(
        data["leaf"],
        data["leaf_index"],
        data["inclusion_proof"],
        data["checkpoint"],
        data["log_key"],
    )
    if not check.valid:
        raise AccordError("receipt", f"does not verify: {check.reason}")
    if receipt:
        receipt.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if as_json:
        print_json(data)
    else:
        console.print(f"accepted as log entry {data['leaf_index']} (proof verified)")


@app.command("verify")
@handle_errors
def verify(
    receipt: Path = typer.Argument(..., help="Receipt JSON (leaf, leaf_index, proof, checkpoint)."),
    log_key: str = typer.Option(..., "--log-key", help="The log's verifier key."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Check a receipt offline: checkpoint signature, inclusion proof, party signature."""
    import base64

    from accord.model.declaration import loads_strict
    from accord.registry.receipts import check_receipt

    data = loads_strict(receipt.read_bytes())
    if not isinstance(data, dict):
        raise AccordError("receipt", "must be a JSON object")
    try:
        result = check_receipt(
            data["leaf"],
            int(data["leaf_index"]),
            list(data["inclusion_proof"]),
            data["checkpoint"],
            log_key,
        )
    except (KeyError, TypeError, ValueError):
        raise AccordError(
            "receipt", "needs leaf, leaf_index, inclusion_proof, checkpoint"
        ) from None
    if not result.valid:
        raise AccordError(result.field or "receipt", result.reason)
    entry = json.loads(base64.b64decode(data["leaf"]))
    out = {**result.to_dict(), "type": entry.get("type")}
    if as_json:
        print_json(out)
    else:
        console.print(f"valid: {result.reason}")


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
