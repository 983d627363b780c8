"""A browser (Playwright driving Debian's Chromium, headless) uses the dashboard."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import start_server, stop_server
from registry_helpers import facility, register, signed

CHROMIUM = os.environ.get("ACCORD_CHROMIUM", "/usr/bin/chromium")


def need_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: run .ci/chromium.sh")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")


ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_dashboard_shows_filed_declaration_with_proof_in_two_languages(tmp_path: Path) -> None:
    need_chromium()
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


def test_api_reference_renders_from_local_assets(tmp_path: Path) -> None:
    """/docs and /redoc draw the API reference in a browser with the site's own policy,
    and fetch nothing from outside the registry."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    server = start_server(tmp_path / "var")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page()
            outside: list[str] = []
            errors: list[str] = []
            page.on(  # the policy blocks what would leave the registry; nothing finishes
                "requestfinished",
                lambda r: (
                    outside.append(r.url)
                    if not r.url.startswith((server.url, "data:", "blob:"))
                    else None
                ),
            )
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(server.url + "/docs")
            page.wait_for_selector(".opblock-tag", timeout=30_000)
            assert page.get_by_text("/v1/declarations", exact=True).count() >= 1
            page.goto(server.url + "/redoc")
            page.wait_for_selector("h2:has-text('File a signed declaration')", timeout=30_000)
            browser.close()
        assert outside == [], outside
        blocked = [e for e in errors if "Content Security Policy" in e]
        assert all("cdn.redoc.ly" in e for e in blocked), blocked  # ReDoc's own footer logo
    finally:
        stop_server(server)


def test_demo_overview_and_balances_in_both_languages(tmp_path: Path) -> None:
    """Both demo stories on the first page; a facility's table and chart in each language."""
    need_chromium()
    from playwright.sync_api import sync_playwright

    server = start_server(tmp_path / "var", None, "--demo")
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page()
            for lang, heading in (("en", "Needs attention"), ("zh", "需要关注")):
                page.goto(server.url + f"/?lang={lang}")
                assert heading in page.content()
                text = page.locator("main").inner_text()
                assert "facility:sc-jb-1" in text  # the books that do not balance
                assert "transfer:T-2026-004" in text  # the unlicensed re-export
                page.goto(server.url + "/balances/sc-jb-1")
                rows = page.locator("table tr").all_inner_texts()
                b200 = next(r for r in rows if r.startswith("B200"))
                assert "800" in b200  # unaccounted at the September inventory
                svg = page.locator(".chart svg").inner_html()
                legend = ("book balance", "declared on hand", "book before the inventory")
                if lang == "zh":
                    legend = ("账面余额", "申报现存量", "盘存前的账面余额")
                assert all(word in svg for word in legend), svg[:200]
            browser.close()
    finally:
        stop_server(server)


def test_language_switch_keeps_filters_and_proof_form_keeps_input(tmp_path: Path) -> None:
    need_chromium()
    from playwright.sync_api import sync_playwright

    server = start_server(tmp_path / "var")
    try:
        with server.client() as c:
            key = register(c, server.token, "lab-switch")
            assert c.post("/v1/declarations", json=signed(key, "facility", facility("sw-1")))
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page()
            page.goto(server.url + "/declarations?party=lab-switch&kind=facility&lang=en")
            page.click("#switch-lang")
            assert "party=lab-switch" in page.url and "kind=facility" in page.url
            assert "lang=zh" in page.url
            page.goto(server.url + "/proof?lang=en")
            page.fill("textarea[name=leaf]", "not base64 at all")
            page.fill("input[name=leaf_index]", "seven")
            page.click("#check")
            assert page.locator("#result.bad").count() == 1
            assert page.input_value("textarea[name=leaf]") == "not base64 at all"
            assert page.input_value("input[name=leaf_index]") == "seven"
            page.goto(server.url + "/proof?leaf_index=1&lang=zh")
            page.click("#check")
            assert "第 1 条记录" in page.locator("#result.ok").inner_text()
            browser.close()
    finally:
        stop_server(server)
