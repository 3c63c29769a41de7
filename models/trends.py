"""Trend direction and slope of a metric over hours or days, with a significance test.

The slope is the Theil-Sen estimator (median of pairwise slopes: robust to outlier
windows) with its confidence interval (``scipy.stats.theilslopes``); significance is the
Mann-Kendall test, i.e. Kendall's tau between time and value (``scipy.stats.kendalltau``,
tie-corrected). A trend is called only when the test rejects "no trend" at ``alpha``.

>>> hours = [h * 3_600_000 for h in range(24)]
>>> t = estimate_trend(hours, [50.0 + 0.5 * h for h in range(24)])
>>> t.direction, round(t.slope_per_hour, 3), t.p_value < 0.001
('increasing', 0.5, True)
>>> estimate_trend(hours[:3], [1.0, 2.0, 3.0]).direction
'insufficient_data'
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

__all__ = ["MIN_POINTS", "Trend", "TrendTracker", "estimate_trend", "is_getting_worse"]

MIN_POINTS = 6
_HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class Trend:
    """Direction (``increasing``/``decreasing``/``no_trend``/``insufficient_data``) and slope."""

    direction: str
    slope_per_hour: float
    slope_ci_per_hour: tuple[float, float]
    p_value: float
    points: int


def estimate_trend(ts_ms: Sequence[int], values: Sequence[float], *, alpha: float = 0.05) -> Trend:
    """Theil-Sen slope (per hour) and Mann-Kendall direction of ``values`` over ``ts_ms``.

    Non-finite values are dropped; fewer than :data:`MIN_POINTS` points, or a constant
    series, give no direction.
    """
    t = np.asarray(ts_ms, dtype=float)
    y = np.asarray(values, dtype=float)
    if t.shape != y.shape:
        raise ValueError(f"{t.size} times but {y.size} values")
    keep = np.isfinite(t) & np.isfinite(y)
    t, y = t[keep] / _HOUR_MS, y[keep]
    n = int(t.size)
    if n < MIN_POINTS or np.ptp(t) == 0.0:
        return Trend("insufficient_data", math.nan, (math.nan, math.nan), math.nan, n)
    if np.ptp(y) == 0.0:
        return Trend("no_trend", 0.0, (0.0, 0.0), 1.0, n)
    slope, _intercept, lo, hi = stats.theilslopes(y, t, alpha=1.0 - alpha)
    p_value = float(stats.kendalltau(t, y).pvalue)
    direction = "no_trend"
    if p_value < alpha:
        direction = "increasing" if slope > 0 else "decreasing" if slope < 0 else "no_trend"
    return Trend(direction, float(slope), (float(lo), float(hi)), p_value, n)


def is_getting_worse(trend: Trend, *, higher_is_better: bool) -> bool:
    """Answer "is it getting worse?" for a metric whose good direction is known.

    Examples
    --------
    >>> t = Trend("decreasing", -2.0, (-3.0, -1.0), 0.01, 24)
    >>> is_getting_worse(t, higher_is_better=True), is_getting_worse(t, higher_is_better=False)
    (True, False)
    """
    bad = "decreasing" if higher_is_better else "increasing"
    return trend.direction == bad


@dataclass
class TrendTracker:
    """Bounded history of one value per window per ``(entity, metric)`` series.

    Examples
    --------
    >>> tr = TrendTracker(max_points=48)
    >>> for h in range(12):
    ...     tr.update("provider:p1", "perf_per_dollar", h * 3_600_000, 100.0 - 2.0 * h)
    >>> tr.trend("provider:p1", "perf_per_dollar").direction
    'decreasing'
    """

    max_points: int = 168  # a week of hourly windows
    alpha: float = 0.05
    _series: dict[tuple[str, str], deque[tuple[int, float]]] = field(default_factory=dict)

    def update(self, entity: str, metric: str, ts_ms: int, value: float) -> None:
        """Append one window value (non-finite values are skipped)."""
        if not math.isfinite(value):
            return
        ring = self._series.get((entity, metric))
        if ring is None:
            ring = self._series[(entity, metric)] = deque(maxlen=self.max_points)
        ring.append((ts_ms, value))

    def trend(self, entity: str, metric: str) -> Trend:
        """Current trend of one series (``insufficient_data`` when unknown)."""
        ring = self._series.get((entity, metric), ())
        return estimate_trend([t for t, _ in ring], [v for _, v in ring], alpha=self.alpha)
