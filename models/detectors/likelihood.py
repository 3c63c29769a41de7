"""Anomaly likelihood: how unusual the recent average of raw scores is (HTM-style).

Raw anomaly scores of a sequence model are noisy: a noisy series keeps them high, a
clean one near 0. Numenta's anomaly likelihood (Ahmad et al., 2017, *Unsupervised
real-time anomaly detection for streaming data*) judges the **average of the last few
raw scores** against the **distribution of that average over a long history**, as the
tail probability of a normal fit. :class:`AnomalyLikelihood` keeps that history as
moments of a rolling window in fixed-size blocks (:class:`~models.detectors.rolling.
BlockMoments`: O(1) per point, bounded state) and reports the tail as
``surprise = -log10(tail)`` (10 = one chance in 10^10), which keeps growing past the
point where a probability would round to 1.

>>> lik = AnomalyLikelihood(learning_period=50, short_window=5)
>>> for i in range(200):
...     lik.learn_one(0.1 + 0.05 * (i % 3))
>>> lik.surprise(0.15) < 1.0, lik.surprise(1.0) > 5.0
(True, True)
"""

from __future__ import annotations

import math
from collections import deque

from models.detectors.rolling import BlockMoments

__all__ = ["AnomalyLikelihood", "normal_surprise"]

_LOG10 = math.log(10.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def normal_surprise(z: float) -> float:
    """``-log10`` of the upper tail probability of a standard normal at ``z``.

    Exact through ``erfc`` where it does not underflow, the asymptotic expansion beyond.

    >>> round(normal_surprise(0.0), 3), round(normal_surprise(4.0), 2), normal_surprise(50) > 500
    (0.301, 4.5, True)
    """
    if z < 30.0:
        return -math.log10(max(0.5 * math.erfc(z / math.sqrt(2.0)), 1e-300))
    return (0.5 * z * z + math.log(z) + _HALF_LOG_2PI) / _LOG10


class AnomalyLikelihood:
    """Tail probability of the recent mean raw score against its long-run distribution.

    Parameters
    ----------
    short_window : int
        Raw scores averaged into one sample (Numenta: 10).
    history : int
        Averaged samples in the long-run distribution (a rolling window, so it follows
        slow changes), kept as the moments of ``blocks`` blocks.
    learning_period : int
        Raw scores learned before :meth:`surprise` reports anything but 0.
    min_mean, min_std : float
        Floors of the fitted mean and standard deviation (Numenta: 0.03 and
        sqrt(0.0003)): a series whose raw scores sit at 0 must not turn the slightest
        blip into a certain anomaly.
    """

    def __init__(
        self,
        short_window: int = 10,
        history: int = 4000,
        learning_period: int = 150,
        min_mean: float = 0.03,
        min_std: float = 0.0173,
        blocks: int = 32,
    ) -> None:
        self.short_window = short_window
        self.history = history
        self.learning_period = learning_period
        self.min_mean = min_mean
        self.min_std = min_std
        self._recent: deque[float] = deque(maxlen=short_window)
        self._recent_sum = 0.0
        self._averages = BlockMoments(history, blocks)
        self.n_learned = 0

    @property
    def ready(self) -> bool:
        """Whether the learning period is over."""
        return self.n_learned >= self.learning_period

    def _average_with(self, raw: float) -> float:
        total = self._recent_sum + raw
        if len(self._recent) == self.short_window:
            total -= self._recent[0]
            return total / self.short_window
        return total / (len(self._recent) + 1)

    def surprise(self, raw: float) -> float:
        """``-log10`` tail probability of the average including ``raw`` (0 before ready)."""
        if not self.ready or not self._averages.count:
            return 0.0
        mean = max(self._averages.mean, self.min_mean)
        std = max(math.sqrt(self._averages.variance), self.min_std)
        return normal_surprise((self._average_with(raw) - mean) / std)

    def learn_one(self, raw: float) -> None:
        """Add one raw score in [0, 1]."""
        average = self._average_with(raw)
        if len(self._recent) == self.short_window:
            self._recent_sum -= self._recent[0]
        self._recent.append(raw)
        self._recent_sum += raw
        self._averages.add(average)
        self.n_learned += 1
