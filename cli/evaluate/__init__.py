"""``computeperf evaluate``: the figures of the placement optimizer and the predictor.

``evaluate placement`` solves generated instances (:mod:`evaluation.placement`) and
``evaluate prediction`` trains and tests the throughput and latency predictors on
held-out simulated runs (:mod:`evaluation.prediction`; latency keys carry a ``latency_``
prefix). Progress goes to stderr; ``--json`` prints the
figures as one JSON document on stdout. This adapter lives in ``streams/`` because the
pure core (``optimizers``, ``models``) does not import click.
"""

from __future__ import annotations

import json
import math
from typing import Any

import click

__all__ = ["evaluate_group", "finite_or_none", "parse_sizes"]


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"100,1000x50"`` -> ``[(100, 10), (1000, 50)]`` (pending defaults to providers/10)."""
    sizes = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        providers_s, _, pending_s = part.partition("x")
        try:
            providers = int(providers_s)
            pending = int(pending_s) if pending_s else max(1, providers // 10)
        except ValueError:
            raise click.BadParameter(f"{part!r} is not PROVIDERS or PROVIDERSxPENDING") from None
        if providers < 1 or pending < 1:
            raise click.BadParameter(f"{part!r}: providers and pending must be >= 1")
        sizes.append((providers, pending))
    if not sizes:
        raise click.BadParameter("no sizes given")
    return sizes


def finite_or_none(value: Any) -> Any:
    """Figures made JSON-safe: JSON has no NaN or infinity, so a figure with nothing
    behind it (a ratio with nothing to compare against) becomes null, also inside dicts
    and lists. The one helper of every ``evaluate`` command.

    >>> finite_or_none({"a": float("nan"), "b": [1.0, float("inf")]})
    {'a': None, 'b': [1.0, None]}
    """
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite_or_none(v) for v in value]
    return value


@click.group("evaluate")
def evaluate_group() -> None:
    """Quality and speed figures of the optimizers and models."""


@evaluate_group.command("placement")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--sizes",
    default="100,1000,10000",
    show_default=True,
    help="Comma-separated PROVIDERS or PROVIDERSxPENDING (pending defaults to providers/10).",
)
@click.option("--time-limit-s", type=float, default=1.0, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def placement_command(
    seed: int, sizes: str, time_limit_s: float, repeats: int, as_json: bool
) -> None:
    """CP-SAT placement vs cheapest-first and greedy on generated instances."""
    from evaluation.placement import evaluate_placement

    instances = []
    for providers, pending in parse_sizes(sizes):
        click.echo(f"solving {providers} providers x {pending} pending ...", err=True)
        figures = evaluate_placement([(providers, pending)], seed, time_limit_s, repeats)
        row = {k: finite_or_none(v) for k, v in next(iter(figures.values())).items()}
        click.echo(
            f"  gap {row['gap_to_bound']}, perf/$ vs cheapest "
            f"{row['perf_per_dollar_vs_cheapest']}, p95 {row['solve_p95_s']:.3f} s",
            err=True,
        )
        instances.append(row)
    if as_json:
        click.echo(json.dumps({"instances": instances}, sort_keys=True))
        return
    for row in instances:
        click.echo(
            f"{row['providers']:>6} providers {row['pending']:>5} pending  "
            f"gap {_fmt(row['gap_to_bound'], '.2%')}  "
            f"perf/$ x{_fmt(row['perf_per_dollar_vs_cheapest'], '.2f')} cheapest "
            f"x{_fmt(row['perf_per_dollar_vs_greedy'], '.2f')} greedy  "
            f"solve p50 {row['solve_p50_s']:.3f} s p95 {row['solve_p95_s']:.3f} s"
        )


@evaluate_group.command("prediction")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--train-runs", type=click.IntRange(min=1), default=6, show_default=True)
@click.option("--calibration-runs", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--test-runs", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--hours", type=click.FloatRange(min=0.5), default=24.0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def prediction_command(
    seed: int, train_runs: int, calibration_runs: int, test_runs: int, hours: float, as_json: bool
) -> None:
    """Throughput and latency prediction on held-out simulated runs vs the cohort mean."""
    from evaluation.prediction import evaluate_prediction

    click.echo(
        f"simulating {train_runs}+{calibration_runs}+{test_runs} runs of {hours:g} h, "
        "training, testing ...",
        err=True,
    )
    figures = evaluate_prediction(
        seed,
        train_runs=train_runs,
        calibration_runs=calibration_runs,
        test_runs=test_runs,
        hours=hours,
    )
    if as_json:
        click.echo(json.dumps(finite_or_none(figures)))
        return
    click.echo(
        f"MAPE {figures['mape']:.1%} running workloads, {figures['mape_new_placement']:.1%} "
        f"new placements, {figures['mape_batch_only']:.1%} batch model alone, "
        f"{figures['baseline_mape']:.1%} cohort-mean baseline; interval coverage "
        f"{figures['interval_coverage']:.1%} running, "
        f"{figures['interval_coverage_new_placement']:.1%} new (nominal "
        f"{figures['nominal_coverage']:.0%}) on {figures['test_examples']} held-out samples"
    )
    click.echo(
        f"latency MAPE {_fmt(figures['latency_mape'], '.1%')} running workloads, "
        f"{_fmt(figures['latency_mape_new_placement'], '.1%')} new placements, "
        f"{_fmt(figures['latency_baseline_mape'], '.1%')} cohort-mean baseline; interval "
        f"coverage {_fmt(figures['latency_interval_coverage'], '.1%')} on "
        f"{figures['latency_test_examples']} held-out serving samples"
    )


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None or not math.isfinite(value) else format(value, spec)
