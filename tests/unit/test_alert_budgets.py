"""Cost accrual (oracle: pandas on the same samples) and budget projections and alerts."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from alerts.budgets import (
    SpendTracker,
    TenantBudget,
    budget_status,
    linear_projection,
    projected_exhaustion_ms,
)
from alerts.cost import CostLedger
from alerts.lifecycle import AlertState, advance
from alerts.signal_rules import BudgetRule
from schemas import AlertStatus, WorkloadSample
from sim import MarketplaceSim

H = 3_600_000
T0 = 1_700_000_000_000


def test_ledger_matches_pandas_on_simulated_samples() -> None:
    sim = MarketplaceSim(seed=3, providers=4, workloads=8, interval_ms=10_000)
    samples = [
        r.record for r in sim.records(T0, T0 + 600_000) if isinstance(r.record, WorkloadSample)
    ]
    ledger = CostLedger(interval_s=10)
    for s in samples:
        ledger.add(s)
    frame = pd.DataFrame([s.model_dump() for s in samples])
    frame["used"] = frame.cost_accrued_usd * frame.gpu_util_pct / 100
    for scope, column in (
        ("workload", "workload_id"),
        ("tenant", "tenant_id"),
        ("provider", "provider_id"),
    ):
        expected = frame.groupby(column)[["cost_accrued_usd", "used"]].sum()
        totals = ledger.totals(scope)  # type: ignore[arg-type]
        assert set(totals) == set(expected.index)
        for key, row in expected.iterrows():
            assert totals[str(key)].allocated_usd == pytest.approx(row.cost_accrued_usd)
            assert totals[str(key)].used_usd == pytest.approx(row.used)
            assert totals[str(key)].idle_usd == pytest.approx(row.cost_accrued_usd - row.used)
    assert sum(t.allocated_usd for t in ledger.totals("tenant").values()) == pytest.approx(
        frame.cost_accrued_usd.sum()
    )


def test_exhaustion_by_bisection_matches_the_closed_form() -> None:
    budget = TenantBudget(tenant_id="t", limit_usd=1000, period_start_ms=0, period_end_ms=200 * H)
    history = [(h * H, 7.0 * h) for h in range(20)]  # $7/h, $133 at hour 19
    at = projected_exhaustion_ms(budget, history, 19 * H)
    assert at is not None
    assert abs(at - 1000 / 7 * H) <= 60_000
    status = budget_status(budget, history, 19 * H)
    assert status.burn_usd_per_h == pytest.approx(7.0)
    assert status.hours_to_exhaustion == pytest.approx(1000 / 7 - 19, abs=0.02)
    # a budget already spent is exhausted now; one out of reach never is
    assert (
        projected_exhaustion_ms(budget.model_copy(update={"limit_usd": 100}), history, 19 * H)
        == 19 * H
    )
    assert math.isinf(
        budget_status(
            budget.model_copy(update={"limit_usd": 10**6}), history, 19 * H
        ).hours_to_exhaustion
    )


def test_a_forecaster_is_a_plain_callable() -> None:
    budget = TenantBudget(tenant_id="t", limit_usd=100, period_start_ms=0, period_end_ms=100 * H)
    history = [(0, 0.0), (H, 10.0)]
    calls: list[int] = []

    def pessimistic(hist: object, at_ms: int) -> float:
        calls.append(at_ms)
        return 2 * linear_projection(history, at_ms)  # e.g. an upper interval bound

    assert projected_exhaustion_ms(budget, history, H, pessimistic) == pytest.approx(
        5 * H, abs=60_000
    )
    assert projected_exhaustion_ms(budget, history, H) == pytest.approx(10 * H, abs=60_000)
    assert calls


def test_budget_alert_fires_before_the_overrun_and_once() -> None:
    rule = BudgetRule(name="BudgetExhaustion", severity="warning", warn_before="12h")
    budget = TenantBudget(
        tenant_id="t", limit_usd=500, period_start_ms=T0, period_end_ms=T0 + 7 * 24 * H
    )
    tracker, state, fired = SpendTracker(), AlertState(), []
    overrun = None
    for minute in range(0, 4 * 24 * 60, 5):
        now = T0 + minute * 60_000
        rate = 2.0 if minute < 24 * 60 else 8.0  # usd/h: a spend jump after one day
        tracker.add(now, rate * 5 / 60)
        if overrun is None and tracker.total_usd >= budget.limit_usd:
            overrun = now
        status = budget_status(budget, tracker.history, now)
        state, transition = advance(rule, state, rule.observe(now, status.hours_to_exhaustion))
        if transition is AlertStatus.FIRING:
            fired.append(now)
    assert overrun is not None and len(fired) == 1
    assert (overrun - fired[0]) / H >= 6


@pytest.mark.parametrize(
    ("before", "after", "promised", "gain", "savings", "delivered"),
    [
        # cheaper provider, same work: 25 % more work per dollar, $2 saved
        ((10.0, 1000.0), (8.0, 1000.0), 0.25, 0.25, 2.0, True),
        # faster and dearer: same perf per dollar, nothing saved, a promise of +30 % missed
        ((10.0, 1000.0), (20.0, 2000.0), 0.3, 0.0, 0.0, False),
        # worse than before: negative savings
        ((10.0, 1000.0), (12.5, 1000.0), 0.1, -0.2, -2.5, False),
    ],
)
def test_recommendation_roi_table(
    before: tuple[float, float],
    after: tuple[float, float],
    promised: float,
    gain: float,
    savings: float,
    delivered: bool,
) -> None:
    from alerts.cost import CostTotals, recommendation_roi

    out = recommendation_roi(
        promised,
        CostTotals(before[0], 0.0, before[0], before[1]),
        CostTotals(after[0], 0.0, after[0], after[1]),
    )
    assert out is not None
    assert out.realised_gain == pytest.approx(gain)
    assert out.savings_usd == pytest.approx(savings)
    assert out.delivered is delivered


def test_recommendation_roi_needs_cost_and_work() -> None:
    from alerts.cost import CostTotals, recommendation_roi

    some = CostTotals(1.0, 1.0, 0.0, 10.0)
    assert recommendation_roi(0.1, CostTotals(0.0, 0.0, 0.0, 0.0), some) is None
    assert recommendation_roi(0.1, some, CostTotals(1.0, 1.0, 0.0, 0.0)) is None
