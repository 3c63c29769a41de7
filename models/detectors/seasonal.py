"""Seasonal residual: a value's distance from the same time of day on earlier days.

A daily shape that changes inside the series' normal range (a flat middle, a lower
peak, a missing jump) leaves every value's own z-score ordinary; what breaks is the
value *for its time of day*. :class:`SeasonalResidual` keeps, per time-of-day slot, an
exponentially weighted mean of the values seen in that slot on earlier days (the slot
width is the series' typical sampling step, read off its first timestamps, within
[15 min, 1 h]: a 5-minute series gets three values a day per slot), and judges the
mean of the last ``short`` residuals ``value - profile[slot]`` with a
:class:`~models.detectors.window_z.WindowedZScore` over recent such means: the
residuals' own scale and tail calibration, so a series without a daily shape, whose
residuals are as noisy as its values, gains no extra alarms.

Only the time of day of a timestamp is used: rows stay a sequence (a repeated or
backward timestamp just updates its slot), and memory is bounded by the slot count.

>>> import math
>>> sr = SeasonalResidual()
>>> step = 300_000  # 5 minutes
>>> def day(t):
...     return 10.0 * math.sin(2 * math.pi * (t % 288) / 288) + 0.1 * ((t * 7919) % 13 - 6)
>>> for t in range(288 * 5):
...     sr.learn_one(day(t), t * step)
>>> t = 288 * 5 + 72  # the daily peak
>>> sr.surprise(day(t), t * step) < 5.0 < sr.surprise(0.0, t * step)
True
"""

from __future__ import annotations

import math
from collections import deque

from models.detectors.window_z import WindowedZScore

__all__ = ["SeasonalResidual"]

_DAY_MS = 86_400_000


class SeasonalResidual:
    """Surprise of a value's residual from its time-of-day profile.

    Parameters
    ----------
    period_ms : int
        Length of a season (a day).
    alpha : float
        Weight of the newest value in its slot's mean.
    min_visits : int
        Values a slot must have seen before its residual is judged.
    steps : int
        Timestamps whose median step sets the slot width.
    min_slot_ms, max_slot_ms : int
        Bounds of the slot width.
    short : int
        Residuals averaged into the judged one (a lone noisy point is not a new shape).
    window, calibration_q
        :class:`~models.detectors.window_z.WindowedZScore` over the averaged residuals.
    """

    def __init__(
        self,
        *,
        period_ms: int = _DAY_MS,
        alpha: float = 0.3,
        min_visits: int = 2,
        steps: int = 30,
        min_slot_ms: int = 900_000,
        max_slot_ms: int = 3_600_000,
        window: int = 2000,
        short: int = 6,
        calibration_q: float = 0.999,
    ) -> None:
        self.short = short
        self._recent: deque[float] = deque(maxlen=max(1, short - 1))
        self.period_ms = period_ms
        self.alpha = alpha
        self.min_visits = min_visits
        self.steps = steps
        self.min_slot_ms = min_slot_ms
        self.max_slot_ms = max_slot_ms
        self._steps: list[int] = []
        self._last_ts: int | None = None
        self._slot_ms: int | None = None
        self._mean: dict[int, float] = {}
        self._visits: dict[int, int] = {}
        self.residuals = WindowedZScore(window=window, short=1, calibration_q=calibration_q)

    def _slot(self, ts_ms: int) -> int | None:
        if self._slot_ms is None:
            return None
        return (ts_ms % self.period_ms) // self._slot_ms

    def _residual(self, value: float, slot: int | None) -> float:
        """Mean of the last ``short`` residuals, ``value``'s included (NaN: slot unknown)."""
        if slot is None or self._visits.get(slot, 0) < self.min_visits:
            return math.nan
        residual = value - self._mean[slot]
        return (sum(self._recent) + residual) / (len(self._recent) + 1)

    def surprise(self, value: float, ts_ms: int) -> float:
        """Calibrated ``-log10`` tail of the residual's z (0 until judged)."""
        residual = self._residual(value, self._slot(ts_ms))
        if math.isnan(residual) or not self.residuals.ready:
            return 0.0
        return self.residuals.surprise(residual)

    def learn_one(self, value: float, ts_ms: int) -> None:
        """Learn ``value`` at ``ts_ms``: its residual, then its slot's mean."""
        if self._slot_ms is None:
            if self._last_ts is not None and ts_ms > self._last_ts:
                self._steps.append(ts_ms - self._last_ts)
            self._last_ts = ts_ms
            if len(self._steps) >= self.steps:
                step = sorted(self._steps)[len(self._steps) // 2]
                self._slot_ms = min(max(step, self.min_slot_ms), self.max_slot_ms)
            return
        slot = self._slot(ts_ms)
        assert slot is not None
        residual = self._residual(value, slot)
        if not math.isnan(residual):
            self.residuals.learn_one(residual)
            self._recent.append(value - self._mean[slot])
        visits = self._visits.get(slot, 0)
        mean = self._mean.get(slot, value)
        self._mean[slot] = mean + self.alpha * (value - mean) if visits else value
        self._visits[slot] = visits + 1
