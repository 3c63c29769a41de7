"""A tenant's budget status from its spend ledger and the budget book.

Examples
--------
>>> from alerts.budget_book import BudgetBook
>>> from alerts.spend_ledger import HOUR_MS, SpendBucket
>>> book = BudgetBook.from_dict({"budgets": {"acme": {"limit_usd": 100, "period": "day"}}})
>>> day = 1_699_920_000_000  # 2023-11-14T00:00Z
>>> ledger = SpendLedger([SpendBucket(tenant_id="acme", hour_ms=day + h * HOUR_MS, usd=5.0,
...                                   since_ms=day + h * HOUR_MS,
...                                   through_ms=day + (h + 1) * HOUR_MS) for h in range(10)])
>>> s = tenant_status(book, ledger, "acme")
>>> s.spent_usd, s.burn_usd_per_h, s.forecast_usd, round(s.hours_to_exhaustion, 1)
(50.0, 5.0, 120.0, 10.0)
>>> tenant_status(book, ledger, "nobody") is None  # no budget for it (and no "*")
True
"""

from __future__ import annotations

from alerts.budget_book import BudgetBook
from alerts.budgets import SpendForecaster, budget_status, linear_projection
from alerts.spend_ledger import SpendLedger
from schemas import TenantBudgetStatus

__all__ = ["tenant_status"]


def tenant_status(
    book: BudgetBook,
    ledger: SpendLedger,
    tenant_id: str,
    forecaster: SpendForecaster = linear_projection,
) -> TenantBudgetStatus | None:
    """The tenant's status in the period of its latest counted window (``None``: no
    budget, or nothing counted yet)."""
    now_ms = ledger.as_of(tenant_id)
    spec = book.spec_for(tenant_id)
    if now_ms is None or spec is None:
        return None
    budget = book.budget_for(tenant_id, now_ms)
    assert budget is not None  # spec exists
    history = ledger.history(tenant_id, budget.period_start_ms, budget.period_end_ms)
    status = budget_status(budget, history, now_ms, forecaster)
    forecast = max(status.spent_usd, forecaster(history, budget.period_end_ms)) if history else 0.0
    exhaustion = status.exhaustion_ms
    return TenantBudgetStatus(
        tenant_id=tenant_id,
        period=spec.period,
        period_start_ms=budget.period_start_ms,
        period_end_ms=budget.period_end_ms,
        limit_usd=budget.limit_usd,
        spent_usd=max(0.0, status.spent_usd),
        remaining_usd=status.remaining_usd,
        burn_usd_per_h=max(0.0, status.burn_usd_per_h),
        forecast_usd=round(max(0.0, forecast), 9),
        exhaustion_ms=exhaustion,
        hours_to_exhaustion=None if exhaustion is None else max(0.0, status.hours_to_exhaustion),
        as_of_ms=now_ms,
    )
