"""SLO status from the burn-rate trackers, and its read model: oracle, edge cases, order."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.burn_windows import observe_burn_window
from alerts.sla import BurnRateTracker, burn_rate_rules
from alerts.slo_status import slo_statuses
from api.agent import ReadModel, fold
from api.readmodel import TABLES
from api.service_levels import apply_slo_status, sla_statuses
from schemas import MetricStats, MetricWindow, SloStatus, decode, encode

T0 = 1_700_000_000_000
MIN = 60_000
FAST = settings(max_examples=40, deadline=None, database=None)


def window(i: int, throughput: float | None, *, entity: str = "w1") -> MetricWindow:
    metrics = {}
    if throughput is not None:
        t = throughput
        metrics["throughput"] = MetricStats(count=1, mean=t, min=t, max=t, p50=t, p95=t, p99=t)
    return MetricWindow(
        entity_type="workload",
        entity_id=entity,
        window_start_ms=T0 + i * MIN,
        window_end_ms=T0 + (i + 1) * MIN,
        count=1,
        metrics=metrics,
    )


@FAST
@given(good=st.lists(st.booleans(), min_size=1, max_size=150))
def test_status_matches_an_oracle_on_the_same_windows(good: list[bool]) -> None:
    """Compliance and budget over the last hour (the period), burn rates as the exact tracker.

    Windows of up to 60 buckets, where the compact tracker is exact (alerts.burn_buckets).
    """
    rules = [
        r.model_copy(update={"long_window_ms": long, "short_window_ms": short})
        for r, (long, short) in zip(
            burn_rate_rules("T", 0.95, sli="throughput", target=100),
            [(20 * MIN, 5 * MIN), (40 * MIN, 10 * MIN), (60 * MIN, 15 * MIN)],
            strict=True,
        )
    ]
    oracle = BurnRateTracker(0.95, (5 * MIN, 10 * MIN, 15 * MIN, 20 * MIN, 40 * MIN, 60 * MIN))
    state = None
    for i, ok in enumerate(good):
        before = state
        state, _ = observe_burn_window(rules, state, window(i, 120.0 if ok else 50.0))
        oracle.observe(T0 + (i + 1) * MIN, good=int(ok), total=1)
    [status] = slo_statuses(rules, before, state, window(len(good) - 1, 0.0))
    last = good[-60:]
    bad = last.count(False)
    assert (status.good_events, status.total_events) == (len(last) - bad, len(last))
    assert status.compliance == pytest.approx((len(last) - bad) / len(last))
    assert status.error_budget_remaining == pytest.approx(1 - bad / (0.05 * len(last)))
    now = T0 + len(good) * MIN
    for label, ms in (("5m", 5 * MIN), ("20m", 20 * MIN), ("1h", 60 * MIN)):
        assert status.burn_rates[label] == pytest.approx(oracle.burn_rate(ms, now), abs=1e-6)
    assert status.burn_rate == status.burn_rates["20m"]  # the shortest long window
    assert (status.period_ms, status.window_end_ms) == (60 * MIN, now)
    assert decode(SloStatus, encode(status)) == status


def test_no_status_without_a_change() -> None:
    avail = burn_rate_rules("A", 0.99)
    tput = burn_rate_rules("T", 0.99, sli="throughput", target=100)
    state, _ = observe_burn_window(avail + tput, None, window(0, 120.0))
    assert {s.name for s in slo_statuses(avail + tput, None, state, window(0, 120.0))} == {
        "A",
        "T",
    }
    # A replay: the state comes back as it was.
    same, _ = observe_burn_window(avail + tput, state, window(0, 120.0))
    assert slo_statuses(avail + tput, state, same, window(0, 120.0)) == []
    # No throughput in the window: only the availability SLO moved.
    new, _ = observe_burn_window(avail + tput, state, window(1, None))
    assert [s.name for s in slo_statuses(avail + tput, state, new, window(1, None))] == ["A"]
    # A provider's window: no rule applies, no state.
    provider = window(2, 120.0).model_copy(update={"entity_type": "provider"})
    kept, _ = observe_burn_window(avail, new, provider)
    assert slo_statuses(avail, new, kept, provider) == []
    assert slo_statuses(avail, None, None, provider) == []


def test_a_fresh_workload_has_its_whole_budget_and_a_bad_first_window_overspends() -> None:
    rules = burn_rate_rules("T", 0.99, sli="throughput", target=100)
    fresh, _ = observe_burn_window(rules, None, window(0, 120.0))
    [ok] = slo_statuses(rules, None, fresh, window(0, 120.0))
    assert (ok.compliance, ok.error_budget_remaining, ok.burn_rate) == (1.0, 1.0, 0.0)
    burnt, _ = observe_burn_window(rules, None, window(0, 10.0))
    [bad] = slo_statuses(rules, None, burnt, window(0, 10.0))
    assert (bad.compliance, bad.error_budget_remaining) == (0.0, -99.0)
    assert set(bad.burn_rates) == {"5m", "30m", "1h", "6h", "3d"}


def status(entity: str, budget: float, end_ms: int = T0, kind: str = "workload") -> SloStatus:
    return SloStatus(
        entity_type=kind,
        entity_id=entity,
        slo_key="throughput|100.0|0.9|0",
        name="T",
        objective=0.9,
        sli="throughput",
        target=100.0,
        period_ms=MIN,
        good_events=10,
        total_events=10,
        compliance=1.0,
        error_budget_remaining=budget,
        burn_rates={"1m": 0.0},
        burn_rate=0.0,
        window_end_ms=end_ms,
    )


def test_read_model_keeps_the_newest_status_and_lists_the_worst_first() -> None:
    tables: dict[str, dict[bytes, object]] = {name: {} for _, name in TABLES.values()}
    model = ReadModel(tables)  # type: ignore[arg-type]  # plain dicts hold what tables hold
    newer, older = status("w1", -2.0, T0 + MIN), status("w1", 0.5, T0)
    for record in (newer, older, status("w2", 0.25), status("acme", 1.0, kind="tenant")):
        change = fold(model, "perf.slo", record.key, record)
        if change is not None:
            tables[change[0]][record.key.encode()] = change[1]
    assert fold(model, "perf.slo", newer.key, newer) is None  # a replay changes nothing
    assert apply_slo_status(None, older)["window_end_ms"] == T0
    values = model.values("slo_to_status")
    assert set(values) == {
        "workload:w1|throughput|100.0|0.9|0",
        newer.key.replace("w1", "w2"),
        "tenant:acme|throughput|100.0|0.9|0",
    }
    workloads = {"w2": {"spec": {"tenant_id": "acme"}}, "w1": {"spec": None}}
    rows = sla_statuses(values.values(), workloads)
    assert [(r.entity_id, r.workload_id, r.tenant_id, r.error_budget_remaining) for r in rows] == [
        ("w1", "w1", None, -2.0),
        ("w2", "w2", "acme", 0.25),
        ("acme", None, "acme", 1.0),
    ]
