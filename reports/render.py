"""A report as HTML with charts: PNG charts drawn with matplotlib, the page with Jinja2.

The same page serves as the ``Report`` record's body (images inline as ``data:`` URIs) and
as the e-mail (images as ``cid:`` references to attached parts, which mail clients show
where they block ``data:`` URIs): :func:`render_html` takes the image sources to use.

>>> import pandas as pd
>>> from reports.summary import summarise
>>> T = 1_700_000_000_000
>>> rows = [dict(workload_id="w1", provider_id="p1", tenant_id="t1",
...              workload_type="inference", ts_ms=T + i * 600_000, throughput=100.0 + i,
...              latency_ms=50.0, cost_accrued_usd=0.5) for i in range(30)]
>>> figs = summarise("day", T, T + 86_400_000, pd.DataFrame(rows), catalog={})
>>> charts = draw_charts(figs)
>>> sorted(charts), charts["trend"][:4] == b"\\x89PNG"
(['spend', 'trend'], True)
>>> page = render_html(figs, data_uris(charts))
>>> "<img" in page and "data:image/png;base64," in page and "t1" in page
True
"""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime

import matplotlib

matplotlib.use("Agg")  # no display: render to memory

import matplotlib.pyplot as plt
from jinja2 import Environment, PackageLoader, select_autoescape
from matplotlib.figure import Figure

from reports.summary import ReportFigures

__all__ = ["ADJECTIVE", "cid_uris", "data_uris", "draw_charts", "render_html"]

ADJECTIVE = {"day": "daily", "week": "weekly"}


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def draw_charts(figs: ReportFigures) -> dict[str, bytes]:
    """PNG charts: ``trend`` (fleet perf-per-dollar index), ``spend`` (per tenant) and,
    when workloads have SLOs, ``sla`` (compliance of the worst workloads)."""
    charts: dict[str, bytes] = {}
    if figs.trend:
        fig, ax = plt.subplots(figsize=(7, 2.8))
        times = [_time(t) for t, _ in figs.trend]
        ax.plot(times, [v for _, v in figs.trend], marker="o")  # type: ignore[arg-type]
        ax.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
        ax.set_title(f"Fleet perf per dollar (index, 1 = period level): {figs.trend_direction}")
        fig.autofmt_xdate()
        charts["trend"] = _png(fig)
    if figs.tenants:
        top = figs.tenants[:12]
        fig, ax = plt.subplots(figsize=(7, 2.8))
        ax.barh([t["tenant_id"] for t in top][::-1], [t["spend_usd"] for t in top][::-1])
        ax.set_xlabel("USD")
        ax.set_title("Spend per tenant")
        charts["spend"] = _png(fig)
    if figs.sla:
        worst = figs.sla[:12]
        fig, ax = plt.subplots(figsize=(7, 2.8))
        ax.barh([r["workload_id"] for r in worst][::-1], [r["compliance"] for r in worst][::-1])
        ax.set_xlim(0, 1)
        ax.set_title("SLA compliance (share of minutes), worst workloads")
        charts["sla"] = _png(fig)
    return charts


def data_uris(charts: dict[str, bytes]) -> dict[str, str]:
    """Image sources for a self-contained page."""
    return {k: "data:image/png;base64," + base64.b64encode(v).decode() for k, v in charts.items()}


def cid_uris(charts: dict[str, bytes], domain: str = "computeperf") -> dict[str, str]:
    """Image sources that refer to e-mail parts with ``Content-ID: <name@domain>``."""
    return {k: f"cid:{k}@{domain}" for k in charts}


_ENV = Environment(
    loader=PackageLoader("reports", "templates"), autoescape=select_autoescape(default=True)
)


def render_html(figs: ReportFigures, images: dict[str, str]) -> str:
    """The report page; ``images`` maps chart names to ``src`` values."""
    title = f"computeperf {ADJECTIVE[figs.period]} report"
    return _ENV.get_template("report.html.j2").render(
        title=title,
        figs=figs,
        images=images,
        start=_time(figs.start_ms).strftime("%Y-%m-%d %H:%M"),
        end=_time(figs.end_ms).strftime("%Y-%m-%d %H:%M"),
        bucket="hour" if figs.period == "day" else "day",
    )
