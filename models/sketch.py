"""A mergeable quantile sketch with exact count/sum/min/max and a compact JSON state.

``DDSketch`` (Datadog's, relative-error guarantee) does the math; this wrapper only adds
a small state representation, because a window's state is written to a changelog on
every batch and the library's own pickle is ~1.7 kB per sketch.

>>> s = QuantileSketch()
>>> for x in range(1, 101):
...     s.add(float(x))
>>> s.count, s.mean, s.min, s.max
(100, 50.5, 1.0, 100.0)
>>> abs(s.quantile(0.95) - 95.0) / 95.0 <= 0.01
True
>>> QuantileSketch.from_state(s.to_state()).quantile(0.5) == s.quantile(0.5)
True
"""

from __future__ import annotations

import math
from typing import Any

from ddsketch.ddsketch import BaseDDSketch
from ddsketch.mapping import LogarithmicMapping
from ddsketch.store import DenseStore

RELATIVE_ACCURACY = 0.01
# The mapping is immutable; sharing it saves building one per sketch (thousands a second).
_MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)


class QuantileSketch:
    """Streaming distribution summary of one metric (relative error <= 1 % on quantiles)."""

    __slots__ = ("_sketch",)

    def __init__(self) -> None:
        self._sketch = BaseDDSketch(_MAPPING, DenseStore(), DenseStore(), 0.0)

    def add(self, x: float) -> None:
        """Add one observation."""
        self._sketch.add(x)

    def merge(self, other: QuantileSketch) -> None:
        """Fold ``other`` into this sketch (used for roll-ups of closed windows)."""
        self._sketch.merge(other._sketch)

    @property
    def count(self) -> int:
        return int(self._sketch.count)

    @property
    def sum(self) -> float:
        return float(self._sketch.sum)

    @property
    def mean(self) -> float:
        return self.sum / self.count if self.count else math.nan

    @property
    def min(self) -> float:
        return float(self._sketch._min) if self.count else math.nan

    @property
    def max(self) -> float:
        return float(self._sketch._max) if self.count else math.nan

    def quantile(self, q: float) -> float:
        """Return the ``q`` quantile, clamped to the exact [min, max]."""
        if not self.count:
            return math.nan
        value = self._sketch.get_quantile_value(q)
        assert value is not None  # only None for an empty sketch
        return min(max(float(value), self.min), self.max)

    def to_state(self) -> dict[str, Any]:
        """Return a compact JSON-able state: exact moments plus the non-empty bins."""
        sk = self._sketch
        return {
            "n": sk.count,
            "s": sk.sum,
            "lo": sk._min,
            "hi": sk._max,
            "z": sk._zero_count,
            "p": _bins(sk._store),
            "m": _bins(sk._negative_store),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> QuantileSketch:
        """Rebuild a sketch from :meth:`to_state` output."""
        new = cls()
        sk = new._sketch
        _restore_bins(sk._store, state["p"])
        _restore_bins(sk._negative_store, state["m"])
        sk._zero_count = state["z"]
        sk._count = state["n"]
        sk._sum = state["s"]
        sk._min = state["lo"]
        sk._max = state["hi"]
        return new


def _bins(store: Any) -> list[Any]:
    # The dense store keeps bins from ``offset`` in chunks; only [min_key, max_key] is used.
    if not store.count:
        return []
    lo = store.min_key - store.offset
    return [store.min_key, store.bins[lo : store.max_key - store.offset + 1]]


def _restore_bins(store: Any, state: list[Any]) -> None:
    if state:
        first, counts = state
        for i, count in enumerate(counts):
            if count:
                store.add(first + i, count)
