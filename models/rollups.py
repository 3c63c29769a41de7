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


_Windows = dict[int, dict[int, WindowAccumulator]]  # size -> start -> merged window


def _windows_state(by_size: _Windows) -> dict[str, Any]:
    return {
        str(size): {str(start): acc.to_state() for start, acc in w.items()}
        for size, w in by_size.items()
        if w
    }


def _windows_from_state(state: Mapping[str, Any]) -> _Windows:
    return {
        int(size): {int(start): WindowAccumulator.from_state(a) for start, a in w.items()}
        for size, w in state.items()
    }


@dataclass
class RollupLadder:
    """Open coarse windows of many series, fed with closed fine windows.

    Parameters
    ----------
    sizes_ms : tuple of int
        Coarse window sizes; each must be a multiple of the fine window size fed to
        :meth:`add` so a fine window falls in exactly one coarse window of each size.
    packed : bool
        Keep each series' open windows as :func:`pack_state` bytes between updates
        (~1.3 kB per workload series instead of ~35 kB of live sketch objects), at the
        cost of an unpack and a pack per update: what a process tracking 100,000 series
        needs. Results are identical either way.

    Examples
    --------
    >>> ladder = RollupLadder()
    >>> acc = WindowAccumulator(); acc.add({"gpu_util_pct": 50.0})
    >>> ladder.add("provider:p1", 3_540_000, acc)
    >>> sorted(r.size_ms for r in ladder.close(watermark_ms=3_600_000))
    [300000, 3600000]
    """

    sizes_ms: tuple[int, ...] = ROLLUP_SIZES_MS
    packed: bool = False
    _open: dict[str, _Windows] = field(default_factory=dict)
    _packed: dict[str, bytes] = field(default_factory=dict)
    # Earliest end of a series' open windows: close() only looks at series that are due.
    _next_end: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.sizes_ms or any(s <= 0 for s in self.sizes_ms):
            raise ValueError(f"rollup sizes must be positive, got {self.sizes_ms}")

    def _peek(self, series: str) -> _Windows:
        if self.packed:
            data = self._packed.get(series)
            return _windows_from_state(unpack_state(data)) if data is not None else {}
        return self._open.get(series, {})

    def _put(self, series: str, by_size: _Windows) -> None:
        ends = [start + size for size, w in by_size.items() for start in w]
        if not ends:
            self._open.pop(series, None)
            self._packed.pop(series, None)
            self._next_end.pop(series, None)
            return
        self._next_end[series] = min(ends)
        if self.packed:
            self._packed[series] = pack_state(_windows_state(by_size))
        else:
            self._open[series] = by_size

    def add(self, series: str, start_ms: int, acc: WindowAccumulator) -> None:
        """Merge the closed fine window ``[start_ms, ...)`` of ``series`` into every size."""
        by_size = self._peek(series)
        for size in self.sizes_ms:
            start = start_ms - start_ms % size
            windows = by_size.setdefault(size, {})
            coarse = windows.get(start)
            if coarse is None:
                coarse = windows[start] = WindowAccumulator()
            merge_accumulators(coarse, acc)
        self._put(series, by_size)

    def close(self, watermark_ms: int) -> list[ClosedRollup]:
        """Remove and return every coarse window with ``end <= watermark_ms``, oldest first.

        Series left with no open window are forgotten (idle keys cost nothing).
        """
        out: list[ClosedRollup] = []
        due = [s for s, end in self._next_end.items() if end <= watermark_ms]
        for series in due:
            by_size = self._peek(series)
            for size, windows in by_size.items():
                for start in sorted(s for s in windows if s + size <= watermark_ms):
                    out.append(ClosedRollup(series, size, start, windows.pop(start)))
            self._put(series, by_size)
        out.sort(key=lambda r: (r.start_ms + r.size_ms, r.size_ms, r.series))
        return out

    def open_windows(self) -> int:
        """Number of open coarse windows over all series."""
        return sum(len(w) for s in self._next_end for w in self._peek(s).values())

    def series_count(self) -> int:
        """Number of series with at least one open window."""
        return len(self._next_end)

    def series_state(self, series: str) -> dict[str, Any]:
        """JSON-able state of the open windows of one series (``{size: {start: acc}}``)."""
        return _windows_state(self._peek(series))

    def load_series_state(self, series: str, state: Mapping[str, Any]) -> None:
        """Replace the open windows of ``series`` with :meth:`series_state` output.

        Examples
        --------
        >>> a = RollupLadder(); acc = WindowAccumulator(); acc.add({"x": 2.0})
        >>> a.add("s", 0, acc)
        >>> b = RollupLadder(packed=True); b.load_series_state("s", a.series_state("s"))
        >>> b.series_state("s") == a.series_state("s"), b.open_windows()
        (True, 2)
        """
        self._put(series, _windows_from_state(state))

    def packed_bytes(self, series: str) -> int:
        """Bytes of :func:`pack_state` of the open windows of ``series`` (0 if none)."""
        return len(pack_state(self.series_state(series))) if series in self._next_end else 0

    def series_state_bytes(self, series: str) -> int:
        """Bytes of compact JSON state of the open windows of ``series`` (0 if none)."""
        return sum(state_bytes(acc) for w in self._peek(series).values() for acc in w.values())
