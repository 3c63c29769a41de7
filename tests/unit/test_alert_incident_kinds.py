"""Every incident kind of the simulator alerted (issue 18): the rules for memory creep,
noisy neighbour and price spike, and the two threshold-rule options they use
(``minus``: a spread of two statistics; ``change_over``: a change against an earlier
window, kept in the alert state)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerts.engine import state_from_json, state_to_json
from alerts.rule_files import load_rules, parse_rules
from alerts.rules import DEFAULT_RULES_PATH, RuleError, ThresholdRule
from alerts.state import AlertState, evaluate
from evaluation.alert_simulation import START_MS, simulate_run
from evaluation.alerts import replay_alerts
from schemas import AlertStatus, MetricStats, MetricWindow
from sim.incidents import Incident
from sim.marketplace import MarketplaceSim

MIN = 60_000
RULES = load_rules(DEFAULT_RULES_PATH.parent)
SEED, PROVIDERS, WORKLOADS = 5, 3, 3


def hosting_provider() -> tuple[str, set[str]]:
    """A provider of the test fleet that hosts workloads, and those workloads."""
    sim = MarketplaceSim(seed=SEED, providers=PROVIDERS, workloads=WORKLOADS)
    by_provider: dict[str, set[str]] = {}
    for w in sim.workload_profiles:
        by_provider.setdefault(w.provider_id, set()).add(w.workload_id)
    provider = max(sorted(by_provider), key=lambda p: len(by_provider[p]))
    return provider, by_provider[provider]


@pytest.mark.parametrize(
    ("kind", "alertname", "severity", "route", "entity_type"),
    [
        ("memory_creep", "GpuMemoryClimbing", "warning", "provider", "provider"),
        ("noisy_neighbour", "GpuUtilisationErratic", "warning", "provider", "provider"),
        ("price_spike", "WorkloadPriceJump", "info", "cost", "workload"),
    ],
)
def test_each_kind_is_alerted_once_per_affected_entity_with_its_severity_and_route(
    kind: str, alertname: str, severity: str, route: str, entity_type: str
) -> None:
    provider, workloads = hosting_provider()
    # The mildest of its kind the simulator draws (severity 0.5), 6 minutes.
    incident = Incident(kind, provider, START_MS + 90 * MIN, START_MS + 96 * MIN, 0.5)
    run = simulate_run(
        SEED, days=3 / 24, providers=PROVIDERS, workloads=WORKLOADS, incidents=[incident]
    )
    engine, _ = replay_alerts(run, RULES)
    out = [
        (e.alert.labels["alertname"], e.alert.labels["entity_id"], e.alert.status)
        for e in engine.emitted
        if e.alert.labels["entity_type"] != "tenant"
    ]
    affected = {provider} if entity_type == "provider" else workloads
    assert sorted(out) == sorted(
        (alertname, entity, status)
        for entity in affected
        for status in (AlertStatus.FIRING, AlertStatus.RESOLVED)
    )
    for e in engine.emitted:
        if e.alert.labels["alertname"] == alertname:
            assert e.alert.labels["severity"] == severity
            assert e.alert.labels["route"] == route
            assert e.alert.labels["entity_type"] == entity_type
            if e.alert.status is AlertStatus.FIRING:
                assert incident.start_ms - MIN <= e.alert.starts_at_ms <= incident.end_ms


def test_a_healthy_day_alerts_nothing() -> None:
    run = simulate_run(SEED, days=0.25, providers=PROVIDERS, workloads=WORKLOADS, incidents=[])
    engine, _ = replay_alerts(run, RULES)
    assert [e for e in engine.raw if e.alert.labels["entity_type"] != "tenant"] == []


def window(i: int, mean: float, *, p50: float | None = None) -> MetricWindow:
    stats = MetricStats(
        count=6, mean=mean, min=mean, max=mean, p50=mean if p50 is None else p50, p95=mean,
        p99=mean,
    )  # fmt: skip
    return MetricWindow(
        entity_type="provider",
        entity_id="p1",
        window_start_ms=START_MS + i * MIN,
        window_end_ms=START_MS + (i + 1) * MIN,
        count=6,
        metrics={"m": stats},
    )


def rule(**fields: object) -> ThresholdRule:
    base: dict[str, object] = {"name": "R", "metric": "m.mean", "op": ">", "severity": "info"}
    return ThresholdRule.model_validate({**base, "threshold": 1.5, **fields})


def test_change_over_compares_with_the_window_that_long_ago() -> None:
    ratio = rule(change_over="2m", change="ratio")
    delta = rule(change_over="2m", change="delta")
    history: tuple[tuple[int, float], ...] = ()
    values = []
    for minute, v in enumerate([2.0, 2.0, 4.0, 4.0]):
        history, out = ratio.changed(history, minute * MIN, v)
        values.append(out)
    assert values == [None, None, 2.0, 2.0]
    assert delta.changed(history, 4 * MIN, 5.0)[1] == 1.0  # 5 - 4 (two minutes back)
    # A missing window: the newest at or before two minutes back, up to four back.
    assert ratio.changed(((0, 2.0),), 3 * MIN, 6.0)[1] == 3.0
    assert ratio.changed(((0, 2.0),), 5 * MIN, 6.0)[1] is None  # too old
    assert ratio.changed(((0, 0.0),), 2 * MIN, 6.0)[1] is None  # ratio to zero: no data
    assert ratio.changed(history, 4 * MIN, None)[1] is None
    kept, _ = ratio.changed(history, 4 * MIN, 5.0)
    kept, _ = ratio.changed(kept, 6 * MIN, 5.0)
    assert [end // MIN for end, _ in kept] == [2, 3, 4, 6]  # bounded: twice change_over


def test_change_state_survives_the_table_and_ignores_replays() -> None:
    r = rule(change_over="2m", change="ratio", threshold=1.5)
    state = AlertState()
    fired = []
    for i, v in enumerate([1.0, 1.0, 1.0, 3.0]):
        state = state_from_json(state_to_json(state))  # as the agent's table does
        state, alert = evaluate(r, state, window(i, v))
        fired.append(alert is not None)
    assert fired == [False, False, False, True]
    again, alert = evaluate(r, state, window(1, 9.0))  # a replayed window
    assert (again, alert) == (state, None)
    assert state_from_json(state_to_json(state)) == state


def test_minus_watches_the_spread_of_two_statistics() -> None:
    spread = rule(metric="m.p95", minus="m.p50", threshold=10)
    assert spread.value(window(0, 60.0, p50=45.0)) == 15.0
    assert spread.value(window(0, 60.0, p50=55.0)) == 5.0
    other = window(0, 60.0).model_copy(update={"metrics": {}})
    assert spread.value(other) is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"change_over": "5m"}, "change and change_over go together"),
        ({"change": "ratio"}, "change and change_over go together"),
        ({"change_over": "5m", "change": "percent"}, "change"),
        ({"minus": "m.p42"}, "p42"),
        ({"change_over": "-5m", "change": "delta"}, "change_over"),
    ],
)
def test_invalid_change_or_minus_is_rejected(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        rule(**fields)


def test_a_bare_change_over_is_ambiguous() -> None:
    doc = {"rules": [{"name": "R", "metric": "m.mean", "op": ">", "threshold": 1,
                      "severity": "info", "change_over": 5, "change": "delta"}]}  # fmt: skip
    with pytest.raises(RuleError, match="change_over"):
        parse_rules(doc)
