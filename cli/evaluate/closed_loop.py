"""``computeperf evaluate closed-loop``: the engine in the loop vs a cheapest-first scheduler.

Runs one simulated marketplace day twice (:func:`evaluation.closed_loop.evaluate_closed_loop`)
and prints, per arm, throughput per dollar, SLA-violation minutes, cost, actions and
recommendation accuracy; ``--json`` prints ``{"engine": {...}, "cheapest_first": {...},
"perf_per_dollar_gain": x, "sla_violation_reduction": y, "best_value_oracle": {...},
"oracle_perf_per_dollar_gain": z, "hindsight_perf_per_dollar_gain": h,
"share_of_hindsight_gain": s, ...}`` (fractions) on stdout. ``--scenario`` picks the
market (default ``p2p``, :mod:`sim.scenario`). The oracle arms know the simulator's ground
truth: best true perf per dollar now, and the whole day in hindsight (the upper reference).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from streams.progress import terminal_progress

__all__ = ["closed_loop_command"]


@click.command("closed-loop")
@click.option("--seed", type=click.IntRange(min=0), default=3, show_default=True)
@click.option("--providers", type=click.IntRange(min=1), default=40, show_default=True)
@click.option("--hours", type=click.IntRange(min=1, max=24 * 7), default=24, show_default=True)
@click.option(
    "--scenario",
    default="p2p",
    show_default=True,
    help="Market scenario: uniform, p2p, stressed (sim/scenarios/) or a YAML path.",
)
@click.option(
    "--load", type=click.FloatRange(0.05, 3.0), default=None, help="Default: the scenario's."
)
@click.option(
    "--incidents-per-provider",
    type=click.FloatRange(0.0, 20.0),
    default=None,
    help="Default: the scenario's.",
)
@click.option(
    "--policies",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Approval policy YAML (default: workflow/policies/default.yaml).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def closed_loop_command(
    seed: int,
    providers: int,
    hours: int,
    scenario: str,
    load: float | None,
    incidents_per_provider: float | None,
    policies: Path | None,
    as_json: bool,
) -> None:
    """The same simulated day with the engine in the loop and with cheapest-first alone."""
    from config.documents import DocumentError
    from evaluation.closed_loop import evaluate_closed_loop
    from sim.scenario import load_scenario
    from workflow.policy import PolicyBook, PolicyError

    try:
        book = PolicyBook.load(policies) if policies is not None else None
    except PolicyError as exc:
        raise click.BadParameter(str(exc), param_hint="--policies") from None
    try:
        market = load_scenario(scenario)
    except DocumentError as exc:
        raise click.BadParameter(str(exc), param_hint="--scenario") from None
    click.echo(
        f"simulating {hours} h, {providers} providers, scenario {market.name}, seed {seed} ...",
        err=True,
    )
    # Five arms (engine, cheapest-first, greedy, both oracles) play the same day.
    with terminal_progress("closed loop (5 arms)", total=5 * hours * 60) as advance:
        result = evaluate_closed_loop(
            seed,
            providers,
            hours,
            load,
            incidents_per_provider,
            policies=book,
            scenario=market,
            on_minute=lambda: advance(1),
        )
    if as_json:
        click.echo(json.dumps(result, sort_keys=True))
        return
    arms = ("engine", "cheapest_first", "greedy_best_fit", "best_value_oracle", "hindsight_oracle")
    for arm in arms:
        f = result[arm]
        accuracy = f.get("accuracy", {}).get("throughput_mape")
        acc = f"{accuracy:.1%}" if accuracy is not None else "n/a (no predictions)"
        click.echo(
            f"{arm:17s} perf/$ {f['perf_per_dollar']:.3f}  SLA-violation min "
            f"{f['sla_violation_minutes']:6d}  cost ${f['cost_usd']:9.2f}  actions "
            f"{f['actions']:4d}  prediction error {acc}"
        )
    share = result["share_of_hindsight_gain"]
    click.echo(
        f"perf per dollar {result['perf_per_dollar_gain']:+.1%}, SLA-violation minutes "
        f"{-result['sla_violation_reduction']:+.1%} with the engine; "
        f"perf per dollar {result['oracle_perf_per_dollar_gain']:+.1%} with perfect "
        "knowledge of every host now (best_value_oracle), "
        f"{result['hindsight_perf_per_dollar_gain']:+.1%} with hindsight of the whole day "
        "(hindsight_oracle; references no scheduler has): the engine captures "
        + (f"{share:.0%}" if share is not None else "n/a")
        + " of the latter"
    )
