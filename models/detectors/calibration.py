"""Put raw detector scores on one scale: distance past their own healthy tail.

Raw scores of different detectors mean different things (a healthy point scores ~0.01 on
the robust baseline and ~0.9 on Half-Space Trees). :class:`QuantileCalibrator` keeps a
member's recent raw scores on healthy points as *surprise* ``s = -log(1 - raw)`` (which
undoes the saturation of scores near 1: 0.9, 0.99 and 0.999 are 2.3, 4.6 and 6.9) and
maps a new score to ``squash((s - median) / (q - median), ratio_half)``, ``q`` being the
upper quantile (0.95) of the history: a point ``ratio_half`` times further out than the
healthy 95th percentile scores 0.5. A rank (ECDF) would saturate at 1 for any point
beyond the history, so it could not tell a slightly unusual point from a broken one; and
the 95th percentile, unlike the maximum or the 99th, survives a few missed anomalies
being learned.

>>> cal = QuantileCalibrator(min_history=5)
>>> for raw in (0.01, 0.02, 0.02, 0.03, 0.02):
...     cal.update(raw)
>>> cal.ready, round(cal.calibrate(0.02), 3), cal.calibrate(0.9) > 0.9
(True, 0.0, True)
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from models.detectors.score import squash

__all__ = ["QuantileCalibrator"]


class QuantileCalibrator:
    """Online calibration of one detector's raw scores against their healthy history.

    Parameters
    ----------
    history_size : int
        Raw scores kept (a rolling window, so calibration follows slow changes).
    q : float
        Upper quantile of the history.
    ratio_half : float
        Distance past the median, in units of ``quantile - median``, that maps to 0.5.
    min_history : int
        Scores needed before :meth:`calibrate` is meaningful (see :attr:`ready`).
    min_spread : float
        Floor of ``quantile - median`` (in surprise units): a member whose healthy scores
        never move must still move by ``ratio_half * min_spread`` to reach 0.5.
    """

    def __init__(
        self,
        history_size: int = 500,
        q: float = 0.95,
        ratio_half: float = 2.5,
        min_history: int = 20,
        min_spread: float = 0.05,
    ) -> None:
        self.q = q
        self.ratio_half = ratio_half
        self.min_history = min_history
        self.min_spread = min_spread
        self._history: deque[float] = deque(maxlen=history_size)

    @property
    def ready(self) -> bool:
        """Whether enough healthy scores have been seen."""
        return len(self._history) >= self.min_history

    def update(self, raw: float) -> None:
        """Record the raw score of a point judged healthy."""
        self._history.append(_surprise(raw))

    def calibrate(self, raw: float) -> float:
        """Calibrated score in [0, 1] of ``raw``."""
        if not self._history:
            return 0.0
        arr = np.fromiter(self._history, dtype=float)
        median, upper = (float(v) for v in np.quantile(arr, [0.5, self.q]))
        spread = max(upper - median, self.min_spread)
        return squash(max(0.0, _surprise(raw) - median) / spread, self.ratio_half)


def _surprise(raw: float) -> float:
    # Capped: a raw score of exactly 1 is "beyond anything", not infinitely surprising.
    return -math.log(max(1.0 - raw, 1e-12))
