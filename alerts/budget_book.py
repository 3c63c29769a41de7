"""Tenant budgets as data: a YAML file of limits per tenant and calendar period (UTC).

A document maps tenant ids (and ``"*"``, the default for every tenant not listed) to a
limit in USD per ``day``, ``week`` (Monday 00:00 UTC) or ``month`` (the default). Loading
validates everything and names the tenant and field of the first problem.

Examples
--------
>>> book = BudgetBook.from_dict({"budgets": {"acme": {"limit_usd": 300, "period": "day"},
...                                          "*": {"limit_usd": 1000}}})
>>> b = book.budget_for("acme", now_ms=1_700_000_000_000)  # 2023-11-14T22:13:20Z
>>> b.limit_usd, b.period_start_ms, b.period_end_ms - b.period_start_ms
(300.0, 1699920000000, 86400000)
>>> book.budget_for("other", now_ms=1_700_000_000_000).limit_usd
1000.0
>>> BudgetBook.from_dict({"budgets": {"acme": {"limit_usd": 0}}})
Traceback (most recent call last):
  ...
alerts.budget_book.BudgetBookError: budgets.acme.limit_usd: Input should be greater than 0
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from alerts.budgets import TenantBudget
from config.documents import DocumentError, YamlDocument
from config.settings import DEFAULT_BUDGETS_PATH

__all__ = [
    "BudgetBook",
    "BudgetBookError",
    "BudgetSpec",
    "Period",
    "period_bounds",
]


Period = Literal["day", "week", "month"]


class BudgetBookError(DocumentError):
    """A budget file that cannot be used; the message names the file, tenant and field."""


def period_bounds(period: Period, now_ms: int) -> tuple[int, int]:
    """``[start, end)`` in UTC epoch ms of the calendar ``period`` holding ``now_ms``.

    Examples
    --------
    >>> t = 1_700_000_000_000  # Tuesday 2023-11-14T22:13:20Z
    >>> [datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()
    ...  for ms in period_bounds("week", t)]
    ['2023-11-13', '2023-11-20']
    >>> [datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()
    ...  for ms in period_bounds("month", t)]
    ['2023-11-01', '2023-12-01']
    >>> period_bounds("day", 86_400_000)  # a boundary belongs to the period it starts
    (86400000, 172800000)
    """
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        start, end = day, day + timedelta(days=1)
    elif period == "week":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    else:
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


class BudgetSpec(BaseModel):
    """One tenant's limit per calendar period."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    limit_usd: float = Field(gt=0, allow_inf_nan=False)
    period: Period = "month"


class BudgetBook(YamlDocument):
    """Budgets by tenant id; ``"*"`` is the default of tenants not listed."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    error: ClassVar[type[ValueError]] = BudgetBookError
    shape: ClassVar[str] = "a budget document is a mapping with 'budgets': {tenant: ...}"

    budgets: dict[str, BudgetSpec] = {}

    def spec_for(self, tenant_id: str) -> BudgetSpec | None:
        """The tenant's own budget, else the ``"*"`` one, else ``None``."""
        return self.budgets.get(tenant_id) or self.budgets.get("*")

    def budget_for(self, tenant_id: str, now_ms: int) -> TenantBudget | None:
        """The tenant's budget for the period holding ``now_ms`` (``None``: no budget)."""
        spec = self.spec_for(tenant_id)
        if spec is None:
            return None
        start, end = period_bounds(spec.period, now_ms)
        return TenantBudget(
            tenant_id=tenant_id, limit_usd=spec.limit_usd, period_start_ms=start, period_end_ms=end
        )

    @classmethod
    def has_shape(cls, data: Any) -> bool:
        """A mapping whose ``budgets`` (if any) is a mapping."""
        return isinstance(data, dict) and isinstance(data.get("budgets", {}), dict)

    @classmethod
    def load(cls, path: str | Path = DEFAULT_BUDGETS_PATH) -> BudgetBook:
        """Read a YAML budget file."""
        return super().load(path)
