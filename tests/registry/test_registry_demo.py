"""The demo year is deterministic, its diversion is found, and the docs match the code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from accord.registry.api import create_app
from accord.registry.demo import build, summary
from accord.registry.openapi import render

ROOT = Path(__file__).resolve().parents[2]


def test_demo_is_deterministic_and_finds_the_diversion(tmp_path: Path) -> None:
    roots = []
    for name in ("one", "two"):
        built = build(tmp_path / name, seeded=True, inspections=False)
        try:
            info = summary(built.registry)
        finally:
            built.registry.close()
        roots.append(info["root"])
    assert roots[0] == roots[1]
    subjects = {f["subject"] for f in info["high"]}
    assert {"facility:sc-jb-1", "transfer:T-2026-004"} <= subjects
    assert sorted(f["subject"] for f in info["inconsistent"]) == [
        "facility:sc-jb-1",
        "incident:frontier-us:fa-2026-0011",  # never reported within SB 53's 15 days
    ]


def test_demo_year_is_verified_end_to_end(tmp_path: Path) -> None:
    """Five real verifier runs: each verdict, and what each feeds into the accountancy."""
    built = build(tmp_path / "demo")
    try:
        info = summary(built.registry)
        client = TestClient(create_app(built.registry))
        findings = client.get("/v1/findings", params={"limit": 500}).json()["items"]
        balances = client.get("/v1/balances/facilities").json()
        home = client.get("/?lang=zh").text
        pages = {
            i["inspection_id"]: client.get(f"/inspections/{i['inspection_id']}?lang=zh").text
            for i in info["inspections"]
        }
    finally:
        built.registry.close()
    got = [(i["verifier"], i["state"], i["verdict"]) for i in info["inspections"]]
    assert got == [
        ("training", "recorded", "consistent"),
        ("training", "recorded", "inconsistent"),
        ("provenance", "recorded", "inconsistent"),
        ("telemetry", "recorded", "inconsistent"),
        ("location", "recorded", "inconsistent"),
    ]
    by_verifier: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        by_verifier.setdefault(f["verifier"], []).append(f)
    runs = {f["subject"]: f for f in by_verifier["verify.training"]}
    assert runs["run:frontier-us:frontier-7-probe"]["verdict"] == "consistent"
    assert "compute check failed" in runs["run:dragon-ai:dragon-3-probe"]["explanation"]
    [controls] = by_verifier["registry.rules.provenance"]
    assert controls["subject"] == "model:dragon-ai:Dragon-3"
    assert "eu-ai-act-2024" in controls["statistic"]["rule_sets"]
    [balance] = by_verifier["registry.accountancy.location"]
    assert balance["subject"] == "facility:sc-jb-1"
    site = next(b for b in balances if b["facility_id"] == "sc-jb-1")
    assert site["flags"] == [balance["leaf_index"]]
    telemetry = {f["subject"]: f["verdict"] for f in by_verifier["registry.accountancy.telemetry"]}
    assert telemetry == {"party:straits-cloud": "inconsistent", "party:dragon-ai": "inconclusive"}
    for page in pages.values():
        assert "accord inspect reproduce" in page
    assert home.count('<li><a href="/inspections/ins-') == 5 and "最新核查" in home


def test_cli_demo_prints_summary(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "accord.cli.main",
            "registry",
            "demo",
            "--out",
            str(tmp_path / "d"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    info = json.loads(proc.stdout)
    assert [i["verdict"] for i in info["inspections"]] == [
        "consistent", "inconsistent", "inconsistent", "inconsistent", "inconsistent",
    ]  # fmt: skip
    subjects = {f["subject"] for f in info["high"]}
    assert {"facility:sc-jb-1", "transfer:T-2026-004", "model:dragon-ai:Dragon-3"} <= subjects
    again = subprocess.run(
        [sys.executable, "-m", "accord.cli.main", "registry", "demo", "--out", str(tmp_path / "d")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert again.returncode == 2 and "already holds a registry" in again.stderr


def test_cli_sign_submit_verify_round_trip(tmp_path: Path) -> None:
    import httpx
    from conftest import start_server, stop_server
    from registry_helpers import register

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cli = [sys.executable, "-m", "accord.cli.main", "registry"]
    server = start_server(tmp_path / "var")
    try:
        keyfile = tmp_path / "lab.key"
        out = subprocess.run(
            [*cli, "keygen", "lab-cli", "--out", str(keyfile), "--json"],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
        )
        vkey = json.loads(out.stdout)["vkey"]
        with httpx.Client(base_url=server.url) as c:
            resp = c.post(
                "/v1/parties",
                json={
                    "party_id": "lab-cli",
                    "name": "L",
                    "role": "lab",
                    "country": "US",
                    "vkey": vkey,
                },
                headers={"authorization": f"Bearer {server.token}"},
            )
            assert resp.status_code == 201
        body = tmp_path / "body.json"
        body.write_text(json.dumps({"facility_id": "cli-1", "name": "CLI site", "country": "US"}))
        signed = tmp_path / "signed.json"
        assert (
            subprocess.run(
                [*cli, "sign", "facility", str(body), "--key", str(keyfile), "--out", str(signed)],
                env=env,
                cwd=ROOT,
            ).returncode
            == 0
        )
        receipt = tmp_path / "receipt.json"
        log_key = httpx.get(server.url + "/v1/log/key").text.strip()
        assert (
            subprocess.run(
                [
                    *cli,
                    "submit",
                    str(signed),
                    "--url",
                    server.url,
                    "--log-key",
                    log_key,
                    "--receipt",
                    str(receipt),
                ],
                env=env,
                cwd=ROOT,
            ).returncode
            == 0
        )
        ok = subprocess.run(
            [*cli, "verify", str(receipt), "--log-key", log_key, "--json"],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert ok.returncode == 0 and json.loads(ok.stdout)["valid"] is True
        bad = subprocess.run(
            [*cli, "verify", str(receipt), "--log-key", vkey],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
        )
        assert bad.returncode == 1  # a key that parses but did not sign: the check fails
    finally:
        stop_server(server)
    del register


def test_openapi_document_is_current() -> None:
    assert (ROOT / "docs" / "openapi.json").read_text(encoding="utf-8") == render()


def test_every_dashboard_string_has_a_chinese_translation() -> None:
    import re

    from accord.registry.i18n import catalog_ids

    zh = catalog_ids("zh")
    used = set()
    for tpl in (ROOT / "accord" / "registry" / "templates").glob("*.html"):
        used |= set(re.findall(r'_\("([^"]+)"\)', tpl.read_text(encoding="utf-8")))
    used |= {
        "info",
        "low",
        "medium",
        "high",
        "critical",
        "consistent",
        "inconsistent",
        "inconclusive",
        # inspection pages: verifier and evidence names, and the figures' labels
        "training",
        "provenance",
        "location",
        "landmarks",
        "measurements",
        "telemetry",
        "export",
        "accounts",
        "Large runs across accounts",
        "date",
        "Threshold",
        "transcript",
        "weights",
        "reference",
        "Verdict",
        "Replay distance per segment",
        "relative distance",
        "tolerance",
        "Largest replay distance",
        "Tolerance",
        "Segments replayed",
        "Weight-test p-values",
        "p-value",
    }
    missing = sorted(s for s in used if not zh.get(s))
    assert not missing, missing


def test_every_finding_message_has_a_chinese_translation_with_the_same_values() -> None:
    from accord.registry.i18n import catalog_messages
    from accord.registry.messages import MESSAGES, placeholders

    zh = catalog_messages("zh")
    assert set(zh) == set(MESSAGES), "catalogue contexts and message ids differ"
    for ident, spec in MESSAGES.items():
        msgid, msgstr = zh[ident]
        assert msgid == spec.english, f"{ident}: msgid is not the current English template"
        assert msgstr and msgstr != msgid, f"{ident} is untranslated"
        assert placeholders(spec.english) == set(spec.params), ident
        assert placeholders(msgstr) == set(spec.params), f"{ident}: translation's placeholders"
