"""The figures of ``computeperf bench soak``: per-minute samples and their slopes (pure).

A soak run samples the worker once a minute; after a warm-up (the first 5 minutes, or the
first third of a shorter run) each series should be flat. Its slope is the least-squares
line through the samples after the warm-up (``numpy.polyfit``, degree 1), per minute.

>>> samples = [Sample(minute=m, rss_mb=300 + 0.5 * m, lag=10, state_keys=2000) for m in range(7)]
>>> warmup_minutes(6), warmup_minutes(30)
(2, 5)
>>> s = summarize(samples, minutes=6, max_rss_slope=1.0, max_lag=1000)
>>> s["rss_slope_mb_per_min"], s["lag_slope_per_min"], s["rss_ok"], s["lag_bounded"]
(0.5, 0.0, True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["Sample", "slope", "summarize", "warmup_minutes"]

# Series with a slope of their own in the summary: (field of Sample, its name in the JSON).
SLOPES = (
    ("rss_mb", "rss_slope_mb_per_min"),
    ("lag", "lag_slope_per_min"),
    ("state_keys", "state_keys_slope_per_min"),
    ("traced_mb", "traced_slope_mb_per_min"),
)


@dataclass(frozen=True)
class Sample:
    """The worker at the end of one minute of a soak run.

    ``lag``: records produced but not yet processed; ``state_keys``: keys held in the
    windowing agents' state (``computeperf_state_keys``); ``traced_mb``: the Python heap
    as :mod:`tracemalloc` sees it (``bench soak --tracemalloc`` only).
    """

    minute: float
    rss_mb: float
    lag: float
    state_keys: float
    produced: int = 0
    processed: float = 0.0
    evicted: float = 0.0
    traced_mb: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """Rounded for the JSON.

        >>> Sample(1.0, 300.123, 4, 10).as_dict()["rss_mb"]
        300.1
        """
        return {k: round(v, 1) if isinstance(v, float) else v for k, v in asdict(self).items()}


def warmup_minutes(minutes: int) -> int:
    """Minutes left out of the slopes: 5, or the first third of a run shorter than 15.

    >>> [warmup_minutes(m) for m in (1, 3, 9, 15, 60)]
    [0, 1, 3, 5, 5]
    """
    return min(5, minutes // 3)


def slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope of ``ys`` over ``xs`` (None with fewer than two points).

    >>> round(slope([1, 2, 3], [10, 12, 14]), 6)
    2.0
    >>> slope([1], [5]) is None
    True
    """
    if len(xs) < 2:
        return None
    return float(np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)[0])


def summarize(
    samples: Sequence[Sample], minutes: int, max_rss_slope: float, max_lag: float
) -> dict[str, Any]:
    """Slopes of RSS, lag and state size after the warm-up, and the two verdicts.

    ``rss_ok``: the RSS slope is at most ``max_rss_slope`` MB/min. ``lag_bounded``: no
    sample after the warm-up is more than ``max_lag`` records behind.
    """
    warmup = warmup_minutes(minutes)
    steady = [s for s in samples if s.minute >= warmup]
    xs = [s.minute for s in steady]
    out: dict[str, Any] = {"warmup_minutes": warmup, "steady_samples": len(steady)}
    for name, key in SLOPES:
        ys = [getattr(s, name) for s in steady]
        if None in ys:
            continue
        value = slope(xs, ys)
        out[key] = None if value is None else round(value, 3) + 0.0  # never -0.0
    lags = [s.lag for s in steady]
    out["max_lag_after_warmup"] = max(lags) if lags else None
    rss_slope = out["rss_slope_mb_per_min"]
    out["rss_ok"] = rss_slope is not None and rss_slope <= max_rss_slope
    out["lag_bounded"] = bool(lags) and max(lags) <= max_lag
    return out
