"""Real-time cost accrual per workload, tenant and provider, with idle cost.

Each :class:`schemas.WorkloadSample` carries the cost accrued in its interval (the
allocation: GPUs x price x time). The share the GPUs actually worked for is
``cost x gpu_util_pct / 100``; the rest is *idle cost* — money paid for allocated GPUs that
sat unused, the number a tenant can act on.

Examples
--------
>>> from schemas import WorkloadSample
>>> ledger = CostLedger()
>>> ledger.add(WorkloadSample(workload_id="w1", ts_ms=10**12, seq=0, provider_id="p1",
...     tenant_id="acme", workload_type="inference", throughput=100.0,
...     throughput_unit="tokens/s", gpu_util_pct=25.0, requests=10, errors=0,
...     cost_accrued_usd=2.0))
>>> ledger.totals("tenant")["acme"]
CostTotals(allocated_usd=2.0, used_usd=0.5, idle_usd=1.5, work=0.0)
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal, NamedTuple

from schemas import WorkloadSample

__all__ = ["CostLedger", "CostTotals", "RecommendationOutcome", "Scope", "recommendation_roi"]

Scope = Literal["workload", "tenant", "provider"]


class CostTotals(NamedTuple):
    """Accrued cost of one entity: allocated, used (by utilisation), idle; and work done.

    ``work`` is throughput x time in the workload's unit (e.g. tokens), so
    ``work / allocated_usd`` is performance per dollar.
    """

    allocated_usd: float
    used_usd: float
    idle_usd: float
    work: float

    @property
    def perf_per_dollar(self) -> float | None:
        """Work per USD allocated; ``None`` before any cost.

        Examples
        --------
        >>> CostTotals(2.0, 1.0, 1.0, 500.0).perf_per_dollar
        250.0
        """
        return None if self.allocated_usd <= 0 else self.work / self.allocated_usd


class CostLedger:
    """Running cost totals per workload, tenant and provider.

    ``interval_s`` is the sampling interval used to turn throughput into work; the cost
    itself comes from the samples and needs no interval.
    """

    def __init__(self, interval_s: float = 0.0) -> None:
        self.interval_s = interval_s
        self._totals: dict[Scope, dict[str, list[float]]] = {
            scope: defaultdict(lambda: [0.0, 0.0, 0.0])
            for scope in ("workload", "tenant", "provider")
        }

    def add(self, sample: WorkloadSample) -> None:
        """Accrue one sample to its workload, tenant and provider."""
        allocated = sample.cost_accrued_usd
        used = allocated * sample.gpu_util_pct / 100.0
        work = sample.throughput * self.interval_s
        for scope, key in (
            ("workload", sample.workload_id),
            ("tenant", sample.tenant_id),
            ("provider", sample.provider_id),
        ):
            row = self._totals[scope][key]  # type: ignore[index]
            row[0] += allocated
            row[1] += used
            row[2] += work

    def totals(self, scope: Scope) -> dict[str, CostTotals]:
        """Totals of every entity of *scope*."""
        return {
            key: CostTotals(round(a, 9), round(u, 9), round(a - u, 9), w)
            for key, (a, u, w) in self._totals[scope].items()
        }


class RecommendationOutcome(NamedTuple):
    """What an applied recommendation delivered, from cost totals before and after."""

    perf_per_dollar_before: float
    perf_per_dollar_after: float
    realised_gain: float
    promised_gain: float
    savings_usd: float
    delivered: bool


def recommendation_roi(
    promised_gain: float, before: CostTotals, after: CostTotals, *, tolerance: float = 0.2
) -> RecommendationOutcome | None:
    """Savings realised by an applied recommendation (its ``perf_per_dollar_gain``).

    *before* and *after* are one workload's totals over comparable periods before and
    after the change. ``savings_usd`` is what the work done *after* would have cost at the
    *before* price per unit of work, minus what it cost; ``delivered`` when the realised
    gain reaches the promised one within ``tolerance`` (relative). ``None`` without cost
    or work on either side (nothing to compare).

    Examples
    --------
    >>> before = CostTotals(10.0, 8.0, 2.0, 1000.0)   # 100 units per USD
    >>> after = CostTotals(8.0, 7.0, 1.0, 1000.0)     # 125 units per USD
    >>> out = recommendation_roi(0.25, before, after)
    >>> round(out.realised_gain, 3), round(out.savings_usd, 2), out.delivered
    (0.25, 2.0, True)
    >>> recommendation_roi(0.5, before, after).delivered
    False
    """
    ppd_before, ppd_after = before.perf_per_dollar, after.perf_per_dollar
    if not ppd_before or not ppd_after:
        return None
    realised = ppd_after / ppd_before - 1.0
    savings = after.work / ppd_before - after.allocated_usd
    delivered = realised >= promised_gain - tolerance * abs(promised_gain)
    return RecommendationOutcome(ppd_before, ppd_after, realised, promised_gain, savings, delivered)
