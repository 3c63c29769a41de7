"""Tenant budgets: spend so far, burn rate, projected exhaustion and the budget alert.

The projection is a seam: any ``SpendForecaster`` — a plain callable
``(history, at_ms) -> projected cumulative spend at at_ms`` — can be passed (the spend
forecasts of ``models/forecasting.py`` plug in here; pass the *upper* bound of their
interval to warn early). The default, :func:`linear_projection`, extends the burn rate of
the trailing ``lookback`` (6 h) linearly: simple, documented, and what an operator would
compute by hand.

Examples
--------
>>> budget = TenantBudget(tenant_id="acme", limit_usd=100.0, period_start_ms=0,
...                       period_end_ms=48 * 3_600_000)
>>> tracker = SpendTracker()
>>> for hour in range(11):
...     tracker.add(hour * 3_600_000, 5.0)  # $5 an hour
>>> status = budget_status(budget, tracker.history, now_ms=10 * 3_600_000)
>>> status.spent_usd, status.burn_usd_per_h, round(status.hours_to_exhaustion, 1)
(55.0, 5.0, 9.0)
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Sequence
from typing import NamedTuple, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "BudgetStatus",
    "SpendForecaster",
    "SpendTracker",
    "TenantBudget",
    "budget_status",
    "linear_projection",
    "projected_exhaustion_ms",
]

_H = 3_600_000

#: ``(history of (ts_ms, cumulative usd), at_ms) -> projected cumulative usd at at_ms``.
SpendForecaster = Callable[[Sequence[tuple[int, float]], int], float]


class TenantBudget(BaseModel):
    """A spend limit for one tenant over ``[period_start_ms, period_end_ms)``.

    Examples
    --------
    >>> TenantBudget(tenant_id="t", limit_usd=-1, period_start_ms=0, period_end_ms=1)
    Traceback (most recent call last):
      ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for TenantBudget
    limit_usd
      Input should be greater than 0 ...
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str
    limit_usd: float = Field(gt=0, allow_inf_nan=False)
    period_start_ms: int
    period_end_ms: int

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.period_end_ms <= self.period_start_ms:
            raise ValueError("period_end_ms must be after period_start_ms")
        return self


class SpendTracker:
    """Cumulative spend of one tenant as ``(ts_ms, usd)`` points, one per ``step_ms``.

    Costs added within one step are merged into its point, so the history stays small
    (a month at 5-minute steps is ~8,600 points) whatever the sample rate.
    """

    def __init__(self, step_ms: int = 300_000) -> None:
        self.step_ms = step_ms
        self.history: list[tuple[int, float]] = []
        self.total_usd = 0.0

    def add(self, ts_ms: int, usd: float) -> None:
        """Accrue *usd* spent at ``ts_ms`` (times non-decreasing)."""
        self.total_usd += usd
        point = ts_ms - ts_ms % self.step_ms if self.step_ms > 1 else ts_ms
        if self.history and self.history[-1][0] >= point:
            self.history[-1] = (self.history[-1][0], self.total_usd)
        else:
            self.history.append((point, self.total_usd))


def linear_projection(
    history: Sequence[tuple[int, float]], at_ms: int, lookback_ms: int = 6 * _H
) -> float:
    """Extend the average burn of the trailing *lookback_ms* to ``at_ms``.

    Examples
    --------
    >>> linear_projection([(0, 0.0), (_H, 10.0), (2 * _H, 20.0)], 4 * _H)
    40.0
    >>> linear_projection([], 10)
    0.0
    """
    if not history:
        return 0.0
    last_ts, last_usd = history[-1]
    times = [t for t, _ in history]
    first = bisect_left(times, last_ts - lookback_ms)
    first_ts, first_usd = history[min(first, len(history) - 1)]
    if last_ts <= first_ts:
        return last_usd
    rate = (last_usd - first_usd) / (last_ts - first_ts)
    return last_usd + rate * max(0, at_ms - last_ts)


def projected_exhaustion_ms(
    budget: TenantBudget,
    history: Sequence[tuple[int, float]],
    now_ms: int,
    forecaster: SpendForecaster = linear_projection,
    *,
    resolution_ms: int = 60_000,
) -> int | None:
    """When the forecast first reaches the limit within the period; ``None`` if never.

    Bisection over ``[now_ms, period_end_ms]``, assuming the projected cumulative spend
    does not decrease with time (true of any cumulative spend forecast).

    Examples
    --------
    >>> b = TenantBudget(tenant_id="t", limit_usd=30, period_start_ms=0, period_end_ms=10 * _H)
    >>> projected_exhaustion_ms(b, [(0, 0.0), (_H, 10.0)], _H) // 60_000  # minutes
    180
    >>> projected_exhaustion_ms(b, [(0, 0.0), (_H, 1.0)], _H) is None
    True
    """
    spent = history[-1][1] if history else 0.0
    if spent >= budget.limit_usd:
        return now_ms
    end = budget.period_end_ms
    if end <= now_ms or forecaster(history, end) < budget.limit_usd:
        return None
    lo, hi = now_ms, end
    while hi - lo > resolution_ms:
        mid = (lo + hi) // 2
        if forecaster(history, mid) >= budget.limit_usd:
            hi = mid
        else:
            lo = mid
    return hi


class BudgetStatus(NamedTuple):
    """Where a budget stands at one moment."""

    spent_usd: float
    remaining_usd: float
    burn_usd_per_h: float
    exhaustion_ms: int | None
    hours_to_exhaustion: float


def budget_status(
    budget: TenantBudget,
    history: Sequence[tuple[int, float]],
    now_ms: int,
    forecaster: SpendForecaster = linear_projection,
) -> BudgetStatus:
    """Spend, remaining, burn rate (USD/h, by the forecaster) and projected exhaustion."""
    spent = history[-1][1] if history else 0.0
    burn = (forecaster(history, now_ms + _H) - forecaster(history, now_ms)) if history else 0.0
    exhaustion = projected_exhaustion_ms(budget, history, now_ms, forecaster)
    hours = math.inf if exhaustion is None else (exhaustion - now_ms) / _H
    return BudgetStatus(
        round(spent, 9), round(budget.limit_usd - spent, 9), round(burn, 9), exhaustion, hours
    )
