"""The ``reports`` role and the report it produces: the daily and weekly performance report.

:func:`produce_report` reads the period's workload telemetry (by Kafka record time, with
``grace`` minutes of margin for late records, then by each sample's own ``ts_ms``), the
catalogue and workload specs (from the beginning), and the recommendations and scheduler
feedback of the period (:mod:`agents.topic_history`); computes the figures
(:mod:`reports.summary`), draws the charts and the HTML (:mod:`reports.render`), writes a
``Report`` record to ``perf.reports`` (key ``report_id`` = ``<period>-<start>``, so a re-run
replaces it in a compacted view) and e-mails it to ``COMPUTEPERF_REPORT_RECIPIENTS`` through
``COMPUTEPERF_SMTP_HOST`` when both are set.

:func:`register_report_jobs` runs it for the last complete day at ``report_daily_cron`` and
the last complete week at ``report_weekly_cron`` (UTC), on the group leader only, so several
workers with the role produce one report. A failed run is logged and retried at the next
tick of its schedule; ``computeperf report`` (:mod:`cli.report`) produces any period by hand.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import faust
import pandas as pd

from agents.produce import produce_durably
from agents.topic_history import history_consumer, plan_history, read_history
from config.settings import Settings
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

log = logging.getLogger(__name__)

__all__ = ["PERIOD_MS", "ReportOutcome", "period_bounds", "produce_report", "register_report_jobs"]

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
    async with history_consumer(settings) as consumer:
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
        settings,
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


def register_report_jobs(app: faust.App, settings: Settings) -> None:
    """Schedule the daily and weekly reports."""

    async def run(period: str) -> None:
        start_ms, end_ms = period_bounds(period)
        try:
            outcome = await produce_report(settings, period, start_ms, end_ms)
        except Exception:
            log.exception("the %s report failed; next attempt at its next scheduled time", period)
            return
        log.info("report %s produced (%s)", outcome.report.report_id, outcome.report.summary)

    @app.crontab(settings.report_daily_cron, timezone=UTC, on_leader=True)
    async def daily_report() -> None:
        await run("day")

    @app.crontab(settings.report_weekly_cron, timezone=UTC, on_leader=True)
    async def weekly_report() -> None:
        await run("week")
