"""Seasonal forecasts with prediction intervals: per-provider utilisation, per-tenant spend.

The API is one function and the online class behind it::

    forecast(history, horizon, period=24, coverage=0.9) -> list[ForecastPoint]

``history`` is an evenly spaced series (e.g. hourly mean GPU utilisation of a provider,
or hourly spend in USD of a tenant), oldest first; the result holds one point per step
ahead, ``value`` with ``lower`` / ``upper`` bounds that contain the truth with
probability ``coverage`` (split-conformal: the bounds are the ``coverage`` quantile of
the model's own past absolute errors *at that horizon*). Budget alerts project budget
exhaustion by summing the spend points (the sum of ``upper`` is a conservative bound of
the cumulative spend, the sum of ``value`` its expectation).

The model is River's additive Holt-Winters, made robust in two places, so that a
price spike or an outage does not drag the level and the season for days:

* **start**: the first ``init_seasons`` seasons are summarised into one robust season
  (the median of each phase across seasons), which initialises the model (see
  :func:`models.detectors.forecast.fix_seasonal_init`);
* **learning**: an observation further than ``clip_z`` robust scales from the one-step
  forecast is clipped to that bound before it is learned (Gelper, Fried & Croux 2010);
  the scale is floored at ``min_rel_scale`` of the forecast (a flat series, like the
  spend of a fixed fleet, has no spread); ``shift_points`` points in a row beyond the
  bound on one side are a level shift (a new workload), adopted at once.

>>> import math
>>> day = [50 + 20 * math.sin(2 * math.pi * h / 24) for h in range(24)]
>>> history = [v + (h % 3) * 0.5 for h, v in enumerate(day * 6)]
>>> points = forecast(history, horizon=3, period=24)
>>> [round(p.value) for p in points], all(p.lower <= p.value <= p.upper for p in points)
([50, 56, 61], True)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from river import time_series

from models.detectors.forecast import fix_seasonal_init
from models.detectors.robust import robust_location_scale

__all__ = ["ForecastPoint", "SeasonalForecaster", "forecast"]

# River is untyped; Any keeps mypy strict about our code around it.
_HoltWinters: Any = time_series.HoltWinters


@dataclass(frozen=True, slots=True)
class ForecastPoint:
    """One step ahead: the point forecast and its prediction interval.

    >>> ForecastPoint(step=1, value=10.0, lower=8.0, upper=12.5).width
    4.5
    """

    step: int
    value: float
    lower: float
    upper: float

    @property
    def width(self) -> float:
        """``upper - lower``."""
        return self.upper - self.lower


class SeasonalForecaster:
    """Online robust Holt-Winters with conformal intervals per horizon.

    Parameters
    ----------
    period : int
        Season length in points (24 for hourly points and a daily cycle); below 2, no
        season (a level and trend model).
    max_horizon : int
        Longest horizon whose errors are tracked for the intervals.
    alpha, beta, gamma : float
        Holt-Winters smoothing of level, trend and season.
    clip_z : float
        Observations are clipped to the one-step forecast +- ``clip_z`` robust scales
        before they are learned.
    min_rel_scale : float
        Floor of that scale relative to the forecast.
    shift_points : int
        Consecutive points beyond the bound on the same side that confirm a level
        shift: the level then moves by their median excess at once.
    init_seasons : int
        Seasons summarised (phase-wise median) into the model's start.
    error_window : int
        Past absolute errors kept per horizon.

    Examples
    --------
    >>> f = SeasonalForecaster(period=4, max_horizon=2)
    >>> for y in [1.0, 3.0, 5.0, 3.0] * 10:
    ...     f.learn_one(y)
    >>> [round(p.value, 1) for p in f.forecast(2)], f.ready
    ([1.0, 3.0], True)
    """

    def __init__(
        self,
        period: int = 24,
        max_horizon: int = 24,
        *,
        alpha: float = 0.1,
        beta: float = 0.01,
        gamma: float = 0.1,
        clip_z: float = 4.0,
        min_rel_scale: float = 0.001,
        shift_points: int = 3,
        init_seasons: int = 3,
        error_window: int = 200,
    ) -> None:
        if max_horizon < 1:
            raise ValueError(f"max_horizon must be >= 1, got {max_horizon}")
        if init_seasons < 1:
            raise ValueError(f"init_seasons must be >= 1, got {init_seasons}")
        self.period = period if period >= 2 else 0
        self.max_horizon = max_horizon
        self.clip_z = clip_z
        self.min_rel_scale = min_rel_scale
        self.shift_points = shift_points
        self._beyond: list[float] = []
        self.init_seasons = init_seasons
        self._model = _HoltWinters(
            alpha=alpha,
            beta=beta,
            gamma=gamma if self.period else None,
            seasonality=self.period,
        )
        self._first: list[float] = []
        # Forecasts made before each of the last max_horizon points, for their errors.
        self._pending: deque[list[float]] = deque(maxlen=max_horizon)
        self._errors = [deque[float](maxlen=error_window) for _ in range(max_horizon)]
        self._one_step: deque[float] = deque(maxlen=error_window)
        self.n = 0

    @property
    def ready(self) -> bool:
        """Whether the model is initialised (``init_seasons`` seasons, or 2 points without)."""
        return len(self._first) >= max(2, self.period * self.init_seasons)

    def learn_one(self, y: float) -> None:
        """Learn the next point (non-finite values are skipped: a gap, not a zero)."""
        if not np.isfinite(y):
            return
        self.n += 1
        if not self.ready:
            self._first.append(y)
            if self.ready:
                self._start()
            return
        # Errors of the forecasts made h steps ago for this point.
        for h, past in enumerate(reversed(self._pending), start=1):
            if h <= len(past):
                self._errors[h - 1].append(abs(y - past[h - 1]))
        predicted = float(self._model.forecast(1)[0])
        beyond = y - predicted
        residuals = np.fromiter(self._one_step, float)
        self._one_step.append(beyond)
        if len(residuals) >= 10:
            # The scale of past residuals only: the point judged must not widen its bound.
            _, scale = robust_location_scale(residuals, 0.0)
            bound = self.clip_z * max(scale, self.min_rel_scale * abs(predicted))
            if abs(beyond) > bound:
                self._beyond = [b for b in self._beyond if b * beyond > 0] + [beyond]
                if len(self._beyond) >= self.shift_points:
                    # Confirmed level shift: move the level by the typical excess at
                    # once, instead of creeping towards it one clipped bound per step.
                    self._model.level[-1] += float(np.median(self._beyond))
                    self._beyond = []
                    self._one_step.clear()
                    self._learn(y)
                    return
                y = min(max(y, predicted - bound), predicted + bound)
            else:
                self._beyond = []
        self._learn(y)

    def _learn(self, y: float) -> None:
        self._model.learn_one(y)
        self._pending.append([float(v) for v in self._model.forecast(self.max_horizon)])

    def _start(self) -> None:
        if not self.period:
            for y in self._first:
                self._model.learn_one(y)
            # Two points say nothing about a trend (River starts it at their difference).
            self._model.trend.clear()
            self._model.trend.append(0.0)
            self._pending.append([float(v) for v in self._model.forecast(self.max_horizon)])
            return
        # One robust season: the median of each phase over the start (a spike in one
        # season is not mistaken for a daily pattern), learned as River's first season.
        start = np.asarray(self._first, dtype=float).reshape(self.init_seasons, self.period)
        season = [float(v) for v in np.median(start, axis=0)]
        for y in season:
            self._model.learn_one(y)
        fix_seasonal_init(self._model, season)
        self._pending.append([float(v) for v in self._model.forecast(self.max_horizon)])

    def forecast(self, horizon: int, coverage: float = 0.9) -> list[ForecastPoint]:
        """The next ``horizon`` points with ``coverage`` intervals.

        Horizons beyond ``max_horizon`` reuse the widest tracked error; before any error
        is known (or before :attr:`ready`) the bounds are infinite: an unknown spread is
        not a zero one.
        """
        if horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {horizon}")
        if not 0.0 < coverage < 1.0:
            raise ValueError(f"coverage must be in (0, 1), got {coverage}")
        if not self._first:
            raise ValueError("nothing learned yet: cannot forecast")
        if self.ready:
            values = [float(v) for v in self._model.forecast(horizon)]
        else:
            values = [float(np.median(self._first))] * horizon
        out = []
        for step, value in enumerate(values, start=1):
            errors = self._errors[min(step, self.max_horizon) - 1]
            half = _conformal_half_width(errors, coverage) if errors else float("inf")
            out.append(ForecastPoint(step, value, value - half, value + half))
        return out


def _conformal_half_width(errors: Iterable[float], coverage: float) -> float:
    # Split-conformal quantile with the finite-sample correction ceil((n + 1) q) / n.
    arr = np.sort(np.fromiter(errors, float))
    rank = int(np.ceil((len(arr) + 1) * coverage)) - 1
    return float(arr[min(rank, len(arr) - 1)])


def forecast(
    history: Sequence[float],
    horizon: int,
    *,
    period: int = 24,
    coverage: float = 0.9,
) -> list[ForecastPoint]:
    """Forecast ``horizon`` points after ``history`` with ``coverage`` prediction intervals.

    A fresh :class:`SeasonalForecaster` learns ``history`` (oldest first) and forecasts.
    Give it at least three seasons so that the intervals have errors to stand on.

    >>> points = forecast([10.0, 12.0] * 40, horizon=2, period=2)
    >>> [(round(p.value, 1), p.lower <= p.value <= p.upper) for p in points]
    [(10.0, True), (12.0, True)]
    >>> forecast([], 1)
    Traceback (most recent call last):
    ...
    ValueError: nothing learned yet: cannot forecast
    """
    model = SeasonalForecaster(period=period, max_horizon=max(1, horizon))
    for y in history:
        model.learn_one(float(y))
    return model.forecast(horizon, coverage)
