"""Roll-ups (models/rollups.py) and window KPIs (models/window_kpis.py) against numpy.

Oracle: a 1-hour window merged from sixty 1-minute windows must hold exactly the count,
sum, min and max of the hour's samples, the same sketch bins as one sketch fed every
sample, and quantiles within 1 % of numpy's; KPIs must equal the numpy formulas.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.rollups import RollupLadder, merge_accumulators, state_bytes
from models.window_kpis import normalise_by_cohort, window_kpis
from models.windows import WindowAccumulator

REL = 0.01 + 1e-12
FAST = settings(max_examples=40, deadline=None, database=None)


def _fine_windows(values: np.ndarray, per_window: int) -> list[WindowAccumulator]:
    out = []
    for i in range(0, len(values), per_window):
        acc = WindowAccumulator()
        for v in values[i : i + per_window]:
            acc.add({"x": float(v)})
        out.append(acc)
    return out


def _assert_quantiles_close(acc: WindowAccumulator, values: np.ndarray) -> None:
    sketch = acc.metrics["x"]
    for q in (0.5, 0.95, 0.99):
        lo = float(np.quantile(values, q, method="lower"))
        hi = float(np.quantile(values, q, method="higher"))
        got = sketch.quantile(q)
        assert lo - REL * abs(lo) <= got <= hi + REL * abs(hi), (q, got, lo, hi)


def test_hour_from_minutes_equals_direct_aggregation() -> None:
    rng = np.random.default_rng(3)
    values = rng.lognormal(3.0, 0.7, size=3_600)  # 1 Hz for an hour
    ladder = RollupLadder()
    for minute, acc in enumerate(_fine_windows(values, 60)):
        ladder.add("s", minute * 60_000, acc)
    closed = ladder.close(watermark_ms=3_600_000)
    hours = [r for r in closed if r.size_ms == 3_600_000]
    fives = [r for r in closed if r.size_ms == 300_000]
    assert len(hours) == 1 and len(fives) == 12
    direct = WindowAccumulator()
    for v in values:
        direct.add({"x": float(v)})
    hour = hours[0].acc.metrics["x"]
    assert hours[0].acc.count == 3_600 == hour.count
    assert math.isclose(hour.sum, float(values.sum()), rel_tol=1e-12)
    assert hour.min == values.min() and hour.max == values.max()
    # Same bins as the direct sketch: the merge is lossless, so quantiles are identical.
    for q in (0.5, 0.95, 0.99):
        assert hour.quantile(q) == direct.metrics["x"].quantile(q)
    _assert_quantiles_close(hours[0].acc, values)
    assert sum(r.acc.count for r in fives) == 3_600
    assert ladder.open_windows() == 0 and ladder.series_count() == 0


@FAST
@given(
    st.lists(st.floats(0.01, 1e6, allow_nan=False), min_size=1, max_size=300),
    st.integers(1, 40),
)
def test_merge_matches_oracle_after_every_window(values: list[float], per_window: int) -> None:
    arr = np.asarray(values)
    merged = WindowAccumulator()
    seen = 0
    for acc in _fine_windows(arr, per_window):
        merge_accumulators(merged, acc)
        seen += acc.count
        part = arr[:seen]
        assert merged.count == seen
        assert merged.metrics["x"].min == part.min() and merged.metrics["x"].max == part.max()
        assert math.isclose(merged.metrics["x"].sum, float(part.sum()), rel_tol=1e-9)
        _assert_quantiles_close(merged, part)


def test_windows_close_only_past_the_watermark_and_are_evicted() -> None:
    ladder = RollupLadder(sizes_ms=(300_000,))
    acc = WindowAccumulator()
    acc.add({"x": 1.0})
    ladder.add("a", 0, acc)
    ladder.add("b", 240_000, acc)
    ladder.add("a", 300_000, acc)
    assert ladder.close(watermark_ms=299_999) == []
    closed = ladder.close(watermark_ms=300_000)
    assert [(r.series, r.start_ms) for r in closed] == [("a", 0), ("b", 0)]
    assert ladder.series_count() == 1 and ladder.open_windows() == 1
    assert ladder.series_state_bytes("a") == state_bytes(acc)
    assert ladder.series_state_bytes("b") == 0


def test_rollup_sizes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RollupLadder(sizes_ms=(0,))


def test_merge_leaves_the_source_unchanged_and_handles_empty() -> None:
    a, b = WindowAccumulator(), WindowAccumulator()
    b.add({"x": 2.0})
    merge_accumulators(a, WindowAccumulator())
    assert a.count == 0 and a.metrics == {}
    merge_accumulators(a, b)
    a.add({"x": 4.0})
    assert b.count == 1 and b.metrics["x"].count == 1
    assert a.metrics["x"].mean == 3.0


def test_kpis_match_numpy_formulas() -> None:
    rng = np.random.default_rng(9)
    n = 45
    thr = rng.uniform(50, 150, n)
    cost = rng.uniform(0.001, 0.01, n)
    errors = rng.poisson(0.5, n).astype(float)
    requests = rng.poisson(20, n).astype(float)
    util = rng.uniform(0, 100, n)
    acc = WindowAccumulator()
    for i in range(n):
        acc.add(
            {
                "throughput": thr[i],
                "cost_accrued_usd": cost[i],
                "errors": errors[i],
                "requests": requests[i],
                "gpu_util_pct": util[i],
            }
        )
    k = window_kpis(acc, window_ms=60_000, interval_ms=1_000)
    assert k.availability == pytest.approx(n / 60)
    assert k.error_rate == pytest.approx(errors.sum() / requests.sum())
    assert k.utilisation == pytest.approx(util.mean() / 100)
    assert k.perf_per_dollar == pytest.approx(thr.sum() / cost.sum())


def test_kpis_edge_cases() -> None:
    acc = WindowAccumulator()
    for _ in range(120):
        acc.add({"errors": 1.0, "throughput": 1.0, "cost_accrued_usd": 0.0})
    k = window_kpis(acc, window_ms=60_000, interval_ms=1_000)
    assert k.availability == 1.0  # capped: duplicates or a faster sender
    assert k.error_rate == 1.0  # no requests: errors per sample
    assert k.perf_per_dollar is None  # free work has no perf per dollar
    assert k.utilisation is None
    with pytest.raises(ValueError, match="must be > 0"):
        window_kpis(acc, window_ms=0, interval_ms=1_000)


def test_kpis_of_merged_windows_equal_kpis_of_all_samples() -> None:
    rng = np.random.default_rng(5)
    minutes = []
    direct = WindowAccumulator()
    for _ in range(5):
        acc = WindowAccumulator()
        for _ in range(int(rng.integers(30, 61))):
            row = {"throughput": float(rng.uniform(1, 9)), "cost_accrued_usd": 0.002}
            acc.add(row)
            direct.add(row)
        minutes.append(acc)
    merged = WindowAccumulator()
    for acc in minutes:
        merge_accumulators(merged, acc)
    a = window_kpis(merged, window_ms=300_000, interval_ms=1_000)
    b = window_kpis(direct, window_ms=300_000, interval_ms=1_000)
    assert a.availability == b.availability
    assert a.perf_per_dollar == pytest.approx(b.perf_per_dollar, rel=1e-12)


def test_normalise_by_cohort() -> None:
    values = {"a": 3.0, "b": 6.0, "c": 9.0, "d": 12.0}
    out = normalise_by_cohort(values)
    med = float(np.median(list(values.values())))
    assert out == {k: v / med for k, v in values.items()}
    assert all(math.isnan(v) for v in normalise_by_cohort({"a": 0.0}).values())


def test_packed_ladder_gives_the_same_rollups_as_the_live_one() -> None:
    rng = np.random.default_rng(11)
    live, packed = RollupLadder(), RollupLadder(packed=True)
    out_live, out_packed = [], []
    for minute in range(70):
        for series in ("a", "b"):
            if series == "b" and minute > 30:
                continue  # b goes idle: its windows still close
            acc = WindowAccumulator()
            for v in rng.lognormal(2.0, 0.5, size=20):
                acc.add({"x": float(v)})
            live.add(series, minute * 60_000, acc)
            packed.add(series, minute * 60_000, acc)
        wm = (minute + 1) * 60_000
        out_live += live.close(wm)
        out_packed += packed.close(wm)
        assert packed.series_count() == live.series_count()
    assert len(out_live) == len(out_packed) == 14 + 7 + 1 + 1
    for a, b in zip(out_live, out_packed, strict=True):
        assert (a.series, a.size_ms, a.start_ms) == (b.series, b.size_ms, b.start_ms)
        assert a.acc.to_state() == b.acc.to_state()
    assert packed.open_windows() == live.open_windows() == 1  # a: the hour [60, 120) min
    assert 0 < packed.packed_bytes("a") < packed.series_state_bytes("a")
    assert packed.packed_bytes("b") == 0
