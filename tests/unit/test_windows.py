"""Unit tests for the event-time window core: ``models.windows`` and ``models.summaries``.

The math is tested three ways:

1. Oracle: every window's statistics, after every accepted sample and once closed, equal
   numpy on exactly the samples routed to it (quantiles within 1 % of a true quantile).
2. A table of edge cases: boundaries, grace 0, late-at-the-boundary, NaN/inf/None values,
   duplicate detection (incl. a provider restart), a watermark that never decreases.
3. Hypothesis properties over random multi-key streams driven the way
   ``agents.windows.WindowAggregator`` drives the core: conservation, replay idempotence
   across a crash (state restored from JSON), batch independence, emit-once in order.
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.summaries import summarize_window
from models.windows import (
    NO_WATERMARK,
    Outcome,
    SeriesWindows,
    TumblingWindows,
    Watermark,
    WindowAccumulator,
    recovered_watermark,
)
from schemas import EntityType, MetricStats, MetricWindow

FAST = settings(max_examples=50, deadline=None, database=None)

MINUTE = 60_000
T0 = 1_700_000_040_000  # a multiple of one minute (and of one second)
assert T0 % MINUTE == 0
REL = 0.01 + 1e-12  # the sketch's 1 % guarantee, plus a hair for float rounding

Values = Mapping[str, float | None]


# -- an oracle and a driver shared by the tests -----------------------------------------


def finite_of(samples: Iterable[Values], name: str) -> list[float]:
    """The values of metric ``name`` that a window must summarise (finite, present)."""
    out = []
    for values in samples:
        v = values.get(name)
        if v is not None and math.isfinite(v):
            out.append(float(v))
    return out


def assert_stats_match(stats: MetricStats, values: Sequence[float]) -> None:
    """``MetricStats`` of a closed window against numpy on the same values."""
    arr = np.asarray(values, dtype=float)
    assert stats.count == len(arr)
    assert stats.min == arr.min() and stats.max == arr.max()
    assert math.isclose(
        stats.mean, float(arr.mean()), rel_tol=1e-9, abs_tol=1e-9 * float(np.abs(arr).mean())
    )
    for q, got in ((0.5, stats.p50), (0.95, stats.p95), (0.99, stats.p99)):
        lo = float(np.quantile(arr, q, method="lower"))
        hi = float(np.quantile(arr, q, method="higher"))
        assert lo - REL * abs(lo) <= got <= hi + REL * abs(hi), (q, got, lo, hi)


def assert_acc_matches(acc: WindowAccumulator, samples: Sequence[Values]) -> None:
    """An open window's accumulator against numpy on the samples routed to it."""
    assert acc.count == len(samples)
    names = {name for values in samples for name in values if finite_of([values], name)}
    assert set(acc.metrics) == names
    for name, sketch in acc.metrics.items():
        arr = np.asarray(finite_of(samples, name))
        assert sketch.count == len(arr)
        assert sketch.min == arr.min() and sketch.max == arr.max()
        assert math.isclose(
            sketch.mean, float(arr.mean()), rel_tol=1e-9, abs_tol=1e-9 * float(np.abs(arr).mean())
        )


def assert_window_matches(window: MetricWindow, samples: Sequence[Values], window_ms: int) -> None:
    assert window.window_end_ms - window.window_start_ms == window_ms
    assert window.count == len(samples)
    names = {name for values in samples for name in values if finite_of([values], name)}
    assert set(window.metrics) == names
    for name, stats in window.metrics.items():
        assert_stats_match(stats, finite_of(samples, name))


@dataclass(frozen=True)
class Event:
    key: str
    ts_ms: int
    seq: int
    values: dict[str, float | None]


@dataclass
class Partition:
    """The pure part of ``WindowAggregator`` for one partition, as the agent drives it.

    For each event: ``add`` with the current watermark; if accepted, advance the watermark
    with the series' ``last_ts_ms``; a replayed duplicate catches a recovered watermark up;
    then (optionally) close the windows of *all* keys up to the watermark and write the
    watermark (``durable_watermark_ms``). Restoring from a state and that watermark
    rebuilds the watermark the way the agent does.
    """

    windows: TumblingWindows
    series: dict[str, SeriesWindows] = field(default_factory=dict)
    watermark: Watermark = field(default_factory=Watermark)
    emitted: list[MetricWindow] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    durable_watermark_ms: int = NO_WATERMARK

    @classmethod
    def restore(
        cls, windows: TumblingWindows, state: Mapping[str, Any], durable_ms: int = NO_WATERMARK
    ) -> Partition:
        part = cls(windows, durable_watermark_ms=durable_ms)
        for key, series_state in state.items():
            part.series[key] = SeriesWindows.from_state(series_state)
        part.watermark = recovered_watermark(part.series.values(), durable_ms, windows.grace_ms)
        return part

    def offer(self, event: Event, *, close: bool = True) -> Outcome:
        series = self.series.get(event.key)
        if series is None:
            series = self.series[event.key] = SeriesWindows(partition=0)
        before = self.watermark.value_ms
        outcome = self.windows.add(
            series, ts_ms=event.ts_ms, seq=event.seq, values=event.values, watermark_ms=before
        )
        if outcome is Outcome.ACCEPTED:
            self.watermark.advance(series.last_ts_ms, self.windows.grace_ms)
            self.watermark.catch_up(series.last_ts_ms, self.windows.grace_ms)
        elif outcome is Outcome.DUPLICATE:
            self.watermark.catch_up(event.ts_ms, self.windows.grace_ms)
        self.outcomes.append(outcome)
        if close:
            self.close()
        return outcome

    def close(self) -> list[MetricWindow]:
        out = []
        wm = self.watermark.value_ms
        for key in sorted(self.series):
            for start, acc in self.windows.close(self.series[key], watermark_ms=wm):
                out.append(summarize(key, start, self.windows.window_ms, acc))
        self.emitted.extend(out)
        self.durable_watermark_ms = wm
        return out

    def open_windows(self) -> list[MetricWindow]:
        return sorted(
            (
                summarize(key, start, self.windows.window_ms, acc)
                for key, series in self.series.items()
                for start, acc in series.windows.items()
            ),
            key=lambda w: w.key,
        )

    def state(self) -> dict[str, Any]:
        """The table's content as the changelog would carry it (JSON)."""
        state: dict[str, Any] = json.loads(
            json.dumps({k: s.to_state() for k, s in self.series.items()})
        )
        return state


def summarize(key: str, start: int, window_ms: int, acc: WindowAccumulator) -> MetricWindow:
    return summarize_window(EntityType.PROVIDER, key, start, window_ms, acc)


def by_key(windows: Iterable[MetricWindow]) -> dict[str, MetricWindow]:
    out: dict[str, MetricWindow] = {}
    for w in windows:
        assert w.key not in out, f"window {w.key} emitted twice"
        out[w.key] = w
    return out


def accepted_samples(
    events: Sequence[Event], outcomes: Sequence[Outcome], window_ms: int
) -> dict[str, list[Values]]:
    """Accepted samples grouped by the ``MetricWindow.key`` of the window they belong to."""
    groups: dict[str, list[Values]] = defaultdict(list)
    for e, outcome in zip(events, outcomes, strict=True):
        if outcome is Outcome.ACCEPTED:
            start = e.ts_ms - e.ts_ms % window_ms
            groups[f"provider:{e.key}:{start}:{window_ms}"].append(e.values)
    return groups


# -- hypothesis strategies ---------------------------------------------------------------

KEYS = ("p-1", "p-2", "p-3")
SMALL_W = 1_000

metric_value = st.one_of(
    st.none(),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0]),
    st.integers(-50, 50).map(float),
    # Magnitudes within the span a sketch keeps apart (models.sketch.MAX_BINS: ~1e17 at
    # 1 %), where its 1 % guarantee holds; tiny ones become an exact 0.0.
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False).map(
        lambda x: x if abs(x) >= 1e-3 else 0.0
    ),
    st.floats(min_value=1e-3, max_value=1e9),  # positive, skewed over many decades
)
sample_values = st.fixed_dictionaries({}, optional={"x": metric_value, "y": metric_value})


@st.composite
def streams(draw: st.DrawFn, max_events: int = 40) -> list[Event]:
    """Per-key increasing ``seq``; timestamps that trail a global clock by up to 1.5 s."""
    n = draw(st.integers(0, max_events))
    clock = T0 + draw(st.integers(0, 3 * SMALL_W))
    seqs = {key: draw(st.integers(0, 5)) for key in KEYS}
    events = []
    for _ in range(n):
        key = draw(st.sampled_from(KEYS))
        clock += draw(st.integers(0, 400))
        ts = clock - draw(st.integers(0, 1_500))
        events.append(Event(key, ts, seqs[key], draw(sample_values)))
        seqs[key] += draw(st.integers(1, 3))
    return events


grace = st.sampled_from([0, 1, 250, 1_000, 5_000])


# -- 1. oracle ---------------------------------------------------------------------------


def test_oracle_after_every_update_and_on_close() -> None:
    rng = np.random.default_rng(7)
    windows = TumblingWindows(window_ms=10_000, grace_ms=3_000)
    part = Partition(windows)
    shadow: dict[tuple[str, int], list[Values]] = defaultdict(list)
    events = []
    seq: Counter[str] = Counter()
    for i in range(600):
        key = ("a", "b", "c", "d")[int(rng.integers(4))]
        ts = T0 + i * 200 - int(rng.integers(0, 6_000))
        values: dict[str, float | None] = {
            "lat": float(rng.lognormal(3.0, 1.5)),  # skewed
            "delta": float(rng.normal(0.0, 20.0)),  # negatives
            "zero": 0.0,
            "const": 7.25,
        }
        if rng.random() < 0.2:
            del values["delta"]  # missing from some samples
        if rng.random() < 0.1:
            values["lat"] = [None, math.nan, math.inf][int(rng.integers(3))]
        event = Event(key, ts, seq[key], values)
        seq[key] += 1
        events.append(event)
        start = windows.start_of(ts)
        if part.offer(event, close=False) is Outcome.ACCEPTED:
            shadow[key, start].append(values)
            assert_acc_matches(part.series[key].windows[start], shadow[key, start])
        for closed in part.close():
            assert_window_matches(
                closed, shadow[closed.entity_id, closed.window_start_ms], windows.window_ms
            )
    counts = Counter(part.outcomes)
    # The stream exercises all paths but duplicates (per-key seq only increases).
    assert counts[Outcome.ACCEPTED] > 400 and counts[Outcome.LATE] > 10
    assert counts[Outcome.DUPLICATE] == 0
    assert len(part.emitted) > 40
    for w in part.open_windows():
        assert_window_matches(w, shadow[w.entity_id, w.window_start_ms], windows.window_ms)


def test_summary_of_a_known_window() -> None:
    acc = WindowAccumulator()
    for t in (60.0, 70.0, 80.0):
        acc.add({"gpu_temp_c": t, "util": None})
    w = summarize(key="p-1", start=T0, window_ms=MINUTE, acc=acc)
    assert (w.count, w.window_start_ms, w.window_end_ms) == (3, T0, T0 + MINUTE)
    assert w.key == f"provider:p-1:{T0}:{MINUTE}"
    assert w.entity_type is EntityType.PROVIDER and w.entity_id == "p-1"
    assert set(w.metrics) == {"gpu_temp_c"}  # a metric with no finite value is omitted
    s = w.metrics["gpu_temp_c"]
    assert (s.count, s.mean, s.min, s.max) == (3, 70.0, 60.0, 80.0)
    assert s.p50 == pytest.approx(70.0, rel=0.01)
    # Rank q * (n - 1) = 1.9 and 1.98: any value between the 2nd and 3rd sample, +-1 %.
    assert 70.0 * 0.99 <= s.p95 <= s.p99 <= 80.0


# -- 2. edge cases -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "metric_counts"),
    [
        ({"t": None}, {}),
        ({"t": math.nan}, {}),
        ({"t": math.inf}, {}),
        ({"t": -math.inf}, {}),
        ({}, {}),
        ({"t": 0.0}, {"t": 1}),
        ({"t": -1.5, "u": math.nan}, {"t": 1}),
        ({"t": 1, "u": None, "v": math.inf, "w": 2.0}, {"t": 1, "w": 1}),
    ],
    ids=["none", "nan", "inf", "-inf", "no_metrics", "zero", "nan_beside_value", "mixed"],
)
def test_non_finite_values_are_skipped_but_the_sample_counts(
    values: dict[str, float | None], metric_counts: dict[str, int]
) -> None:
    acc = WindowAccumulator()
    acc.add(values)
    acc.add(values)
    assert acc.count == 2
    assert {k: s.count for k, s in acc.metrics.items()} == {
        k: 2 * n for k, n in metric_counts.items()
    }
    w = summarize("p-1", T0, MINUTE, acc)
    assert w.count == 2
    assert {k: s.count for k, s in w.metrics.items()} == {
        k: 2 * n for k, n in metric_counts.items()
    }
    for s in w.metrics.values():
        for stat in (s.mean, s.min, s.max, s.p50, s.p95, s.p99):
            assert math.isfinite(stat)


def test_metric_missing_from_some_samples() -> None:
    acc = WindowAccumulator()
    samples: list[Values] = [{"a": 1.0, "b": 10.0}, {"a": 2.0}, {"b": None}, {"a": 3.0, "b": 30.0}]
    for values in samples:
        acc.add(values)
    w = summarize("p-1", T0, MINUTE, acc)
    assert w.count == 4
    assert (w.metrics["a"].count, w.metrics["a"].mean) == (3, 2.0)
    assert (w.metrics["b"].count, w.metrics["b"].mean) == (2, 20.0)
    assert_window_matches(w, samples, MINUTE)


def test_accumulator_state_round_trip() -> None:
    acc = WindowAccumulator()
    for i in range(50):
        acc.add({"a": float(i) - 20.5, "b": None if i % 3 else 1.5 * i})
    restored = WindowAccumulator.from_state(json.loads(json.dumps(acc.to_state())))
    assert restored.to_state() == acc.to_state()
    for values in ({"a": 7.0, "b": 2.0}, {"a": math.nan}, {"c": 1.0}):
        acc.add(values)
        restored.add(values)
    assert summarize("k", T0, MINUTE, restored) == summarize("k", T0, MINUTE, acc)


@pytest.mark.parametrize(
    ("ts_offset", "window_index"),
    [(0, 0), (1, 0), (MINUTE - 1, 0), (MINUTE, 1), (MINUTE + 1, 1), (-1, -1), (-MINUTE, -1)],
    ids=["start", "start+1", "end-1", "end", "end+1", "start-1", "previous_start"],
)
def test_window_boundaries(ts_offset: int, window_index: int) -> None:
    windows = TumblingWindows(window_ms=MINUTE, grace_ms=0)
    start = T0 + window_index * MINUTE
    assert windows.start_of(T0 + ts_offset) == start
    series = SeriesWindows(partition=0)
    wm = NO_WATERMARK
    outcome = windows.add(series, ts_ms=T0 + ts_offset, seq=0, values={"t": 1.0}, watermark_ms=wm)
    assert outcome is Outcome.ACCEPTED
    assert list(series.windows) == [start]
    # [start, end) closes exactly when the watermark reaches end.
    assert windows.close(series, watermark_ms=start + MINUTE - 1) == []
    [(closed_start, acc)] = windows.close(series, watermark_ms=start + MINUTE)
    assert (closed_start, acc.count) == (start, 1)
    assert series.windows == {}


def test_start_of_before_the_epoch_floors() -> None:
    windows = TumblingWindows(window_ms=1_000, grace_ms=0)
    assert [windows.start_of(t) for t in (-1, -1_000, -1_001, 0, 999)] == [
        -1_000,
        -1_000,
        -2_000,
        0,
        0,
    ]


def test_grace_zero_closes_a_window_when_the_next_one_starts() -> None:
    windows = TumblingWindows(window_ms=MINUTE, grace_ms=0)
    part = Partition(windows)
    assert part.offer(Event("k", T0 + MINUTE - 1, 0, {"t": 1.0})) is Outcome.ACCEPTED
    assert part.emitted == [] and part.watermark.value_ms == T0 + MINUTE - 1
    assert part.offer(Event("k", T0 + MINUTE, 1, {"t": 2.0})) is Outcome.ACCEPTED
    assert [w.window_start_ms for w in part.emitted] == [T0]
    # One millisecond too old now: its window has closed.
    assert part.offer(Event("k", T0 + MINUTE - 1, 2, {"t": 3.0})) is Outcome.LATE
    assert part.offer(Event("other", T0, 0, {"t": 3.0})) is Outcome.LATE
    assert part.offer(Event("other", T0 + MINUTE, 0, {"t": 3.0})) is Outcome.ACCEPTED


@pytest.mark.parametrize("grace_ms", [0, 1, 10_000, 2 * MINUTE])
def test_late_exactly_at_the_boundary(grace_ms: int) -> None:
    windows = TumblingWindows(window_ms=MINUTE, grace_ms=grace_ms)
    part = Partition(windows)
    end = T0 + MINUTE
    part.offer(Event("driver", end + grace_ms - 1, 0, {}))  # watermark = end - 1
    assert part.watermark.value_ms == end - 1
    assert part.offer(Event("k", end - 1, 0, {"t": 1.0})) is Outcome.ACCEPTED
    assert part.offer(Event("k", T0, 1, {"t": 2.0})) is Outcome.ACCEPTED
    assert part.emitted == []
    part.offer(Event("driver", end + grace_ms, 1, {}))  # watermark = end: [T0, end) closes
    assert part.watermark.value_ms == end
    emitted = [(w.window_start_ms, w.count) for w in part.emitted if w.entity_id == "k"]
    assert emitted == [(T0, 2)]
    assert part.offer(Event("k", end - 1, 2, {"t": 3.0})) is Outcome.LATE
    assert part.offer(Event("k", T0, 3, {"t": 3.0})) is Outcome.LATE
    assert part.offer(Event("k", end, 4, {"t": 3.0})) is Outcome.ACCEPTED


CURSOR_SEQ, CURSOR_TS = 5, T0 + 5_000


@pytest.mark.parametrize(
    ("seq", "ts_ms", "expected"),
    [
        (CURSOR_SEQ, CURSOR_TS, Outcome.DUPLICATE),  # the very same sample again
        (CURSOR_SEQ - 1, CURSOR_TS - 1_000, Outcome.DUPLICATE),  # an older one replayed
        (0, CURSOR_TS - 4_000, Outcome.DUPLICATE),
        (CURSOR_SEQ - 1, CURSOR_TS, Outcome.DUPLICATE),
        (CURSOR_SEQ, CURSOR_TS + 1, Outcome.ACCEPTED),  # same seq, newer time
        (CURSOR_SEQ + 1, CURSOR_TS - 1_000, Outcome.ACCEPTED),  # newer seq, out of order
        (CURSOR_SEQ + 1, CURSOR_TS, Outcome.ACCEPTED),
        (0, CURSOR_TS + 1_000, Outcome.ACCEPTED),  # provider restarted: seq from 0, newer ts
    ],
)
def test_duplicate_detection(seq: int, ts_ms: int, expected: Outcome) -> None:
    windows = TumblingWindows(window_ms=MINUTE, grace_ms=10_000)
    series = SeriesWindows(partition=3)
    for i in range(CURSOR_SEQ + 1):
        ts = CURSOR_TS - (CURSOR_SEQ - i) * 1_000
        assert windows.add(
            series, ts_ms=ts, seq=i, values={"t": 1.0}, watermark_ms=NO_WATERMARK
        ) is (Outcome.ACCEPTED)
    assert (series.last_seq, series.last_ts_ms) == (CURSOR_SEQ, CURSOR_TS)
    before = series.to_state()
    outcome = windows.add(series, ts_ms=ts_ms, seq=seq, values={"t": 2.0}, watermark_ms=T0)
    assert outcome is expected
    if expected is Outcome.DUPLICATE:
        assert series.to_state() == before  # a rejected sample changes nothing
    else:
        assert (series.last_seq, series.last_ts_ms) == (seq, max(ts_ms, CURSOR_TS))
        assert sum(acc.count for acc in series.windows.values()) == CURSOR_SEQ + 2


def test_provider_restart_then_replay_of_the_new_run_is_duplicate() -> None:
    windows = TumblingWindows(window_ms=MINUTE, grace_ms=10_000)
    part = Partition(windows)
    run1 = [Event("k", T0 + 1_000 * i, 100 + i, {"t": float(i)}) for i in range(5)]
    run2 = [Event("k", T0 + 10_000 + 1_000 * i, i, {"t": float(i)}) for i in range(5)]
    assert [part.offer(e) for e in run1 + run2] == [Outcome.ACCEPTED] * 10
    assert (part.series["k"].last_seq, part.series["k"].last_ts_ms) == (4, T0 + 14_000)
    restored = Partition.restore(windows, part.state())
    assert [restored.offer(e) for e in run2] == [Outcome.DUPLICATE] * 5
    assert restored.state() == part.state()


def test_late_sample_leaves_the_series_unchanged() -> None:
    windows = TumblingWindows(window_ms=MINUTE, grace_ms=0)
    series = SeriesWindows(partition=0)
    windows.add(series, ts_ms=T0 + MINUTE, seq=0, values={"t": 1.0}, watermark_ms=NO_WATERMARK)
    before = series.to_state()
    outcome = windows.add(series, ts_ms=T0, seq=1, values={"t": 1.0}, watermark_ms=T0 + MINUTE)
    assert outcome is Outcome.LATE
    assert series.to_state() == before  # the cursor did not move: seq 1 is still "new"


def test_watermark_never_decreases() -> None:
    wm = Watermark()
    assert (wm.value_ms, wm.max_event_ms) == (NO_WATERMARK, NO_WATERMARK)
    assert wm.advance(T0 + 50_000, 10_000) == T0 + 40_000
    assert wm.advance(T0 + 20_000, 10_000) == T0 + 40_000  # older event: unchanged
    assert wm.advance(T0 + 50_000, 0) == T0 + 40_000  # same max event: unchanged
    assert wm.advance(T0 + 51_000, 30_000) == T0 + 40_000  # larger grace: never back
    assert wm.advance(T0 + 80_000, 30_000) == T0 + 50_000
    assert wm.max_event_ms == T0 + 80_000


@FAST
@given(st.lists(st.tuples(st.integers(T0 - 10**6, T0 + 10**6), grace), max_size=30))
def test_watermark_is_monotone_max_minus_grace(observations: list[tuple[int, int]]) -> None:
    wm = Watermark()
    previous = wm.value_ms
    for ts, grace_ms in observations:
        value = wm.advance(ts, grace_ms)
        assert value == wm.value_ms >= previous
        previous = value
    if observations:
        assert wm.max_event_ms == max(ts for ts, _ in observations)
        expected, seen = NO_WATERMARK, NO_WATERMARK
        for ts, grace_ms in observations:
            if ts > seen:
                seen, expected = ts, max(expected, ts - grace_ms)
        assert wm.value_ms == expected


def test_close_is_oldest_first_and_removes() -> None:
    windows = TumblingWindows(window_ms=1_000, grace_ms=0)
    series = SeriesWindows(partition=0)
    for i, ts in enumerate((T0 + 2_500, T0 + 500, T0 + 4_100, T0 + 1_999, T0 + 3_000)):
        windows.add(series, ts_ms=ts, seq=i, values={"t": 1.0}, watermark_ms=NO_WATERMARK)
    closed = windows.close(series, watermark_ms=T0 + 3_000)
    assert [start for start, _ in closed] == [T0, T0 + 1_000, T0 + 2_000]
    assert sorted(series.windows) == [T0 + 3_000, T0 + 4_000]
    assert windows.close(series, watermark_ms=T0 + 3_000) == []  # never twice


def test_series_state_round_trip_is_json() -> None:
    windows = TumblingWindows(window_ms=1_000, grace_ms=500)
    series = SeriesWindows(partition=7)
    assert SeriesWindows.from_state(json.loads(json.dumps(series.to_state()))) == series
    for i in range(30):
        windows.add(
            series, ts_ms=T0 + 137 * i, seq=i, values={"a": i * 1.5, "b": -i}, watermark_ms=T0
        )
    text = json.dumps(series.to_state(), allow_nan=False)
    restored = SeriesWindows.from_state(json.loads(text))
    assert (restored.partition, restored.last_seq, restored.last_ts_ms) == (7, 29, T0 + 137 * 29)
    assert restored.to_state() == series.to_state()
    assert sorted(restored.windows) == sorted(series.windows)


# -- 3. properties over random multi-key streams -----------------------------------------


@FAST
@given(streams(), grace)
def test_conservation_and_oracle(events: list[Event], grace_ms: int) -> None:
    windows = TumblingWindows(window_ms=SMALL_W, grace_ms=grace_ms)
    part = Partition(windows)
    max_accepted = NO_WATERMARK
    for e in events:
        before = part.watermark.value_ms
        outcome = part.offer(e)
        # LATE exactly when the window had closed by the watermark at offer time.
        assert (outcome is Outcome.LATE) == (windows.start_of(e.ts_ms) + SMALL_W <= before)
        if outcome is Outcome.ACCEPTED:
            max_accepted = max(max_accepted, e.ts_ms)
        expected_wm = NO_WATERMARK if max_accepted == NO_WATERMARK else max_accepted - grace_ms
        assert part.watermark.value_ms == expected_wm
    counts = Counter(part.outcomes)
    assert sum(counts.values()) == len(events)
    assert counts[Outcome.DUPLICATE] == 0  # seq strictly increases per key: nothing repeats
    closed, still_open = part.emitted, part.open_windows()
    assert sum(w.count for w in closed + still_open) == counts[Outcome.ACCEPTED]
    for name in ("x", "y"):
        finite_accepted = finite_of(
            (e.values for e, o in zip(events, part.outcomes, strict=True) if o is Outcome.ACCEPTED),
            name,
        )
        in_windows = sum(w.metrics[name].count for w in closed + still_open if name in w.metrics)
        assert in_windows == len(finite_accepted)
    expected = accepted_samples(events, part.outcomes, SMALL_W)
    produced = by_key(closed + still_open)
    assert set(produced) == set(expected)
    for key, window in produced.items():
        assert_window_matches(window, expected[key], SMALL_W)
    wm = part.watermark.value_ms
    assert all(w.window_end_ms <= wm for w in closed)
    assert all(w.window_end_ms > wm for w in still_open)


@FAST
@given(streams(), grace, st.data())
def test_replay_after_crash_is_idempotent(
    events: list[Event], grace_ms: int, data: st.DataObject
) -> None:
    windows = TumblingWindows(window_ms=SMALL_W, grace_ms=grace_ms)
    once = Partition(windows)
    for e in events:
        once.offer(e)
    # Crash after the state of the first ``crash_at`` events was written (windows closed
    # by then were emitted), restart from the older committed offset ``resume_from``.
    crash_at = data.draw(st.integers(0, len(events)), label="crash_at")
    resume_from = data.draw(st.integers(0, crash_at), label="resume_from")
    before_crash = Partition(windows)
    for e in events[:crash_at]:
        before_crash.offer(e)
    after = Partition.restore(windows, before_crash.state(), before_crash.durable_watermark_ms)
    assert after.watermark.value_ms == before_crash.watermark.value_ms
    replayed = [after.offer(e) for e in events[resume_from:crash_at]]
    assert Outcome.ACCEPTED not in replayed
    assert after.emitted == []
    for e in events[crash_at:]:
        after.offer(e)
    assert before_crash.emitted + after.emitted == once.emitted
    assert after.open_windows() == once.open_windows()
    assert after.state() == once.state()
    # A second restart that replays *everything* from the final state changes nothing.
    again = Partition.restore(windows, after.state(), after.durable_watermark_ms)
    assert Outcome.ACCEPTED not in [again.offer(e) for e in events]
    assert again.emitted == [] and again.state() == once.state()


def test_restart_after_a_batch_written_for_one_key_only() -> None:
    """The integration failure in small: ``a``'s state of the batch was written, ``b``'s not."""
    windows = TumblingWindows(window_ms=SMALL_W, grace_ms=0)
    events = [Event(key, T0 + 250 * i, i, {"x": float(i)}) for i in range(24) for key in "ab"]
    once = Partition(windows)
    for e in events:
        once.offer(e)
    run = Partition(windows)
    for e in events[:8]:
        run.offer(e)
    durable_ms, before = run.durable_watermark_ms, run.state()
    for e in events[8:]:
        run.offer(e, close=False)
    durable = {**before, "a": run.state()["a"]}
    after = Partition.restore(windows, durable, durable_ms)
    assert after.watermark.value_ms == durable_ms < after.watermark.max_event_ms
    for e in events[8:]:
        after.offer(e)
    assert Outcome.LATE not in after.outcomes
    assert by_key(run.emitted + after.emitted) == by_key(once.emitted)
    # With the newest event time less grace (as before), b's samples are late:
    naive = Partition.restore(windows, durable)
    naive.watermark = Watermark()
    for series in naive.series.values():
        naive.watermark.advance(series.last_ts_ms, windows.grace_ms)
    for e in events[8:]:
        naive.offer(e)
    assert Outcome.LATE in naive.outcomes


@settings(max_examples=300, deadline=None, database=None)
@given(streams(), grace, st.data())
def test_a_crash_that_wrote_only_some_keys_of_a_batch_loses_no_window(
    events: list[Event], grace_ms: int, data: st.DataObject
) -> None:
    """The keys of one batch are separate changelog records: a crash can write a few.

    The keys that were written are ahead of the others; the restart must not take its
    watermark from them, or the others' replayed samples are late and their windows lost.
    """
    windows = TumblingWindows(window_ms=SMALL_W, grace_ms=grace_ms)
    once = Partition(windows)
    for e in events:
        once.offer(e)
    start = data.draw(st.integers(0, len(events)), label="batch_start")
    end = data.draw(st.integers(start, len(events)), label="batch_end")
    run = Partition(windows)
    for e in events[:start]:  # done: states, closed windows and watermark written
        run.offer(e)
    durable_ms, before = run.durable_watermark_ms, run.state()
    for e in events[start:end]:  # the batch: its states are being written when it dies
        run.offer(e, close=False)
    touched = sorted(k for k, v in run.state().items() if before.get(k) != v)
    written = data.draw(st.sets(st.sampled_from(touched)) if touched else st.just(set()))
    durable = {**before, **{k: run.state()[k] for k in written}}
    resume_from = data.draw(st.integers(0, start), label="committed_offset")

    after = Partition.restore(windows, durable, durable_ms)
    for e in events[resume_from:]:
        after.offer(e)
    produced = by_key(run.emitted)
    for w in after.emitted:  # at least once: a window emitted again is the same window
        assert produced.setdefault(w.key, w) == w
    assert produced == by_key(once.emitted)
    assert after.open_windows() == once.open_windows()
    assert after.state() == once.state()


@FAST
@given(streams(), grace, st.data())
def test_batch_boundaries_do_not_change_windows(
    events: list[Event], grace_ms: int, data: st.DataObject
) -> None:
    windows = TumblingWindows(window_ms=SMALL_W, grace_ms=grace_ms)
    every, at_end, batched = Partition(windows), Partition(windows), Partition(windows)
    closes = data.draw(st.lists(st.booleans(), min_size=len(events), max_size=len(events)))
    for e, close in zip(events, closes, strict=True):
        every.offer(e, close=True)
        at_end.offer(e, close=False)
        batched.offer(e, close=close)
    at_end.close()
    batched.close()
    assert every.outcomes == at_end.outcomes == batched.outcomes
    assert every.watermark == at_end.watermark == batched.watermark
    assert by_key(every.emitted) == by_key(at_end.emitted) == by_key(batched.emitted)
    assert every.open_windows() == at_end.open_windows() == batched.open_windows()
    assert every.state() == at_end.state() == batched.state()


@FAST
@given(streams(), grace)
def test_each_window_is_emitted_once_in_start_order_per_key(
    events: list[Event], grace_ms: int
) -> None:
    windows = TumblingWindows(window_ms=SMALL_W, grace_ms=grace_ms)
    part = Partition(windows)
    for e in events:
        part.offer(e)
    by_key(part.emitted)  # raises on a repeated key
    starts: dict[str, list[int]] = defaultdict(list)
    for w in part.emitted:
        starts[w.entity_id].append(w.window_start_ms)
    for entity, seen in starts.items():
        assert seen == sorted(seen) and len(set(seen)) == len(seen), entity
    # Window bounds are aligned and exactly one window long.
    for w in part.emitted:
        assert w.window_start_ms % SMALL_W == 0
        assert w.window_end_ms == w.window_start_ms + SMALL_W


def test_replay_across_a_provider_restart_counts_nothing_twice() -> None:
    """A crash replay that spans a provider's seq reset is recognised by source offsets."""
    windows = TumblingWindows(window_ms=60_000, grace_ms=10_000)
    t0 = 1_700_000_040_000
    stream = [(t0, 0, 10), (t0, 1, 11), (t0 + 1, 0, 12)]  # (ts_ms, seq, offset); restart
    series, wm = SeriesWindows(partition=0), Watermark()
    for ts, seq, offset in stream:
        outcome = windows.add(
            series, ts_ms=ts, seq=seq, values={"t": 1.0}, watermark_ms=wm.value_ms, offset=offset
        )
        assert outcome is Outcome.ACCEPTED
        wm.advance(series.last_ts_ms, windows.grace_ms)
    restored = SeriesWindows.from_state(json.loads(json.dumps(series.to_state())))
    replay = [
        windows.add(
            restored, ts_ms=ts, seq=seq, values={"t": 1.0}, watermark_ms=wm.value_ms, offset=o
        )
        for ts, seq, o in stream
    ]
    assert replay == [Outcome.DUPLICATE] * 3
    assert restored.windows[t0].count == 3
