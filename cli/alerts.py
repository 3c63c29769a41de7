"""``computeperf evaluate alerts`` and ``computeperf alerts history``.

``evaluate alerts`` (attached to the ``evaluate`` group by ``cli/main.py``) prints the
alert engine's figures on simulated incidents (core: :mod:`evaluation.alerts`);
``alerts history`` reads transitions and episodes of an entity back from ``perf.alerts``
(:mod:`streams.alert_history`). Progress goes to stderr; ``--json`` prints one JSON
document on stdout.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from cli.evaluate import finite_or_none
from schemas.alerts import ms_to_rfc3339

__all__ = ["alerts_command", "alerts_group"]


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
    from alerts.rule_files import load_rules
    from alerts.rules import RuleError
    from evaluation.alerts import evaluate_alerts

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
    figures = finite_or_none(
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


def _parse_time_ms(value: str | None) -> int | None:
    """``2026-11-27T08:00:00Z`` or epoch milliseconds; None stays None."""
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is neither ISO 8601 nor epoch ms") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


@click.group("alerts")
def alerts_group() -> None:
    """Alerts: read the history on perf.alerts."""


@alerts_group.command("history")
@click.option("--entity", "entity_id", default=None, help="Entity id (provider, workload, ...).")
@click.option("--entity-type", default=None)
@click.option("--since", default=None, help="ISO 8601 time or epoch ms.")
@click.option("--until", default=None, help="ISO 8601 time or epoch ms.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
def history_command(
    entity_id: str | None,
    entity_type: str | None,
    since: str | None,
    until: str | None,
    as_json: bool,
) -> None:
    """Alert transitions and episodes of an entity over a time range."""
    import asyncio

    from alerts.history import episodes
    from config.settings import Settings
    from streams.alert_history import read_alert_history

    since_ms, until_ms = _parse_time_ms(since), _parse_time_ms(until)
    click.echo("reading perf.alerts ...", err=True)
    alerts = asyncio.run(
        read_alert_history(
            Settings(),
            entity_id=entity_id,
            entity_type=entity_type,
            since_ms=since_ms,
            until_ms=until_ms,
        )
    )
    found = episodes(alerts)
    if as_json:
        document = {
            "transitions": [json.loads(a.model_dump_json()) for a in alerts],
            "episodes": [e._asdict() for e in found],
        }
        click.echo(json.dumps(document, sort_keys=True))
        return
    for e in found:
        end = "firing" if e.ends_at_ms is None else ms_to_rfc3339(e.ends_at_ms)
        click.echo(
            f"{ms_to_rfc3339(e.starts_at_ms)} .. {end}  {e.labels.get('alertname')} "
            f"{e.labels.get('entity_type')}:{e.labels.get('entity_id')} "
            f"[{e.labels.get('severity')}]"
        )
