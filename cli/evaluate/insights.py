"""``computeperf evaluate insights``: the analysis engine on a simulated marketplace.

A plain click command; ``cli/main.py`` attaches it to the ``evaluate`` group. The
pure core is :mod:`evaluation.insights`. Progress goes to stderr; ``--json`` prints one
JSON document on stdout.
"""

from __future__ import annotations

import json

import click

from cli.evaluate import finite_or_none

__all__ = ["insights_command"]


@click.command("insights")
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--hours", type=click.FloatRange(min=2.0), default=2.0, show_default=True)
@click.option("--providers", type=click.IntRange(min=8), default=12, show_default=True)
@click.option("--workloads", type=click.IntRange(min=16), default=36, show_default=True)
@click.option("--interval-s", type=click.IntRange(min=1, max=30), default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def insights_command(
    seed: int, hours: float, providers: int, workloads: int, interval_s: int, as_json: bool
) -> None:
    """Bottleneck and root-cause-scope accuracy, quantile and roll-up error vs ground truth."""
    from evaluation.insights import evaluate_insights

    click.echo(
        f"simulating {hours:g} h x {providers} providers / {workloads} workloads "
        f"({interval_s} s samples) with injected incidents and faults, analysing ...",
        err=True,
    )
    try:
        figures = evaluate_insights(
            seed, hours=hours, providers=providers, workloads=workloads, interval_s=interval_s
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    figures = finite_or_none(figures)
    if as_json:
        click.echo(json.dumps(figures, sort_keys=True))
        return
    click.echo(
        f"bottleneck accuracy {figures['bottleneck_accuracy']:.3f} "
        f"(balanced {figures['bottleneck_balanced_accuracy']:.3f}), "
        f"scope accuracy {figures['scope_accuracy']:.3f} over {figures['scope_windows']} "
        f"event windows, {figures['false_findings']} findings outside events"
    )
    click.echo(
        f"quantile rel error {figures['quantile_rel_error']:.4f}, roll-up rel error "
        f"{figures['rollup_rel_error']:.2e} (vs exact {figures['rollup_vs_exact_rel_error']:.4f})"
    )
