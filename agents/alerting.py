"""Agents: evaluate alert rules on closed windows and anomalies, emit on ``perf.alerts``.

``evaluate_threshold_rules`` (``perf.metrics``): per window, threshold rules through the
pure state machine (:func:`alerts.state.evaluate`), for anomaly rules a quiet heartbeat
(:func:`alerts.state.evaluate_quiet`), and absence rules for every entity of the
partition whenever its clock (newest window end) advances
(:func:`alerts.state.evaluate_absence`), and burn-rate rules on the windows of their
entity type (:func:`alerts.burn_windows.observe_burn_window`, then
:func:`alerts.state.evaluate_burn`). ``evaluate_anomaly_rules``
(``perf.anomalies``): anomaly rules (:func:`alerts.state.evaluate_anomaly`).
``evaluate_budget_rules`` (``perf.budgets``, from the ``budgets`` role): budget rules on
each tenant's status (:func:`alerts.state.evaluate_budget`; fingerprint per tenant, so a
tenant projected to exhaust its budget within the rule's ``warn_before`` pages once).
Every alert is sent durably (key = fingerprint, the operators' dedup key), then pushed to
Alertmanager when one is configured (best effort), then the new state is stored in
table ``fingerprint_to_alert_state``. Replayed windows and anomalies are ignored by the
state machine, so no alert is sent twice for one transition.

Burn-rate trackers live in table ``entity_to_burn_state``, keyed like the ``perf.metrics``
records (``<entity_type>:<entity_id>``) and written to the window's source partition, so
the worker that owns the entity's windows owns its tracker, also after a rebalance. A
tracker is written after the alert states it produced: a crash in between replays the
window into the old tracker, whose observation the alert states already hold (ignored).
Before the tracker, the status of every SLO the window changed
(:func:`alerts.slo_status.slo_statuses`) is sent durably to ``perf.slo`` (compacted, key
``<entity_type>:<entity_id>|<slo key>``): a replay after a crash sends the same status
again under the same key, which changes nothing downstream.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import faust
from faust.types import Message, StreamT, TableT, TopicT

from agents.alertmanager import AlertmanagerClient
from agents.outputs import (
    decode_or_dead_letter,
    guarded_agent,
    persist_durably,
    send_durably,
)
from alerts.burn_windows import observe_burn_window
from alerts.inhibition import Dispatcher
from alerts.rules import Rule, ThresholdRule
from alerts.signal_rules import AbsenceRule, AnomalyRule, BudgetRule, BurnRateRule
from alerts.slo_status import slo_statuses
from alerts.state import (
    AlertState,
    Phase,
    evaluate,
    evaluate_absence,
    evaluate_anomaly,
    evaluate_budget,
    evaluate_burn,
    evaluate_quiet,
)
from schemas import Alert, Anomaly, MetricWindow, Record, TenantBudgetStatus
from streams.metrics import PipelineMetrics

log = logging.getLogger(__name__)

R = TypeVar("R", bound=Record)


def state_to_json(state: AlertState) -> dict[str, Any]:
    """JSON-able form of an :class:`AlertState` for the changelogged table."""
    data = dataclasses.asdict(state)
    data["fired_at_ms"] = list(state.fired_at_ms)
    return data


def state_from_json(data: dict[str, Any] | None) -> AlertState:
    """Inverse of :func:`state_to_json`; ``None`` is the initial state.

    States written before a field existed load with that field's default.
    """
    if not data:
        return AlertState()
    known = {f.name for f in dataclasses.fields(AlertState)}
    values = {k: v for k, v in data.items() if k in known}
    values["phase"] = Phase(data["phase"])
    values["fired_at_ms"] = tuple(data.get("fired_at_ms", ()))
    values["history"] = tuple((int(end), float(v)) for end, v in data.get("history", ()))
    return AlertState(**values)


def register_alert_agent(
    app: faust.App,
    *,
    rules: list[Rule],
    metrics: PipelineMetrics,
    source: TopicT,
    alerts_topic: TopicT,
    dlq_topic: TopicT,
    table: TableT[Any, Any],
    anomalies_source: TopicT | None = None,
    alertmanager: AlertmanagerClient | None = None,
    release_delay_ms: int = 600_000,
    burn_table: TableT[Any, Any] | None = None,
    slo_topic: TopicT | None = None,
    budgets_source: TopicT | None = None,
) -> None:
    """Wire threshold, absence and burn-rate rules to ``source`` windows, anomaly rules to
    ``anomalies_source``; burn-rate rules need ``burn_table``, and publish the SLO status
    of their trackers on ``slo_topic`` when one is given; budget rules to the tenant
    statuses of ``budgets_source`` (``perf.budgets``)."""
    thresholds = [r for r in rules if isinstance(r, ThresholdRule)]
    burns = [r for r in rules if isinstance(r, BurnRateRule)]
    burn_entity_types = {r.entity_type for r in burns}
    if burns and burn_table is None:
        raise ValueError("burn-rate rules need a burn_table for their trackers")
    anomaly_rules = [r for r in rules if isinstance(r, AnomalyRule)]
    absences = [r for r in rules if isinstance(r, AbsenceRule)]
    budget_rules = [r for r in rules if isinstance(r, BudgetRule)]
    # Absence: per source partition, the entities seen and their last window end, and the
    # partition's clock (newest window end). The table keeps "last_seen:<type>:<id>" so a
    # restarted worker still knows the entities that went silent meanwhile.
    seen: dict[int, dict[tuple[str, str], int]] = {}
    clock: dict[int, int] = {}
    loaded: list[bool] = []
    # Inhibition (a firing critical over its entity's warnings; ProviderDown over its
    # workloads) before the topic: held alerts are never sent, nor their resolutions.
    dispatcher = Dispatcher(release_delay_ms=release_delay_ms)
    restored: list[bool] = []

    def restore_dispatcher() -> None:
        if restored:
            return
        restored.append(True)
        dispatcher.restore(
            Alert.model_validate(value["alert"])
            for value in list(table.values())
            if isinstance(value, dict)
            and value.get("alert")
            and value.get("phase") in (Phase.FIRING, Phase.FLAPPING)
        )

    async def emit(
        key: str,
        state: AlertState,
        new: AlertState,
        alert: Alert | None,
        partition: int,
        now_ms: int,
    ) -> None:
        restore_dispatcher()
        out = [] if alert is None else dispatcher.process(alert, now_ms)
        out += dispatcher.tick(now_ms)
        for told in out:
            await send_durably(alerts_topic, [(told.fingerprint, told)], metrics, "perf.alerts")
            metrics.alerts_emitted.labels(status=told.status.value).inc()
        if out and alertmanager is not None:
            await alertmanager.push(out)
        if new != state:
            entry = state_to_json(new)
            if new.phase in (Phase.FIRING, Phase.FLAPPING):
                # The firing alert rides along so a restarted worker knows the inhibition
                # sources (Dispatcher.restore).
                previous = table.get(key)
                if alert is not None:
                    entry["alert"] = alert.model_dump(mode="json")
                elif isinstance(previous, dict) and previous.get("alert"):
                    entry["alert"] = previous["alert"]
            await persist_durably(table, [(key, entry, partition)])

    def load_seen() -> None:
        if loaded:
            return
        loaded.append(True)
        for key, value in list(table.items()):
            if isinstance(key, str) and key.startswith("last_seen:") and isinstance(value, dict):
                _, etype, eid = key.split(":", 2)
                seen.setdefault(int(value["partition"]), {})[(etype, eid)] = int(value["end_ms"])

    async def check_absence(window: MetricWindow, partition: int) -> None:
        load_seen()
        entities = seen.setdefault(partition, {})
        entity = (str(window.entity_type), window.entity_id)
        end = window.window_end_ms
        if entities.get(entity, -1) < end:
            entities[entity] = end
            value = {"end_ms": end, "partition": partition}
            await persist_durably(table, [(f"last_seen:{entity[0]}:{entity[1]}", value, partition)])
        if end <= clock.get(partition, -1):
            return
        clock[partition] = end
        for rule in absences:
            for (etype, eid), last in list(entities.items()):
                if etype == rule.entity_type:
                    key = rule.fingerprint(eid)
                    state = state_from_json(table.get(key))
                    new, alert = evaluate_absence(rule, state, eid, end, last)
                    await emit(key, state, new, alert, partition, end)

    async def check_burn(window: MetricWindow, partition: int) -> None:
        assert burn_table is not None  # checked at registration
        entity = f"{window.entity_type.value}:{window.entity_id}"
        stored = burn_table.get(entity)
        tracker, observed = observe_burn_window(burns, stored, window)
        for rule, obs in observed:
            key = rule.fingerprint(window.entity_id)
            state = state_from_json(table.get(key))
            new, alert = evaluate_burn(rule, state, window.entity_id, obs)
            await emit(key, state, new, alert, partition, window.window_end_ms)
        if tracker is not stored:
            if slo_topic is not None:
                statuses = slo_statuses(burns, stored, tracker, window)
                await send_durably(slo_topic, [(s.key, s) for s in statuses], metrics, "perf.slo")
            await persist_durably(burn_table, [(entity, tracker, partition)])

    async def on_window(window: MetricWindow, partition: int) -> None:
        if absences:
            await check_absence(window, partition)
        if window.entity_type in burn_entity_types:  # no tracker read for provider windows
            await check_burn(window, partition)
        for rule in thresholds:
            if rule.entity_type == window.entity_type:
                key = rule.fingerprint(window.entity_id)
                state = state_from_json(table.get(key))
                new, alert = evaluate(rule, state, window)
                await emit(key, state, new, alert, partition, window.window_end_ms)
        for anomaly_rule in anomaly_rules:
            if anomaly_rule.entity_type == window.entity_type:
                key = anomaly_rule.fingerprint(window.entity_id)
                state = state_from_json(table.get(key))
                new, alert = evaluate_quiet(anomaly_rule, state, window)
                await emit(key, state, new, alert, partition, window.window_end_ms)

    async def on_anomaly(anomaly: Anomaly, partition: int) -> None:
        for rule in anomaly_rules:
            key = rule.fingerprint(anomaly.entity_id)
            state = state_from_json(table.get(key))
            new, alert = evaluate_anomaly(rule, state, anomaly)
            await emit(key, state, new, alert, partition, anomaly.ts_ms)

    async def on_budget(status: TenantBudgetStatus, partition: int) -> None:
        for rule in budget_rules:
            key = rule.fingerprint(status.tenant_id)
            state = state_from_json(table.get(key))
            new, alert = evaluate_budget(rule, state, status)
            await emit(key, state, new, alert, partition, status.as_of_ms)

    def rule_agent(
        name: str, model: type[R], topic_name: str, on_record: Callable[[R, int], Awaitable[None]]
    ) -> Callable[[StreamT[Any]], Awaitable[None]]:
        # Bad records and bugs are dead-lettered per message: a bug must neither kill the
        # agent (faust#175) nor lose the record.
        async def handle(msg: Message) -> None:
            record = await decode_or_dead_letter(
                model, msg, dlq_topic=dlq_topic, metrics=metrics, source=topic_name
            )
            if record is not None:
                await on_record(record, msg.partition)

        return guarded_agent(
            handle, name=name, source=topic_name, metrics=metrics, dlq_topic=dlq_topic
        )

    name = "evaluate_threshold_rules"
    app.agent(source, name=name)(rule_agent(name, MetricWindow, "perf.metrics", on_window))
    if budgets_source is not None and budget_rules:
        name = "evaluate_budget_rules"
        agent = rule_agent(name, TenantBudgetStatus, "perf.budgets", on_budget)
        app.agent(budgets_source, name=name)(agent)
    if anomalies_source is not None and anomaly_rules:
        name = "evaluate_anomaly_rules"
        agent = rule_agent(name, Anomaly, "perf.anomalies", on_anomaly)
        app.agent(anomalies_source, name=name)(agent)
    if alertmanager is not None:

        async def resend_firing_alerts() -> None:
            await alertmanager.resend_firing()

        app.timer(interval=max(alertmanager.firing_ttl_s / 4, 1.0))(resend_firing_alerts)


__all__ = ["Alert", "register_alert_agent", "state_from_json", "state_to_json"]
