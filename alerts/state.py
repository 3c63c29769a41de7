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

from dataclasses import dataclass, replace
from enum import StrEnum

from alerts.rules import ThresholdRule
from schemas import Alert, AlertStatus, MetricWindow, alert_fingerprint

__all__ = ["AlertState", "Phase", "evaluate"]


class Phase(StrEnum):
    """Lifecycle phase of one (rule, entity) pair, named as in Prometheus.

    Examples
    --------
    >>> Phase("pending") is Phase.PENDING
    True
    """

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


@dataclass(frozen=True, slots=True)
class AlertState:
    """Immutable state of one (rule, entity) pair between windows.

    Deliberately small and made only of builtins plus a :class:`Phase`, because it is
    pickled into a changelogged table on every window.

    Attributes
    ----------
    phase : Phase
        Current phase.
    breach_streak : int
        Consecutive breaching windows up to the last evaluated one (0 when inactive).
    healthy_streak : int
        While firing, consecutive windows on the healthy side of the resolve threshold;
        0 in the other phases.
    started_at_ms : int or None
        ``window_start_ms`` of the first breaching window of the current pending/firing
        episode; ``None`` when inactive. Becomes the alert's ``starts_at_ms``.
    last_value : float or None
        Metric value of the last evaluated window.
    last_window_end_ms : int or None
        ``window_end_ms`` of the last evaluated window; windows ending at or before it are
        ignored so re-emitted windows (e.g. after a crash) are idempotent.

    Examples
    --------
    >>> import pickle
    >>> s = AlertState()
    >>> s.phase, s.breach_streak, s.started_at_ms
    (<Phase.INACTIVE: 'inactive'>, 0, None)
    >>> pickle.loads(pickle.dumps(s)) == s
    True
    """

    phase: Phase = Phase.INACTIVE
    breach_streak: int = 0
    healthy_streak: int = 0
    started_at_ms: int | None = None
    last_value: float | None = None
    last_window_end_ms: int | None = None


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
    if state.last_window_end_ms is not None and window.window_end_ms <= state.last_window_end_ms:
        return state, None
    value = rule.value(window)
    if value is None:
        return state, None

    end_ms = window.window_end_ms
    breach = rule.is_breach(value)

    if state.phase is Phase.FIRING:
        breach_streak = state.breach_streak + 1 if breach else 0
        if not rule.is_healthy(value):
            # Still breaching or inside the hysteresis band: keep firing and restart the
            # healthy count, because resolve_windows must be *consecutive*.
            kept = replace(
                state,
                breach_streak=breach_streak,
                healthy_streak=0,
                last_value=value,
                last_window_end_ms=end_ms,
            )
            return kept, None
        healthy_streak = state.healthy_streak + 1
        if healthy_streak < rule.resolve_windows:
            kept = replace(
                state,
                breach_streak=breach_streak,
                healthy_streak=healthy_streak,
                last_value=value,
                last_window_end_ms=end_ms,
            )
            return kept, None
        assert state.started_at_ms is not None  # invariant: set whenever phase is firing
        resolved = _alert(rule, window, value, AlertStatus.RESOLVED, state.started_at_ms)
        return AlertState(last_value=value, last_window_end_ms=end_ms), resolved

    # inactive or pending: the pending period is reset by any non-breaching window (as in
    # Prometheus); hysteresis only applies once the alert has actually fired.
    if not breach:
        return AlertState(last_value=value, last_window_end_ms=end_ms), None
    breach_streak = state.breach_streak + 1
    started_at_ms = window.window_start_ms
    if state.phase is Phase.PENDING and state.started_at_ms is not None:
        started_at_ms = state.started_at_ms
    phase = Phase.FIRING if breach_streak >= rule.for_windows else Phase.PENDING
    new_state = AlertState(
        phase=phase,
        breach_streak=breach_streak,
        started_at_ms=started_at_ms,
        last_value=value,
        last_window_end_ms=end_ms,
    )
    if phase is Phase.PENDING:
        return new_state, None
    return new_state, _alert(rule, window, value, AlertStatus.FIRING, started_at_ms)


def _alert(
    rule: ThresholdRule,
    window: MetricWindow,
    value: float,
    status: AlertStatus,
    started_at_ms: int,
) -> Alert:
    labels = rule.alert_labels(window.entity_id)
    return Alert(
        fingerprint=alert_fingerprint(labels),
        status=status,
        labels=labels,
        annotations=rule.render(window.entity_id, value),
        starts_at_ms=started_at_ms,
        ends_at_ms=window.window_end_ms if status is AlertStatus.RESOLVED else None,
        severity=rule.severity,
    )
