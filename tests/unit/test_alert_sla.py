"""SLO error budgets and the SRE workbook's multi-window, multi-burn-rate alerts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.lifecycle import AlertState, advance
from alerts.sla import (
    SRE_BURN_RATE_TABLE,
    BurnRateTracker,
    burn_observation,
    burn_rate_rules,
    error_budget,
    predicted_detection_ms,
    window_is_good,
)
from schemas import AlertStatus, MetricStats, MetricWindow

MIN = 60_000
T0 = 1_700_000_000_000


@settings(max_examples=100, deadline=None)
@given(
    events=st.lists(
        st.tuples(st.integers(0, 30), st.integers(0, 5), st.integers(0, 5)), max_size=80
    ),
    window=st.sampled_from([5 * MIN, 60 * MIN]),
    min_events=st.integers(0, 10),
)
def test_property_sliding_counts_match_numpy(
    events: list[tuple[int, int, int]], window: int, min_events: int
) -> None:
    tracker = BurnRateTracker(0.99, (window,), min_events=min_events)
    ts = np.cumsum([gap * MIN // 3 for gap, _, _ in events])
    bad = np.array([b for _, _, b in events])
    good = np.array([g for _, g, _ in events])
    for i, (t, g, b) in enumerate(zip(ts, good, bad, strict=True)):
        tracker.observe(int(t), int(g), int(g + b))
        inside = ts[: i + 1] > t - window
        total = int((good[: i + 1] + bad[: i + 1])[inside].sum())
        n_bad = int(bad[: i + 1][inside].sum())
        assert tracker.counts(window, int(t)) == (total - n_bad, total)
        # history guard: a window longer than the history is filled at the observed rate
        seen = int(t - ts[0]) + MIN
        scaled = total * window / seen if seen < window else total
        denominator = max(scaled, min_events)
        expected = 0.0 if denominator == 0 else n_bad / denominator / 0.01
        assert tracker.burn_rate(window, int(t)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("good", "total", "objective", "compliance", "remaining"),
    [
        (1000, 1000, 0.99, 1.0, 1.0),
        (990, 1000, 0.99, 0.99, 0.0),
        (995, 1000, 0.99, 0.995, 0.5),
        (980, 1000, 0.99, 0.98, -1.0),
        (0, 0, 0.99, 1.0, 1.0),
    ],
)
def test_error_budget_table(
    good: int, total: int, objective: float, compliance: float, remaining: float
) -> None:
    budget = error_budget(good, total, objective)
    assert budget.compliance == pytest.approx(compliance)
    assert budget.budget_remaining == pytest.approx(remaining)


def fired_rows(error_rate: float, incident_min: int, events_per_min: int = 10) -> set[float]:
    """Which rows of the table fire for a clean day, then *error_rate* for a while."""
    rules = burn_rate_rules("Slo", 0.99)
    windows = {w for r in rules for w in (r.long_window_ms, r.short_window_ms)}
    tracker = BurnRateTracker(0.99, windows)
    states = {r.factor: AlertState() for r in rules}
    fired: set[float] = set()
    bad_per_min = round(error_rate * events_per_min)
    for minute in range(4 * 24 * 60 + incident_min):
        bad = bad_per_min if minute >= 4 * 24 * 60 else 0
        now = T0 + minute * MIN
        tracker.observe(now, events_per_min - bad, events_per_min)
        for rule in rules:
            states[rule.factor], status = advance(
                rule, states[rule.factor], burn_observation(rule, tracker, now)
            )
            if status is AlertStatus.FIRING:
                fired.add(rule.factor)
    return fired


@pytest.mark.parametrize(
    ("error_rate", "incident_min"),
    [(1.0, 5), (1.0, 12), (1.0, 30), (0.2, 20), (0.2, 60), (0.1, 100), (0.1, 400), (0.05, 60)],
)
def test_rows_fire_as_the_sre_table_predicts(error_rate: float, incident_min: int) -> None:
    predicted = set()
    for factor, long_ms, _, _ in SRE_BURN_RATE_TABLE:
        at = predicted_detection_ms(factor, long_ms, 0.99, error_rate)
        # one-minute buckets: the detection lands on the next whole minute
        if at is not None and at <= incident_min * MIN:
            predicted.add(factor)
    assert fired_rows(error_rate, incident_min) == predicted


def test_low_traffic_guard_no_page_on_one_failure_but_ticket_on_slow_burn() -> None:
    rules = burn_rate_rules("Slo", 0.99, min_events=20)
    windows = {w for r in rules for w in (r.long_window_ms, r.short_window_ms)}
    unguarded = BurnRateTracker(0.99, windows)
    guarded = BurnRateTracker(0.99, windows, min_events=20)
    # a few jobs an hour; the second one fails
    for i, good in enumerate((1, 0)):
        for t in (unguarded, guarded):
            t.observe(T0 + i * 20 * MIN, good, 1)
    now = T0 + 20 * MIN  # right after the failure
    page = rules[0]
    assert burn_observation(page, unguarded, now).breach  # 1 of 2 bad = 50x: would page
    assert not burn_observation(page, guarded, now).breach
    # a slow burn: one job an hour for three days, 2 % of them fail (2x budget)
    slow = BurnRateTracker(0.99, windows, min_events=20)
    ticket, state, statuses = rules[2], AlertState(), []
    for hour in range(72):
        slow.observe(T0 + hour * 60 * MIN, 0 if hour % 50 == 49 else 1, 1)
        state, status = advance(ticket, state, burn_observation(ticket, slow, T0 + hour * 60 * MIN))
        statuses.append(status)
    assert AlertStatus.FIRING in statuses


def test_window_is_good() -> None:
    stats = MetricStats(count=3, mean=40, min=30, max=50, p50=40, p95=49, p99=50)
    w = MetricWindow(
        entity_type="workload",
        entity_id="w1",
        window_start_ms=T0,
        window_end_ms=T0 + MIN,
        count=3,
        metrics={"latency_ms": stats},
        availability=0.5,
    )
    assert window_is_good("latency_p95", 50, w) is True
    assert window_is_good("latency_p95", 45, w) is False
    assert window_is_good("throughput", 10, w) is None
    assert window_is_good("availability", None, w) is False
