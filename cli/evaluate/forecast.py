"""``computeperf evaluate forecast``: utilisation and spend forecasts vs seasonal-naive.

A plain click command; ``cli/main.py`` attaches it to the ``evaluate`` group. The
pure core is :mod:`evaluation.forecast`. Progress goes to stderr; ``--json`` prints
one JSON document on stdout.
"""

from __future__ import annotations

import json

import click

from cli.evaluate import finite_or_none

__all__ = ["forecast_command"]


@click.command("forecast")
@click.option("--seed", type=click.IntRange(min=0), default=11, show_default=True)
@click.option("--days", type=click.FloatRange(min=2.0), default=7.0, show_default=True)
@click.option("--train-days", type=click.FloatRange(min=1.0), default=3.0, show_default=True)
@click.option("--providers", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--workloads", type=click.IntRange(min=1), default=24, show_default=True)
@click.option(
    "--horizon",
    type=click.IntRange(min=1),
    default=6,
    show_default=True,
    help="Hours ahead forecast at every origin.",
)
@click.option(
    "--coverage",
    type=click.FloatRange(0.5, 0.99),
    default=0.9,
    show_default=True,
    help="Nominal coverage of the prediction intervals.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def forecast_command(
    seed: int,
    days: float,
    train_days: float,
    providers: int,
    workloads: int,
    horizon: int,
    coverage: float,
    as_json: bool,
) -> None:
    """MASE vs seasonal-naive and interval coverage of hourly utilisation and spend forecasts."""
    from evaluation.forecast import evaluate_forecasts

    if train_days + 1.0 > days:
        raise click.BadParameter("--days must exceed --train-days by at least one day")
    click.echo(
        f"simulating {days:g} day(s), {providers} providers, {workloads} workloads; "
        f"rolling-origin forecasts {horizon} h ahead after {train_days:g} day(s) ...",
        err=True,
    )
    figures = finite_or_none(
        evaluate_forecasts(
            seed,
            days=days,
            providers=providers,
            workloads=workloads,
            horizon=horizon,
            train_days=train_days,
            coverage=coverage,
        )
    )
    if as_json:
        click.echo(json.dumps(figures, sort_keys=True))
        return
    for name in ("utilisation", "spend"):
        row = figures[name]
        click.echo(
            f"{name:<12} MASE vs seasonal-naive {_fmt(row['mase'])} "
            f"(in-sample scaled {_fmt(row['mase_insample'])}), interval coverage "
            f"{_fmt(row['coverage'])} (nominal {row['nominal_coverage']:g}), "
            f"{row['targets']:.0f} targets over {row['series']:.0f} series"
        )


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
