"""Windowed z-score of a value and of its short recent mean, with a scale floor.

NAB's windowed Gaussian (39.65) judges a point by its distance from the mean of a long
window in standard deviations. :class:`WindowedZScore` adds the same distance for the
mean of the last ``short`` points, weighted by ``short_weight``: a level shift that no
single point makes extreme shows in the mean of a few. Running sums keep it O(1) per
point (recomputed every ``window`` points so rounding cannot drift), and the scale has
a floor so a flat or all-zero stretch does not divide by zero.

>>> wz = WindowedZScore(window=100, min_points=10)
>>> for i in range(100):
...     wz.learn_one(10.0 + (i % 5))
>>> wz.z(12.0) < 1.0 < 10.0 < wz.z(40.0)
True
"""

from __future__ import annotations

import bisect
import math
from collections import deque

from models.detectors.likelihood import normal_surprise

__all__ = ["WindowedZScore"]


class WindowedZScore:
    """Distance of a value (and of its short mean) from a long window's mean, in SDs.

    Parameters
    ----------
    window : int
        Values in the long window.
    short : int
        Points in the short mean (1: the value alone).
    short_weight : float
        Weight of the short mean's z.
    min_points : int
        Values needed before :meth:`z` reports anything but 0.
    relative_floor : float
        Floor of the standard deviation relative to ``max(1, |mean|)``.
    calibration, calibration_q
        z-scores kept, and the quantile read off them, by :meth:`surprise`.
    """

    def __init__(
        self,
        window: int = 6400,
        short: int = 5,
        short_weight: float = 2.0,
        min_points: int = 30,
        relative_floor: float = 1e-6,
        calibration: int = 2000,
        calibration_q: float = 0.99,
    ) -> None:
        self.window = window
        self.short = short
        self.short_weight = short_weight
        self.min_points = min_points
        self.relative_floor = relative_floor
        self._values: deque[float] = deque()
        self._sum = 0.0
        self._sum_sq = 0.0
        self._since_exact = 0
        self.calibration = calibration
        self.calibration_q = calibration_q
        self._z_recent: deque[float] = deque()
        self._z_sorted: list[float] = []

    @property
    def ready(self) -> bool:
        """Whether ``min_points`` values were learned."""
        return len(self._values) >= self.min_points

    def z(self, value: float) -> float:
        """The larger of the value's z and ``short_weight`` x its short mean's z."""
        n = len(self._values)
        if n < self.min_points:
            return 0.0
        mean = self._sum / n
        var = max(self._sum_sq / n - mean * mean, 0.0)
        sd = max(math.sqrt(var), self.relative_floor * max(1.0, abs(mean)), 1e-12)
        z = abs(value - mean) / sd
        if self.short > 1:
            recent = [self._values[-i] for i in range(1, self.short)]
            short_mean = (sum(recent) + value) / self.short
            z = max(z, self.short_weight * abs(short_mean - mean) / sd)
        return z

    def surprise(self, value: float) -> float:
        """Normal-tail surprise of :meth:`z`, shifted by how heavy this series' tail is.

        ``surprise(z) - surprise(z_q) + surprise_q``, ``z_q`` being the ``calibration_q``
        quantile of the z of the last ``calibration`` values learned and ``surprise_q``
        what that quantile would have under normal data: unchanged for normal noise,
        lowered for a heavy-tailed series, whose z of 5 is routine.
        """
        z = self.z(value)
        raw = normal_surprise(z)
        if len(self._z_sorted) < self.min_points:
            return raw
        zq = self._z_sorted[int(self.calibration_q * (len(self._z_sorted) - 1))]
        expected = -math.log10(1.0 - self.calibration_q)
        return max(0.0, raw - max(0.0, normal_surprise(zq) - expected))

    def learn_one(self, value: float) -> None:
        """Add ``value`` to the window."""
        if self.calibration and self.ready:
            z = self.z(value)
            self._z_recent.append(z)
            bisect.insort(self._z_sorted, z)
            if len(self._z_recent) > self.calibration:
                old = self._z_recent.popleft()
                del self._z_sorted[bisect.bisect_left(self._z_sorted, old)]
        self._values.append(value)
        self._sum += value
        self._sum_sq += value * value
        if len(self._values) > self.window:
            old = self._values.popleft()
            self._sum -= old
            self._sum_sq -= old * old
        self._since_exact += 1
        if self._since_exact >= self.window:
            self._sum = math.fsum(self._values)
            self._sum_sq = math.fsum(v * v for v in self._values)
            self._since_exact = 0
