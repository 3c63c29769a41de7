"""``computeperf evaluate detection`` and ``computeperf bench detection``.

Both commands are plain click commands; ``cli/main.py`` attaches them to the
``evaluate`` and ``bench`` groups. The pure core is :mod:`evaluation.detection`.
Progress goes to stderr; ``--json`` prints one JSON document on stdout.
"""

from __future__ import annotations

import json

import click

from cli.evaluate import finite_or_none

__all__ = ["detection_bench_command", "detection_command"]

_METHODS = ("ensemble", "static_threshold", "rolling_zscore")


@click.command("detection")
@click.option("--seed", type=int, default=11, show_default=True)
@click.option("--days", type=click.FloatRange(min=0.05), default=1.0, show_default=True)
@click.option("--providers", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--window-s", type=click.IntRange(min=10), default=60, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def detection_command(seed: int, days: float, providers: int, window_s: int, as_json: bool) -> None:
    """Ensemble vs static threshold vs rolling z-score on simulated labelled incidents."""
    from evaluation.detection import evaluate_detection

    click.echo(
        f"simulating {days:g} day(s) x {providers} providers, {window_s} s windows, scoring ...",
        err=True,
    )
    figures = finite_or_none(
        evaluate_detection(seed, days=days, providers=providers, window_s=window_s)
    )
    if as_json:
        click.echo(json.dumps(figures, sort_keys=True))
        return
    for name in _METHODS:
        row = figures[name]
        delay = row["median_delay_windows"]
        click.echo(
            f"{name:<17} precision {row['precision']:.2f} recall {row['recall']:.2f} "
            f"F1 {row['f1']:.2f} median delay {'n/a' if delay is None else f'{delay:g}'} "
            f"windows, {row['false_alarms_per_provider_day']:.2f} false alarms/provider-day"
        )
    for kind, row in figures.get("per_kind", {}).get("ensemble", {}).items():
        click.echo(f"  ensemble on {kind:<20} detected {row['detected']}/{row['incidents']}")
    params = figures["parameters"]
    click.echo(
        f"{params['incidents_scored']} incidents scored, excluded (no telemetry trace): "
        f"{params['incidents_excluded']}"
    )


@click.command("detection")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def detection_bench_command(as_json: bool) -> None:
    """µs per scored window and state bytes of the agent's ensemble; `detect` points/s."""
    from evaluation.detection import bench_detection
    from models.detectors.detect_bench import bench_detect

    click.echo("warming up one ensemble on simulated windows, timing ...", err=True)
    figures = bench_detection()
    click.echo("timing `computeperf detect`'s scoring on a generated series ...", err=True)
    figures.update({f"detect_{k}": v for k, v in bench_detect().items()})
    if as_json:
        click.echo(json.dumps(figures, sort_keys=True))
        return
    click.echo(
        f"{figures['us_per_point']:.0f} µs per window (score + learn, "
        f"{figures['features']:.0f} features), {figures['bytes_per_entity']:.0f} bytes "
        "of pickled state per entity"
    )
    click.echo(
        f"computeperf detect: {figures['detect_points_per_s']:,.0f} points/s after start-up "
        f"({figures['detect_us_per_point']:.0f} µs per line: parse, score, learn)"
    )
