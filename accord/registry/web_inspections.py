"""Dashboard pages of inspections: the list, and one inspection with its figures.

The verifier's report is the signed English explanation; the page states the outcome in
the reader's language and draws the figures that decide it (replay distances against the
tolerance, p-values against alpha) so nobody has to read them out of a table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import FastAPI, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from accord.errors import AccordError
from accord.registry import i18n
from accord.registry import inspections as ins
from accord.registry.charts import bar_chart, timeline_chart
from accord.registry.service import Registry

ID_PATTERN = r"^ins-[0-9a-f]{16}$"


def _figures(
    finding: dict[str, Any], gettext: Callable[[str], str], lang: str
) -> tuple[str, list[tuple[str, str]]]:
    stat = finding.get("statistic", {})
    verifier = str(finding.get("verifier", ""))
    if verifier == "verify.training":
        replays = [r for r in stat.get("replays", []) if isinstance(r, dict)]
        tol = float(stat.get("tolerance_relative", 0.0))
        chart = ""
        if replays:
            chart = bar_chart(
                [f"{r.get('segment')} ({r.get('kind', '')})" for r in replays],
                [float(r.get("relative", 0.0)) for r in replays],
                gettext("Replay distance per segment"),
                gettext("relative distance"),
                limit=(gettext("tolerance"), tol),
            )
        largest = float(stat.get("max_relative_distance", 0.0) or 0.0)
        figures = [
            (gettext("Largest replay distance"), i18n.number(largest, lang, 6)),
            (gettext("Tolerance"), i18n.number(tol, lang, 6)),
            (gettext("Segments replayed"), i18n.number(len(replays), lang)),
        ]
        return chart, figures
    if verifier.startswith("verify.provenance"):
        tests = [t for t in stat.get("tests", []) if isinstance(t, dict)]
        alpha = float(stat.get("alpha", 0.001))
        chart = ""
        if tests:
            chart = bar_chart(
                [str(t.get("test", t.get("name", i))) for i, t in enumerate(tests)],
                [float(t.get("p_value", 1.0)) for t in tests],
                gettext("Weight-test p-values"),
                "p",
                limit=("alpha", alpha),
                log_scale=True,
            )
        p = finding.get("p_value")
        figures = [(gettext("p-value"), f"{p:.3g}" if isinstance(p, float) else "-")]
        figures.append(("alpha", f"{alpha:g}"))
        return chart, figures
    if verifier == "verify.telemetry":
        return _telemetry(stat, gettext, lang)
    return "", []


def _telemetry(
    stat: dict[str, Any], gettext: Callable[[str], str], lang: str
) -> tuple[str, list[tuple[str, str]]]:
    entities = [e for e in stat.get("entities", []) if isinstance(e, dict)]
    rows = []
    for e in entities:
        for r in e.get("statistic", {}).get("large_runs", []):
            if isinstance(r, dict) and isinstance(r.get("start"), int | float):
                start = float(r["start"])
                end = float(r["end"]) if isinstance(r.get("end"), int | float) else start
                rows.append((str(r.get("account")), start, end, str(r.get("name", ""))))
    chart = (
        timeline_chart(rows, gettext("Large runs across accounts"), gettext("date")) if rows else ""
    )
    figures = [(gettext("Threshold"), f"{float(stat.get('threshold', 0)):.3g} FLOP")]
    for e in entities:
        s = e.get("statistic", {})
        figures.append(
            (
                ", ".join(str(a) for a in s.get("accounts", [])),
                f"{gettext(str(e.get('verdict')))}: {float(s.get('flop_lo', 0)):.3g}"
                f" – {float(s.get('flop_hi', 0)):.3g} FLOP",
            )
        )
    return chart, figures


def add_inspection_pages(
    app: FastAPI, registry: Registry, render: Callable[..., HTMLResponse]
) -> None:
    @app.get("/inspections", response_class=HTMLResponse, include_in_schema=False)
    def inspections(request: Request) -> Response:
        return render(
            request, "inspections.html", items=ins.listing(registry.engine, None, 200, 0)["items"]
        )

    @app.post(
        "/declarations/{leaf_index}/inspections",
        response_class=HTMLResponse,
        include_in_schema=False,
    )
    def open_from_form(
        request: Request,
        leaf_index: Annotated[int, PathParam(ge=0, lt=1 << 62)],
        verifier: Annotated[str, Form(max_length=32)] = "",
        reference: Annotated[str, Form(max_length=20)] = "",
        token: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        """The inspectorate opens an inspection from the declaration's page. The token is a
        form field, never a cookie, so no other site can open one with a visitor's rights."""
        problem: tuple[str, str, str | None] | None = None
        if registry.token_scope(token.strip()) != "inspector":
            problem = ("token", "is not a valid inspector token", "paste an inspector token")
        elif reference.strip() and not reference.strip().isdigit():
            problem = ("reference", "must be a leaf index (a whole number)", None)
        else:
            ref = int(reference) if reference.strip() else None
            try:
                opened = ins.open_inspection(registry, leaf_index, verifier, ref)
            except AccordError as err:
                problem = (err.field, err.problem, err.fix)
            else:
                return RedirectResponse(f"/inspections/{opened['inspection_id']}", 303)
        page = render(request, "inspection_open.html", leaf_index=leaf_index, problem=problem)
        page.status_code = 403 if problem is not None and problem[0] == "token" else 422
        return page

    @app.get("/inspections/{inspection_id}", response_class=HTMLResponse, include_in_schema=False)
    def inspection(
        request: Request, inspection_id: Annotated[str, PathParam(pattern=ID_PATTERN)]
    ) -> Response:
        found = ins.get(registry.engine, inspection_id)
        lang = request.query_params.get("lang") or request.cookies.get("lang") or "en"
        lang = lang if lang in i18n.LANGUAGES else "en"
        tr = i18n.translations(lang)
        finding = found["finding"]
        chart, summary = "", ""
        figures: list[tuple[str, str]] = []
        if finding:
            chart, figures = _figures(finding, tr.gettext, lang)
            summary = f"{tr.gettext('Verdict')}: {tr.gettext(finding['verdict'])}"
        return render(
            request,
            "inspection.html",
            ins=found,
            finding=finding,
            chart=chart,
            figures=figures,
            summary=summary,
            base_url=str(request.base_url).rstrip("/"),
        )
