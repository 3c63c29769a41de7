"""Window-level KPIs from sketches: availability, error rate, utilisation, perf per dollar.

Every KPI is computed from the exact counts and sums the sketches keep, so it is the
same whether a window was aggregated from samples directly or merged from finer windows
(a 1-hour KPI from sixty 1-minute windows equals the KPI of the hour's samples).

* **availability** = samples received / samples expected (``window / interval``), capped
  at 1: a heartbeat gap (an outage, a crashed agent) lowers it by the missing share.
* **error rate** = errors / requests when the entity serves requests, else errors per
  sample.
* **utilisation** = mean GPU utilisation as a fraction.
* **perf per dollar** = work done / USD spent = ``sum(throughput) x interval_s /
  sum(cost_accrued_usd)``, in the workload type's unit per USD (tokens/USD, ...).
  Units differ between workload types, so comparisons happen within a cohort
  (:func:`normalise_by_cohort`).

>>> from models.windows import WindowAccumulator
>>> acc = WindowAccumulator()
>>> for _ in range(30):
...     acc.add({"throughput": 100.0, "cost_accrued_usd": 0.01, "errors": 0.0,
...              "requests": 10.0, "gpu_util_pct": 80.0})
>>> k = window_kpis(acc, window_ms=60_000, interval_ms=1_000)
>>> k.availability, k.error_rate, k.utilisation, round(k.perf_per_dollar, 6)
(0.5, 0.0, 0.8, 10000.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from models.windows import WindowAccumulator

__all__ = ["WindowKpis", "normalise_by_cohort", "window_kpis"]


@dataclass(frozen=True, slots=True)
class WindowKpis:
    """KPIs of one window; None where the window holds nothing to compute it from."""

    availability: float
    error_rate: float | None
    utilisation: float | None
    perf_per_dollar: float | None


def _sum(acc: WindowAccumulator, name: str) -> float | None:
    sketch = acc.metrics.get(name)
    return sketch.sum if sketch is not None and sketch.count else None


def window_kpis(
    acc: WindowAccumulator,
    *,
    window_ms: int,
    interval_ms: int,
    errors_field: str = "errors",
    requests_field: str = "requests",
) -> WindowKpis:
    """Return the KPIs of one (possibly merged) window.

    Examples
    --------
    >>> window_kpis(WindowAccumulator(), window_ms=60_000, interval_ms=1_000)
    WindowKpis(availability=0.0, error_rate=None, utilisation=None, perf_per_dollar=None)
    """
    if window_ms <= 0 or interval_ms <= 0:
        raise ValueError(f"window_ms and interval_ms must be > 0, got {window_ms}, {interval_ms}")
    expected = window_ms / interval_ms
    availability = min(1.0, acc.count / expected)
    errors = _sum(acc, errors_field)
    requests = _sum(acc, requests_field)
    error_rate: float | None = None
    if errors is not None:
        error_rate = errors / requests if requests else errors / max(1, acc.count)
    util = acc.metrics.get("gpu_util_pct")
    utilisation = util.mean / 100.0 if util is not None and util.count else None
    work = _sum(acc, "throughput")
    cost = _sum(acc, "cost_accrued_usd")
    perf_per_dollar = None
    if work is not None and cost is not None and cost > 0.0:
        perf_per_dollar = work * (interval_ms / 1000.0) / cost
    return WindowKpis(availability, error_rate, utilisation, perf_per_dollar)


def normalise_by_cohort(values: Mapping[str, float]) -> dict[str, float]:
    """Divide each member's value by its cohort's median (1.0 = a typical member).

    Non-finite or non-positive medians leave nothing to normalise by: members map to NaN.

    Examples
    --------
    >>> normalise_by_cohort({"a": 10.0, "b": 20.0, "c": 40.0})
    {'a': 0.5, 'b': 1.0, 'c': 2.0}
    >>> normalise_by_cohort({})
    {}
    """
    if not values:
        return {}
    median = float(np.median(np.fromiter(values.values(), dtype=float)))
    if not math.isfinite(median) or median <= 0.0:
        return {k: math.nan for k in values}
    return {k: v / median for k, v in values.items()}
