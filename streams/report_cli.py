"""``computeperf report``: the daily or weekly performance report, from the topics.

Reads the period's workload telemetry (by Kafka record time, with ``grace`` minutes of
margin for late records, then by each sample's own ``ts_ms``), the catalogue and workload
specs (from the beginning), and the recommendations and scheduler feedback of the period
(:mod:`streams.history`); computes the figures (:mod:`reports.summary`), draws the charts
and the HTML (:mod:`reports.render`), writes a ``Report`` record to ``perf.reports``
(key ``report_id`` = ``<period>-<start>``, so a re-run replaces it in a compacted view)
and e-mails it to ``COMPUTEPERF_REPORT_RECIPIENTS`` through ``COMPUTEPERF_SMTP_HOST``
when both are set. :func:`produce_report` is also what the ``reports`` worker role runs
on its schedule (``agents/reports.py``).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import click
import pandas as pd

from reports.mail import build_email, send_email
from reports.render import ADJECTIVE, cid_uris, data_uris, draw_charts, render_html
from reports.summary import SAMPLE_COLUMNS, ReportFigures, summarise
from schemas import (
    DecodeError,
    ProviderInfo,
    Recommendation,
    Record,
    Report,
    ReportPeriod,
    SchedulerFeedback,
    WorkloadEvent,
    WorkloadSample,
    WorkloadSpec,
    decode,
)
from sim.cli import parse_start
from streams.history import history_consumer, plan_history, read_history
from streams.produce import produce_durably
from streams.settings import Settings

__all__ = ["ReportOutcome", "period_bounds", "produce_report", "report_command"]

PERIOD_MS = {"day": 86_400_000, "week": 7 * 86_400_000}
LATE_MARGIN_MS = 10 * 60_000


def period_bounds(period: str, end_ms: int | None = None) -> tuple[int, int]:
    """The last complete period before ``end_ms`` (default now), aligned to UTC days.

    >>> period_bounds("day", 1_700_000_000_000)  # 2023-11-14T22:13Z
    (1699833600000, 1699920000000)
    """
    now = end_ms if end_ms is not None else time.time_ns() // 1_000_000
    day = PERIOD_MS["day"]
    end = now - now % day
    return end - PERIOD_MS[period], end


async def _read(
    settings: Settings, name: str, since_ms: int | None, until_ms: int | None
) -> list[bytes]:
    values: list[bytes] = []
    async with history_consumer(settings.kafka_bootstrap_servers) as consumer:
        plan = await plan_history(consumer, [settings.topic(name)], since_ms)
        async for batch in read_history(consumer, plan, until_ms):
            values.extend(m.value for m in batch if m.value is not None)
    return values


R = TypeVar("R", bound=Record)


def _decoded(model: type[R], values: list[bytes], skipped: list[str]) -> list[R]:
    out = []
    for value in values:
        try:
            out.append(decode(model, value))
        except DecodeError as exc:
            skipped.append(exc.reason)
    return out


@dataclass(frozen=True)
class ReportOutcome:
    """What a report run produced."""

    report: Report
    figures: ReportFigures
    charts: dict[str, bytes]
    emailed_to: tuple[str, ...]
    skipped_records: int


async def produce_report(
    settings: Settings, period: str, start_ms: int, end_ms: int, *, email: bool = True
) -> ReportOutcome:
    """Build the report of ``[start_ms, end_ms)``, put it on ``perf.reports``, mail it."""
    skipped: list[str] = []
    samples = _decoded(
        WorkloadSample,
        await _read(
            settings, "telemetry.workload", start_ms - LATE_MARGIN_MS, end_ms + LATE_MARGIN_MS
        ),
        skipped,
    )
    catalog = {
        p.provider_id: p
        for p in _decoded(
            ProviderInfo, await _read(settings, "providers.catalog", None, None), skipped
        )
    }
    specs: dict[str, WorkloadSpec] = {}
    for event in _decoded(
        WorkloadEvent, await _read(settings, "workloads.lifecycle", None, end_ms), skipped
    ):
        if event.spec is not None:
            specs[event.workload_id] = event.spec
    recs = _decoded(
        Recommendation, await _read(settings, "perf.recommendations", start_ms, None), skipped
    )
    feedback = _decoded(
        SchedulerFeedback, await _read(settings, "scheduler.feedback", start_ms, None), skipped
    )
    frame = pd.DataFrame(
        [{c: getattr(s, c) for c in SAMPLE_COLUMNS} for s in samples], columns=list(SAMPLE_COLUMNS)
    )
    if not frame.empty:
        frame["workload_type"] = frame["workload_type"].astype(str)
    figures = summarise(period, start_ms, end_ms, frame, catalog, specs, recs, feedback)
    charts = draw_charts(figures)
    report_id = f"{period}-{datetime.fromtimestamp(start_ms / 1000, UTC):%Y%m%dT%H%M}"
    report = Report(
        report_id=report_id,
        ts_ms=time.time_ns() // 1_000_000,
        period=ReportPeriod(period),
        period_start_ms=start_ms,
        period_end_ms=end_ms,
        summary=figures.headline(),
        html=render_html(figures, data_uris(charts)),
    )
    await produce_durably(
        settings.kafka_bootstrap_servers,
        [(settings.topic("perf.reports"), report_id.encode(), report.model_dump_json().encode())],
    )
    recipients = tuple(r.strip() for r in settings.report_recipients.split(",") if r.strip())
    sent_to: tuple[str, ...] = ()
    if email and recipients and settings.smtp_host:
        subject = f"computeperf {ADJECTIVE[period]} report {report_id}"
        msg = build_email(
            subject,
            render_html(figures, cid_uris(charts)),
            charts,
            settings.report_sender,
            recipients,
        )
        await asyncio.to_thread(send_email, msg, settings.smtp_host, settings.smtp_port)
        sent_to = recipients
    return ReportOutcome(report, figures, charts, sent_to, len(skipped))


@click.command("report")
@click.option("--period", type=click.Choice(sorted(PERIOD_MS)), default="day", show_default=True)
@click.option(
    "--end",
    "end_text",
    default=None,
    help="Period end (ISO 8601, UTC); default: last midnight UTC.",
)
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Also write the HTML here."
)
@click.option("--no-email", is_flag=True, help="Do not e-mail even when recipients are set.")
@click.option("--json", "as_json", is_flag=True, help="Print the report's summary as JSON.")
def report_command(
    period: str, end_text: str | None, out: Path | None, no_email: bool, as_json: bool
) -> None:
    """Build the daily or weekly performance report (perf.reports, e-mail, HTML file)."""
    if end_text is not None:
        try:
            end_ms = parse_start(end_text)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--end") from None
        start_ms = end_ms - PERIOD_MS[period]
    else:
        start_ms, end_ms = period_bounds(period)
    settings = Settings()
    click.echo(
        f"[report] {period} {datetime.fromtimestamp(start_ms / 1000, UTC):%Y-%m-%d %H:%M} .. "
        f"{datetime.fromtimestamp(end_ms / 1000, UTC):%Y-%m-%d %H:%M} UTC: reading topics ...",
        err=True,
    )
    try:
        outcome = asyncio.run(
            produce_report(settings, period, start_ms, end_ms, email=not no_email)
        )
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    if out is not None:
        out.write_text(outcome.report.html)
    click.echo(
        f"[report] {outcome.report.report_id} on perf.reports"
        + (f", e-mailed to {', '.join(outcome.emailed_to)}" if outcome.emailed_to else "")
        + (
            f"; {outcome.skipped_records} undecodable records skipped"
            if outcome.skipped_records
            else ""
        ),
        err=True,
    )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "report_id": outcome.report.report_id,
                    "summary": outcome.report.summary,
                    "charts": sorted(outcome.charts),
                    "emailed_to": list(outcome.emailed_to),
                },
                sort_keys=True,
            )
        )
