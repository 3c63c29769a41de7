"""Agent: evaluate threshold rules on every closed window and emit alerts on ``perf.alerts``.

Per window: decode (bad records are dead-lettered), run each rule for the window's entity
type through the pure state machine (:func:`alerts.state.evaluate`), send any alert
durably (key = fingerprint, the operators' dedup key), then store the new state in
table ``fingerprint_to_alert_state``. Re-emitted windows (after a crash) are ignored by
the state machine, so no alert is sent twice for one transition.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import faust
from faust.types import StreamT, TableT, TopicT

from agents.outputs import dead_letter, persist_durably, send_dead_letters, send_durably
from alerts.rules import Rule, ThresholdRule
from alerts.state import AlertState, Phase, evaluate
from schemas import Alert, DecodeError, MetricWindow, decode
from streams.metrics import PipelineMetrics

log = logging.getLogger(__name__)


def state_to_json(state: AlertState) -> dict[str, Any]:
    """JSON-able form of an :class:`AlertState` for the changelogged table."""
    return dataclasses.asdict(state)


def state_from_json(data: dict[str, Any] | None) -> AlertState:
    """Inverse of :func:`state_to_json`; ``None`` is the initial state."""
    if not data:
        return AlertState()
    return AlertState(**{**data, "phase": Phase(data["phase"])})


def register_alert_agent(
    app: faust.App,
    *,
    rules: list[Rule],
    metrics: PipelineMetrics,
    source: TopicT,
    alerts_topic: TopicT,
    dlq_topic: TopicT,
    table: TableT[Any, Any],
) -> None:
    """Wire the threshold rules to the closed windows of ``source``."""

    async def apply_rule(rule: ThresholdRule, window: MetricWindow, partition: int) -> None:
        key = rule.fingerprint(window.entity_id)
        state = state_from_json(table.get(key))
        new_state, alert = evaluate(rule, state, window)
        if alert is not None:
            await send_durably(alerts_topic, [(alert.fingerprint, alert)], metrics, "perf.alerts")
            metrics.alerts_emitted.labels(status=alert.status.value).inc()
        if new_state != state:
            await persist_durably(table, [(key, state_to_json(new_state), partition)])

    async def evaluate_threshold_rules(stream: StreamT[Any]) -> None:
        async for event in stream.events():
            msg = event.message
            metrics.events_in.labels(topic="perf.metrics").inc()
            try:
                window = decode(MetricWindow, msg.value or b"")
                for rule in rules:
                    if isinstance(rule, ThresholdRule) and rule.entity_type == window.entity_type:
                        await apply_rule(rule, window, msg.partition)
            except DecodeError as exc:
                letter = dead_letter(msg, exc.reason, exc.error_type)
                await send_dead_letters(dlq_topic, [letter], metrics, "perf.metrics")
            except Exception as exc:
                # A bug must neither kill the agent (faust#175) nor lose the window.
                log.exception("cannot evaluate rules on %s@%d", msg.topic, msg.offset)
                letter = dead_letter(msg, f"internal error: {exc!r}", "internal")
                await send_dead_letters(dlq_topic, [letter], metrics, "perf.metrics")

    app.agent(source, name="evaluate_threshold_rules")(evaluate_threshold_rules)


__all__ = ["Alert", "register_alert_agent", "state_from_json", "state_to_json"]
