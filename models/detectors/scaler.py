"""Min-max scaling to [0, 1] with a range learned only from what it is shown.

Half-Space Trees split the unit cube, so their inputs must lie in [0, 1]. River's
``preprocessing.MinMaxScaler`` learns while it transforms; this scaler learns only in
:meth:`RangeScaler.learn_one`, which the detectors call on healthy points alone, so an
incident never stretches the range it is judged against.

>>> sc = RangeScaler(margin=0.0)
>>> for v in (10.0, 20.0):
...     sc.learn_one({"t": v})
>>> sc.transform_one({"t": 15.0, "t2": 3.0}), sc.transform_one({"t": 99.0})
({'t': 0.5}, {'t': 1.0})
"""

from __future__ import annotations

from collections.abc import Mapping

from models.detectors.score import finite_items

__all__ = ["RangeScaler"]


class RangeScaler:
    """Per-feature min-max scaler with a safety margin, clipping to [0, 1].

    Parameters
    ----------
    margin : float
        Fraction of the learned range added on each side, so healthy values land in
        ``[margin / (1 + 2 margin), 1 - margin / (1 + 2 margin)]`` and a shift outside the
        learned range is still distinguishable from its edge.
    """

    def __init__(self, margin: float = 0.1) -> None:
        self.margin = margin
        self.low: dict[str, float] = {}
        self.high: dict[str, float] = {}
        self.total: dict[str, float] = {}
        self.count: dict[str, int] = {}

    def learn_one(self, x: Mapping[str, float]) -> None:
        """Widen each feature's range to include ``x``."""
        for name, value in finite_items(x):
            self.low[name] = min(self.low.get(name, value), value)
            self.high[name] = max(self.high.get(name, value), value)
            self.total[name] = self.total.get(name, 0.0) + value
            self.count[name] = self.count.get(name, 0) + 1

    def mean(self, name: str) -> float:
        """Mean of the learned values of ``name``."""
        return self.total[name] / self.count[name]

    def transform_one(self, x: Mapping[str, float]) -> dict[str, float]:
        """Scale the known finite features of ``x``; unknown features are dropped."""
        out: dict[str, float] = {}
        for name, value in finite_items(x):
            if name not in self.low:
                continue
            low, high = self.low[name], self.high[name]
            # A constant feature gets a range of 1 % of its size (or 1) around it.
            span = max(high - low, 0.01 * abs(high), 1e-9) if high > low else 0.0
            if span == 0.0:
                span = max(0.01 * abs(high), 1.0)
                low -= span / 2
            pad = self.margin * span
            scaled = (value - low + pad) / (span + 2 * pad)
            out[name] = min(1.0, max(0.0, scaled))
        return out
