"""Roll closed 1-minute windows up into 5-minute and 1-hour windows by merging sketches.

No raw sample is kept anywhere: a coarse window is the merge of the fine windows'
:class:`~models.sketch.QuantileSketch` es, so its count, sum, min and max are exact and
its quantiles keep the sketch's relative-error guarantee (DDSketch merges losslessly:
merging the bins of two sketches gives the same bins as one sketch fed both streams).

A :class:`RollupLadder` holds, per series, the open coarse windows; :meth:`RollupLadder.close`
removes and returns those the watermark has passed, so state is bounded by
``series x open windows`` and expired windows are evicted as they close.

>>> from models.windows import WindowAccumulator
>>> ladder = RollupLadder(sizes_ms=(300_000,))
>>> for minute in range(5):
...     acc = WindowAccumulator()
...     acc.add({"x": float(minute)})
...     ladder.add("workload:w1", minute * 60_000, acc)
>>> [(r.size_ms, r.start_ms, r.acc.count) for r in ladder.close(watermark_ms=300_000)]
[(300000, 0, 5)]
>>> ladder.open_windows()
0
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from models.sketch import QuantileSketch
from models.windows import WindowAccumulator

__all__ = [
    "ROLLUP_SIZES_MS",
    "ClosedRollup",
    "RollupLadder",
    "merge_accumulators",
    "pack_state",
    "state_bytes",
    "unpack_state",
]

#: The coarse window sizes every 1-minute series is rolled up into (5 min, 1 h).
ROLLUP_SIZES_MS: tuple[int, ...] = (300_000, 3_600_000)


def merge_accumulators(into: WindowAccumulator, other: WindowAccumulator) -> None:
    """Fold ``other`` into ``into`` (``other`` is left unchanged).

    Examples
    --------
    >>> a, b = WindowAccumulator(), WindowAccumulator()
    >>> a.add({"x": 1.0}); b.add({"x": 3.0, "y": 2.0})
    >>> merge_accumulators(a, b)
    >>> a.count, a.metrics["x"].mean, a.metrics["y"].count, b.count
    (2, 2.0, 1, 1)
    """
    into.count += other.count
    for name, sketch in other.metrics.items():
        mine = into.metrics.get(name)
        if mine is None:
            mine = into.metrics[name] = QuantileSketch()
        mine.merge(sketch)


def state_bytes(acc: WindowAccumulator) -> int:
    """Bytes of the compact JSON state of one window (what a changelog record holds).

    Examples
    --------
    >>> acc = WindowAccumulator()
    >>> acc.add({"x": 1.0})
    >>> 0 < state_bytes(acc) < 200
    True
    """
    return len(json.dumps(acc.to_state(), separators=(",", ":")))


def pack_state(state: Any) -> bytes:
    """Compress a JSON-able state for storage (a 1-minute workload window: ~1.4 kB -> ~450 B).

    Sketch bins are long runs of small repeated numbers, which zlib folds well.

    Examples
    --------
    >>> unpack_state(pack_state({"a": [1.0, 0.0, 0.0]}))
    {'a': [1.0, 0.0, 0.0]}
    """
    return zlib.compress(json.dumps(state, separators=(",", ":")).encode("utf-8"), 6)


def unpack_state(data: bytes) -> Any:
    """Inverse of :func:`pack_state`."""
    return json.loads(zlib.decompress(data))


@dataclass(frozen=True, slots=True)
class ClosedRollup:
    """A coarse window that the watermark has passed (removed from the ladder)."""

    series: str
    size_ms: int
    start_ms: int
    acc: WindowAccumulator

    @property
    def end_ms(self) -> int:
        """Exclusive end of the window."""
        return self.start_ms + self.size_ms


@dataclass
class RollupLadder:
    """Open coarse windows of many series, fed with closed fine windows.

    Parameters
    ----------
    sizes_ms : tuple of int
        Coarse window sizes; each must be a multiple of the fine window size fed to
        :meth:`add` so a fine window falls in exactly one coarse window of each size.

    Examples
    --------
    >>> ladder = RollupLadder()
    >>> acc = WindowAccumulator(); acc.add({"gpu_util_pct": 50.0})
    >>> ladder.add("provider:p1", 3_540_000, acc)
    >>> sorted(r.size_ms for r in ladder.close(watermark_ms=3_600_000))
    [300000, 3600000]
    """

    sizes_ms: tuple[int, ...] = ROLLUP_SIZES_MS
    # series -> size -> start -> merged accumulator
    _open: dict[str, dict[int, dict[int, WindowAccumulator]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.sizes_ms or any(s <= 0 for s in self.sizes_ms):
            raise ValueError(f"rollup sizes must be positive, got {self.sizes_ms}")

    def add(self, series: str, start_ms: int, acc: WindowAccumulator) -> None:
        """Merge the closed fine window ``[start_ms, ...)`` of ``series`` into every size."""
        by_size = self._open.setdefault(series, {})
        for size in self.sizes_ms:
            start = start_ms - start_ms % size
            windows = by_size.setdefault(size, {})
            coarse = windows.get(start)
            if coarse is None:
                coarse = windows[start] = WindowAccumulator()
            merge_accumulators(coarse, acc)

    def close(self, watermark_ms: int) -> list[ClosedRollup]:
        """Remove and return every coarse window with ``end <= watermark_ms``, oldest first.

        Series left with no open window are forgotten (idle keys cost nothing).
        """
        out: list[ClosedRollup] = []
        for series in list(self._open):
            by_size = self._open[series]
            for size, windows in by_size.items():
                for start in sorted(s for s in windows if s + size <= watermark_ms):
                    out.append(ClosedRollup(series, size, start, windows.pop(start)))
            if not any(by_size.values()):
                del self._open[series]
        out.sort(key=lambda r: (r.start_ms + r.size_ms, r.size_ms, r.series))
        return out

    def open_windows(self) -> int:
        """Number of open coarse windows over all series."""
        return sum(len(w) for by_size in self._open.values() for w in by_size.values())

    def series_count(self) -> int:
        """Number of series with at least one open window."""
        return len(self._open)

    def series_state(self, series: str) -> dict[str, Any]:
        """JSON-able state of the open windows of one series (``{size: {start: acc}}``)."""
        by_size = self._open.get(series, {})
        return {
            str(size): {str(start): acc.to_state() for start, acc in w.items()}
            for size, w in by_size.items()
        }

    def load_series_state(self, series: str, state: Mapping[str, Any]) -> None:
        """Replace the open windows of ``series`` with :meth:`series_state` output.

        Examples
        --------
        >>> a = RollupLadder(); acc = WindowAccumulator(); acc.add({"x": 2.0})
        >>> a.add("s", 0, acc)
        >>> b = RollupLadder(); b.load_series_state("s", a.series_state("s"))
        >>> b.series_state("s") == a.series_state("s"), b.open_windows()
        (True, 2)
        """
        self._open[series] = {
            int(size): {int(start): WindowAccumulator.from_state(a) for start, a in w.items()}
            for size, w in state.items()
        }

    def series_state_bytes(self, series: str) -> int:
        """Bytes of compact JSON state of the open windows of ``series`` (0 if none)."""
        by_size = self._open.get(series, {})
        return sum(state_bytes(acc) for w in by_size.values() for acc in w.values())
