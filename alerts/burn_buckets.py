"""Burn rates from good/total counts in time buckets: a compact, JSON-able tracker.

:class:`alerts.sla.BurnRateTracker` keeps every observation of every window in a deque
(the 3-day window of a workload closing a window a minute holds 4,320 of them, six
windows deep), which is fine in memory for an offline evaluation but not as the value of
a changelogged table, where every write sends the whole value (FAUST-NOTES.md).
:class:`BurnBuckets` has the same interface and the same semantics (history guard,
low-traffic guard) but keeps, per bucket size, only the good/total counts of the buckets
the longest window of that size can still see. A window of ``w`` gets buckets of
``bucket_ms * max(1, w // (bucket_ms * buckets_per_window))``: with 1-min windows and
the SRE table that is one ring of 1-min buckets for 5 m / 30 m / 1 h, 6-min buckets for
6 h and 72-min buckets for 3 d, about 60 buckets each.

Exact where a window is a whole number of its buckets and observations fall on bucket
starts (every window of up to 60 ``bucket_ms``: observe at window ends, one per
``bucket_ms``); a coarser window leaves out the one bucket its start cuts through, i.e.
it is measured over up to 1/60 less history.

Examples
--------
>>> b = BurnBuckets(objective=0.99, windows_ms=(3_600_000, 300_000))
>>> for minute in range(60):
...     b.observe(minute * 60_000, good=0 if minute >= 50 else 1, total=1)
>>> now = 59 * 60_000
>>> round(b.burn_rate(3_600_000, now), 1), round(b.burn_rate(300_000, now), 1)
(16.7, 100.0)
>>> again = BurnBuckets.from_state(b.to_state(), 0.99, (3_600_000, 300_000))
>>> again.burn_rate(3_600_000, now) == b.burn_rate(3_600_000, now)
True
>>> import json
>>> len(json.dumps(b.to_state()))  # bytes in the changelog for this SLO
321
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from alerts.sla import BurnCounter

__all__ = ["BurnBuckets", "bucket_size_ms"]


def bucket_size_ms(window_ms: int, bucket_ms: int, buckets_per_window: int = 60) -> int:
    """Bucket size for a window: ``bucket_ms`` up to ``buckets_per_window`` of them, coarser above.

    Examples
    --------
    >>> [bucket_size_ms(w * 60_000, 60_000) // 60_000 for w in (5, 30, 60, 360, 4320)]
    [1, 1, 1, 6, 72]
    """
    return bucket_ms * max(1, window_ms // (bucket_ms * buckets_per_window))


@dataclass
class _Ring:
    """Counts of consecutive buckets ``first, first + 1, ...`` (index = ts // size_ms)."""

    size_ms: int
    span_ms: int
    first: int = 0
    good: list[int] = field(default_factory=list)
    total: list[int] = field(default_factory=list)

    def add(self, ts_ms: int, good: int, total: int) -> None:
        index = ts_ms // self.size_ms
        if not self.total:
            self.first = index
        grow = index - (self.first + len(self.total)) + 1
        if grow > 0:
            self.good.extend([0] * grow)
            self.total.extend([0] * grow)
        # Times are non-decreasing, so index is the last bucket.
        self.good[-1] += good
        self.total[-1] += total
        # A bucket at or before ts - span can be in no window any more (see counts).
        drop = min(len(self.total), max(0, (ts_ms - self.span_ms) // self.size_ms + 1 - self.first))
        if drop:
            del self.good[:drop], self.total[:drop]
            self.first += drop

    def counts(self, window_ms: int, now_ms: int) -> tuple[int, int]:
        # Bucket i is in (now - window, now] when it starts after now - window.
        skip = max(0, (now_ms - window_ms) // self.size_ms + 1 - self.first)
        return sum(self.good[skip:]), sum(self.total[skip:])


class BurnBuckets(BurnCounter):
    """Good/total counts in time buckets; burn rates as :class:`alerts.sla.BurnRateTracker`.

    Parameters
    ----------
    objective : float
        SLO target in (0, 1).
    windows_ms : iterable of int
        The windows to answer for (every long and short window of the rules).
    min_events : int
        Low-traffic guard: the denominator is at least this.
    bucket_ms : int
        Span one observation covers (one metric window) and the finest bucket.
    buckets_per_window : int
        Resolution of the windows longer than ``buckets_per_window * bucket_ms``.
    """

    def __init__(
        self,
        objective: float,
        windows_ms: Iterable[int],
        min_events: int = 0,
        bucket_ms: int = 60_000,
        buckets_per_window: int = 60,
    ) -> None:
        super().__init__(objective, min_events, bucket_ms)
        self._size: dict[int, int] = {
            w: bucket_size_ms(w, bucket_ms, buckets_per_window) for w in windows_ms
        }
        self._rings: dict[int, _Ring] = {}
        for window, size in sorted(self._size.items()):
            self._rings[size] = _Ring(size, window)  # ascending: the longest window wins

    def observe(self, ts_ms: int, good: int, total: int) -> None:
        """Add *good* of *total* events at ``ts_ms`` (non-decreasing times)."""
        self._count(ts_ms, good, total)
        for ring in self._rings.values():
            ring.add(ts_ms, good, total)

    def counts(self, window_ms: int, now_ms: int) -> tuple[int, int]:
        """(good, total) over ``(now_ms - window_ms, now_ms]``, at bucket resolution."""
        return self._rings[self._size[window_ms]].counts(window_ms, now_ms)

    def to_state(self) -> dict[str, Any]:
        """JSON-able counts: per ring its first bucket, totals and the non-zero bad counts.

        Configuration (objective, windows) is not stored: it comes from the rules.
        """
        rings = {
            str(size): [
                ring.first,
                ring.total,
                [
                    [i, t - g]
                    for i, (g, t) in enumerate(zip(ring.good, ring.total, strict=True))
                    if g != t
                ],
            ]
            for size, ring in self._rings.items()
            if ring.total
        }
        return {"f": self.first_ts_ms, "g": self.good_total, "t": self.total, "r": rings}

    @classmethod
    def from_state(
        cls,
        state: dict[str, Any] | None,
        objective: float,
        windows_ms: Iterable[int],
        min_events: int = 0,
        bucket_ms: int = 60_000,
        buckets_per_window: int = 60,
    ) -> BurnBuckets:
        """Inverse of :meth:`to_state`; rings whose bucket size the windows no longer use
        are dropped, new ones start empty (a changed rules file)."""
        tracker = cls(objective, windows_ms, min_events, bucket_ms, buckets_per_window)
        if not state:
            return tracker
        tracker.first_ts_ms = state.get("f")
        tracker.good_total = int(state.get("g", 0))
        tracker.total = int(state.get("t", 0))
        for size, (first, totals, bad) in state.get("r", {}).items():
            ring = tracker._rings.get(int(size))
            if ring is None:
                continue
            ring.first = int(first)
            ring.total = [int(t) for t in totals]
            ring.good = list(ring.total)
            for i, n in bad:
                ring.good[i] -= n
        return tracker
