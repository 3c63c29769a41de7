"""Forecast-residual detector: River Holt-Winters per feature, residuals scaled robustly.

Each feature gets an additive Holt-Winters model with a seasonal period given in time
(``period_ms``, a day by default) and converted to points with the sampling step. The
residual of the one-step forecast is judged against the rolling median / MAD of past
residuals of healthy points.

>>> import math
>>> det = ForecastResidualDetector(period_ms=24, step_ms=1)
>>> for ts in range(24 * 6):
...     det.learn_one({"load": 50 + 20 * math.sin(2 * math.pi * ts / 24) + ts % 2}, ts)
>>> ts = 24 * 6
>>> typical = 50 + 20 * math.sin(2 * math.pi * ts / 24)
>>> det.score_one({"load": typical}, ts).value < 0.2
True
>>> det.score_one({"load": typical + 15}, ts).value > 0.9
True
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from river import time_series

from models.detectors.robust import robust_location_scale
from models.detectors.score import Score, finite_items, score_features, squash

__all__ = ["ForecastResidualDetector", "fix_seasonal_init", "initialize_additive"]

_DAY_MS = 86_400_000
# River is untyped; Any keeps mypy strict about our code around it.
_HoltWinters: Any = time_series.HoltWinters


@dataclass
class _Series:
    model: Any
    seasonality: int
    first: list[float] = field(default_factory=list)
    last_ts_ms: int | None = None
    residuals: deque[float] = field(default_factory=deque)
    last_value: float | None = None
    #: Exponentially weighted share of points equal to the one before (a discrete metric).
    repeats: float = 0.0

    @property
    def ready(self) -> bool:
        return len(self.first) >= max(2, self.seasonality)


def fix_seasonal_init(model: Any, first: list[float]) -> None:
    """Start an additive River Holt-Winters season as differences from the level, trend 0."""
    # River 0.26 initialises additive seasonal indices as ratios y / level (the
    # multiplicative formula), which leaves the seasonal pattern in the residuals for many
    # seasons; additive indices are differences y - level. And its initial trend is the
    # mean step over the first season, which for a seasonal series is mostly the season
    # itself (a sine read from its peak looks like a steep decline): one season says
    # nothing about the trend, so start it at 0.
    if model.season is None or model.multiplicative:
        return
    level = model.level[-1]
    model.season.clear()
    model.season.extend(y - level for y in first)
    if model.trend is not None:
        model.trend.clear()
        model.trend.append(0.0)


def initialize_additive(model: Any, first: list[float]) -> None:
    """Initialise an additive River Holt-Winters from its first season without dividing.

    River's own initialisation divides every first value by the first season's mean
    (``y / level``), which raises ZeroDivisionError on a season that averages exactly 0
    (an idle disk, a counter at rest). The additive components need no division: level =
    mean, trend = 0, season = differences from the level (see :func:`fix_seasonal_init`).

    >>> from river import time_series
    >>> hw = time_series.HoltWinters(alpha=0.1, beta=0.01, gamma=0.1, seasonality=3)
    >>> initialize_additive(hw, [0.0, 0.0, 0.0])
    >>> hw.learn_one(1.0)
    >>> round(hw.forecast(1)[0], 2)
    0.1
    """
    # River keeps the initialisation state in private attributes; set them as its own
    # learn_one would, so later learn_one calls take the initialised path.
    model._first_values = list(first)
    model.level.append(sum(first) / len(first))
    if model.trend is not None:
        model.trend.append(0.0)
    if model.season is not None:
        model.season.extend(first)
    model._initialized = True
    fix_seasonal_init(model, first)


class ForecastResidualDetector:
    """Score = squashed robust z-score of the Holt-Winters one-step residual.

    Parameters
    ----------
    period_ms : int
        Seasonal period in event time. With ``step_ms`` it gives the seasonality in
        points; a period over ``max_seasonality`` points (or under 2) drops seasonality.
    step_ms : int or None
        Spacing of the points. None: inferred from the first two points learned. Gaps
        (several steps between learned points, e.g. windows skipped because they were
        anomalous) are filled with the model's own forecast, so the seasonal phase holds.
    alpha, beta, gamma : float
        Holt-Winters smoothing of level, trend and season.
    residual_window : int
        Residuals kept for the scale.
    min_residuals : int
        Residuals needed before scoring (warm-up after the model is initialised, which
        takes one season).
    z_half : float
        Robust z-score of the residual that maps to 0.5.
    max_seasonality : int
        Cap on the season length in points.
    tail : float
        Quantile of the heavy-tail floor of the residual scale (see
        :func:`~models.detectors.robust.robust_location_scale`).

    Notes
    -----
    A feature whose values mostly repeat exactly (a discrete metric: error counts,
    GPU counts) is not scored here; see
    :class:`~models.detectors.robust.RobustBaselineDetector`.
    """

    def __init__(
        self,
        period_ms: int = _DAY_MS,
        step_ms: int | None = None,
        alpha: float = 0.1,
        beta: float = 0.01,
        gamma: float = 0.1,
        residual_window: int = 96,
        min_residuals: int = 24,
        z_half: float = 4.0,
        max_seasonality: int = 2000,
        tail: float = 0.02,
    ) -> None:
        if not 2 <= min_residuals <= residual_window:
            raise ValueError("need 2 <= min_residuals <= residual_window")
        self.period_ms = period_ms
        self.step_ms = step_ms
        self.alpha, self.beta, self.gamma = alpha, beta, gamma
        self.residual_window = residual_window
        self.min_residuals = min_residuals
        self.z_half = z_half
        self.max_seasonality = max_seasonality
        self.tail = tail
        self._series: dict[str, _Series] = {}
        self._first_ts_ms: int | None = None
        self._pending: dict[str, float] = {}

    def _new_series(self, step_ms: int) -> _Series:
        seasonality = round(self.period_ms / step_ms)
        if not 2 <= seasonality <= self.max_seasonality:
            seasonality = 0
        model = _HoltWinters(
            alpha=self.alpha,
            beta=self.beta,
            gamma=self.gamma if seasonality else None,
            seasonality=seasonality,
        )
        return _Series(model, seasonality, residuals=deque(maxlen=self.residual_window))

    def _steps(self, series: _Series, ts_ms: int) -> int:
        assert self.step_ms is not None and series.last_ts_ms is not None
        return round((ts_ms - series.last_ts_ms) / self.step_ms)

    def score_one(self, x: Mapping[str, float], ts_ms: int) -> Score | None:
        """Score ``x``; None when it has no finite feature."""
        return score_features(x, partial(self._judge, ts_ms))

    def _judge(self, ts_ms: int, name: str, value: float) -> tuple[float, float] | None:
        series = self._series.get(name)
        if series is None or len(series.residuals) < self.min_residuals:
            return None
        if series.repeats > 0.5:
            # A discrete metric (an error count mostly at 0, a constant GPU count) has no
            # level to forecast: its residuals are sparse spikes with no spread. The robust
            # baseline scores it by its exceedance rate instead.
            return None
        horizon = max(1, self._steps(series, ts_ms))
        predicted = float(series.model.forecast(horizon)[-1])
        bias, scale = robust_location_scale(list(series.residuals), 0.0, tail=self.tail)
        scale = max(scale, 0.01 * abs(predicted), 1e-9)
        return squash(abs(value - predicted - bias) / scale, self.z_half), predicted + bias

    def learn_one(self, x: Mapping[str, float], ts_ms: int) -> None:
        """Learn ``x`` at ``ts_ms``; points not after a feature's last one are ignored."""
        items = finite_items(x)
        if not items:
            return
        if self.step_ms is None:
            # The step is not known before the second point: hold the first one back.
            if self._first_ts_ms is None:
                self._first_ts_ms, self._pending = ts_ms, dict(items)
                return
            if ts_ms <= self._first_ts_ms:
                return
            self.step_ms = ts_ms - self._first_ts_ms
            for name, value in self._pending.items():
                self._series[name] = self._new_series(self.step_ms)
                self._learn(self._series[name], value, self._first_ts_ms)
            self._pending = {}
        for name, value in items:
            series = self._series.get(name)
            if series is None:
                series = self._series[name] = self._new_series(self.step_ms)
            self._learn(series, value, ts_ms)

    def _learn(self, series: _Series, value: float, ts_ms: int) -> None:
        model = series.model
        if series.last_ts_ms is not None and ts_ms <= series.last_ts_ms:
            return
        same = 1.0 if value == series.last_value else 0.0
        series.repeats += 0.05 * (same - series.repeats)
        series.last_value = value
        if not series.ready:
            series.first.append(value)
            if series.ready:
                initialize_additive(model, series.first)
            else:
                model.learn_one(value)
            series.last_ts_ms = ts_ms
            return
        # Fill skipped steps with the forecast (at most one season) to keep the phase.
        gap = min(self._steps(series, ts_ms) - 1, max(series.seasonality, 1))
        for _ in range(max(0, gap)):
            model.learn_one(float(model.forecast(1)[0]))
        series.residuals.append(value - float(model.forecast(1)[0]))
        model.learn_one(value)
        series.last_ts_ms = ts_ms
