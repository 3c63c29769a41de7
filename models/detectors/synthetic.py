"""Synthetic labelled metric windows: daily seasonality, drift, injected incidents.

Like River's ``datasets.synth``: a small, seeded stream with ground truth, to pin
detection quality in doctests and tests without the full marketplace simulator.

>>> points = synthetic_stream(seed=1, n_points=48, injections=[Injection(30, 2, "temp", 10.0)])
>>> len(points), sorted(points[0].x), [p.index for p in points if p.label]
(48, ['load', 'rtt_ms', 'temp'], [30, 31])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["HOUR_MS", "Injection", "LabelledPoint", "random_injections", "synthetic_stream"]

HOUR_MS = 3_600_000
#: Noise standard deviation of each feature; injections are sized in these units.
NOISE = {"load": 1.5, "temp": 1.0, "rtt_ms": 0.8}


@dataclass(frozen=True, slots=True)
class Injection:
    """Add ``delta`` to ``feature`` for ``length`` points from point ``start``."""

    start: int
    length: int
    feature: str
    delta: float

    def covers(self, index: int) -> bool:
        """Whether point ``index`` is affected."""
        return self.start <= index < self.start + self.length


@dataclass(frozen=True, slots=True)
class LabelledPoint:
    """One window's features, its event time and whether an injection affects it."""

    index: int
    ts_ms: int
    x: dict[str, float]
    label: bool


def synthetic_stream(
    seed: int,
    n_points: int = 24 * 21,
    *,
    step_ms: int = HOUR_MS,
    start_ms: int = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000,
    injections: Sequence[Injection] = (),
    shift_at: int | None = None,
    shift: float = 15.0,
) -> list[LabelledPoint]:
    """Hourly windows (by default) of three metrics with a daily cycle and a slow drift.

    ``load`` swings +-20 over the day and drifts up 0.02 per point, ``temp`` follows
    load with a small lag, ``rtt_ms`` is flat. ``shift_at`` adds a permanent level shift
    of ``shift`` to ``load`` (unlabelled once it has become the new normal: it is
    labelled only for its first point).
    """
    rng = np.random.default_rng(seed)
    per_day = 86_400_000 / step_ms
    out = []
    for i in range(n_points):
        phase = 2 * math.pi * i / per_day
        x = {
            "load": 50 + 20 * math.sin(phase) + 0.02 * i,
            "temp": 62 + 4 * math.sin(phase - 0.3),
            "rtt_ms": 20.0,
        }
        for name, sigma in NOISE.items():
            x[name] += float(rng.normal(0.0, sigma))
        label = False
        for inj in injections:
            if inj.covers(i):
                x[inj.feature] += inj.delta
                label = True
        if shift_at is not None and i >= shift_at:
            x["load"] += shift
            label = label or i == shift_at
        out.append(LabelledPoint(i, start_ms + i * step_ms, x, label))
    return out


def random_injections(
    seed: int, n: int, first: int, last: int, *, min_sigmas: float = 7.0
) -> list[Injection]:
    """``n`` non-overlapping injections (spikes of 1 point, shifts of 2-6) in ``[first, last)``.

    Sizes are ``min_sigmas`` to ``1.5 * min_sigmas`` noise deviations, up or down, with
    at least a day of healthy points between injections.

    >>> [i.start for i in random_injections(0, 3, 100, 400)] == sorted(
    ...     i.start for i in random_injections(0, 3, 100, 400))
    True
    """
    rng = np.random.default_rng(seed)
    gap = (last - first) // n
    out = []
    for k in range(n):
        length = 1 if rng.random() < 0.4 else int(rng.integers(2, 7))
        lo = first + k * gap
        start = int(rng.integers(lo, max(lo + 1, lo + gap - length - 24)))
        feature = str(rng.choice(sorted(NOISE)))
        size = NOISE[feature] * float(rng.uniform(min_sigmas, 1.5 * min_sigmas))
        sign = 1.0 if rng.random() < 0.5 else -1.0
        out.append(Injection(start, length, feature, sign * size))
    return out
