"""Multivariate Half-Space Trees (River) on features scaled to [0, 1].

>>> import random
>>> rng = random.Random(1)
>>> det = HalfSpaceTreesDetector(window_size=50, seed=7)
>>> for ts in range(200):
...     x = {"temp": 60 + rng.gauss(0, 1), "util": 80 + rng.gauss(0, 2)}
...     det.learn_one(x, ts)
>>> healthy = det.score_one({"temp": 60.0, "util": 80.0}, 200)
>>> broken = det.score_one({"temp": 95.0, "util": 40.0}, 201)
>>> healthy.warm, broken.value > healthy.value, broken.top_feature in {"temp", "util"}
(True, True, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from river import anomaly

from models.detectors.scaler import RangeScaler
from models.detectors.score import Score, finite_items

__all__ = ["HalfSpaceTreesDetector"]


class HalfSpaceTreesDetector:
    """River's ``HalfSpaceTrees`` behind a :class:`RangeScaler` learned on healthy data.

    The first ``window_size`` points only teach the scaler; they are then replayed, scaled
    with the learned range, into the trees, which completes HST's reference window: the
    detector is warm after exactly ``window_size`` points. The feature set is fixed by
    those points; later new features are ignored and missing ones follow the heavier
    branch (River's behaviour), i.e. are treated as typical.

    Parameters
    ----------
    n_trees, height, window_size : int
        HST parameters (``window_size`` is also the warm-up).
    seed : int
        Seed of the random tree structure.
    margin : float
        Range margin of the scaler.

    Notes
    -----
    The raw HST score is not calibrated (a healthy point scores well above 0); the
    ensemble calibrates it against its own history. Contributions are leave-one-out: how
    much the score drops when a feature is replaced by its typical branch.
    """

    def __init__(
        self,
        n_trees: int = 10,
        height: int = 6,
        window_size: int = 48,
        seed: int = 0,
        margin: float = 0.1,
    ) -> None:
        self.n_trees = n_trees
        self.height = height
        self.window_size = window_size
        self.seed = seed
        self.scaler = RangeScaler(margin)
        # River is untyped; Any keeps mypy strict about our code around it.
        self._hst: Any = anomaly.HalfSpaceTrees(
            n_trees=n_trees, height=height, window_size=window_size, seed=seed
        )
        self._pending: list[dict[str, float]] | None = []
        self._features: frozenset[str] = frozenset()

    @property
    def warm(self) -> bool:
        """Whether the trees hold a complete reference window."""
        return self._pending is None

    def _scaled(self, x: Mapping[str, float]) -> dict[str, float]:
        return {k: v for k, v in self.scaler.transform_one(x).items() if k in self._features}

    def score_one(self, x: Mapping[str, float], ts_ms: int) -> Score | None:
        """Score ``x``; None when it has no finite feature."""
        items = finite_items(x)
        if not items:
            return None
        if not self.warm:
            return Score(0.0, warm=False)
        scaled = self._scaled(x)
        if not scaled:
            return Score(0.0, warm=False)
        value = min(1.0, max(0.0, float(self._hst.score_one(scaled))))
        contributions = {}
        for name in sorted(scaled):
            without = {k: v for k, v in scaled.items() if k != name}
            drop = value - float(self._hst.score_one(without))
            contributions[name] = min(1.0, max(0.0, drop))
        observed = {k: v for k, v in items if k in scaled}
        expected = {k: self.scaler.mean(k) for k in observed}
        return Score(value, True, contributions, expected, observed)

    def learn_one(self, x: Mapping[str, float], ts_ms: int) -> None:
        """Learn ``x`` (call it on healthy points only: it also widens the range)."""
        items = dict(finite_items(x))
        if not items:
            return
        if self._pending is not None:
            self.scaler.learn_one(items)
            self._pending.append(items)
            if len(self._pending) < self.window_size:
                return
            pending, self._pending = self._pending, None
            self._features = frozenset(k for p in pending for k in p)
            # Every tree needs every feature from its first point to split on it.
            first = {k: 0.5 for k in self._features}
            first.update(self._scaled(pending[0]))
            self._hst.learn_one(first)
            for point in pending[1:]:
                self._hst.learn_one(self._scaled(point))
            return
        self.scaler.learn_one(items)
        self._hst.learn_one(self._scaled(items))
