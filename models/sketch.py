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

The state stays small whatever the values' range: at most :data:`MAX_BINS` per sign, and
only the non-empty ones when most of the span between them is empty:

>>> wide = QuantileSketch()
>>> wide.add_many([1e-300, 1.0, 1e300, -1e-300, -1e300])
>>> wide.to_state()["p"]
{'k': [32491, 34538], 'c': [2.0, 1.0]}
>>> QuantileSketch.from_state(wide.to_state()).to_state() == wide.to_state()
True
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Sequence
from functools import reduce
from itertools import accumulate
from typing import Any

from ddsketch.ddsketch import BaseDDSketch
from ddsketch.mapping import LogarithmicMapping
from ddsketch.store import CollapsingLowestDenseStore

RELATIVE_ACCURACY = 0.01
#: Most bins a store keeps (DDSketch's own default for its bounded variant): at 1 %
#: accuracy 2,048 bins span a factor of ~1e17 between the smallest and largest magnitude
#: kept apart. Beyond that the bins of the smallest magnitudes merge (the low tail loses
#: accuracy, the median and upper quantiles keep theirs). Unbounded, one window holding
#: 1e-300 and 1e300 took ~70,000 bins per metric, a 4.5 MB changelog record the broker
#: refused, and the windows agent crashed (issue 17, found by the fuzz harness).
MAX_BINS = 2048
# The mapping is immutable; sharing it saves building one per sketch (thousands a second).
_MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)


class QuantileSketch:
    """Streaming distribution summary of one metric (relative error <= 1 % on quantiles)."""

    __slots__ = ("_sketch",)

    def __init__(self) -> None:
        # Both stores (negatives by magnitude) merge their smallest magnitudes, as
        # DDSketch's own bounded sketch does: magnitudes near zero are what merge.
        self._sketch = BaseDDSketch(
            _MAPPING,
            CollapsingLowestDenseStore(MAX_BINS),
            CollapsingLowestDenseStore(MAX_BINS),
            0.0,
        )

    def add(self, x: float) -> None:
        """Add one observation."""
        self._sketch.add(x)

    def add_many(self, xs: Sequence[float]) -> None:
        """Add observations in order: the same state as :meth:`add` of each, in fewer steps.

        Each distinct value is binned once, with its multiplicity as weight (whole
        numbers of float weight, as repeated adds of 1.0 give); the sum is accumulated
        in the given order, so it is bit-identical to adding one by one.

        >>> a, b = QuantileSketch(), QuantileSketch()
        >>> xs = [0.0, 3.5, -2.0, 3.5, 1e-320, 7.25]
        >>> for x in xs:
        ...     a.add(x)
        >>> b.add_many(xs)
        >>> a.to_state() == b.to_state()
        True
        """
        if not xs:
            return
        sk = self._sketch
        lowest = _MAPPING.min_possible
        for value, n in Counter(xs).items():
            weight = float(n)
            if value > lowest:
                sk._store.add(_MAPPING.key(value), weight)
            elif value < -lowest:
                sk._negative_store.add(_MAPPING.key(-value), weight)
            else:
                sk._zero_count += weight
        sk._count += float(len(xs))
        sk._sum = reduce(operator.add, xs, sk._sum)
        lo, hi = min(xs), max(xs)
        if lo < sk._min:
            sk._min = lo
        if hi > sk._max:
            sk._max = hi

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

    def quantiles(self, qs: Sequence[float]) -> list[float]:
        """:meth:`quantile` of each of ``qs``, from one cumulative pass over the bins.

        ``DDSketch.get_quantile_value`` walks the bins in Python once per quantile
        (~30 µs for a window's three); the running counts here are the same float sums,
        searched with ``bisect``, so the values are identical.

        >>> s = QuantileSketch()
        >>> s.add_many([-3.0, 0.0, 1.0, 2.5, 2.5, 40.0, 1e-3])
        >>> s.quantiles([0.0, 0.5, 0.95, 1.0]) == [s.quantile(q) for q in (0.0, 0.5, 0.95, 1.0)]
        True
        """
        if not self.count:
            return [math.nan for _ in qs]
        sk = self._sketch
        neg, pos = sk._negative_store, sk._store
        neg_cum: list[float] | None = None
        pos_cum: list[float] | None = None
        out = []
        for q in qs:
            if q < 0 or q > 1:
                raise ValueError(f"quantile {q} not in [0, 1]")
            rank = q * (sk._count - 1)
            if rank < neg.count:
                neg_cum = neg_cum if neg_cum is not None else list(accumulate(neg.bins))
                i = bisect_left(neg_cum, neg.count - rank - 1 + 1)
                key = i + neg.offset if i < len(neg_cum) else neg.max_key
                value = -_MAPPING.value(key)
            elif rank < sk._zero_count + neg.count:
                value = 0
            else:
                pos_cum = pos_cum if pos_cum is not None else list(accumulate(pos.bins))
                i = bisect_right(pos_cum, rank - sk._zero_count - neg.count)
                key = i + pos.offset if i < len(pos_cum) else pos.max_key
                value = _MAPPING.value(key)
            out.append(min(max(float(value), self.min), self.max))
        return out

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


def _bins(store: Any) -> list[Any] | dict[str, list[Any]]:
    """The used bins of ``store``: ``[first key, counts]`` (dense), or ``{"k": keys, "c":
    counts}`` of the non-empty ones when fewer than half of the span are used.

    The dense store keeps bins from ``offset`` in chunks; only [min_key, max_key] is used.
    Dense alone, a window holding 1e-300 and 1e300 wrote all 2,048 bins of each metric,
    mostly zeros: ~20 kB per sketch, a 1.4-3 MB window-state record with fuzzed values,
    past what the producer sends (the windows agent crashed; issue 17).
    """
    if not store.count:
        return []
    lo = store.min_key - store.offset
    counts = store.bins[lo : store.max_key - store.offset + 1]
    used = [(store.min_key + i, c) for i, c in enumerate(counts) if c]
    if 2 * len(used) < len(counts):
        return {"k": [k for k, _ in used], "c": [c for _, c in used]}
    return [store.min_key, counts]


def _restore_bins(store: Any, state: list[Any] | dict[str, list[Any]]) -> None:
    if isinstance(state, dict):
        for key, count in zip(state["k"], state["c"], strict=True):
            store.add(key, count)
    elif state:
        first, counts = state
        for i, count in enumerate(counts):
            if count:
                store.add(first + i, count)
