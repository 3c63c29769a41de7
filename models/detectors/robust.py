"""Robust rolling baseline: per-feature median and MAD over the last points learned.

>>> det = RobustBaselineDetector(window_size=20, warmup=5)
>>> for ts in range(20):
...     det.learn_one({"rtt_ms": 20.0 + ts % 3}, ts)
>>> det.score_one({"rtt_ms": 21.0}, 20).value < 0.1
True
>>> s = det.score_one({"rtt_ms": 60.0}, 21)
>>> s.value > 0.99, s.expected, s.observed
(True, {'rtt_ms': 21.0}, {'rtt_ms': 60.0})
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from statistics import NormalDist

import numpy as np

from models.detectors.score import Score, finite_items, score_features, squash

__all__ = ["RobustBaselineDetector", "exceedance_z", "robust_location_scale"]

#: Makes the MAD a consistent estimator of the standard deviation of normal data.
MAD_TO_SIGMA = 1.4826
#: The same for the mean absolute deviation.
MEAN_AD_TO_SIGMA = 1.2533


def robust_location_scale(
    values: np.ndarray | list[float],
    min_rel_scale: float = 0.01,
    min_abs_scale: float = 0.0,
    tail: float = 0.0,
) -> tuple[float, float]:
    """Median and MAD-based scale of ``values``, floored so constants do not divide by 0.

    When the MAD is 0 the mean absolute deviation is used instead. The floor is
    ``min_rel_scale * |median|``, ``min_abs_scale`` and 1e-9: a metric that never moved
    should flag a 1 % change as a few sigmas, not as infinitely anomalous. A metric whose
    median is 0 (error counts) needs ``min_abs_scale``, its resolution: otherwise the
    first error after a quiet window is infinitely surprising.

    ``tail`` > 0 adds a heavy-tail floor: the larger distance from the median to the
    ``tail`` and ``1 - tail`` quantiles, divided by the normal quantile of ``1 - tail``.
    On normal data it equals the MAD scale; on a metric with occasional healthy
    excursions (a clock that drops whenever the load dips) it widens the scale so that
    an excursion as large as the history's own is not extreme.

    >>> robust_location_scale([1.0, 2.0, 3.0, 4.0, 100.0])
    (3.0, 1.4826)
    >>> robust_location_scale([5.0, 5.0, 5.0])
    (5.0, 0.05)
    >>> robust_location_scale([0.0, 0.0, 0.0, 4.0])
    (0.0, 1.2533)
    >>> robust_location_scale([0.0, 0.0, 0.0], min_abs_scale=0.5)
    (0.0, 0.5)
    >>> values = [10.0, 11.0, 10.5, 9.5, 10.2, 9.8, 10.1, 9.9, 10.4, 2.0]
    >>> [round(robust_location_scale(values, tail=q)[1], 2) for q in (0.0, 0.1)]
    [0.44, 1.01]
    """
    arr = np.asarray(values, dtype=float)
    median = float(np.median(arr))
    deviations = np.abs(arr - median)
    scale = MAD_TO_SIGMA * float(np.median(deviations))
    if scale == 0.0:
        # Over half the values equal the median (discrete metrics, error counts): the
        # mean absolute deviation still sees the others.
        scale = MEAN_AD_TO_SIGMA * float(np.mean(deviations))
    if tail > 0.0:
        low, high = (float(v) for v in np.quantile(arr, [tail, 1.0 - tail]))
        scale = max(scale, max(high - median, median - low) / NormalDist().inv_cdf(1.0 - tail))
    return median, max(scale, min_rel_scale * abs(median), min_abs_scale, 1e-9)


def exceedance_z(values: np.ndarray | list[float], value: float) -> float:
    """Normal-equivalent z of how rarely ``values`` went as far from their median as ``value``.

    The count-aware score of a sparse metric (error counts: mostly 0, now and then 1):
    a z-score would divide by a spread of ~0 and make every error infinitely surprising,
    while the honest statement is "an excursion this far happened in k of the last n
    points". The tail probability ``(k + 1) / (n + 1)`` is turned into the z of the same
    upper-tail probability, so with n points of history the score never exceeds the z of
    ``1 / (n + 1)``: a short history cannot prove a rare event extreme.

    >>> history = [0.0] * 95 + [1.0]
    >>> round(exceedance_z(history, 0.0), 2), round(exceedance_z(history, 1.0), 2)
    (0.0, 2.04)
    >>> round(exceedance_z(history, 5.0), 2)
    2.31
    """
    arr = np.asarray(values, dtype=float)
    median = float(np.median(arr))
    distance = abs(value - median)
    if distance == 0.0:
        return 0.0
    k = int(np.count_nonzero(np.abs(arr - median) >= distance))
    return max(0.0, NormalDist().inv_cdf(1.0 - (k + 1) / (len(arr) + 1)))


class RobustBaselineDetector:
    """Robust z-score of each feature against a rolling median / MAD baseline.

    Parameters
    ----------
    window_size : int
        Points per feature kept in the rolling baseline.
    warmup : int
        Points a feature needs before it is scored; until one feature has them, scores
        are ``warm=False``.
    z_half : float
        Robust z-score that maps to a score of 0.5 (see :func:`squash`).
    min_rel_scale, min_abs_scale : float
        Floors of the scale, relative to the median and absolute (the resolution of
        count-like features; see :func:`robust_location_scale`). ``min_abs_scale`` may
        be a mapping feature -> floor (features not in it get 0).
    tail : float
        Quantile of the heavy-tail floor of the scale (0 disables it; see
        :func:`robust_location_scale`).
    sparse_share : float
        A feature is *sparse* when at most this share of its window is not 0 (a counter
        with rare events; a constant non-zero metric keeps the relative scale floor).

    Notes
    -----
    The score is the largest per-feature score: one broken metric is enough. A *sparse*
    feature (0 but for rare events, like an error count)
    is scored by :func:`exceedance_z` instead of a z-score: how rarely the window went
    as far, which a short window cannot call extreme. A quantized metric (a sketch's p95
    falls in a few buckets) spreads over several values and keeps its z-score.
    """

    def __init__(
        self,
        window_size: int = 96,
        warmup: int = 8,
        z_half: float = 4.0,
        min_rel_scale: float = 0.01,
        min_abs_scale: float | Mapping[str, float] = 0.0,
        tail: float = 0.02,
        sparse_share: float = 0.1,
    ) -> None:
        if not 2 <= warmup <= window_size:
            raise ValueError(f"need 2 <= warmup <= window_size, got {warmup}, {window_size}")
        self.window_size = window_size
        self.warmup = warmup
        self.z_half = z_half
        self.min_rel_scale = min_rel_scale
        self.min_abs_scale = min_abs_scale
        self.tail = tail
        self.sparse_share = sparse_share
        self._values: dict[str, deque[float]] = {}

    def score_one(self, x: Mapping[str, float], ts_ms: int) -> Score | None:
        """Score ``x`` against the baseline; None when ``x`` has no finite feature."""
        return score_features(x, self._judge)

    def _judge(self, name: str, value: float) -> tuple[float, float] | None:
        window = self._values.get(name)
        if window is None or len(window) < self.warmup:
            return None
        floor = (
            self.min_abs_scale.get(name, 0.0)
            if isinstance(self.min_abs_scale, Mapping)
            else self.min_abs_scale
        )
        history = np.fromiter(window, dtype=float, count=len(window))
        median = float(np.median(history))
        if median == 0.0 and np.count_nonzero(history) <= self.sparse_share * len(history):
            z = exceedance_z(history, value)
        else:
            median, scale = robust_location_scale(history, self.min_rel_scale, floor, self.tail)
            z = abs(value - median) / scale
        return squash(z, self.z_half), median

    def learn_one(self, x: Mapping[str, float], ts_ms: int) -> None:
        """Add the finite features of ``x`` to their rolling windows."""
        for name, value in finite_items(x):
            window = self._values.get(name)
            if window is None:
                window = self._values[name] = deque(maxlen=self.window_size)
            window.append(value)
