"""Rolling statistics in fixed-size numpy blocks: bounded state, no list of past values.

The series detector's windows (thousands of values, z-scores or likelihood averages) were
deques of floats: ~4.9 MB of state per provider-day, too big for a table value. A rolling
window is kept here as a ring of ``blocks`` completed blocks of ``ceil(size / blocks)``
values, each summarised, plus the block being filled:

* :class:`BlockMoments` - count, mean and variance (Welford within a block, Chan's
  parallel formula across blocks, so large levels lose no precision);
* :class:`BlockTail` - an upper quantile: each block keeps only its ``k`` largest values,
  ``k`` just above ``(1 - q) x`` the window, so the ``q`` quantile of the window is
  **exactly** the quantile read off the union of those tops.

The window covers between ``size`` and ``size + size / blocks`` values once full (whole
blocks are dropped), and the state is a few numpy arrays whose size never grows.

>>> m = BlockMoments(size=100, blocks=4)
>>> for i in range(1000):
...     m.add(float(i % 10))
>>> m.count, round(m.mean, 2), round(m.variance, 2)
(100, 4.5, 8.25)
>>> t = BlockTail(size=100, q=0.9, blocks=4)
>>> for i in range(1000):
...     t.add(float(i % 100))
>>> t.quantile()
89.0
"""

from __future__ import annotations

import bisect
import math

import numpy as np

__all__ = ["BlockMoments", "BlockTail"]


class BlockMoments:
    """Count, mean and population variance of the last ~``size`` values.

    Parameters
    ----------
    size : int
        Values in the window (whole blocks: up to ``size + size / blocks`` are covered).
    blocks : int
        Completed blocks kept; the state is ``3 x blocks`` numbers.
    """

    def __init__(self, size: int, blocks: int = 16) -> None:
        if size < 1 or blocks < 1:
            raise ValueError("size and blocks must be >= 1")
        self.size = size
        self.blocks = blocks
        self.block_len = max(1, math.ceil(size / blocks))
        self._n = np.zeros(blocks, dtype=np.int64)
        self._mean = np.zeros(blocks)
        self._m2 = np.zeros(blocks)
        self._head = 0
        # The block being filled (Welford) and the combination of the completed ones.
        self._pn = 0
        self._pmean = 0.0
        self._pm2 = 0.0
        self._cn = 0
        self._cmean = 0.0
        self._cm2 = 0.0

    def add(self, value: float) -> None:
        """Add one value (the oldest block goes once ``blocks`` are complete)."""
        self._pn += 1
        delta = value - self._pmean
        self._pmean += delta / self._pn
        self._pm2 += delta * (value - self._pmean)
        if self._pn < self.block_len:
            return
        self._n[self._head] = self._pn
        self._mean[self._head] = self._pmean
        self._m2[self._head] = self._pm2
        self._head = (self._head + 1) % self.blocks
        self._pn, self._pmean, self._pm2 = 0, 0.0, 0.0
        n, mean, m2 = 0, 0.0, 0.0
        for i in range(self.blocks):
            n, mean, m2 = _combine(n, mean, m2, int(self._n[i]), self._mean[i], self._m2[i])
        self._cn, self._cmean, self._cm2 = n, mean, m2

    def _total(self) -> tuple[int, float, float]:
        return _combine(self._cn, self._cmean, self._cm2, self._pn, self._pmean, self._pm2)

    @property
    def count(self) -> int:
        """Values in the window."""
        return self._cn + self._pn

    @property
    def mean(self) -> float:
        """Mean of the window (NaN when empty)."""
        n, mean, _ = self._total()
        return mean if n else math.nan

    @property
    def variance(self) -> float:
        """Population variance of the window (0 when empty)."""
        n, _, m2 = self._total()
        return max(m2 / n, 0.0) if n else 0.0


def _combine(
    na: int, ma: float, m2a: float, nb: int, mb: float, m2b: float
) -> tuple[int, float, float]:
    if nb == 0:
        return na, ma, m2a
    if na == 0:
        return nb, float(mb), float(m2b)
    n = na + nb
    d = float(mb) - ma
    return n, ma + d * nb / n, m2a + float(m2b) + d * d * na * nb / n


class BlockTail:
    """The ``q`` quantile of the last ~``size`` values (``q`` near 1: an upper tail).

    Reads the same order statistic as ``sorted(window)[int(q * (n - 1))]``, exactly,
    from each block's ``k`` largest values.

    Parameters
    ----------
    size, blocks
        As :class:`BlockMoments`.
    q : float
        The quantile; the state is ``blocks x k`` numbers, ``k ~ (1 - q) x size``.
    """

    def __init__(self, size: int, q: float, blocks: int = 8) -> None:
        if not 0.0 < q < 1.0:
            raise ValueError("q must be in (0, 1)")
        if size < 1 or blocks < 1:
            raise ValueError("size and blocks must be >= 1")
        self.size = size
        self.q = q
        self.blocks = blocks
        self.block_len = max(1, math.ceil(size / blocks))
        covered = (blocks + 1) * self.block_len
        self.k = min(self.block_len, math.floor((1.0 - q) * covered) + 2)
        self._tops = np.full((blocks, self.k), -np.inf)
        self._n = np.zeros(blocks, dtype=np.int64)
        self._head = 0
        self._partial: list[float] = []  # ascending, the k largest of the open block
        self._pn = 0
        self._merged: list[float] | None = None

    @property
    def count(self) -> int:
        """Values in the window."""
        return int(self._n.sum()) + self._pn

    def add(self, value: float) -> None:
        """Add one value."""
        self._merged = None
        self._pn += 1
        if len(self._partial) < self.k:
            bisect.insort(self._partial, value)
        elif value > self._partial[0]:
            bisect.insort(self._partial, value)
            del self._partial[0]
        if self._pn < self.block_len:
            return
        row = np.full(self.k, -np.inf)
        row[self.k - len(self._partial) :] = self._partial
        self._tops[self._head] = row
        self._n[self._head] = self._pn
        self._head = (self._head + 1) % self.blocks
        self._partial, self._pn = [], 0

    def quantile(self) -> float:
        """The window's ``q`` quantile (NaN when empty)."""
        n = self.count
        if n == 0:
            return math.nan
        if self._merged is None:
            done = np.sort(self._tops, axis=None)[-self.k :]
            self._merged = sorted([*done.tolist(), *self._partial])
        rank = n - 1 - int(self.q * (n - 1))  # 0 = the largest
        return self._merged[-(rank + 1)]
