"""A browser (Playwright, Debian's Chromium, headless) follows a declaration to its
inspection and reads it in English and Chinese."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import start_server, stop_server
from inspection_helpers import location_evidence
from registry_helpers import register, signed
from test_registry_browser import ARGS, CHROMIUM

from accord.ledger import Signer
from accord.ledger.note import ALG_ED25519
from accord.registry.jobs import Jobs
from accord.registry.verifiers import beacon_bytes


def test_inspection_pages_in_two_languages(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: run .ci/chromium.sh")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    var = tmp_path / "var"
    server = start_server(var)
    try:
        auth = {"authorization": f"Bearer {server.token}"}
        responder = Signer.generate("resp.sc-jb-1", ALG_ED25519)
        with server.client() as c:
            key = register(c, server.token, "straits", country="MY", role="cloud")
            body = {"facility_id": "sc-jb-1", "name": "Johor Bahru", "country": "MY",
                    "responder_keys": [responder.verifier.vkey]}  # fmt: skip
            index = c.post("/v1/declarations", json=signed(key, "facility", body)).json()[
                "leaf_index"
            ]
            ins = c.post(
                "/v1/inspections", json={"declaration": index, "verifier": "location"}, headers=auth
            ).json()
            ident = ins["inspection_id"]
            beacon = beacon_bytes(ins["beacon"]["root"], ident)
            landmarks, records = location_evidence(beacon, responder, at=(22.543, 114.058))
            for name, data in (("landmarks", landmarks), ("measurements", records)):
                url = f"/v1/inspections/{ident}/evidence/{name}"
                assert c.put(url, content=data, headers=auth).status_code == 201
            # the job function `accord worker` runs, here in the test's own process
            Jobs(f"sqlite:///{var.resolve() / 'registry.sqlite'}", var)._run(ident)
            deadline = time.monotonic() + 30
            while (done := c.get(f"/v1/inspections/{ident}").json())["state"] != "recorded":
                assert time.monotonic() < deadline, "the server did not record the finding"
                time.sleep(0.2)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page()
            page.goto(server.url + "/declarations?lang=en")
            status = page.locator(f"a[href='/inspections/{ident}']")
            assert status.inner_text() == "inconsistent"
            status.click()
            assert ident in page.locator("h1").inner_text()
            assert (
                "cannot be in the claimed country"
                in page.locator("#inspection-report").inner_text()
            )
            assert page.locator("img.map").count() == 1
            assert (
                f"accord inspect reproduce {done['finding_leaf']} "
                in page.locator("#reproduce").inner_text()
            )
            page.click("#switch-lang")
            assert page.locator("h1").inner_text().startswith("核查")
            assert page.locator("#inspection-summary").inner_text() == "结论: 不一致"
            page.goto(server.url + f"/declarations/{index}")
            assert "不一致" in page.locator("#declaration-inspections").inner_text()
            # the inspectorate opens a second inspection from the page itself
            page.click("#open-inspection summary")
            page.select_option("select[name=verifier]", "telemetry")
            page.fill("input[name=token]", server.token)
            page.click("#open-inspection button")
            assert page.url.startswith(server.url + "/inspections/ins-")
            assert "等待" in page.locator("#inspection-state").inner_text()
            browser.close()
    finally:
        stop_server(server)
