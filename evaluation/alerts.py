"""``computeperf evaluate alerts``: the alert engine on simulated days with incidents.

The run (:mod:`evaluation.alert_simulation`) is replayed in event time, one tick per window end:
threshold rules on the provider and workload windows closing at the tick (with each
entity's history for ``change_over`` rules), absence rules on every provider, the SLO
burn-rate rows on every workload's availability events, the budget rule on every
tenant's spend; transitions go through the :class:`alerts.inhibition.Dispatcher` (a
provider outage inhibits its workloads' alerts) and what comes out is what operators
would get. Figures:

- ``incidents``: every injected incident, of all six kinds (``incidents_excluded`` stays
  empty: :data:`SCORED_KINDS` is every kind); ``incidents_by_kind`` with the alert names
  that fired for each kind;
- ``incidents_alerted``: incidents with at least one alert for their provider or one of
  its workloads whose condition started between their start and ``slack`` after their
  end; ``incidents_missed`` lists the others (with how many workloads the provider
  hosts: a price spike on a provider hosting none is paid by nobody, and the live alert
  agent reads no provider price);
  ``duplicate_alerts``: alerts beyond the first per incident and affected entity (the
  provider, its workloads); ``alerts_without_incident``: provider and workload alerts on
  a provider with no incident (of any kind) around that time;
- ``flaps``: an alert firing again within ``flap_window`` of its own resolution;
- ``median_time_to_fire_s``: incident start to the first alert;
- SLA: burn-rate alerts fired (before inhibition) per row vs predicted by the SRE table
  for the outages' workloads (full error rate for the outage's length,
  :func:`alerts.sla.predicted_detection_ms`);
- ``budget_alert_lead_hours``: for tenants whose budget (``budget_fraction`` of the run's
  spend) is overrun, the smallest time from the budget alert to the overrun.

Examples
--------
>>> figures = evaluate_alerts(seed=5, days=0.05, providers=3, workloads=3)
>>> sorted(k for k in figures if k.startswith("incidents"))[-3:]
['incidents_by_kind', 'incidents_excluded', 'incidents_missed']
>>> figures["incidents_excluded"]
{}
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from alerts.budgets import SpendTracker, TenantBudget, budget_status
from alerts.inhibition import Dispatcher
from alerts.lifecycle import AlertState, Observation, advance
from alerts.rule_files import load_rules
from alerts.rules import DEFAULT_RULES_PATH, Rule, ThresholdRule
from alerts.signal_rules import AbsenceRule, BudgetRule, BurnRateRule
from alerts.sla import BurnRateTracker, burn_observation, predicted_detection_ms
from alerts.state import alert_for, observe_history
from evaluation.alert_simulation import SimRun, simulate_run
from schemas import Alert, AlertStatus, EntityType, MetricWindow, alert_fingerprint
from sim.incidents import Incident, IncidentKind

__all__ = ["SCORED_KINDS", "Emitted", "evaluate_alerts", "replay_alerts"]

#: Incident kinds scored: every kind the simulator injects (none excluded).
SCORED_KINDS: Final[frozenset[IncidentKind]] = frozenset(IncidentKind)
_BUDGET_STEP_MS: Final[int] = 300_000


@dataclass(frozen=True, slots=True)
class Emitted:
    """An alert transition and when (event time) it came out."""

    at_ms: int
    alert: Alert


class _Engine:
    """In-memory states per fingerprint, the lifecycle and the dispatcher."""

    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher
        self.states: dict[str, AlertState] = {}
        self.raw: list[Emitted] = []
        self.emitted: list[Emitted] = []

    def step_window(
        self,
        rule: ThresholdRule,
        window: MetricWindow,
        now_ms: int,
        extra: dict[str, str] | None = None,
    ) -> None:
        """A threshold rule on one window, with the entity's history (``change_over``)."""
        fp = alert_fingerprint({**(extra or {}), **rule.alert_labels(window.entity_id)})
        state = self.states.get(fp, AlertState())
        history, obs = observe_history(rule, state.history, window)
        self.states[fp] = replace(state, history=history)
        if obs is not None:
            self.step(rule, window.entity_id, obs, now_ms, extra)

    def step(
        self,
        rule: Rule,
        entity_id: str,
        obs: Observation,
        now_ms: int,
        extra: dict[str, str] | None = None,
    ) -> None:
        fp = alert_fingerprint({**(extra or {}), **rule.alert_labels(entity_id)})
        state = self.states.get(fp, AlertState())
        new, status = advance(rule, state, obs)
        self.states[fp] = replace(new, history=state.history)
        if status is None:
            return
        started = new.started_at_ms if status is AlertStatus.FIRING else state.started_at_ms
        assert started is not None
        alert = alert_for(rule, entity_id, obs.value, status, started, obs.end_ms, extra)
        self.raw.append(Emitted(now_ms, alert))
        self.emitted.extend(Emitted(now_ms, a) for a in self.dispatcher.process(alert, now_ms))

    def tick(self, now_ms: int) -> None:
        self.emitted.extend(Emitted(now_ms, a) for a in self.dispatcher.tick(now_ms))


def replay_alerts(
    run: SimRun,
    rules: Sequence[Rule],
    *,
    budget_fraction: float = 0.8,
    release_delay_ms: int = 600_000,
) -> tuple[_Engine, dict[str, int]]:
    """Replay *run* through *rules*; return the engine and each tenant's overrun time."""
    engine = _Engine(Dispatcher(release_delay_ms=release_delay_ms))
    thresholds = [r for r in rules if isinstance(r, ThresholdRule)]
    absences = [r for r in rules if isinstance(r, AbsenceRule)]
    burns = [r for r in rules if isinstance(r, BurnRateRule)]
    budgets = [r for r in rules if isinstance(r, BudgetRule)]
    by_end: dict[int, list[Any]] = defaultdict(list)
    for windows in [*run.provider_windows.values(), *run.workload_windows.values()]:
        for w in windows:
            by_end[w.window_end_ms].append(w)
    last_seen = dict.fromkeys(run.provider_windows, run.start_ms)
    burn_windows = {w for r in burns for w in (r.long_window_ms, r.short_window_ms)}
    trackers = {
        wl: BurnRateTracker(
            burns[0].objective if burns else 0.99,
            burn_windows,
            min_events=max((r.min_events for r in burns), default=0),
        )
        for wl in run.workload_samples
    }
    expected_per_min = 60_000 // run.interval_ms
    totals = {t: sum(c for _, c in costs) for t, costs in run.tenant_costs.items()}
    limits = {
        t: TenantBudget(
            tenant_id=t,
            limit_usd=max(total * budget_fraction, 1e-9),
            period_start_ms=run.start_ms,
            period_end_ms=run.end_ms,
        )
        for t, total in totals.items()
    }
    spend = {t: SpendTracker() for t in run.tenant_costs}
    cursor = dict.fromkeys(run.tenant_costs, 0)
    overrun: dict[str, int] = {}

    for now in range(run.start_ms + run.window_ms, run.end_ms + run.window_ms, run.window_ms):
        for window in by_end.get(now, ()):
            extra = None
            if window.entity_type is EntityType.PROVIDER:
                last_seen[window.entity_id] = now
            else:  # as for the burn rules: a provider outage inhibits its workloads' alerts
                extra = {"provider_id": run.workload_provider[window.entity_id]}
            for rule in thresholds:
                if rule.entity_type == window.entity_type:
                    engine.step_window(rule, window, now, extra)
        for provider, seen in last_seen.items():
            for absence in absences:
                engine.step(absence, provider, absence.observe(now, seen), now)
        minute = now - run.window_ms
        if now <= run.end_ms:  # the last partial tick has no complete minute
            for workload, per_minute in run.workload_samples.items():
                present = min(per_minute.get(minute, 0), expected_per_min)
                tracker = trackers[workload]
                tracker.observe(now, present, expected_per_min)
                extra = {"provider_id": run.workload_provider[workload]}
                for burn in burns:
                    engine.step(burn, workload, burn_observation(burn, tracker, now), now, extra)
        if (now - run.start_ms) % _BUDGET_STEP_MS == 0:
            for tenant, costs in run.tenant_costs.items():
                i = cursor[tenant]
                while i < len(costs) and costs[i][0] < now:
                    spend[tenant].add(costs[i][0], costs[i][1])
                    i += 1
                cursor[tenant] = i
                if tenant not in overrun and spend[tenant].total_usd >= limits[tenant].limit_usd:
                    overrun[tenant] = now
                status = budget_status(limits[tenant], spend[tenant].history, now)
                for budget in budgets:
                    obs = budget.observe(now, status.hours_to_exhaustion)
                    engine.step(budget, tenant, obs, now)
        engine.tick(now)
    return engine, overrun


def evaluate_alerts(
    seed: int,
    *,
    days: float = 1.0,
    providers: int = 8,
    workloads: int = 12,
    rules: Sequence[Rule] | None = None,
    slack_ms: int = 300_000,
    flap_window_ms: int = 1_800_000,
    budget_fraction: float = 0.8,
) -> dict[str, Any]:
    """Simulate, replay through the rules, score against the injected incidents."""
    if rules is None:
        rules = load_rules(DEFAULT_RULES_PATH.parent)
    run = simulate_run(seed, days=days, providers=providers, workloads=workloads)
    engine, overrun = replay_alerts(run, rules, budget_fraction=budget_fraction)
    firing = [e for e in engine.emitted if e.alert.status is AlertStatus.FIRING]
    incidents = _incident_figures(run, firing, slack_ms)
    leads = _budget_leads(firing, overrun, {r.name for r in rules if isinstance(r, BudgetRule)})
    known = [v for v in leads.values() if v is not None]
    return {
        "seed": seed,
        "days": days,
        "providers": providers,
        "workloads": workloads,
        **incidents,
        "flaps": _flaps(engine.emitted, flap_window_ms),
        "alerts_emitted": len(firing),
        "alerts_inhibited_or_silenced": sum(
            e.alert.status is AlertStatus.FIRING for e in engine.raw
        )
        - len(firing),
        **_sla_figures(run, engine, [r for r in rules if isinstance(r, BurnRateRule)]),
        "budget_overruns": len(overrun),
        "budget_alert_lead_hours": min(known) if known else None,
        "budget_alert_lead_hours_by_tenant": leads,
    }


def _provider_of(alert: Alert) -> str | None:
    labels = alert.labels
    if labels.get("entity_type") == "provider":
        return labels["entity_id"]
    return labels.get("provider_id")


def _incident_figures(run: SimRun, firing: list[Emitted], slack_ms: int) -> dict[str, Any]:
    """Incidents alerted, by kind, missed, duplicates and alerts without an incident."""

    def near(e: Emitted, inc: Incident) -> bool:
        # By when the alert's condition started, not when it was emitted: an alert held
        # back by inhibition and released later still belongs to its incident. A window
        # starts up to one window before the incident that begins inside it.
        return (
            _provider_of(e.alert) == inc.provider_id
            and inc.start_ms - run.window_ms <= e.alert.starts_at_ms <= inc.end_ms + slack_ms
        )

    scored = [i for i in run.incidents if i.kind in SCORED_KINDS]
    excluded: dict[str, int] = defaultdict(int)
    for inc in run.incidents:
        if inc.kind not in SCORED_KINDS:
            excluded[inc.kind.value] += 1
    alerted, duplicates, delays = 0, 0, []
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    names: dict[str, set[str]] = defaultdict(set)
    missed: list[dict[str, Any]] = []
    for inc in scored:
        hits = [e for e in firing if near(e, inc)]
        per_kind[inc.kind.value][0] += 1
        if hits:
            alerted += 1
            per_kind[inc.kind.value][1] += 1
            delays.append(round((min(e.at_ms for e in hits) - inc.start_ms) / 1000, 1))
            names[inc.kind.value] |= {e.alert.labels["alertname"] for e in hits}
        else:
            hosted = sum(p == inc.provider_id for p in run.workload_provider.values())
            missed.append({**inc.to_dict(), "workloads_on_provider": hosted})
        per_entity: dict[tuple[str, str], int] = defaultdict(int)
        for e in hits:
            per_entity[(e.alert.labels["entity_type"], e.alert.labels["entity_id"])] += 1
        duplicates += sum(n - 1 for n in per_entity.values())
    unmatched = [
        e
        for e in firing
        if e.alert.labels.get("entity_type") in ("provider", "workload")
        and not any(near(e, inc) for inc in run.incidents)
    ]
    return {
        "incidents": len(scored),
        "incidents_alerted": alerted,
        "incidents_by_kind": {
            k: {"incidents": v[0], "alerted": v[1], "alertnames": sorted(names[k])}
            for k, v in sorted(per_kind.items())
        },
        "incidents_excluded": dict(excluded),
        "incidents_missed": missed,
        "duplicate_alerts": duplicates,
        "alerts_without_incident": len(unmatched),
        "alerts_without_incident_names": sorted({e.alert.labels["alertname"] for e in unmatched}),
        "median_time_to_fire_s": statistics.median(delays) if delays else None,
    }


def _flaps(emitted: Sequence[Emitted], flap_window_ms: int) -> int:
    """Firings of a fingerprint within ``flap_window_ms`` of its last resolution."""
    flaps = 0
    last_resolved: dict[str, int] = {}
    for e in emitted:
        fp = e.alert.fingerprint
        if e.alert.status is AlertStatus.RESOLVED:
            last_resolved[fp] = e.at_ms
        elif fp in last_resolved and e.at_ms - last_resolved[fp] < flap_window_ms:
            flaps += 1
    return flaps


def _budget_leads(
    firing: list[Emitted], overrun: dict[str, int], budget_rule_names: set[str]
) -> dict[str, float | None]:
    """Hours between each tenant's first budget alert and its overrun (None: no alert)."""
    leads: dict[str, float | None] = {}
    for tenant, at in sorted(overrun.items()):
        first = [
            e.at_ms
            for e in firing
            if e.alert.labels["alertname"] in budget_rule_names
            and e.alert.labels["entity_id"] == tenant
            and e.at_ms <= at
        ]
        leads[tenant] = round((at - min(first)) / 3_600_000, 2) if first else None
    return leads


def _sla_figures(run: SimRun, engine: _Engine, burns: list[BurnRateRule]) -> dict[str, Any]:
    """Burn-rate alerts fired (before inhibition) vs predicted by the SRE table."""
    predicted: dict[str, int] = defaultdict(int)
    fired: dict[str, int] = defaultdict(int)
    for inc in run.incidents:
        if inc.kind is not IncidentKind.PROVIDER_OUTAGE:
            continue
        affected = [w for w, p in run.workload_provider.items() if p == inc.provider_id]
        for rule in burns:
            at = predicted_detection_ms(rule.factor, rule.long_window_ms, rule.objective, 1.0)
            if at is not None and at <= inc.duration_ms:
                predicted[f"{rule.factor:g}x"] += len(affected)
    burn_names = {r.name for r in burns}
    for e in engine.raw:
        if e.alert.status is AlertStatus.FIRING and e.alert.labels["alertname"] in burn_names:
            factor = next(
                r.factor
                for r in burns
                if r.alert_labels("")["slo_window"] == e.alert.labels.get("slo_window")
            )
            fired[f"{factor:g}x"] += 1
    rows = sorted({*predicted, *fired}, key=lambda k: -float(k[:-1]))
    return {
        "sla_burn_alerts_fired": sum(fired.values()),
        "sla_burn_alerts_predicted": sum(predicted.values()),
        "sla_burn_alerts_by_row": {
            row: {"fired": fired.get(row, 0), "predicted": predicted.get(row, 0)} for row in rows
        },
        "sla_burn_alerts_emitted": sum(
            e.alert.status is AlertStatus.FIRING and e.alert.labels["alertname"] in burn_names
            for e in engine.emitted
        ),
    }
