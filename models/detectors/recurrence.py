"""Daily recurrence: is a value no more extreme than ones seen at this time of day before?

Real series have routine extremes at a fixed time of day: a nightly backup's CPU spike,
a batch job's burst of disk writes. Judged against the series' overall spread, each one
is a fresh outlier, and a detector pages every night. :class:`DailyRecurrence` keeps,
per hour of day, the largest statistic (e.g. a z-score) of each of the last ``days``
days, and calls a new statistic *recurrent* when it is no larger than what was reached
within ``hours`` hours of the same time of day on at least ``k`` earlier days: an
extreme that has happened at this time of day on several days is routine. ``k`` = 2
keeps one earlier anomaly (yesterday's, at the same hour) from excusing a repeat.

Only the day and the hour of the timestamp are read: a repeated timestamp or a step
back updates its hour like any other row, and memory is bounded (24 hours x ``days``
days).

>>> rec = DailyRecurrence(days=7, k=2)
>>> hour, day = 3_600_000, 86_400_000
>>> for d in range(3):  # a spike of 8 every night at 03:00, 1 otherwise
...     for h in range(24):
...         rec.learn_one(8.0 if h == 3 else 1.0, d * day + h * hour)
>>> rec.recurrent(8.0, 3 * day + 3 * hour), rec.recurrent(8.0, 3 * day + 12 * hour)
(True, False)
"""

from __future__ import annotations

from collections import deque

__all__ = ["DailyRecurrence"]

_HOUR_MS = 3_600_000


class DailyRecurrence:
    """Per hour of day, the largest statistic of each recent day.

    Parameters
    ----------
    days : int
        Earlier days compared against.
    k : int
        Earlier days that must have reached the statistic for it to be recurrent.
    hours : int
        Hours either side of the current one that count as the same time of day
        (routine jobs drift).
    """

    def __init__(self, days: int = 14, k: int = 2, hours: int = 1) -> None:
        self.days = days
        self.k = k
        self.hours = hours
        # hour of day -> (day number, largest statistic that day), oldest first
        self._peaks: dict[int, deque[tuple[int, float]]] = {}

    def _peak(self, ts_ms: int) -> float | None:
        """The ``k``-th largest of the earlier days' peaks around this hour, if any."""
        day, hour = divmod(ts_ms // _HOUR_MS, 24)
        per_day: dict[int, float] = {}
        for dh in range(-self.hours, self.hours + 1):
            for d, peak in self._peaks.get((hour + dh) % 24, ()):
                if day - self.days <= d < day and peak > per_day.get(d, -float("inf")):
                    per_day[d] = peak
        if len(per_day) < self.k:
            return None
        return sorted(per_day.values())[-self.k]

    def recurrent(self, stat: float, ts_ms: int) -> bool:
        """Whether ``stat`` was reached around this time of day on ``k`` earlier days."""
        peak = self._peak(ts_ms)
        return peak is not None and stat <= peak

    def learn_one(self, stat: float, ts_ms: int) -> None:
        """Record ``stat`` at ``ts_ms``."""
        day, hour = divmod(ts_ms // _HOUR_MS, 24)
        peaks = self._peaks.get(hour)
        if peaks is None:
            peaks = self._peaks[hour] = deque(maxlen=self.days + 1)
        if peaks and peaks[-1][0] == day:
            if stat > peaks[-1][1]:
                peaks[-1] = (day, stat)
        else:
            peaks.append((day, stat))
