"""The per-(rule, entity) alert state machine.

:func:`evaluate` is a pure function ``(rule, state, window) -> (state', alert | None)``.
The caller owns storage: it keeps one :class:`AlertState` per alert fingerprint (see
:meth:`alerts.rules.ThresholdRule.fingerprint`) in a changelogged table and publishes the
returned alert, if any. Nothing here reads the clock; all times come from the window, so
replaying the same windows always yields the same states and alerts.

Phases and transitions (``B`` = window breaches ``threshold``, ``H`` = window is on the
healthy side of ``resolve_threshold``)::

    inactive --B--> pending              (for_windows > 1)
    inactive --B--> firing   [firing]    (for_windows == 1)
    pending  --B--> firing   [firing]    (after for_windows consecutive B)
    pending  --not B--> inactive
    firing   --not H--> firing           (hysteresis band or still breaching)
    firing   --H--> inactive [resolved]  (after resolve_windows consecutive H)

Examples
--------
>>> from schemas import MetricStats, MetricWindow, Severity
>>> from alerts.rules import ThresholdRule
>>> rule = ThresholdRule(name="GpuHot", metric="gpu_temp_c.p95", op=">", threshold=85,
...                      for_windows=2, resolve_threshold=80, severity=Severity.WARNING)
>>> def window(i, p95):
...     s = MetricStats(count=1, mean=p95, min=p95, max=p95, p50=p95, p95=p95, p99=p95)
...     start = 1_700_000_000_000 + i * 60_000
...     return MetricWindow(entity_type="provider", entity_id="p1", window_start_ms=start,
...                         window_end_ms=start + 60_000, count=1, metrics={"gpu_temp_c": s})
>>> state, events = AlertState(), []
>>> for i, p95 in enumerate([90, 91, 82, 79]):
...     state, alert = evaluate(rule, state, window(i, p95))
...     events.append((str(state.phase), alert and str(alert.status)))
>>> events
[('pending', None), ('firing', 'firing'), ('firing', None), ('inactive', 'resolved')]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from alerts.lifecycle import AlertState, Observation, Phase, advance
from alerts.rule_base import RuleBase
from alerts.rules import ThresholdRule
from alerts.signal_rules import AbsenceRule, AnomalyRule, BudgetRule, BurnRateRule
from schemas import (
    Alert,
    AlertStatus,
    Anomaly,
    MetricWindow,
    TenantBudgetStatus,
    alert_fingerprint,
)

__all__ = [
    "AlertState",
    "Phase",
    "alert_for",
    "evaluate",
    "evaluate_absence",
    "evaluate_anomaly",
    "evaluate_budget",
    "evaluate_burn",
    "evaluate_quiet",
    "observe_history",
    "observe_window",
]


def observe_window(rule: ThresholdRule, window: MetricWindow) -> Observation | None:
    """The observation *rule* makes of *window*; ``None`` when it has no data there.

    Examples
    --------
    >>> from schemas import MetricWindow
    >>> rule = ThresholdRule(name="E", metric="error_rate", op=">", threshold=0.1,
    ...                      resolve_threshold=0.05, severity="warning")
    >>> w = MetricWindow(entity_type="provider", entity_id="p1", window_start_ms=10**12,
    ...                  window_end_ms=10**12 + 60_000, count=1, metrics={}, error_rate=0.07)
    >>> obs = observe_window(rule, w)
    >>> obs.value, obs.breach, obs.healthy  # inside the hysteresis band
    (0.07, False, False)
    """
    return observe_history(rule, (), window)[1]


def observe_history(
    rule: ThresholdRule, history: Sequence[Sequence[float]], window: MetricWindow
) -> tuple[tuple[tuple[int, float], ...], Observation | None]:
    """:func:`observe_window` for rules that compare with earlier windows (``change_over``).

    *history* is the entity's (``AlertState.history``); returns the history to keep and
    the observation (``None`` without data, e.g. no window ``change_over`` back yet).

    Examples
    --------
    >>> from schemas import MetricWindow
    >>> rule = ThresholdRule(name="Up", metric="error_rate", op=">", threshold=0.1,
    ...                      change_over="1m", change="delta", severity="warning")
    >>> def w(i, rate):
    ...     return MetricWindow(entity_type="provider", entity_id="p1", count=1, metrics={},
    ...                         window_start_ms=10**12 + i * 60_000,
    ...                         window_end_ms=10**12 + (i + 1) * 60_000, error_rate=rate)
    >>> history, first = observe_history(rule, (), w(0, 0.01))
    >>> history, second = observe_history(rule, history, w(1, 0.5))
    >>> first, round(second.value, 2), second.breach
    (None, 0.49, True)
    """
    history, value = rule.changed(history, window.window_end_ms, rule.value(window))
    if value is None:
        return history, None
    return history, Observation(
        window.window_start_ms,
        window.window_end_ms,
        value,
        rule.is_breach(value),
        rule.is_healthy(value),
    )


def evaluate(
    rule: ThresholdRule, state: AlertState, window: MetricWindow
) -> tuple[AlertState, Alert | None]:
    """Advance *state* by one *window* and return the new state and any alert to emit.

    An alert is returned only on a transition: ``firing`` when the pending period
    completes, ``resolved`` when the resolve period completes. The input state is never
    mutated.

    The state is returned unchanged, with no alert, when

    - the window's ``entity_type`` differs from the rule's (the rule does not apply);
    - ``window.window_end_ms <= state.last_window_end_ms`` (replayed or late window);
    - the rule's metric is missing from the window ("no data" neither extends nor breaks
      a streak).

    Parameters
    ----------
    rule : ThresholdRule
        The rule being evaluated.
    state : AlertState
        The stored state for ``rule.fingerprint(window.entity_id)``; ``AlertState()`` if
        none yet.
    window : MetricWindow
        The next closed window for that entity.

    Returns
    -------
    tuple of (AlertState, Alert or None)

    Examples
    --------
    >>> from schemas import MetricWindow, Severity
    >>> from alerts.rules import ThresholdRule
    >>> rule = ThresholdRule(name="Errors", metric="error_rate", op=">", threshold=0.05,
    ...                      severity=Severity.CRITICAL,
    ...                      annotations={"summary": "{entity_id}: {value:.0%} > {threshold:.0%}"})
    >>> w = MetricWindow(entity_type="provider", entity_id="p1", window_start_ms=10**12,
    ...                  window_end_ms=10**12 + 60_000, count=10, metrics={}, error_rate=0.2)
    >>> state, alert = evaluate(rule, AlertState(), w)
    >>> state.phase, alert.status, alert.starts_at_ms, alert.annotations["summary"]
    (<Phase.FIRING: 'firing'>, <AlertStatus.FIRING: 'firing'>, 1000000000000, 'p1: 20% > 5%')
    >>> evaluate(rule, state, w) == (state, None)  # the same window replayed
    True
    """
    if window.entity_type != rule.entity_type:
        return state, None
    if state.history and window.window_end_ms <= state.history[-1][0]:
        return state, None  # replayed or late: the history must not lose newer windows
    history, obs = observe_history(rule, state.history, window)
    if obs is None:
        return (state if history == state.history else replace(state, history=history)), None
    new_state, status = advance(rule, state, obs)
    if history != new_state.history:
        new_state = replace(new_state, history=history)
    if status is None:
        return new_state, None
    started_at_ms = new_state.started_at_ms if status is AlertStatus.FIRING else state.started_at_ms
    assert started_at_ms is not None  # invariant: set whenever an episode fires or resolves
    return new_state, alert_for(
        rule, window.entity_id, obs.value, status, started_at_ms, obs.end_ms
    )


def alert_for(
    rule: RuleBase,
    entity_id: str,
    value: float,
    status: AlertStatus,
    started_at_ms: int,
    at_ms: int,
    extra_labels: dict[str, str] | None = None,
) -> Alert:
    """The :class:`schemas.Alert` of one transition of *rule* for *entity_id*.

    *extra_labels* (e.g. ``provider_id`` of a workload, for inhibition) join the rule's
    label set and so the fingerprint.

    Examples
    --------
    >>> from alerts.rule_base import RuleBase
    >>> a = alert_for(RuleBase(name="X", severity="page"), "w1", 2.0, AlertStatus.RESOLVED,
    ...               10**12, 10**12 + 5_000)
    >>> a.status, a.starts_at_ms, a.ends_at_ms, a.labels["entity_id"]
    (<AlertStatus.RESOLVED: 'resolved'>, 1000000000000, 1000000005000, 'w1')
    """
    labels = {**(extra_labels or {}), **rule.alert_labels(entity_id)}
    return Alert(
        fingerprint=alert_fingerprint(labels),
        status=status,
        labels=labels,
        annotations=rule.render(entity_id, value),
        starts_at_ms=started_at_ms,
        ends_at_ms=at_ms if status is AlertStatus.RESOLVED else None,
        severity=rule.severity,
    )


def evaluate_anomaly(
    rule: AnomalyRule, state: AlertState, anomaly: Anomaly
) -> tuple[AlertState, Alert | None]:
    """Advance an anomaly rule's state by one :class:`schemas.Anomaly`.

    Anomalies of another entity type or detector leave the state unchanged.

    Examples
    --------
    >>> from alerts.signal_rules import AbsenceRule, AnomalyRule, BurnRateRule
    >>> rule = AnomalyRule(name="Odd", severity="info", min_score=0.9)
    >>> a = Anomaly(entity_type="provider", entity_id="p1", ts_ms=10**12, score=0.95,
    ...             detector="ensemble")
    >>> state, alert = evaluate_anomaly(rule, AlertState(), a)
    >>> alert.status, alert.labels["entity_id"], alert.starts_at_ms
    (<AlertStatus.FIRING: 'firing'>, 'p1', 1000000000000)
    """
    if anomaly.entity_type != rule.entity_type:
        return state, None
    if rule.detector is not None and anomaly.detector != rule.detector:
        return state, None
    return _apply(rule, state, anomaly.entity_id, rule.observe(anomaly.ts_ms, anomaly.score))


def evaluate_quiet(
    rule: AnomalyRule, state: AlertState, window: MetricWindow, lag_windows: int = 2
) -> tuple[AlertState, Alert | None]:
    """A closed window is evidence that the entity was quiet ``lag_windows`` windows ago.

    The anomaly stage scores the same windows in parallel, so its anomaly for a window
    can arrive after the window itself; the heartbeat is for the window ``lag_windows``
    before, at that window's start — the ``ts_ms`` its anomaly would have — so it is
    ignored (as a replay) when that window did have an anomaly. Only pending or firing
    states change.

    Examples
    --------
    >>> from alerts.signal_rules import AbsenceRule, AnomalyRule, BurnRateRule
    >>> rule = AnomalyRule(name="Odd", severity="info", min_score=0.9)
    >>> a = Anomaly(entity_type="provider", entity_id="p1", ts_ms=10**12, score=0.95,
    ...             detector="ensemble")
    >>> state, _ = evaluate_anomaly(rule, AlertState(), a)
    >>> def w(i):
    ...     start = 10**12 + i * 60_000
    ...     return MetricWindow(entity_type="provider", entity_id="p1", window_start_ms=start,
    ...                         window_end_ms=start + 60_000, count=1, metrics={})
    >>> evaluate_quiet(rule, state, w(2))[1] is None  # quiet evidence for window 0: no
    True
    >>> evaluate_quiet(rule, state, w(3))[1].status  # window 1 had no anomaly: resolved
    <AlertStatus.RESOLVED: 'resolved'>
    """
    if window.entity_type != rule.entity_type or state.phase is Phase.INACTIVE:
        return state, None
    size = window.window_end_ms - window.window_start_ms
    at = window.window_start_ms - lag_windows * size
    return _apply(rule, state, window.entity_id, rule.quiet(at))


def _apply(
    rule: RuleBase, state: AlertState, entity_id: str, obs: Observation
) -> tuple[AlertState, Alert | None]:
    new_state, status = advance(rule, state, obs)
    if status is None:
        return new_state, None
    started = new_state.started_at_ms if status is AlertStatus.FIRING else state.started_at_ms
    assert started is not None  # invariant: set whenever an episode fires or resolves
    return new_state, alert_for(rule, entity_id, obs.value, status, started, obs.end_ms)


def evaluate_absence(
    rule: AbsenceRule, state: AlertState, entity_id: str, now_ms: int, last_seen_end_ms: int
) -> tuple[AlertState, Alert | None]:
    """Advance an absence rule for an entity last seen at ``last_seen_end_ms``.

    ``now_ms`` is the tick of the clock that drives the check (the newest window end of
    the partition), never the wall clock.

    Examples
    --------
    >>> from alerts.signal_rules import AbsenceRule
    >>> rule = AbsenceRule(name="ProviderDown", severity="critical", after="2m")
    >>> seen = 10**12
    >>> state, alert = evaluate_absence(rule, AlertState(), "p1", seen + 60_000, seen)
    >>> alert is None, state.phase
    (True, <Phase.INACTIVE: 'inactive'>)
    >>> state, alert = evaluate_absence(rule, state, "p1", seen + 120_000, seen)
    >>> alert.status, alert.labels["alertname"]
    (<AlertStatus.FIRING: 'firing'>, 'ProviderDown')
    >>> evaluate_absence(rule, state, "p1", seen + 180_000, seen + 180_000)[1].status
    <AlertStatus.RESOLVED: 'resolved'>
    """
    return _apply(rule, state, entity_id, rule.observe(now_ms, last_seen_end_ms))


def evaluate_burn(
    rule: BurnRateRule, state: AlertState, entity_id: str, obs: Observation
) -> tuple[AlertState, Alert | None]:
    """Advance a burn-rate rule by one observation of its entity's SLO tracker.

    *obs* comes from :func:`alerts.burn_windows.observe_burn_window` (or
    :func:`alerts.sla.burn_observation`).

    Examples
    --------
    >>> from alerts.sla import burn_rate_rules
    >>> page = burn_rate_rules("Slo", 0.99)[0]
    >>> state, alert = evaluate_burn(page, AlertState(), "w1",
    ...                              page.observe(10**12, long_burn=20.0, short_burn=30.0))
    >>> alert.status, alert.labels["slo_window"], alert.annotations["summary"]
    (<AlertStatus.FIRING: 'firing'>, '1h', 'w1 burns its Slo error budget at 20.0x (>= 14.4x)')
    >>> evaluate_burn(page, state, "w1", page.observe(10**12 + 60_000, long_burn=15.0,
    ...                                                short_burn=2.0))[1].status
    <AlertStatus.RESOLVED: 'resolved'>
    """
    return _apply(rule, state, entity_id, obs)


def evaluate_budget(
    rule: BudgetRule, state: AlertState, status: TenantBudgetStatus
) -> tuple[AlertState, Alert | None]:
    """Advance a budget rule by one tenant budget status (``perf.budgets``).

    The observation is the status's hours to projected exhaustion (``None``: not within
    the period) at its ``as_of_ms``; a status not newer than the last one is ignored.

    Examples
    --------
    >>> rule = BudgetRule(name="Budget", severity="warning", warn_before="12h")
    >>> s = TenantBudgetStatus(tenant_id="acme", period="day", period_start_ms=10**12,
    ...     period_end_ms=10**12 + 86_400_000, limit_usd=10.0, spent_usd=9.0,
    ...     remaining_usd=1.0, burn_usd_per_h=1.0, forecast_usd=30.0,
    ...     exhaustion_ms=10**12 + 3_600_000, hours_to_exhaustion=1.0, as_of_ms=10**12)
    >>> state, alert = evaluate_budget(rule, AlertState(), s)
    >>> alert.status, alert.labels["entity_id"], alert.annotations
    (<AlertStatus.FIRING: 'firing'>, 'acme', {})
    >>> evaluate_budget(rule, state, s)[1] is None  # the same status again
    True
    """
    hours = status.hours_to_exhaustion
    obs = rule.observe(status.as_of_ms, float("inf") if hours is None else hours)
    return _apply(rule, state, status.tenant_id, obs)
