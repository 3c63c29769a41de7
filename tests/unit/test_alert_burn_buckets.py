"""The compact burn-rate tracker (table value of the live agent) and its window stepping."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.burn_buckets import BurnBuckets
from alerts.burn_windows import observe_burn_window
from alerts.rule_files import load_rules
from alerts.signal_rules import BurnRateRule
from alerts.sla import SRE_BURN_RATE_TABLE, BurnRateTracker, burn_rate_rules
from schemas import MetricStats, MetricWindow

MIN = 60_000
T0 = 1_700_000_000_000 // MIN * MIN
SRE_WINDOWS = sorted({w for _, long, short, _ in SRE_BURN_RATE_TABLE for w in (long, short)})

minutes = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 4), st.integers(0, 2)), min_size=1, max_size=90
)


def feed(
    events: list[tuple[int, int, int]], *trackers: BurnRateTracker | BurnBuckets, start: int = T0
) -> Iterator[int]:
    """Observe (minutes later, good, bad) at minute boundaries; yield each time."""
    now = start
    for gap, good, bad in events:
        now += gap * MIN
        for t in trackers:
            t.observe(now, good, good + bad)
        yield now


@settings(max_examples=100, deadline=None)
@given(events=minutes, min_events=st.integers(0, 10))
def test_property_exact_where_windows_are_whole_buckets(
    events: list[tuple[int, int, int]], min_events: int
) -> None:
    windows = (5 * MIN, 30 * MIN, 60 * MIN)
    oracle = BurnRateTracker(0.99, windows, min_events=min_events)
    compact = BurnBuckets(0.99, windows, min_events=min_events)
    for now in feed(events, oracle, compact):
        for w in windows:
            assert compact.counts(w, now) == oracle.counts(w, now)
            assert compact.burn_rate(w, now) == oracle.burn_rate(w, now)
    assert compact.budget() == oracle.budget()


@settings(max_examples=60, deadline=None)
@given(events=minutes, split=st.integers(0, 90), later=st.integers(0, 100))
def test_property_json_round_trip_gives_identical_burn_rates(
    events: list[tuple[int, int, int]], split: int, later: int
) -> None:
    original = BurnBuckets(0.999, SRE_WINDOWS, min_events=20)
    last = max([T0, *feed(events[:split], original)])
    state = original.to_state()
    kept = copy.deepcopy(state)
    restored = BurnBuckets.from_state(json.loads(json.dumps(state)), 0.999, SRE_WINDOWS, 20)
    assert state == kept  # to_state hands out no live lists
    assert restored.to_state() == state
    # ... and they stay identical as both go on
    for now in feed(events[split:], original, restored, start=last):
        for w in SRE_WINDOWS:
            assert restored.burn_rate(w, now + later * MIN) == original.burn_rate(
                w, now + later * MIN
            )


def test_coarse_windows_miss_at_most_the_bucket_their_start_cuts() -> None:
    oracle = BurnRateTracker(0.99, SRE_WINDOWS)
    compact = BurnBuckets(0.99, SRE_WINDOWS)
    for m in range(5 * 24 * 60):
        now = T0 + m * MIN
        bad = 1 if m % 97 < 10 else 0
        oracle.observe(now, 1 - bad, 1)
        compact.observe(now, 1 - bad, 1)
        if m % 61 == 0:
            for w in SRE_WINDOWS:
                size = max(MIN, w // 60 // MIN * MIN)
                og, ot = oracle.counts(w, now)
                cg, ct = compact.counts(w, now)
                assert 0 <= ot - ct < size // MIN and 0 <= og - cg <= ot - ct


@pytest.mark.parametrize(
    ("state", "error"),
    [
        (None, None),
        ({}, None),
        ({"f": None, "g": 0, "t": 0, "r": {}}, None),
        ({"f": T0, "g": 1, "t": 2, "r": {"999": [1, [2], []]}}, None),  # an old bucket size
    ],
)
def test_edge_states_load(state: dict | None, error: None) -> None:
    tracker = BurnBuckets.from_state(state, 0.99, SRE_WINDOWS)
    assert tracker.burn_rate(3_600_000, T0 + MIN) >= 0


def test_value_stays_small_under_the_shipped_sre_rules() -> None:
    burns = [r for r in load_rules("alerts/rules") if isinstance(r, BurnRateRule)]
    state = None
    sizes = []
    for m in range(4 * 24 * 60):  # longer than the 3-day window
        start = T0 + m * MIN
        gone = m % 500 < 30 or m % 7 == 0  # outages (missing windows) and partial windows
        if m % 500 < 20:
            continue
        window = MetricWindow(
            entity_type="workload",
            entity_id="w1",
            window_start_ms=start,
            window_end_ms=start + MIN,
            count=6,
            metrics={},
            availability=0.5 if gone else 1.0,
        )
        state, _ = observe_burn_window(burns, state, window)
        sizes.append(len(json.dumps(state)))
    # one ring of 61 one-minute buckets, one of 6 min, one of 72 min, plus the bad counts
    assert max(sizes[-1000:]) < 2_500, max(sizes)


def _window(i: int, *, throughput: float | None = 120.0, start: int = T0) -> MetricWindow:
    metrics = {}
    if throughput is not None:
        t = throughput
        metrics["throughput"] = MetricStats(count=1, mean=t, min=t, max=t, p50=t, p95=t, p99=t)
    begin = start + i * MIN
    return MetricWindow(
        entity_type="workload",
        entity_id="w1",
        window_start_ms=begin,
        window_end_ms=begin + MIN,
        count=1,
        metrics=metrics,
    )


def test_missing_windows_are_bad_availability_events_only() -> None:
    avail = burn_rate_rules("A", 0.99)[0]
    tput = burn_rate_rules("T", 0.99, sli="throughput", target=100)[0]
    state, _ = observe_burn_window([avail, tput], None, _window(0))
    state, observed = observe_burn_window([avail, tput], state, _window(10))  # 9 missing
    assert state is not None
    values = {r.name: obs.value for r, obs in observed}
    a = BurnBuckets.from_state(state["s"]["availability|None|0.99|0"], 0.99, (MIN * 60, MIN * 5))
    assert a.counts(60 * MIN, T0 + 11 * MIN) == (2, 11)
    assert values["T"] == 0.0 and values["A"] > 14.4


def test_replays_other_entities_and_windows_without_the_sli_change_nothing() -> None:
    rules = burn_rate_rules("T", 0.99, sli="throughput", target=100)
    state, observed = observe_burn_window(rules, None, _window(0))
    assert len(observed) == 3
    frozen = copy.deepcopy(state)
    assert observe_burn_window(rules, state, _window(0)) == (state, [])
    provider = _window(1).model_copy(update={"entity_type": "provider"})
    assert observe_burn_window(rules, state, provider) == (state, [])
    new, observed = observe_burn_window(rules, state, _window(1, throughput=None))
    assert state == frozen  # not mutated
    assert new is not None and new["end"] == T0 + 2 * MIN and len(observed) == 3
    assert new["s"] == state["s"]  # no throughput: no event, time moves on
