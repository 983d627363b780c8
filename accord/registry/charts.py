"""Server-side SVG charts (matplotlib): balances over time, no JavaScript in the browser.

Text stays text in the SVG (``svg.fonttype = none``) so the browser renders Chinese labels
with its own fonts, and the output is deterministic (no timestamps or random ids).
"""

from __future__ import annotations

import datetime as dt
import io
import warnings
from collections.abc import Mapping, Sequence


def _figure() -> tuple[object, object]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"
    plt.rcParams["svg.hashsalt"] = "accord"
    plt.rcParams["font.family"] = "sans-serif"
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
    return fig, ax


def _svg(fig: object) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # missing CJK glyph metrics: the browser draws them
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})  # type: ignore[attr-defined]
    plt.close(fig)  # type: ignore[arg-type]
    text = buf.getvalue()
    return text[text.index("<svg") :]


def line_chart(
    series: Mapping[str, Sequence[tuple[dt.date, float]]],
    title: str,
    ylabel: str,
    markers: Mapping[str, Sequence[tuple[dt.date, float]]] | None = None,
) -> str:
    fig, ax = _figure()
    for label, points in series.items():
        if points:
            xs, ys = zip(*points, strict=True)
            ax.step(xs, ys, where="post", label=label)  # type: ignore[attr-defined]
    for label, points in (markers or {}).items():
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, "o", label=label)  # type: ignore[attr-defined]
    ax.set_title(title)  # type: ignore[attr-defined]
    ax.set_ylabel(ylabel)  # type: ignore[attr-defined]
    ax.grid(alpha=0.3)  # type: ignore[attr-defined]
    if series or markers:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # type: ignore[attr-defined]
    fig.autofmt_xdate()  # type: ignore[attr-defined]
    return _svg(fig)


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    title: str,
    ylabel: str,
    limit: tuple[str, float] | None = None,
    log_scale: bool = False,
) -> str:
    """Bars against a horizontal limit (replay distances against the tolerance, p-values
    against alpha): which side of the line each bar ends on is the point of the figure."""
    fig, ax = _figure()
    floor = 1e-12 if log_scale else 0.0
    ax.bar(range(len(values)), [max(v, floor) for v in values])  # type: ignore[attr-defined]
    ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=8)  # type: ignore[attr-defined]
    if limit is not None:
        ax.axhline(limit[1], color="red", linestyle="--", label=limit[0])  # type: ignore[attr-defined]
        ax.legend(fontsize=8)  # type: ignore[attr-defined]
    if log_scale:
        ax.set_yscale("log")  # type: ignore[attr-defined]
    ax.set_title(title)  # type: ignore[attr-defined]
    ax.set_ylabel(ylabel)  # type: ignore[attr-defined]
    ax.grid(alpha=0.3, axis="y")  # type: ignore[attr-defined]
    return _svg(fig)


def timeline_chart(rows: Sequence[tuple[str, float, float, str]], title: str, xlabel: str) -> str:
    """One horizontal bar per run, ``(account, start, end, label)`` with epoch seconds,
    accounts on the y axis: a run handed from one account to the next reads as one line."""
    fig, ax = _figure()
    accounts = sorted({r[0] for r in rows})
    for account, start, end, label in rows:
        y = accounts.index(account)
        a = dt.datetime.fromtimestamp(start, dt.UTC)
        b = dt.datetime.fromtimestamp(max(end, start), dt.UTC)
        ax.barh(y, b - a, left=a, height=0.5)  # type: ignore[attr-defined]
        ax.text(a, y + 0.3, label, fontsize=7)  # type: ignore[attr-defined]
    ax.set_yticks(range(len(accounts)), accounts)  # type: ignore[attr-defined]
    ax.set_title(title)  # type: ignore[attr-defined]
    ax.set_xlabel(xlabel)  # type: ignore[attr-defined]
    ax.grid(alpha=0.3, axis="x")  # type: ignore[attr-defined]
    fig.autofmt_xdate()  # type: ignore[attr-defined]
    return _svg(fig)
