"""Agents: evaluate alert rules on closed windows and anomalies, emit on ``perf.alerts``.

Each agent is decode → :class:`alerts.engine.AlertEngine` → write; the rule logic below is
the engine's (pure, tested without Faust).

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
table ``fingerprint_to_alert_state``; last, the states of entities silent for
``state_evict_after_s`` are deleted (tombstoned), their firing alerts resolved first.
Replayed windows and anomalies are ignored by the state machine, so no alert is sent
twice for one transition.

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

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import faust
from faust.types import Message, StreamT, TableT, TopicT

from agents.alertmanager import AlertmanagerClient
from agents.outputs import (
    decode_or_dead_letter,
    delete_durably,
    guarded_agent,
    persist_durably,
    send_durably,
)
from alerts.engine import AlertEngine, AlertWrites
from alerts.rules import Rule
from config.metrics import PipelineMetrics
from schemas import Anomaly, MetricWindow, Record, TenantBudgetStatus

log = logging.getLogger(__name__)

R = TypeVar("R", bound=Record)

__all__ = ["register_alert_agent"]


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
    forget_after_s: float | None = None,
) -> None:
    """Wire threshold, absence and burn-rate rules to ``source`` windows, anomaly rules to
    ``anomalies_source``; burn-rate rules need ``burn_table``, and publish the SLO status
    of their trackers on ``slo_topic`` when one is given; budget rules to the tenant
    statuses of ``budgets_source`` (``perf.budgets``). An entity without a window for
    ``forget_after_s`` is forgotten (``AlertEngine``'s ``forget_after_ms``)."""
    engine = AlertEngine(
        rules,
        states=table,
        burn_trackers=burn_table,
        release_delay_ms=release_delay_ms,
        forget_after_ms=None if forget_after_s is None else round(forget_after_s * 1000),
    )

    async def write(out: AlertWrites) -> None:
        for told in out.alerts:
            await send_durably(alerts_topic, [(told.fingerprint, told)], metrics, "perf.alerts")
            metrics.alerts_emitted.labels(status=told.status.value).inc()
        if out.alerts and alertmanager is not None:
            await alertmanager.push(out.alerts)
        if out.slo and slo_topic is not None:
            await send_durably(slo_topic, [(s.key, s) for s in out.slo], metrics, "perf.slo")
        if out.states:
            await persist_durably(table, out.states)
        if out.burn_trackers and burn_table is not None:
            await persist_durably(burn_table, out.burn_trackers)
        if out.forgotten_states:
            await delete_durably(table, out.forgotten_states)
        if out.forgotten_burn_trackers and burn_table is not None:
            await delete_durably(burn_table, out.forgotten_burn_trackers)

    def rule_agent(
        name: str, model: type[R], topic_name: str, evaluate: Callable[[R, int], AlertWrites]
    ) -> Callable[[StreamT[Any]], Awaitable[None]]:
        # Bad records and bugs are dead-lettered per message: a bug must neither kill the
        # agent (faust#175) nor lose the record.
        async def handle(msg: Message) -> None:
            record = await decode_or_dead_letter(
                model, msg, dlq_topic=dlq_topic, metrics=metrics, source=topic_name
            )
            if record is not None:
                await write(evaluate(record, msg.partition))

        return guarded_agent(
            handle, name=name, source=topic_name, metrics=metrics, dlq_topic=dlq_topic
        )

    name = "evaluate_threshold_rules"
    app.agent(source, name=name)(rule_agent(name, MetricWindow, "perf.metrics", engine.on_window))
    if budgets_source is not None and engine.budget_rules:
        name = "evaluate_budget_rules"
        agent = rule_agent(name, TenantBudgetStatus, "perf.budgets", engine.on_budget)
        app.agent(budgets_source, name=name)(agent)
    if anomalies_source is not None and engine.anomaly_rules:
        name = "evaluate_anomaly_rules"
        agent = rule_agent(name, Anomaly, "perf.anomalies", engine.on_anomaly)
        app.agent(anomalies_source, name=name)(agent)
    if alertmanager is not None:

        async def resend_firing_alerts() -> None:
            await alertmanager.resend_firing()

        app.timer(interval=max(alertmanager.firing_ttl_s / 4, 1.0))(resend_firing_alerts)
