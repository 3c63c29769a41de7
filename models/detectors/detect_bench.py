"""Throughput of ``computeperf detect``'s scoring core, after start-up.

:func:`bench_detect` feeds :func:`~models.detectors.csv_scoring.score_csv_rows` (with
its default :class:`~models.detectors.series.SeriesDetector`) a generated
``timestamp,value`` series - a daily cycle, noise and a few spikes, 5-minute steps -
and times the rows after the first ``warmup`` (the detector's state is then as big as
it gets for its windows): parsing, scoring and learning, what one ``detect`` process
does per line apart from printing.

>>> figures = bench_detect(points=600, warmup=300)
>>> figures["points_timed"], figures["points_per_s"] > 0
(300.0, True)
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterator

from models.detectors.csv_scoring import score_csv_rows

__all__ = ["bench_detect"]

_START_S = 1_700_000_000


def _lines(points: int, seed: int) -> Iterator[str]:
    rng = random.Random(seed)
    yield "timestamp,value"
    for i in range(points):
        value = 50 + 20 * math.sin(2 * math.pi * i / 288) + rng.gauss(0, 2)
        if rng.random() < 0.002:
            value += rng.choice((-1, 1)) * rng.uniform(20, 60)
        yield f"{_START_S + 300 * i},{value:.3f}"


def bench_detect(points: int = 20_000, warmup: int = 7_000, seed: int = 0) -> dict[str, float]:
    """Points per second of parse + score + learn, over the rows after ``warmup``."""
    if not 0 <= warmup < points:
        raise ValueError("need 0 <= warmup < points")
    rows = score_csv_rows(_lines(points, seed))
    for _ in range(warmup):
        next(rows)
    t0 = time.perf_counter()
    timed = sum(1 for _ in rows)
    elapsed = time.perf_counter() - t0
    return {
        "points_per_s": timed / elapsed if elapsed > 0 else math.inf,
        "us_per_point": elapsed / max(1, timed) * 1e6,
        "points_timed": float(timed),
    }
