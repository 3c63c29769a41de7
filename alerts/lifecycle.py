"""The rule-independent alert lifecycle: inactive → pending → firing (→ flapping) → resolved.

Every rule kind reduces its input to an :class:`Observation` (does it breach, is it on the
healthy side of the resolve condition); :func:`advance` moves an :class:`AlertState` by one
observation and says whether to emit ``firing`` or ``resolved``. Pure: no clock, all times
come from the observations, so a replay yields the same states and transitions.

Transitions (``B`` breach, ``H`` healthy)::

    inactive/pending --B--> pending | firing  (firing once for_windows B in a row AND
                                               for_ms elapsed since the first B started)
    pending          --not B--> inactive
    firing   --not H--> firing                (still breaching or in the hysteresis band)
    firing   --H--> inactive [resolved]       (resolve_windows H in a row AND
                                               keep_firing_for_ms since the last non-H)
    firing   --would resolve, fired max_firings times within flap.within--> flapping
    flapping --H for flap.stable_for--> inactive [resolved];  no other notification

Examples
--------
>>> from alerts.rule_base import RuleBase
>>> rule = RuleBase(name="X", severity="warning", **{"for": "2m"})
>>> state, out = AlertState(), []
>>> for minute, breach in enumerate([True, True, True, False]):
...     obs = Observation(minute * 60_000, (minute + 1) * 60_000, 1.0, breach, not breach)
...     state, status = advance(rule, state, obs)
...     out.append((str(state.phase), status and str(status)))
>>> out
[('pending', None), ('firing', 'firing'), ('firing', None), ('inactive', 'resolved')]
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import NamedTuple

from alerts.rule_base import RuleBase
from schemas import AlertStatus

__all__ = ["AlertState", "Observation", "Phase", "advance"]


class Phase(StrEnum):
    """Lifecycle phase of one (rule, entity) pair, named as in Prometheus (plus flapping).

    Examples
    --------
    >>> Phase("pending") is Phase.PENDING
    True
    """

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    FLAPPING = "flapping"


class Observation(NamedTuple):
    """One evaluation of a rule's condition for one entity.

    Examples
    --------
    >>> Observation(0, 60_000, 91.0, breach=True, healthy=False).end_ms
    60000
    """

    start_ms: int
    end_ms: int
    value: float
    breach: bool
    healthy: bool


@dataclass(frozen=True, slots=True)
class AlertState:
    """Immutable state of one (rule, entity) pair between observations.

    Made only of builtins plus a :class:`Phase` because it is stored (as JSON) in a
    changelogged table on every change.

    Attributes
    ----------
    phase : Phase
        Current phase.
    breach_streak : int
        Consecutive breaching observations up to the last one (0 when inactive).
    healthy_streak : int
        While firing, consecutive observations on the healthy side; 0 otherwise.
    started_at_ms : int or None
        Start of the first breaching observation of the current episode; the alert's
        ``starts_at_ms``.
    last_value : float or None
        Value of the last observation.
    last_window_end_ms : int or None
        End of the last observation; observations ending at or before it are ignored, so
        replays are idempotent.
    last_unhealthy_end_ms : int or None
        End of the last observation that was not healthy while firing (for
        ``keep_firing_for`` and the flap ``stable_for``).
    fired_at_ms : tuple of int
        Firing times within the flap window (for flap detection).
    history : tuple of (int, float)
        ``(window end, value)`` of the entity's recent windows, for threshold rules that
        watch a change (``change_over``); empty for every other rule.

    Examples
    --------
    >>> import pickle
    >>> s = AlertState()
    >>> s.phase, s.breach_streak, s.started_at_ms, s.fired_at_ms
    (<Phase.INACTIVE: 'inactive'>, 0, None, ())
    >>> pickle.loads(pickle.dumps(s)) == s
    True
    """

    phase: Phase = Phase.INACTIVE
    breach_streak: int = 0
    healthy_streak: int = 0
    started_at_ms: int | None = None
    last_value: float | None = None
    last_window_end_ms: int | None = None
    last_unhealthy_end_ms: int | None = None
    fired_at_ms: tuple[int, ...] = ()
    history: tuple[tuple[int, float], ...] = ()


def advance(
    rule: RuleBase, state: AlertState, obs: Observation
) -> tuple[AlertState, AlertStatus | None]:
    """Move *state* by one observation; return the new state and the status to emit.

    Observations ending at or before ``state.last_window_end_ms`` are ignored (state
    unchanged, nothing emitted). The input state is never mutated.

    Examples
    --------
    >>> from alerts.rule_base import RuleBase
    >>> rule = RuleBase(name="X", severity="warning", keep_firing_for="2m")
    >>> s, status = advance(rule, AlertState(), Observation(0, 60_000, 1.0, True, False))
    >>> status, advance(rule, s, Observation(0, 60_000, 1.0, True, False)) == (s, None)
    (<AlertStatus.FIRING: 'firing'>, True)
    >>> s, status = advance(rule, s, Observation(60_000, 120_000, 0.0, False, True))
    >>> s.phase, status  # healthy for 1 min only: keep_firing_for holds it
    (<Phase.FIRING: 'firing'>, None)
    >>> advance(rule, s, Observation(120_000, 180_000, 0.0, False, True))[1]
    <AlertStatus.RESOLVED: 'resolved'>
    """
    if state.last_window_end_ms is not None and obs.end_ms <= state.last_window_end_ms:
        return state, None
    if state.phase in (Phase.FIRING, Phase.FLAPPING):
        return _advance_active(rule, state, obs)
    # inactive or pending: the pending period is reset by any non-breaching observation
    # (as in Prometheus); hysteresis only applies once the alert has actually fired.
    if not obs.breach:
        return AlertState(
            last_value=obs.value, last_window_end_ms=obs.end_ms, fired_at_ms=state.fired_at_ms
        ), None
    breach_streak = state.breach_streak + 1
    started_at_ms = obs.start_ms
    if state.phase is Phase.PENDING and state.started_at_ms is not None:
        started_at_ms = state.started_at_ms
    ready = breach_streak >= rule.for_windows and obs.end_ms - started_at_ms >= rule.for_ms
    fired_at_ms = state.fired_at_ms
    if ready:
        fired_at_ms = _recent(rule, (*fired_at_ms, obs.end_ms), obs.end_ms)
    new_state = AlertState(
        phase=Phase.FIRING if ready else Phase.PENDING,
        breach_streak=breach_streak,
        started_at_ms=started_at_ms,
        last_value=obs.value,
        last_window_end_ms=obs.end_ms,
        last_unhealthy_end_ms=obs.end_ms,
        fired_at_ms=fired_at_ms,
    )
    return new_state, AlertStatus.FIRING if ready else None


def _advance_active(
    rule: RuleBase, state: AlertState, obs: Observation
) -> tuple[AlertState, AlertStatus | None]:
    breach_streak = state.breach_streak + 1 if obs.breach else 0
    if not obs.healthy:
        # Still breaching or inside the hysteresis band: keep firing and restart the
        # healthy count, because resolve_windows must be *consecutive*.
        return replace(
            state,
            breach_streak=breach_streak,
            healthy_streak=0,
            last_value=obs.value,
            last_window_end_ms=obs.end_ms,
            last_unhealthy_end_ms=obs.end_ms,
        ), None
    healthy_streak = state.healthy_streak + 1
    since_unhealthy = obs.end_ms - (state.last_unhealthy_end_ms or obs.start_ms)
    flap = rule.flap
    if state.phase is Phase.FLAPPING:
        assert flap is not None  # invariant: only entered with a flap policy
        done = since_unhealthy >= flap.stable_for_ms
    else:
        done = healthy_streak >= rule.resolve_windows and since_unhealthy >= rule.keep_firing_for_ms
        if done and flap is not None:
            recent = _recent(rule, state.fired_at_ms, obs.end_ms)
            if len(recent) >= flap.max_firings and since_unhealthy < flap.stable_for_ms:
                return replace(
                    state,
                    phase=Phase.FLAPPING,
                    breach_streak=breach_streak,
                    healthy_streak=healthy_streak,
                    last_value=obs.value,
                    last_window_end_ms=obs.end_ms,
                    fired_at_ms=recent,
                ), None
    if not done:
        return replace(
            state,
            breach_streak=breach_streak,
            healthy_streak=healthy_streak,
            last_value=obs.value,
            last_window_end_ms=obs.end_ms,
        ), None
    return AlertState(
        last_value=obs.value,
        last_window_end_ms=obs.end_ms,
        fired_at_ms=_recent(rule, state.fired_at_ms, obs.end_ms),
    ), AlertStatus.RESOLVED


def _recent(rule: RuleBase, fired: tuple[int, ...], now_ms: int) -> tuple[int, ...]:
    # Only flap detection needs firing history; without a policy keep the state small.
    if rule.flap is None:
        return ()
    return tuple(t for t in fired if now_ms - t < rule.flap.within_ms)
