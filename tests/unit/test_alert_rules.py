"""Unit tests for the pure alert-rule core: rules, YAML loader and state machine."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from alerts import (
    DEFAULT_RULES_PATH,
    AlertState,
    Phase,
    RuleError,
    ThresholdRule,
    evaluate,
    load_rules,
)
from schemas import Alert, AlertStatus, EntityType, MetricStats, MetricWindow, Severity

T0 = 1_700_000_000_000
STEP = 60_000


def stats(value: float, count: int = 5) -> MetricStats:
    return MetricStats(
        count=count, mean=value, min=value, max=value, p50=value, p95=value, p99=value
    )


def window(
    i: int,
    value: float | None,
    *,
    entity_id: str = "p1",
    entity_type: EntityType = EntityType.PROVIDER,
    metric: str = "gpu_temp_c",
    **top: Any,
) -> MetricWindow:
    """The i-th one-minute window; ``value=None`` omits the metric (no data)."""
    start = T0 + i * STEP
    return MetricWindow(
        entity_type=entity_type,
        entity_id=entity_id,
        window_start_ms=start,
        window_end_ms=start + STEP,
        count=5,
        metrics={} if value is None else {metric: stats(value)},
        **top,
    )


def make_rule(**overrides: Any) -> ThresholdRule:
    fields: dict[str, Any] = {
        "name": "GpuHot",
        "metric": "gpu_temp_c.p95",
        "op": ">",
        "threshold": 85.0,
        "for_windows": 2,
        "resolve_threshold": 80.0,
        "resolve_windows": 1,
        "severity": Severity.WARNING,
        "labels": {"team": "fleet"},
        "annotations": {"summary": "{entity_id} at {value:.1f} > {threshold:g}"},
    }
    fields.update(overrides)
    return ThresholdRule(**fields)


def run(
    rule: ThresholdRule, windows: Sequence[MetricWindow], state: AlertState | None = None
) -> tuple[list[AlertState], list[Alert | None]]:
    states: list[AlertState] = []
    alerts: list[Alert | None] = []
    current = state or AlertState()
    for w in windows:
        current, alert = evaluate(rule, current, w)
        states.append(current)
        alerts.append(alert)
    return states, alerts


def trace(states: Sequence[AlertState], alerts: Sequence[Alert | None]) -> str:
    """Compact trace: phase letter per window, ``+`` on a firing alert, ``-`` on resolved."""
    marks = {None: "", AlertStatus.FIRING: "+", AlertStatus.RESOLVED: "-"}
    return " ".join(
        s.phase.value[0].upper() + marks[a.status if a else None]
        for s, a in zip(states, alerts, strict=True)
    )


# --------------------------------------------------------------------------------------
# State machine: edge-case table
# --------------------------------------------------------------------------------------

CASES: list[tuple[str, dict[str, Any], list[float | None], str]] = [
    ("fires-on-first-when-for-1", {"for_windows": 1}, [90], "F+"),
    ("fires-exactly-after-for-windows", {"for_windows": 3}, [90, 90, 90, 90], "P P F+ F"),
    ("pending-reset-by-healthy", {"for_windows": 3}, [90, 90, 84, 90, 90, 90], "P P I P P F+"),
    # A pending alert is reset by any non-breach, even one inside the hysteresis band.
    ("pending-reset-in-band", {}, [90, 82, 90, 90], "P I P F+"),
    ("equal-is-not-breach-for-gt", {}, [85, 85, 85], "I I I"),
    ("equal-is-breach-for-ge", {"op": ">=", "resolve_threshold": None}, [85, 85], "P F+"),
    ("hysteresis-keeps-firing", {}, [90, 90, 84, 81, 86, 80.5, 80], "P F+ F F F F I-"),
    ("resolve-at-resolve-threshold", {}, [90, 90, 80], "P F+ I-"),
    ("no-hysteresis-resolves-at-threshold", {"resolve_threshold": None}, [90, 90, 85], "P F+ I-"),
    ("resolve-after-resolve-windows", {"resolve_windows": 3}, [90, 90, 70, 70, 70], "P F+ F F I-"),
    (
        "resolve-streak-must-be-consecutive",
        {"resolve_windows": 2},
        [90, 90, 70, 82, 70, 90, 70, 70],
        "P F+ F F F F F I-",
    ),
    ("refires-after-resolve", {}, [90, 90, 70, 90, 90], "P F+ I- P F+"),
    ("missing-metric-keeps-pending-streak", {"for_windows": 3}, [90, None, 90, 90], "P P P F+"),
    ("missing-metric-keeps-firing", {}, [90, 90, None, None, 70], "P F+ F F I-"),
    ("missing-metric-while-inactive", {}, [None, None], "I I"),
]


@pytest.mark.parametrize(
    ("rule_kw", "values", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_state_machine_table(
    rule_kw: dict[str, Any], values: list[float | None], expected: str
) -> None:
    rule = make_rule(**rule_kw)
    states, alerts = run(rule, [window(i, v) for i, v in enumerate(values)])
    assert trace(states, alerts) == expected


LT_CASES: list[tuple[str, dict[str, Any], list[float | None], str]] = [
    ("lt-fires-below", {}, [0.98, 0.97], "P F+"),
    ("lt-equal-not-breach", {}, [0.99, 0.99], "I I"),
    ("lt-le-equal-breach", {"op": "<="}, [0.99, 0.99], "P F+"),
    ("lt-hysteresis", {}, [0.98, 0.97, 0.992, 0.994, 0.995], "P F+ F F I-"),
    ("lt-pending-reset", {}, [0.98, 0.999, 0.98, 0.98], "P I P F+"),
]


@pytest.mark.parametrize(
    ("rule_kw", "values", "expected"), [c[1:] for c in LT_CASES], ids=[c[0] for c in LT_CASES]
)
def test_less_than_rules(
    rule_kw: dict[str, Any], values: list[float | None], expected: str
) -> None:
    rule = make_rule(
        name="LowAvailability",
        metric="availability",
        op=rule_kw.get("op", "<"),
        threshold=0.99,
        resolve_threshold=0.995,
        annotations={},
    )
    windows = [
        window(i, None) if v is None else window(i, None, availability=v)
        for i, v in enumerate(values)
    ]
    states, alerts = run(rule, windows)
    assert trace(states, alerts) == expected


def test_firing_and_resolved_alert_contents() -> None:
    rule = make_rule()
    # Window 1 breaches but the pending period is reset at 2; the episode starts at 3.
    values = [70, 90, 70, 90, 91, 83, 79]
    windows = [window(i, v) for i, v in enumerate(values)]
    _, alerts = run(rule, windows)
    fired = alerts[4]
    resolved = alerts[6]
    assert fired is not None and resolved is not None
    assert [i for i, a in enumerate(alerts) if a is not None] == [4, 6]

    expected_labels = {
        "team": "fleet",
        "alertname": "GpuHot",
        "entity_type": "provider",
        "entity_id": "p1",
        "severity": "warning",
    }
    assert fired.status is AlertStatus.FIRING
    assert fired.labels == expected_labels
    assert fired.fingerprint == rule.fingerprint("p1")
    assert fired.severity is Severity.WARNING
    assert fired.starts_at_ms == windows[3].window_start_ms  # first breaching window
    assert fired.ends_at_ms is None
    assert fired.annotations == {"summary": "p1 at 91.0 > 85"}

    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.fingerprint == fired.fingerprint
    assert resolved.labels == fired.labels
    assert resolved.starts_at_ms == fired.starts_at_ms
    assert resolved.ends_at_ms == windows[6].window_end_ms
    assert resolved.annotations == {"summary": "p1 at 79.0 > 85"}
    # The alert must serialise for Alertmanager without further massaging.
    assert resolved.to_alertmanager()["labels"]["alertname"] == "GpuHot"


def test_firing_on_first_window_starts_at_that_window() -> None:
    w = window(0, 99)
    _, alert = evaluate(make_rule(for_windows=1), AlertState(), w)
    assert alert is not None and alert.starts_at_ms == w.window_start_ms


def test_fingerprint_differs_per_entity_and_ignores_annotations() -> None:
    rule = make_rule()
    assert rule.fingerprint("p1") != rule.fingerprint("p2")
    assert make_rule(annotations={}).fingerprint("p1") == rule.fingerprint("p1")
    assert make_rule(severity=Severity.CRITICAL).fingerprint("p1") != rule.fingerprint("p1")


def test_replayed_and_old_windows_are_ignored() -> None:
    rule = make_rule()
    windows = [window(i, v) for i, v in enumerate([90, 90, 83])]
    states, _ = run(rule, windows)
    final = states[-1]
    assert final.phase is Phase.FIRING
    # Re-emitting every window (e.g. after a crash) changes nothing and emits nothing,
    # even though window 0/1 values would otherwise count as breaches.
    for w in windows:
        assert evaluate(rule, final, w) == (final, None)
    # A late window that ends exactly at the last end is a replay too.
    assert evaluate(rule, final, window(2, 10)) == (final, None)
    # And so is an older window carrying a fresh value.
    assert evaluate(rule, final, window(-5, 10)) == (final, None)


def test_missing_metric_leaves_state_unchanged() -> None:
    rule = make_rule()
    state, _ = evaluate(rule, AlertState(), window(0, 90))
    assert evaluate(rule, state, window(1, None)) == (state, None)
    # Other metrics present but not ours is still "no data".
    assert evaluate(rule, state, window(1, 99, metric="power_w")) == (state, None)
    # Stats with zero observations are placeholders, not data.
    empty = window(1, None).model_copy(update={"metrics": {"gpu_temp_c": stats(99, count=0)}})
    assert evaluate(rule, state, empty) == (state, None)
    # A None top-level field is no data.
    err_rule = make_rule(metric="error_rate", threshold=0.1, resolve_threshold=None)
    assert evaluate(err_rule, state, window(1, None)) == (state, None)


def test_count_stat_with_zero_count_is_data() -> None:
    rule = make_rule(
        metric="gpu_temp_c.count",
        op="<",
        threshold=1,
        resolve_threshold=None,
        for_windows=1,
        annotations={},
    )
    empty = window(0, None).model_copy(update={"metrics": {"gpu_temp_c": stats(0, count=0)}})
    state, alert = evaluate(rule, AlertState(), empty)
    assert state.phase is Phase.FIRING and alert is not None


def test_other_entity_type_is_ignored() -> None:
    rule = make_rule(for_windows=1)
    w = window(0, 99, entity_type=EntityType.WORKLOAD)
    assert evaluate(rule, AlertState(), w) == (AlertState(), None)


def test_state_is_small_picklable_and_not_mutated() -> None:
    rule = make_rule()
    state, _ = evaluate(rule, AlertState(), window(0, 90))
    before = pickle.dumps(state)
    evaluate(rule, state, window(1, 90))
    assert pickle.dumps(state) == before
    assert pickle.loads(before) == state
    assert len(before) < 300
    with pytest.raises(AttributeError):
        state.phase = Phase.FIRING  # type: ignore[misc]


# --------------------------------------------------------------------------------------
# State machine: properties over random value sequences
# --------------------------------------------------------------------------------------

THRESHOLD = 50.0
ENTITIES = ("p1", "p2")


@st.composite
def rules(draw: st.DrawFn) -> ThresholdRule:
    op = draw(st.sampled_from([">", ">=", "<", "<="]))
    gap = draw(st.sampled_from([None, 0.0, 2.0, 5.0]))
    resolve = None if gap is None else (THRESHOLD - gap if op in (">", ">=") else THRESHOLD + gap)
    return make_rule(
        op=op,
        threshold=THRESHOLD,
        resolve_threshold=resolve,
        for_windows=draw(st.integers(1, 4)),
        resolve_windows=draw(st.integers(1, 3)),
    )


# Integer-valued temperatures near the threshold so equality and the hysteresis band are
# hit often; None is a window without the metric.
values = st.one_of(st.none(), st.integers(40, 60).map(float))
streams = st.lists(st.tuples(st.sampled_from(ENTITIES), values), max_size=40)


def simulate(
    rule: ThresholdRule, stream: Sequence[tuple[str, float | None]]
) -> list[tuple[str, float | None, MetricWindow, AlertState, Alert | None]]:
    """Drive the rule the way the stream processor will: one state per fingerprint."""
    table: dict[str, AlertState] = {}
    index = dict.fromkeys(ENTITIES, 0)
    out = []
    for entity, value in stream:
        w = window(index[entity], value, entity_id=entity)
        index[entity] += 1
        key = rule.fingerprint(entity)
        state, alert = evaluate(rule, table.get(key, AlertState()), w)
        table[key] = state
        out.append((entity, value, w, state, alert))
    return out


def oracle(rule: ThresholdRule) -> tuple[Callable[[float], bool], Callable[[float], bool]]:
    """Breach/healthy predicates spelled out independently of the rule's own methods."""
    t = rule.threshold
    r = t if rule.resolve_threshold is None else rule.resolve_threshold
    return {
        ">": (lambda v: v > t, lambda v: v <= r),
        ">=": (lambda v: v >= t, lambda v: v < r),
        "<": (lambda v: v < t, lambda v: v >= r),
        "<=": (lambda v: v <= t, lambda v: v > r),
    }[rule.op]


def trailing(pred: Callable[[float], bool], history: Sequence[float]) -> int:
    n = 0
    for v in reversed(history):
        if not pred(v):
            break
        n += 1
    return n


@settings(max_examples=300, deadline=None, database=None)
@given(rule=rules(), stream=streams)
def test_property_firing_and_resolving_follow_the_streaks(
    rule: ThresholdRule, stream: list[tuple[str, float | None]]
) -> None:
    breaches, healthy = oracle(rule)
    history: dict[str, list[float]] = {e: [] for e in ENTITIES}
    starts: dict[str, list[int]] = {e: [] for e in ENTITIES}  # window starts of data windows
    for entity, value, w, state, alert in simulate(rule, stream):
        if value is not None:
            history[entity].append(value)
            starts[entity].append(w.window_start_ms)
        seen = history[entity]
        breach_run = trailing(breaches, seen)
        healthy_run = trailing(healthy, seen)
        if alert is not None and alert.status is AlertStatus.FIRING:
            # Never fires before for_windows consecutive breaches, and fires as soon as
            # they are reached, dated from the first of them.
            assert breach_run == rule.for_windows
            assert alert.starts_at_ms == starts[entity][-breach_run]
        if alert is not None and alert.status is AlertStatus.RESOLVED:
            assert healthy_run == rule.resolve_windows
            assert alert.ends_at_ms == w.window_end_ms
        # Liveness: a completed streak is never missed.
        if breach_run >= rule.for_windows:
            assert state.phase is Phase.FIRING
        if state.phase is Phase.FIRING:
            assert healthy_run < rule.resolve_windows
        # Structural invariants of the stored state.
        if state.phase is Phase.INACTIVE:
            assert (state.breach_streak, state.healthy_streak, state.started_at_ms) == (0, 0, None)
        elif state.phase is Phase.PENDING:
            assert 1 <= state.breach_streak < rule.for_windows
            assert state.healthy_streak == 0 and state.started_at_ms is not None
        else:
            assert state.healthy_streak < rule.resolve_windows
            assert state.started_at_ms is not None


@settings(max_examples=300, deadline=None, database=None)
@given(rule=rules(), stream=streams)
def test_property_alerts_alternate_per_fingerprint(
    rule: ThresholdRule, stream: list[tuple[str, float | None]]
) -> None:
    last: dict[str, Alert] = {}
    for entity, _, _, state, alert in simulate(rule, stream):
        if alert is None:
            continue
        assert alert.fingerprint == rule.fingerprint(entity)
        previous = last.get(alert.fingerprint)
        if alert.status is AlertStatus.RESOLVED:
            # Every resolved is preceded by a firing of the same alert episode.
            assert previous is not None and previous.status is AlertStatus.FIRING
            assert previous.starts_at_ms == alert.starts_at_ms
            assert state.phase is Phase.INACTIVE
        else:
            assert previous is None or previous.status is AlertStatus.RESOLVED
            assert state.phase is Phase.FIRING
        last[alert.fingerprint] = alert


@settings(max_examples=200, deadline=None, database=None)
@given(rule=rules(), stream=streams, data=st.data())
def test_property_deterministic_and_replay_idempotent(
    rule: ThresholdRule, stream: list[tuple[str, float | None]], data: st.DataObject
) -> None:
    first = simulate(rule, stream)
    assert simulate(rule, stream) == first
    processed: list[tuple[str, MetricWindow]] = []
    for entity, _, w, state, _ in first:
        processed.append((entity, w))
        # Re-delivering any already-processed window of this entity is a no-op.
        own = [pw for e, pw in processed if e == entity]
        replay = data.draw(st.sampled_from(own))
        assert evaluate(rule, state, replay) == (state, None)


# --------------------------------------------------------------------------------------
# Rule validation and the YAML loader
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"resolve_threshold": 90.0}, "resolve_threshold"),
        ({"op": "<", "threshold": 0.9, "resolve_threshold": 0.8}, "resolve_threshold"),
        ({"metric": "gpu_temp_c.p90"}, "metric"),
        ({"metric": "uptime"}, "metric"),
        ({"metric": "gpu temp.p95"}, "metric"),
        ({"op": "=="}, "op"),
        ({"for_windows": 0}, "for_windows"),
        ({"resolve_windows": 0}, "resolve_windows"),
        ({"threshold": float("inf")}, "threshold"),
        ({"name": "Gpu Hot"}, "name"),
        ({"labels": {"alertname": "x"}}, "labels"),
        ({"labels": {"bad-name": "x"}}, "labels"),
        ({"annotations": {"summary": "{host}"}}, "annotations"),
        ({"annotations": {"summary": "{entity_id:.1f}"}}, "annotations"),
        ({"annotations": {"summary": "unbalanced {"}}, "annotations"),
        ({"annotations": {"run-book": "x"}}, "annotations"),
        ({"for_window": 2}, "for_window"),
    ],
)
def test_invalid_rules_name_the_field(overrides: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        make_rule(**overrides)
    assert info.value.errors()[0]["loc"][0] == field


def test_resolve_threshold_equal_to_threshold_is_allowed() -> None:
    assert make_rule(resolve_threshold=85.0).effective_resolve_threshold == 85.0


def test_rule_is_frozen() -> None:
    with pytest.raises(ValidationError):
        make_rule().threshold = 1.0


def test_default_rules_file() -> None:
    [rule] = load_rules(DEFAULT_RULES_PATH)
    assert rule.name == "GpuTemperatureHigh"
    assert rule.entity_type is EntityType.PROVIDER
    assert (rule.metric, rule.op, rule.threshold) == ("gpu_temp_c.p95", ">", 85.0)
    assert (rule.for_windows, rule.resolve_threshold, rule.resolve_windows) == (2, 80.0, 1)
    assert rule.severity is Severity.WARNING
    assert set(rule.annotations) == {"summary", "description", "runbook_url"}
    rendered = rule.render("prov-1", 88.25)
    assert "prov-1" in rendered["summary"]
    assert "88.2" in rendered["description"] and "85" in rendered["description"]


def test_default_rule_end_to_end() -> None:
    [rule] = load_rules(DEFAULT_RULES_PATH)
    states, alerts = run(rule, [window(i, v) for i, v in enumerate([86, 87, 82, 80, 79])])
    assert trace(states, alerts) == "P F+ F I- I"


GOOD = """\
rules:
  - name: GpuHot
    metric: gpu_temp_c.p95
    op: ">"
    threshold: 85
    severity: warning
"""


@pytest.mark.parametrize(
    ("text", "field", "index", "fragment"),
    [
        (GOOD.replace('op: ">"', "op: >"), "op", 0, "quote"),
        (GOOD.replace('op: ">"', 'op: "=>"'), "op", 0, "op: Input should be"),
        (GOOD + "    for_windows: 0\n", "for_windows", 0, "greater than or equal to 1"),
        (GOOD + "    for_window: 2\n", "for_window", 0, "Extra inputs are not permitted"),
        (GOOD + "    resolve_threshold: 90\n", "resolve_threshold", 0, "must be <= threshold"),
        (GOOD.replace("    severity: warning\n", ""), "severity", 0, "Field required"),
        (GOOD.replace("severity: warning", "severity: urgent"), "severity", 0, "severity:"),
        (GOOD + "    labels: {severity: page}\n", "labels", 0, "reserved"),
        (GOOD + "    annotations: {summary: '{host}'}\n", "annotations", 0, "host"),
        (GOOD + GOOD.replace("rules:\n", "").replace("85", "hot"), "threshold", 1, "rules[1]"),
        (GOOD + GOOD.replace("rules:\n", ""), "name", 1, "same name"),
        (GOOD + "  - just a string\n", None, 1, "expected a mapping"),
        ("rules: {}\n", "rules", None, "'rules' must be a list"),
        ("- name: x\n", None, None, "expected a mapping with a 'rules' list"),
        ("", None, None, "expected a mapping with a 'rules' list"),
        (GOOD + "extra: 1\n", None, None, "unknown top-level key"),
        ("rules: [\n", None, None, "invalid YAML"),
    ],
)
def test_load_rules_errors_name_file_rule_and_field(
    tmp_path: Path, text: str, field: str | None, index: int | None, fragment: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(RuleError) as info:
        load_rules(path)
    err = info.value
    message = str(err)
    assert message.startswith(f"{path}: ")
    assert fragment in message
    assert (err.path, err.index, err.field) == (path, index, field)
    if index is not None:
        assert f"rules[{index}]" in message
    if field is not None:
        assert field in message


def test_load_rules_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(RuleError, match="cannot read rules file") as info:
        load_rules(path)
    assert info.value.path == path


def test_load_rules_good_and_empty(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    [rule] = load_rules(good)
    assert (rule.name, rule.for_windows, rule.resolve_windows) == ("GpuHot", 1, 1)
    empty = tmp_path / "empty.yaml"
    empty.write_text("rules: []\n")
    assert load_rules(empty) == []
