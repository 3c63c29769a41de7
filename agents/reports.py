"""The ``reports`` role: the daily and weekly reports on a schedule (Faust crontab).

Runs :func:`streams.report_cli.produce_report` for the last complete day at
``report_daily_cron`` and the last complete week at ``report_weekly_cron`` (UTC), on the
group leader only, so several workers with the role produce one report. A failed run is
logged and retried at the next tick of its schedule; ``computeperf report`` produces any
period by hand.
"""

from __future__ import annotations

import logging
from datetime import UTC

import faust

from streams.report_cli import period_bounds, produce_report
from streams.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["register_report_jobs"]


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
