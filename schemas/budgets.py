"""The budget status of one tenant: spend in the current period, burn, forecast, exhaustion."""

from typing import ClassVar, Literal, Self

from pydantic import model_validator

from schemas.base import Id, NonNegFloat, PosFloat, Record, TsMs

__all__ = ["TenantBudgetStatus"]


class TenantBudgetStatus(Record):
    """Where a tenant stands against its budget, as of its newest counted workload window.

    Published on ``perf.budgets`` (compacted, key ``tenant_id``) by the ``budgets`` role
    each time a workload window of the tenant is counted; the API's ``GET /api/v1/budgets``
    shows the latest per tenant and the alert agent's budget rules read it.

    Attributes
    ----------
    tenant_id : str
        The tenant.
    period : {"day", "week", "month"}
        The calendar budget period (UTC); ``[period_start_ms, period_end_ms)`` holds
        ``as_of_ms``.
    limit_usd : float
        The budget of the period.
    spent_usd : float
        Spend of the tenant's workloads in the period so far (each window counted once).
    remaining_usd : float
        ``limit_usd - spent_usd`` (negative when overspent).
    burn_usd_per_h : float
        Current burn rate by the forecaster (the trailing 6 h, linearly, by default).
    forecast_usd : float
        Projected spend at ``period_end_ms``.
    exhaustion_ms : int or None
        When the projection reaches the limit; ``None``: not within the period.
    hours_to_exhaustion : float or None
        ``(exhaustion_ms - as_of_ms) / 1 h``; ``None`` when ``exhaustion_ms`` is.
    as_of_ms : int
        End of the newest workload window counted for the tenant (event time).

    Examples
    --------
    >>> s = TenantBudgetStatus(tenant_id="acme", period="month", period_start_ms=1_698_796_800_000,
    ...     period_end_ms=1_701_388_800_000, limit_usd=100.0, spent_usd=40.0,
    ...     remaining_usd=60.0, burn_usd_per_h=2.0, forecast_usd=400.0,
    ...     exhaustion_ms=1_700_108_000_000, hours_to_exhaustion=30.0,
    ...     as_of_ms=1_700_000_000_000)
    >>> s.fraction_spent
    0.4
    >>> TenantBudgetStatus.model_validate({**s.model_dump(), "as_of_ms": 1_600_000_000_000})
    Traceback (most recent call last):
      ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for TenantBudgetStatus
      Value error, as_of_ms must lie in [period_start_ms, period_end_ms] ...
    """

    EVENT_TIME_FIELD: ClassVar[str | None] = "as_of_ms"

    tenant_id: Id
    period: Literal["day", "week", "month"]
    period_start_ms: TsMs
    period_end_ms: TsMs
    limit_usd: PosFloat
    spent_usd: NonNegFloat
    remaining_usd: float
    burn_usd_per_h: NonNegFloat
    forecast_usd: NonNegFloat
    exhaustion_ms: TsMs | None = None
    hours_to_exhaustion: NonNegFloat | None = None
    as_of_ms: TsMs

    @model_validator(mode="after")
    def _check(self) -> Self:
        if not self.period_start_ms <= self.as_of_ms <= self.period_end_ms:
            raise ValueError("as_of_ms must lie in [period_start_ms, period_end_ms]")
        if (self.exhaustion_ms is None) != (self.hours_to_exhaustion is None):
            raise ValueError("exhaustion_ms and hours_to_exhaustion are set together")
        return self

    @property
    def fraction_spent(self) -> float:
        """``spent_usd / limit_usd``."""
        return self.spent_usd / self.limit_usd
