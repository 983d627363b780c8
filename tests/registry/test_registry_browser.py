"""A browser (Playwright driving Debian's Chromium, headless) uses the dashboard."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import start_server, stop_server
from registry_helpers import facility, register, signed

CHROMIUM = os.environ.get("ACCORD_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_dashboard_shows_filed_declaration_with_proof_in_two_languages(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: run .ci/chromium.sh")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    server = start_server(tmp_path / "var")
    try:
        with server.client() as c:
            key = register(c, server.token, "lab-browser")
            resp = c.post("/v1/declarations", json=signed(key, "facility", facility("br-1")))
            assert resp.status_code == 201
            index = resp.json()["leaf_index"]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page()
            page.goto(server.url + "/?lang=en")
            page.click("text=Declarations")
            row = page.locator(f"table.declarations a:text-is('{index}')")
            assert row.count() == 1
            row.click()
            assert page.locator("#proof-status.ok").count() == 1
            assert "lab-browser" in page.content()
            page.click("text=Check it in the proof checker")
            page.click("#check")
            assert page.locator("#result.ok").count() == 1
            page.click("#switch-lang")
            assert "证明核验器" in page.locator("h1").inner_text()
            page.goto(server.url + "/declarations")  # the cookie keeps Chinese
            assert page.locator("h1").inner_text() == "申报"
            page.goto(server.url + f"/declarations/{index}")
            assert "服务器已核验" in page.locator("#proof-status").inner_text()
            browser.close()
    finally:
        stop_server(server)
