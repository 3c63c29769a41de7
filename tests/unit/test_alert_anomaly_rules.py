"""Anomaly rules on perf.anomalies with quiet heartbeats from perf.metrics; state storage."""

from __future__ import annotations

import json

from alerts.engine import state_from_json, state_to_json
from alerts.lifecycle import AlertState, Phase
from alerts.signal_rules import AnomalyRule
from alerts.state import evaluate_anomaly, evaluate_quiet
from schemas import AlertStatus, Anomaly, MetricWindow

T0 = 1_700_000_000_000
MIN = 60_000


def anomaly(i: int, score: float, detector: str = "ensemble") -> Anomaly:
    return Anomaly(
        entity_type="provider", entity_id="p1", ts_ms=T0 + i * MIN, score=score, detector=detector
    )


def window(i: int) -> MetricWindow:
    start = T0 + i * MIN
    return MetricWindow(
        entity_type="provider",
        entity_id="p1",
        window_start_ms=start,
        window_end_ms=start + MIN,
        count=6,
        metrics={},
    )


def test_anomalies_fire_after_for_windows_and_resolve_on_quiet_windows() -> None:
    rule = AnomalyRule(
        name="Odd", severity="info", min_score=0.9, for_windows=2, keep_firing_for="2m"
    )
    state = AlertState()
    events: list[tuple[str, int, str]] = []

    def feed(kind: str, i: int, result: tuple[AlertState, object]) -> None:
        nonlocal state
        state, alert = result  # type: ignore[assignment]
        if alert is not None:
            events.append((kind, i, alert.status.value))  # type: ignore[attr-defined]

    # anomalies for windows 0..3 arrive a window after the windows themselves
    for i in range(8):
        feed("window", i, evaluate_quiet(rule, state, window(i)))
        if 1 <= i <= 4:
            feed("anomaly", i - 1, evaluate_anomaly(rule, state, anomaly(i - 1, 0.97)))
    assert events == [("anomaly", 1, "firing"), ("window", 7, "resolved")]
    assert state.phase is Phase.INACTIVE


def test_other_detectors_and_low_scores_do_not_fire() -> None:
    rule = AnomalyRule(name="Odd", severity="info", min_score=0.9, detector="hst")
    assert evaluate_anomaly(rule, AlertState(), anomaly(0, 0.99, "ensemble")) == (
        AlertState(),
        None,
    )
    state, alert = evaluate_anomaly(rule, AlertState(), anomaly(0, 0.5, "hst"))
    assert alert is None and state.phase is Phase.INACTIVE
    state, alert = evaluate_anomaly(rule, AlertState(), anomaly(0, 0.95, "hst"))
    assert alert is not None and alert.status is AlertStatus.FIRING


def test_state_json_round_trip_and_old_states_load() -> None:
    state = AlertState(
        phase=Phase.FLAPPING,
        breach_streak=2,
        started_at_ms=T0,
        last_window_end_ms=T0 + MIN,
        last_unhealthy_end_ms=T0,
        fired_at_ms=(T0, T0 + MIN),
    )
    assert state_from_json(json.loads(json.dumps(state_to_json(state)))) == state
    old = {
        "phase": "firing",
        "breach_streak": 1,
        "healthy_streak": 0,
        "started_at_ms": T0,
        "last_value": 90.0,
        "last_window_end_ms": T0 + MIN,
    }
    loaded = state_from_json(old)
    assert loaded.phase is Phase.FIRING and loaded.fired_at_ms == ()
    assert state_from_json(None) == AlertState()
