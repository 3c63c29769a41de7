"""Event-time tumbling windows closed by a watermark, with replay de-duplication.

Faust's windowed tables close windows by wall clock (see docs/architecture.md), so window
state is kept here, in plain objects the agents store in ordinary tables, and closed by
the partition's watermark: ``max event time seen - grace``. A window ``[start, end)``
closes once the watermark reaches ``end``; a sample whose window has already closed is
*late* (the caller counts and dead-letters it). A sample is a *duplicate* when its source
offset is not beyond the last one applied to the series (a replay after a crash: Kafka
redelivers from the last committed offset) or when its ``(seq, ts)`` is not newer than the
series' cursor (a sample sent twice by its producer). A provider that restarts numbering
from 0 sends newer times, and is accepted. Nothing is counted twice.

>>> w = TumblingWindows(window_ms=60_000, grace_ms=10_000)
>>> series = SeriesWindows(partition=0)
>>> wm = Watermark()
>>> w.add(series, ts_ms=1_000, seq=0, values={"t": 70.0}, watermark_ms=wm.advance(1_000, 10_000))
<Outcome.ACCEPTED: 'accepted'>
>>> w.add(series, ts_ms=1_000, seq=0, values={"t": 70.0}, watermark_ms=wm.value_ms)
<Outcome.DUPLICATE: 'duplicate'>
>>> [start for start, _ in w.close(series, watermark_ms=wm.advance(75_000, 10_000))]
[0]
>>> w.add(series, ts_ms=2_000, seq=1, values={"t": 71.0}, watermark_ms=wm.value_ms)
<Outcome.LATE: 'late'>
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from models.sketch import QuantileSketch

NO_WATERMARK = -(2**62)

#: Below this magnitude no batch of values (nor a window's sum) can overflow a float sum:
#: 10**8 values of 1e290 sum to 1e298. See :func:`batch_is_tame`.
TAME_ABS = 1e290


class Outcome(StrEnum):
    """What happened to one sample offered to a series."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    LATE = "late"
    #: A value no window can hold: it (or the window's sum with it) is not a finite float.
    UNREPRESENTABLE = "unrepresentable"


@dataclass
class WindowAccumulator:
    """All metrics of one open window: one :class:`QuantileSketch` per metric."""

    count: int = 0
    metrics: dict[str, QuantileSketch] = field(default_factory=dict)

    def unrepresentable(self, values: Mapping[str, float | None]) -> str | None:
        """Why ``values`` cannot be added (a reason naming the metric), or ``None``.

        The schemas accept any finite float, but two samples near the largest float
        overflow the window's sum (and so its mean) to infinity, a summary no record can
        carry; a window must only hold what it can summarise, so such a sample is
        refused whole, before anything of it is added.

        >>> acc = WindowAccumulator()
        >>> acc.add({"power_w": 1e308})
        >>> acc.unrepresentable({"power_w": 1e308})
        "power_w: 1e+308 takes the window's sum past the largest float"
        >>> acc.unrepresentable({"power_w": 300.0}) is None
        True
        """
        for name, value in values.items():
            if value is None:
                continue
            try:
                x = float(value)
            except OverflowError:
                return f"{name}: {str(value)[:40]} is not representable as a float"
            if not math.isfinite(x):
                continue  # skipped by add, as before
            sketch = self.metrics.get(name)
            if not math.isfinite((sketch.sum if sketch is not None else 0.0) + x):
                return f"{name}: {x:g} takes the window's sum past the largest float"
        return None

    def add(self, values: Mapping[str, float | None]) -> None:
        self.count += 1
        for name, value in values.items():
            if value is None or not math.isfinite(value):
                continue
            sketch = self.metrics.get(name)
            if sketch is None:
                sketch = self.metrics[name] = QuantileSketch()
            sketch.add(float(value))

    def add_many(self, rows: Sequence[Mapping[str, float | None]]) -> None:
        """:meth:`add` of each row, in order, metric by metric (same state, fewer steps).

        >>> a, b = WindowAccumulator(), WindowAccumulator()
        >>> rows = [{"t": 1.0, "u": None}, {"t": float("nan"), "u": 2.0}, {"t": 3.0, "u": 2.0}]
        >>> for r in rows:
        ...     a.add(r)
        >>> b.add_many(rows)
        >>> a.to_state() == b.to_state()
        True
        """
        self.count += len(rows)
        names: dict[str, None] = {}
        for row in rows:
            names.update(dict.fromkeys(row))
        for name in names:
            xs = [float(v) for row in rows if (v := row.get(name)) is not None and math.isfinite(v)]
            if not xs:
                continue
            sketch = self.metrics.get(name)
            if sketch is None:
                sketch = self.metrics[name] = QuantileSketch()
            sketch.add_many(xs)

    def to_state(self) -> dict[str, Any]:
        return {"n": self.count, "m": {k: v.to_state() for k, v in self.metrics.items()}}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> WindowAccumulator:
        metrics = {k: QuantileSketch.from_state(v) for k, v in state["m"].items()}
        return cls(count=state["n"], metrics=metrics)


@dataclass
class SeriesWindows:
    """The open windows of one key, the partition it lives in, and its replay cursor."""

    partition: int
    last_seq: int = -1
    last_ts_ms: int = NO_WATERMARK
    windows: dict[int, WindowAccumulator] = field(default_factory=dict)
    last_offset: int = -1

    def to_state(self) -> dict[str, Any]:
        """JSON-able state for a changelogged table."""
        return {
            "p": self.partition,
            "seq": self.last_seq,
            "ts": self.last_ts_ms,
            "o": self.last_offset,
            "w": {str(start): acc.to_state() for start, acc in self.windows.items()},
        }

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> SeriesWindows:
        windows = {int(s): WindowAccumulator.from_state(a) for s, a in state["w"].items()}
        return cls(state["p"], state["seq"], state["ts"], windows, state.get("o", -1))


@dataclass
class Watermark:
    """Per-partition event-time progress: ``max event time seen - grace``.

    After a restart the value can be below ``max_event_ms - grace``
    (:func:`recovered_watermark`); replayed events then move it up again
    (:meth:`catch_up`), one by one, as they did the first time.
    """

    max_event_ms: int = NO_WATERMARK
    value_ms: int = NO_WATERMARK

    def advance(self, ts_ms: int, grace_ms: int) -> int:
        """Observe an event time; return the (never decreasing) watermark."""
        if ts_ms > self.max_event_ms:
            self.max_event_ms = ts_ms
            self.value_ms = max(self.value_ms, ts_ms - grace_ms)
        return self.value_ms

    def catch_up(self, ts_ms: int, grace_ms: int) -> int:
        """Observe a replayed event time: a recovered value moves up as it did the first time.

        Changes nothing while the value is ``max_event_ms - grace`` (no restart since).

        >>> wm = Watermark(max_event_ms=90_000, value_ms=50_000)
        >>> wm.catch_up(70_000, 1_000), wm.catch_up(60_000, 1_000), wm.max_event_ms
        (69000, 69000, 90000)
        """
        self.value_ms = max(self.value_ms, min(ts_ms, self.max_event_ms) - grace_ms)
        return self.value_ms


def recovered_watermark(
    series: Iterable[SeriesWindows], durable_ms: int, grace_ms: int
) -> Watermark:
    """The watermark of a partition rebuilt from its durable state after a restart.

    ``durable_ms`` is the partition's watermark as last written *after* the states it
    depends on were durable (``NO_WATERMARK``: none written yet). It, not the newest event
    time less grace, is the value: the keys one batch touched are written as separate
    records, so a crash can leave some of them written and others not, and the newest
    ``last_ts_ms`` may belong to a key that is ahead of the others. A watermark derived
    from it would make the others' replayed samples late (lost windows). Replayed records
    move the value up again (:meth:`Watermark.catch_up`). ``max_event_ms`` is the newest
    event time, for the idle fallback.

    >>> a = SeriesWindows(partition=0, last_ts_ms=90_000)  # written, ahead
    >>> b = SeriesWindows(partition=0, last_ts_ms=60_000)  # its last write was lost
    >>> wm = recovered_watermark([a, b], durable_ms=59_000, grace_ms=1_000)
    >>> wm.value_ms, wm.max_event_ms
    (59000, 90000)
    """
    watermark = Watermark(value_ms=durable_ms)
    for s in series:
        watermark.max_event_ms = max(watermark.max_event_ms, s.last_ts_ms)
    return watermark


@dataclass(frozen=True)
class TumblingWindows:
    """Fixed-size, non-overlapping windows aligned to the epoch."""

    window_ms: int
    grace_ms: int

    def start_of(self, ts_ms: int) -> int:
        """Return the start of the window holding ``ts_ms``.

        >>> TumblingWindows(60_000, 0).start_of(119_999)
        60000
        """
        return ts_ms - ts_ms % self.window_ms

    def add(
        self,
        series: SeriesWindows,
        *,
        ts_ms: int,
        seq: int,
        values: Mapping[str, float | None],
        watermark_ms: int,
        offset: int = -1,
    ) -> Outcome:
        """Offer one sample to ``series``; only ``ACCEPTED`` samples change it.

        ``offset`` is the record's offset in ``series.partition`` (``-1``: unknown).
        ``UNREPRESENTABLE``: a value would make its window's sum infinite
        (:meth:`WindowAccumulator.unrepresentable` says which); the series is unchanged,
        so a later valid sample with the same ``seq`` is still accepted.
        """
        refused = self._screen(
            series, ts_ms=ts_ms, seq=seq, watermark_ms=watermark_ms, offset=offset
        )
        if refused is not None:
            return refused
        start = self.start_of(ts_ms)
        if (series.windows.get(start) or WindowAccumulator()).unrepresentable(values):
            return Outcome.UNREPRESENTABLE
        # A provider agent that restarts numbers from 0 again, with newer times: accept.
        series.last_seq = seq
        series.last_ts_ms = max(series.last_ts_ms, ts_ms)
        series.last_offset = max(series.last_offset, offset)
        acc = series.windows.get(start)
        if acc is None:
            acc = series.windows[start] = WindowAccumulator()
        acc.add(values)
        return Outcome.ACCEPTED

    def _screen(
        self, series: SeriesWindows, *, ts_ms: int, seq: int, watermark_ms: int, offset: int
    ) -> Outcome | None:
        """``DUPLICATE`` or ``LATE`` when the sample is refused for those reasons, else None."""
        if 0 <= offset <= series.last_offset:
            return Outcome.DUPLICATE
        if seq <= series.last_seq and ts_ms <= series.last_ts_ms:
            return Outcome.DUPLICATE
        if self.start_of(ts_ms) + self.window_ms <= watermark_ms:
            return Outcome.LATE
        return None

    def admit(
        self, series: SeriesWindows, *, ts_ms: int, seq: int, watermark_ms: int, offset: int = -1
    ) -> tuple[Outcome, WindowAccumulator | None]:
        """:meth:`add` without adding the values: the caller adds them to the returned window.

        For a batch that :func:`batch_is_tame` cleared (nothing in it can be
        ``UNREPRESENTABLE``): the series' cursor moves exactly as :meth:`add` moves it,
        and the accepted sample's window (created if new) is returned so the caller can
        add the batch's rows with :meth:`WindowAccumulator.add_many` once per window.

        >>> w, series = TumblingWindows(60_000, 0), SeriesWindows(partition=0)
        >>> outcome, acc = w.admit(series, ts_ms=1_000, seq=0, watermark_ms=NO_WATERMARK)
        >>> outcome, acc is series.windows[0], w.admit(series, ts_ms=1_000, seq=0,
        ...     watermark_ms=NO_WATERMARK)[0]
        (<Outcome.ACCEPTED: 'accepted'>, True, <Outcome.DUPLICATE: 'duplicate'>)
        """
        refused = self._screen(
            series, ts_ms=ts_ms, seq=seq, watermark_ms=watermark_ms, offset=offset
        )
        if refused is not None:
            return refused, None
        series.last_seq = seq
        series.last_ts_ms = max(series.last_ts_ms, ts_ms)
        series.last_offset = max(series.last_offset, offset)
        start = self.start_of(ts_ms)
        acc = series.windows.get(start)
        if acc is None:
            acc = series.windows[start] = WindowAccumulator()
        return Outcome.ACCEPTED, acc

    def ready(self, series: SeriesWindows, *, watermark_ms: int) -> list[int]:
        """Return, oldest first, the starts of the windows the watermark has passed."""
        return sorted(s for s in series.windows if s + self.window_ms <= watermark_ms)

    def close(
        self, series: SeriesWindows, *, watermark_ms: int
    ) -> list[tuple[int, WindowAccumulator]]:
        """Remove and return, oldest first, the windows the watermark has passed."""
        return [
            (start, series.windows.pop(start))
            for start in self.ready(series, watermark_ms=watermark_ms)
        ]


def batch_is_tame(
    rows: Sequence[Mapping[str, float | None]], open_windows: Iterable[WindowAccumulator]
) -> bool:
    """True when no sample of ``rows`` can be ``UNREPRESENTABLE`` in any of ``open_windows``.

    That is: every value and every open window's sum is below :data:`TAME_ABS` in
    magnitude (non-finite values are skipped by windows and do not count), so no sum can
    overflow and :meth:`TumblingWindows.admit` with a deferred
    :meth:`WindowAccumulator.add_many` is exactly :meth:`TumblingWindows.add` per sample.
    Otherwise (a value near the float limit, one that is not a float) the caller takes
    the per-sample path.

    >>> batch_is_tame([{"a": 1.0, "b": None}], [])
    True
    >>> batch_is_tame([{"a": 1e300}], []), batch_is_tame([{"a": 10**400}], [])
    (False, False)
    """
    try:
        values = np.array(
            [v for row in rows for v in row.values() if v is not None], dtype=np.float64
        )
    except (OverflowError, TypeError, ValueError):
        return False
    with np.errstate(invalid="ignore", over="ignore"):
        finite = values[np.isfinite(values)]
        if finite.size and float(np.abs(finite).max()) >= TAME_ABS:
            return False
    return all(
        abs(sketch.sum) < TAME_ABS for acc in open_windows for sketch in acc.metrics.values()
    )
