"""``computeperf evaluate alerts``: the alert engine's figures on simulated incidents.

A plain click command; ``streams/cli.py`` attaches it to the ``evaluate`` group. The pure
core is :mod:`alerts.evaluation`. Progress goes to stderr; ``--json`` prints one JSON
document on stdout.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

__all__ = ["alerts_command"]


def _finite_or_none(value: Any) -> Any:
    # JSON has no NaN or infinity; a figure with nothing behind it becomes null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite_or_none(v) for k, v in value.items()}
    return value


@click.command("alerts")
@click.option("--seed", type=click.IntRange(min=0), default=5, show_default=True)
@click.option("--days", type=click.FloatRange(min=0.05, max=30), default=1.0, show_default=True)
@click.option("--providers", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--workloads", type=click.IntRange(min=1), default=12, show_default=True)
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Rules file or folder (default: every file in alerts/rules/).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def alerts_command(
    seed: int,
    days: float,
    providers: int,
    workloads: int,
    rules_path: Path | None,
    as_json: bool,
) -> None:
    """Incidents alerted, duplicates, flaps, time to fire, SLA burn and budget lead time."""
    from alerts.evaluation import evaluate_alerts
    from alerts.rules import RuleError, load_rules

    rules = None
    if rules_path is not None:
        try:
            rules = load_rules(rules_path)
        except RuleError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(2) from exc
    click.echo(
        f"simulating {days:g} day(s): {providers} providers, {workloads} workloads, "
        f"seed {seed}; replaying through the rules ...",
        err=True,
    )
    figures = _finite_or_none(
        evaluate_alerts(seed, days=days, providers=providers, workloads=workloads, rules=rules)
    )
    if as_json:
        click.echo(json.dumps(figures, sort_keys=True))
        return
    ttf = figures["median_time_to_fire_s"]
    lead = figures["budget_alert_lead_hours"]
    click.echo(
        f"incidents {figures['incidents']}, alerted {figures['incidents_alerted']}, "
        f"duplicates {figures['duplicate_alerts']}, without incident "
        f"{figures['alerts_without_incident']}, flaps {figures['flaps']}, median time to fire "
        f"{'n/a' if ttf is None else f'{ttf:.0f} s'}"
    )
    click.echo(
        f"SLA burn alerts fired {figures['sla_burn_alerts_fired']} vs predicted by the SRE "
        f"table {figures['sla_burn_alerts_predicted']} ({figures['sla_burn_alerts_by_row']})"
    )
    click.echo(
        f"budget overruns {figures['budget_overruns']}, alert lead "
        f"{'n/a' if lead is None else f'{lead:.1f} h'} before the overrun (min over tenants)"
    )
