"""Windowed z-score of a value and of its short recent mean, with a scale floor.

NAB's windowed Gaussian (39.65) judges a point by its distance from the mean of a long
window in standard deviations. :class:`WindowedZScore` adds the same distance for the
mean of the last ``short`` points, weighted by ``short_weight``: a level shift that no
single point makes extreme shows in the mean of a few. Running sums keep it O(1) per
point in fixed-size blocks (:mod:`~models.detectors.rolling`: bounded state, no list of
past values), and the scale has a floor so a flat or all-zero stretch does not divide by
zero.

>>> wz = WindowedZScore(window=100, min_points=10)
>>> for i in range(100):
...     wz.learn_one(10.0 + (i % 5))
>>> wz.z(12.0) < 1.0 < 10.0 < wz.z(40.0)
True
"""

from __future__ import annotations

import math
from collections import deque

from models.detectors.likelihood import normal_surprise
from models.detectors.rolling import BlockMoments, BlockTail

__all__ = ["TailCalibration", "WindowedZScore"]


class TailCalibration:
    """Normal-tail surprise of a z-score, shifted by how heavy the series' own tail is.

    ``surprise(z) - surprise(z_q) + surprise_q``, ``z_q`` being the ``q`` quantile of
    the last ~``size`` z-scores added (:class:`~models.detectors.rolling.BlockTail`, in
    ``blocks`` blocks) and ``surprise_q`` what that quantile has under normal data:
    unchanged for normal noise, lowered for a heavy-tailed series, whose z of 5 is
    routine.

    >>> cal = TailCalibration(size=100, min_size=10)
    >>> for i in range(100):
    ...     cal.add(6.0 * (i % 2))  # z of 6 every other point: routine here
    >>> cal.surprise(6.0) < 3.0 < cal.surprise(12.0)
    True
    """

    def __init__(
        self, size: int = 2000, q: float = 0.99, min_size: int = 30, blocks: int = 8
    ) -> None:
        self.size = size
        self.q = q
        self.min_size = min_size
        self._tail = BlockTail(size, q, blocks)

    def add(self, z: float) -> None:
        """Record the z-score of a learned value."""
        self._tail.add(z)

    def surprise(self, z: float) -> float:
        """Calibrated ``-log10`` tail probability of ``z``."""
        raw = normal_surprise(z)
        if self._tail.count < self.min_size:
            return raw
        zq = self._tail.quantile()
        expected = -math.log10(1.0 - self.q)
        return max(0.0, raw - max(0.0, normal_surprise(zq) - expected))


class WindowedZScore:
    """Distance of a value (and of its short mean) from a long window's mean, in SDs.

    Parameters
    ----------
    window : int
        Values in the long window (whole blocks: up to ``window / blocks`` more).
    short : int
        Points in the short mean (1: the value alone).
    short_weight : float
        Weight of the short mean's z.
    min_points : int
        Values needed before :meth:`z` reports anything but 0.
    relative_floor : float
        Floor of the standard deviation relative to ``max(1, |mean|)``.
    calibration, calibration_q
        z-scores kept, and the quantile read off them, by :meth:`surprise`
        (see :class:`TailCalibration`).
    blocks : int
        Blocks of the window's :class:`~models.detectors.rolling.BlockMoments`.
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
        blocks: int = 32,
    ) -> None:
        self.window = window
        self.short = short
        self.short_weight = short_weight
        self.min_points = min_points
        self.relative_floor = relative_floor
        self._moments = BlockMoments(window, blocks)
        self._recent: deque[float] = deque(maxlen=max(1, short - 1))
        self.calibration = TailCalibration(calibration, calibration_q, min_points)

    @property
    def ready(self) -> bool:
        """Whether ``min_points`` values were learned."""
        return self._moments.count >= self.min_points

    @property
    def mean(self) -> float:
        """Mean of the window (NaN when empty)."""
        return self._moments.mean

    def z(self, value: float) -> float:
        """The larger of the value's z and ``short_weight`` x its short mean's z."""
        if self._moments.count < self.min_points:
            return 0.0
        mean = self._moments.mean
        sd = max(
            math.sqrt(self._moments.variance), self.relative_floor * max(1.0, abs(mean)), 1e-12
        )
        z = abs(value - mean) / sd
        if self.short > 1:
            short_mean = (sum(self._recent) + value) / self.short
            z = max(z, self.short_weight * abs(short_mean - mean) / sd)
        return z

    def surprise(self, value: float) -> float:
        """:class:`TailCalibration` surprise of :meth:`z`."""
        return self.calibration.surprise(self.z(value))

    def learn_one(self, value: float) -> None:
        """Add ``value`` to the window."""
        if self.ready:
            self.calibration.add(self.z(value))
        self._moments.add(value)
        self._recent.append(value)
