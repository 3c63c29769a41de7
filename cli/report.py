"""``computeperf report``: build the daily or weekly performance report by hand.

The same :func:`agents.reports.produce_report` the ``reports`` worker role runs on its
schedule: a ``Report`` on ``perf.reports``, an e-mail when recipients are set, and the HTML
written to ``--out``.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import click

from agents.reports import PERIOD_MS, period_bounds, produce_report
from config.settings import Settings
from schemas.times import parse_time_ms

__all__ = ["report_command"]


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
            end_ms = parse_time_ms(end_text)
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
