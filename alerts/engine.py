"""The alert agent's logic without Faust: a record and the stored state in, writes out.

:class:`AlertEngine` evaluates every rule a record concerns: on a closed window, absence
rules (for every entity of the partition whenever its clock, the newest window end,
advances), burn-rate rules on the windows of their entity type, threshold rules, and the
quiet heartbeat of anomaly rules; on an anomaly, anomaly rules; on a tenant's budget
status, budget rules. Transitions go through the pure state machine
(:mod:`alerts.state`) and the inhibition :class:`~alerts.inhibition.Dispatcher`.

It reads stored state through two mappings (the alert-state table and the burn-tracker
table, read-only here) and returns :class:`AlertWrites`, which the adapter
(``agents/alerting.py``) carries out in this order: alerts sent durably, SLO statuses
sent, then the alert states and last-seen marks stored, then the burn trackers. That
order is what makes a crash harmless: a replayed record meets the old state, the state
machine ignores what it already holds, and no alert is sent twice for one transition.

Examples
--------
>>> from alerts.rules import ThresholdRule
>>> from schemas import EntityType, MetricStats, MetricWindow
>>> rule = ThresholdRule(name="Hot", metric="gpu_temp_c.p95", op=">", threshold=85.0,
...                      for_windows=1, severity="warning")
>>> table: dict[str, Any] = {}
>>> engine = AlertEngine([rule], states=table, burn_trackers={})
>>> def window(end_ms, temp):
...     stats = MetricStats(count=1, mean=temp, min=temp, max=temp, p50=temp, p95=temp,
...                         p99=temp)
...     return MetricWindow(entity_type=EntityType.PROVIDER, entity_id="p1",
...                         window_start_ms=end_ms - 60_000, window_end_ms=end_ms,
...                         count=1, metrics={"gpu_temp_c": stats})
>>> writes = engine.on_window(window(1_700_000_060_000, 90.0), partition=0)
>>> [(a.labels["alertname"], a.status.value) for a in writes.alerts]
[('Hot', 'firing')]
>>> table.update((k, v) for k, v, _ in writes.states)  # what the adapter stores
>>> engine.on_window(window(1_700_000_060_000, 90.0), partition=0).alerts  # a replay: none
[]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

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
from schemas import Alert, AlertStatus, Anomaly, MetricWindow, TenantBudgetStatus
from schemas.slo import SloStatus

__all__ = ["AlertEngine", "AlertWrites", "state_from_json", "state_to_json"]


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


@dataclass
class AlertWrites:
    """What one record produced, in the order the adapter carries it out.

    ``states`` and ``burn_trackers`` are ``(key, value, partition)`` table writes;
    ``forgotten_states`` and ``forgotten_burn_trackers`` the keys to delete (tombstone).
    """

    alerts: list[Alert] = field(default_factory=list)
    slo: list[SloStatus] = field(default_factory=list)
    states: list[tuple[str, Any, int]] = field(default_factory=list)
    burn_trackers: list[tuple[str, Any, int]] = field(default_factory=list)
    #: ``(key, partition)`` of forgotten entities, deleted after the writes above.
    forgotten_states: list[tuple[str, int]] = field(default_factory=list)
    forgotten_burn_trackers: list[tuple[str, int]] = field(default_factory=list)


class AlertEngine:
    """Alert rules over windows, anomalies and budget statuses, with their stored state.

    Parameters
    ----------
    rules
        Every rule; each kind is evaluated on the records it concerns.
    states
        The alert-state table (fingerprint → state JSON, ``last_seen:<type>:<id>`` →
        last window end and partition), read here and written by the adapter.
    burn_trackers
        The burn-tracker table (``<entity_type>:<entity_id>`` → tracker); required when
        there are burn-rate rules.
    release_delay_ms
        How long the dispatcher holds an inhibited alert's release.
    forget_after_ms
        An entity without a window for this long (by its partition's clock), and for
        longer than every absence rule of its type waits (so that rule fires first), is
        forgotten: its alert states, last-seen mark and burn tracker are deleted, and an
        alert of it still firing is resolved with the annotation ``forgotten`` saying why.
        Without it, churned ids would be kept for good (issue 17: ~3 kB each, and every
        absence check walks them all). ``None`` keeps every entity.

    Examples
    --------
    A provider that stops sending pages once (``ProviderDown``) and, once forgotten, is
    resolved and leaves nothing in the table:

    >>> from alerts.signal_rules import AbsenceRule
    >>> from schemas import EntityType, MetricWindow
    >>> table: dict[str, Any] = {}
    >>> engine = AlertEngine([AbsenceRule(name="ProviderDown", severity="critical",
    ...                                   after="2m")], states=table, forget_after_ms=600_000)
    >>> def window(entity_id, end_ms):
    ...     return MetricWindow(entity_type=EntityType.PROVIDER, entity_id=entity_id,
    ...                         window_start_ms=end_ms - 60_000, window_end_ms=end_ms,
    ...                         count=1, metrics={})
    >>> def feed(entity_id, end_ms):
    ...     writes = engine.on_window(window(entity_id, end_ms), partition=0)
    ...     table.update((k, v) for k, v, _ in writes.states)
    ...     for key, _ in writes.forgotten_states:
    ...         del table[key]
    ...     return [(a.labels["entity_id"], a.status.value) for a in writes.alerts]
    >>> t0 = 1_700_000_000_000
    >>> feed("gone", t0), feed("stays", t0)
    ([], [])
    >>> [alert for m in range(1, 11) for alert in feed("stays", t0 + m * 60_000)]
    [('gone', 'firing'), ('gone', 'resolved')]
    >>> sorted(key.split(":")[-1] for key in table if key.startswith("last_seen:"))
    ['stays']
    """

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        states: Mapping[Any, Any],
        burn_trackers: Mapping[Any, Any] | None = None,
        release_delay_ms: int = 600_000,
        forget_after_ms: int | None = None,
    ) -> None:
        self.thresholds = [r for r in rules if isinstance(r, ThresholdRule)]
        self.burns = [r for r in rules if isinstance(r, BurnRateRule)]
        self.anomaly_rules = [r for r in rules if isinstance(r, AnomalyRule)]
        self.absences = [r for r in rules if isinstance(r, AbsenceRule)]
        self.budget_rules = [r for r in rules if isinstance(r, BudgetRule)]
        if self.burns and burn_trackers is None:
            raise ValueError("burn-rate rules need a burn_table for their trackers")
        self._burn_entity_types = {r.entity_type for r in self.burns}
        self._states = states
        self._burn_trackers = burn_trackers if burn_trackers is not None else {}
        self._forget_after_ms = forget_after_ms
        self._rules_of: dict[str, list[Rule]] = {}
        kept: list[Rule] = [*self.thresholds, *self.burns, *self.anomaly_rules, *self.absences]
        for r in kept:
            self._rules_of.setdefault(str(r.entity_type), []).append(r)
        # Never before an absence rule of the entity's type has had its say: it fires at
        # its `after`, and the forgetting resolves it a tick later at the earliest.
        self._forget_ms_of = {
            etype: max(
                [forget_after_ms or 0]
                + [a.after_ms + 1 for a in self.absences if str(a.entity_type) == etype]
            )
            for etype in self._rules_of
        }
        # Absence and forgetting: per source partition, the entities seen and their last
        # window end, and the partition's clock (newest window end). The table keeps
        # "last_seen:<type>:<id>" so a restarted worker still knows the entities that went
        # silent meanwhile.
        self._seen: dict[int, dict[tuple[str, str], int]] = {}
        self._clock: dict[int, int] = {}
        self._seen_loaded = False
        # Inhibition (a firing critical over its entity's warnings; ProviderDown over its
        # workloads) before the topic: held alerts are never sent, nor their resolutions.
        self._dispatcher = Dispatcher(release_delay_ms=release_delay_ms)
        self._dispatcher_restored = False

    def on_window(self, window: MetricWindow, partition: int) -> AlertWrites:
        """Every rule a closed window concerns."""
        out = AlertWrites()
        if self.absences or self._forget_after_ms is not None:
            self._check_absence(window, partition, out)
        if window.entity_type in self._burn_entity_types:  # no tracker read otherwise
            self._check_burn(window, partition, out)
        end = window.window_end_ms
        for rule in self.thresholds:
            if rule.entity_type == window.entity_type:
                key = rule.fingerprint(window.entity_id)
                state = self._state(key, out)
                self._emit(key, state, *evaluate(rule, state, window), partition, end, out)
        for anomaly_rule in self.anomaly_rules:
            if anomaly_rule.entity_type == window.entity_type:
                key = anomaly_rule.fingerprint(window.entity_id)
                state = self._state(key, out)
                new, alert = evaluate_quiet(anomaly_rule, state, window)
                self._emit(key, state, new, alert, partition, end, out)
        return out

    def on_anomaly(self, anomaly: Anomaly, partition: int) -> AlertWrites:
        """Anomaly rules on one scored anomaly."""
        out = AlertWrites()
        for rule in self.anomaly_rules:
            key = rule.fingerprint(anomaly.entity_id)
            state = self._state(key, out)
            new, alert = evaluate_anomaly(rule, state, anomaly)
            self._emit(key, state, new, alert, partition, anomaly.ts_ms, out)
        return out

    def on_budget(self, status: TenantBudgetStatus, partition: int) -> AlertWrites:
        """Budget rules on one tenant's budget status."""
        out = AlertWrites()
        for rule in self.budget_rules:
            key = rule.fingerprint(status.tenant_id)
            state = self._state(key, out)
            new, alert = evaluate_budget(rule, state, status)
            self._emit(key, state, new, alert, partition, status.as_of_ms, out)
        return out

    def _stored(self, key: str, out: AlertWrites) -> Any:
        # Writes of this record not stored yet win over the table.
        for k, value, _ in reversed(out.states):
            if k == key:
                return value
        return self._states.get(key)

    def _state(self, key: str, out: AlertWrites) -> AlertState:
        return state_from_json(self._stored(key, out))

    def _restore_dispatcher(self) -> None:
        if self._dispatcher_restored:
            return
        self._dispatcher_restored = True
        self._dispatcher.restore(
            Alert.model_validate(value["alert"])
            for value in list(self._states.values())
            if isinstance(value, dict)
            and value.get("alert")
            and value.get("phase") in (Phase.FIRING, Phase.FLAPPING)
        )

    def _emit(
        self,
        key: str,
        state: AlertState,
        new: AlertState,
        alert: Alert | None,
        partition: int,
        now_ms: int,
        out: AlertWrites,
    ) -> None:
        self._restore_dispatcher()
        told = [] if alert is None else self._dispatcher.process(alert, now_ms)
        out.alerts += told + self._dispatcher.tick(now_ms)
        if new == state:
            return
        entry = state_to_json(new)
        if new.phase in (Phase.FIRING, Phase.FLAPPING):
            # The firing alert rides along so a restarted worker knows the inhibition
            # sources (Dispatcher.restore).
            previous = self._stored(key, out)
            if alert is not None:
                entry["alert"] = alert.model_dump(mode="json")
            elif isinstance(previous, dict) and previous.get("alert"):
                entry["alert"] = previous["alert"]
        out.states.append((key, entry, partition))

    def _load_seen(self) -> None:
        if self._seen_loaded:
            return
        self._seen_loaded = True
        for key, value in list(self._states.items()):
            if isinstance(key, str) and key.startswith("last_seen:") and isinstance(value, dict):
                _, etype, eid = key.split(":", 2)
                entities = self._seen.setdefault(int(value["partition"]), {})
                entities[(etype, eid)] = int(value["end_ms"])

    def _check_absence(self, window: MetricWindow, partition: int, out: AlertWrites) -> None:
        self._load_seen()
        entities = self._seen.setdefault(partition, {})
        entity = (str(window.entity_type), window.entity_id)
        end = window.window_end_ms
        if entities.get(entity, -1) < end:
            entities[entity] = end
            value = {"end_ms": end, "partition": partition}
            out.states.append((f"last_seen:{entity[0]}:{entity[1]}", value, partition))
        if end <= self._clock.get(partition, -1):
            return
        self._clock[partition] = end
        for rule in self.absences:
            for (etype, eid), last in list(entities.items()):
                if etype == rule.entity_type:
                    key = rule.fingerprint(eid)
                    state = self._state(key, out)
                    new, alert = evaluate_absence(rule, state, eid, end, last)
                    self._emit(key, state, new, alert, partition, end, out)
        if self._forget_after_ms is not None:
            for (etype, eid), last in list(entities.items()):
                if end - last >= self._forget_ms_of.get(etype, self._forget_after_ms):
                    del entities[(etype, eid)]
                    self._forget(etype, eid, partition, end, out)

    def _forget(self, etype: str, eid: str, partition: int, now_ms: int, out: AlertWrites) -> None:
        """Delete everything kept for one entity; resolve what of it still fires."""
        self._restore_dispatcher()
        silent_s = self._forget_ms_of.get(etype, self._forget_after_ms or 0) // 1000
        for rule in self._rules_of.get(etype, []):
            key = rule.fingerprint(eid)
            stored = self._stored(key, out)
            if stored is None:
                continue
            fired = stored.get("alert") if isinstance(stored, dict) else None
            if fired and stored.get("phase") in (Phase.FIRING, Phase.FLAPPING):
                alert = Alert.model_validate(fired)
                resolved = alert.model_copy(
                    update={
                        "status": AlertStatus.RESOLVED,
                        "ends_at_ms": max(now_ms, alert.starts_at_ms),
                        "annotations": {
                            **alert.annotations,
                            "forgotten": f"no window from {eid} for {silent_s} s: "
                            "its alert state was dropped",
                        },
                    }
                )
                out.alerts += self._dispatcher.process(resolved, now_ms)
            out.states = [w for w in out.states if w[0] != key]
            out.forgotten_states.append((key, partition))
        last_seen = f"last_seen:{etype}:{eid}"
        out.states = [w for w in out.states if w[0] != last_seen]
        if self._states.get(last_seen) is not None:
            out.forgotten_states.append((last_seen, partition))
        tracker = f"{etype}:{eid}"
        if self._burn_trackers.get(tracker) is not None:
            out.forgotten_burn_trackers.append((tracker, partition))

    def _check_burn(self, window: MetricWindow, partition: int, out: AlertWrites) -> None:
        entity = f"{window.entity_type.value}:{window.entity_id}"
        stored = self._burn_trackers.get(entity)
        tracker, observed = observe_burn_window(self.burns, stored, window)
        for rule, obs in observed:
            key = rule.fingerprint(window.entity_id)
            state = self._state(key, out)
            new, alert = evaluate_burn(rule, state, window.entity_id, obs)
            self._emit(key, state, new, alert, partition, window.window_end_ms, out)
        if tracker is not stored:
            out.slo += slo_statuses(self.burns, stored, tracker, window)
            out.burn_trackers.append((entity, tracker, partition))
