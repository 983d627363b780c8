"""The dashboard: server-rendered pages (Jinja2) in English and Chinese, no JavaScript.

Every page reads the same functions as the API, so what a visitor sees is what the API
returns. The language comes from ``?lang=`` (remembered in a cookie), then the browser's
Accept-Language.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import FastAPI, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape

from accord.ledger import Verifier
from accord.ledger.note import parse_note
from accord.model.declaration import Kind
from accord.registry import i18n, inspections
from accord.registry.accountancy import (
    compute_by_party,
    country_balances,
    country_series,
    facility_balances,
    facility_series,
)
from accord.registry.charts import line_chart
from accord.registry.receipts import ReceiptCheck, check_receipt
from accord.registry.service import Registry, RegistryError
from accord.registry.verifiers import KINDS
from accord.registry.web_inspections import add_inspection_pages

_ENV = Environment(
    loader=PackageLoader("accord.registry", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _lang(request: Request) -> str:
    asked = request.query_params.get("lang")
    if asked in i18n.LANGUAGES:
        return asked
    cookie = request.cookies.get("lang")
    if cookie in i18n.LANGUAGES:
        return cookie
    accept = request.headers.get("accept-language", "").lower()
    return "zh" if accept.startswith("zh") else "en"


def add_pages(app: FastAPI, registry: Registry) -> None:
    def render(request: Request, template: str, **ctx: Any) -> HTMLResponse:
        lang = _lang(request)
        tr = i18n.translations(lang)
        other = "zh" if lang == "en" else "en"
        # The language switch keeps the page's filters (party, kind, offset, ...).
        query = {k: v for k, v in request.query_params.items() if k != "lang"}
        switch = request.url.path + "?" + urlencode({**query, "lang": other})
        html = _ENV.get_template(template).render(
            _=tr.gettext,
            lang=lang,
            other_lang=other,
            switch_url=switch,
            path=request.url.path,
            num=lambda v, d=0: i18n.number(v, lang, d),
            day=lambda v: i18n.date(v, lang),
            country=lambda c: i18n.country(c, lang),
            flop=lambda v: i18n.flop(v, lang),
            explain=lambda f: i18n.finding_text(f, lang),
            statuses=lambda items: inspections.status_by_declaration(
                registry.engine, [int(d["leaf_index"]) for d in items]
            ),
            **ctx,
        )
        resp = HTMLResponse(html)
        if request.query_params.get("lang") in i18n.LANGUAGES:
            resp.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax", httponly=True)
        return resp

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def home(request: Request) -> Response:
        from accord.registry.api import registry_declarations, registry_findings

        # Both kinds of story: books that do not balance, and high-severity rule findings
        # (an unlicensed export is inconclusive: a licence may exist outside the registry).
        serious = registry_findings(registry, None, None, None, 25, 0, attention=True)
        recent = registry_declarations(registry, None, None, None, 10, 0)
        size, _note = _latest(registry)
        return render(
            request,
            "home.html",
            serious=serious,
            recent=recent,
            size=size,
            parties=len(registry.parties),
            inspections=inspections.listing(registry.engine, None, 5, 0)["items"],
        )

    @app.get("/declarations", response_class=HTMLResponse, include_in_schema=False)
    def declarations(
        request: Request,
        party: Annotated[str | None, Query(max_length=64)] = None,
        kind: Kind | None = None,
        offset: Annotated[int, Query(ge=0, le=1 << 40)] = 0,
    ) -> Response:
        from accord.registry.api import registry_declarations

        page = registry_declarations(registry, party or None, kind, None, 50, offset)
        return render(
            request,
            "declarations.html",
            page=page,
            party=party or "",
            kind=kind.value if kind else "",
            kinds=[k.value for k in Kind],
            offset=offset,
            parties=sorted(registry.parties),
        )

    @app.get("/declarations/{leaf_index}", response_class=HTMLResponse, include_in_schema=False)
    def declaration(
        request: Request, leaf_index: Annotated[int, PathParam(ge=0, lt=1 << 62)]
    ) -> Response:
        from accord.registry.api import declaration_record

        record = declaration_record(registry, leaf_index)
        receipt = record["receipt"]
        check = check_receipt(
            receipt["leaf"],
            leaf_index,
            receipt["inclusion_proof"],
            receipt["checkpoint"],
            receipt["log_key"],
        )
        signed = record["signed"]
        return render(
            request,
            "declaration.html",
            record=record,
            receipt=receipt,
            check=check,
            decl=signed.declaration,
            body_json=json.dumps(signed.declaration.body, indent=2, ensure_ascii=False),
            receipt_json=json.dumps(
                {k: receipt[k] for k in ("leaf_index", "leaf", "inclusion_proof", "checkpoint")},
                indent=2,
            ),
            proof_text="\n".join(receipt["inclusion_proof"]),
            inspections=inspections.listing(registry.engine, leaf_index, 50, 0)["items"],
            verifiers=[v for v, k in KINDS.items() if k == signed.declaration.kind.value],
        )

    add_inspection_pages(app, registry, render)

    @app.get("/entries/{leaf_index}", include_in_schema=False)
    def entry_page(leaf_index: Annotated[int, PathParam(ge=0, lt=1 << 62)]) -> Response:
        """Where a log entry is best read: a declaration's page, an inspection's page for
        its finding, or the entry itself as the API serves it."""
        from starlette.responses import RedirectResponse

        from accord.model.declaration import DECLARATION_TYPE

        entry = registry.entry(leaf_index)
        if entry.get("type") == DECLARATION_TYPE:
            return RedirectResponse(f"/declarations/{leaf_index}", 303)
        key = str(entry.get("key", ""))
        if key.startswith("inspection:") and ":" not in key[len("inspection:") :]:
            return RedirectResponse(f"/inspections/{key[len('inspection:') :]}", 303)
        return RedirectResponse(f"/v1/log/entries/{leaf_index}", 303)

    @app.get("/balances", response_class=HTMLResponse, include_in_schema=False)
    def balances(request: Request) -> Response:
        lang = _lang(request)
        tr = i18n.translations(lang)
        countries = registry.cached(
            "countries", lambda b: [c.to_dict() for c in country_balances(b)]
        )
        from accord.registry.api import with_flags

        facilities = with_flags(
            registry, registry.cached(
                "facilities", lambda b: [f.to_dict() for f in facility_balances(b)]
            )
        )  # fmt: skip
        series = registry.cached("series", country_series)
        chart = line_chart(
            {c: [(d, float(n)) for d, n in pts] for c, pts in series.items()},
            tr.gettext("Chips on the books per country"),
            tr.gettext("chips"),
        )
        return render(
            request, "balances.html", countries=countries, facilities=facilities, chart=chart
        )

    @app.get("/balances/{facility_id}", response_class=HTMLResponse, include_in_schema=False)
    def facility(
        request: Request, facility_id: Annotated[str, PathParam(max_length=64)]
    ) -> Response:
        lang = _lang(request)
        tr = i18n.translations(lang)
        facilities = registry.cached(
            "facilities", lambda b: [f.to_dict() for f in facility_balances(b)]
        )
        found = next((f for f in facilities if f["facility_id"] == facility_id), None)
        if found is None:
            raise RegistryError(404, "facility_id", f"no facility {facility_id!r}")
        timeline = registry.cached(
            f"facility-series:{facility_id}", lambda b: facility_series(b, facility_id)
        )
        chart = line_chart(
            {tr.gettext("book balance"): [(d, float(n)) for d, n in timeline.book]},
            facility_id,
            tr.gettext("chips"),
            markers={
                tr.gettext("declared on hand"): [(d, float(n)) for d, n in timeline.declared],
                tr.gettext("book before the inventory"): [
                    (d, float(n)) for d, n in timeline.expected
                ],
            },
        )
        from accord.registry.api import registry_declarations, registry_findings

        return render(
            request,
            "facility.html",
            f=found,
            chart=chart,
            findings=registry_findings(registry, None, None, f"facility:{facility_id}", 50, 0),
            recent=registry_declarations(registry, None, None, facility_id, 50, 0),
        )

    @app.get("/findings", response_class=HTMLResponse, include_in_schema=False)
    def findings(
        request: Request,
        severity: Annotated[str | None, Query(pattern="^(|info|low|medium|high|critical)$")] = None,
        verdict: Annotated[
            str | None, Query(pattern="^(|consistent|inconsistent|inconclusive)$")
        ] = None,
    ) -> Response:
        from accord.registry.api import registry_findings

        page = registry_findings(registry, severity or None, verdict or None, None, 200, 0)
        return render(
            request,
            "findings.html",
            page=page,
            severity=severity or "",
            verdict=verdict or "",
        )

    @app.get("/compute", response_class=HTMLResponse, include_in_schema=False)
    def compute(request: Request) -> Response:
        return render(request, "compute.html", parties=registry.cached("compute", compute_by_party))

    @app.get("/log", response_class=HTMLResponse, include_in_schema=False)
    def log(request: Request) -> Response:
        note_text = registry.cosigned_checkpoint()
        note = parse_note(note_text.encode())
        keys: dict[tuple[str, int], tuple[str, Verifier]] = {
            (registry.log_key.name, registry.log_key.key_id): ("log", registry.log_key)
        }
        for w in registry.settings.witness_keys:
            keys[(w.name, w.key_id)] = ("witness", w)
        sigs = []
        for sig in note.signatures:
            known = keys.get((sig.name, sig.key_id))
            ok = bool(known and known[1].verify(note.text, sig.signature))
            sigs.append({"name": sig.name, "role": known[0] if known else "unknown", "ok": ok})
        lines = note.text.decode().splitlines()
        return render(
            request,
            "log.html",
            note=note_text,
            origin=lines[0],
            size=int(lines[1]),
            root=lines[2],
            sigs=sigs,
            log_key=registry.log_key.vkey,
        )

    @app.get("/proof", response_class=HTMLResponse, include_in_schema=False)
    def proof_form(
        request: Request,
        leaf_index: Annotated[int | None, Query(ge=0, lt=1 << 62)] = None,
    ) -> Response:
        prefill = {"leaf": "", "leaf_index": "", "proof": "", "checkpoint": ""}
        if leaf_index is not None:
            receipt = registry.receipt(leaf_index)
            prefill = {
                "leaf": receipt["leaf"],
                "leaf_index": str(leaf_index),
                "proof": "\n".join(receipt["inclusion_proof"]),
                "checkpoint": receipt["checkpoint"],
            }
        return render(
            request, "proof.html", prefill=prefill, result=None, log_key=registry.log_key.vkey
        )

    @app.post("/proof", response_class=HTMLResponse, include_in_schema=False)
    def proof_check(
        request: Request,
        leaf: Annotated[str, Form(max_length=100_000)] = "",
        leaf_index: Annotated[str, Form(max_length=20)] = "",
        checkpoint: Annotated[str, Form(max_length=100_000)] = "",
        proof: Annotated[str, Form(max_length=10_000)] = "",
    ) -> Response:
        # Everything is read as text, so a mistyped field gets an answer on the page with
        # the form as it was typed, never a JSON error and an emptied form.
        hashes = [line.strip() for line in proof.splitlines() if line.strip()]
        note = checkpoint.replace("\r\n", "\n")
        if not note.endswith("\n"):
            note += "\n"
        index = int(leaf_index.strip()) if leaf_index.strip().isdigit() else None
        if index is None:
            result = ReceiptCheck(False, "leaf_index", "must be a whole number, 0 or more")
        else:
            result = check_receipt(leaf.strip(), index, hashes, note, registry.log_key.vkey)
        prefill = {
            "leaf": leaf,
            "leaf_index": leaf_index,
            "proof": proof,
            "checkpoint": checkpoint,
        }
        return render(
            request, "proof.html", prefill=prefill, result=result, log_key=registry.log_key.vkey
        )


def _latest(registry: Registry) -> tuple[int, str]:
    try:
        size, note = registry.latest_checkpoint()
    except Exception:
        return 0, ""
    return size, note.decode()


def today() -> dt.date:
    return dt.date.today()
