"""The figures of ``computeperf bench soak`` (bench/soak_summary.py): warm-up, slopes, verdicts."""

from __future__ import annotations

import doctest

import pytest

import bench.soak_summary
from bench.soak_summary import Sample, slope, summarize, warmup_minutes


def series(rss: list[float], lag: list[float] | None = None) -> list[Sample]:
    lags = lag or [0.0] * len(rss)
    return [
        Sample(minute=float(m), rss_mb=r, lag=lg, state_keys=1000.0 + m)
        for m, (r, lg) in enumerate(zip(rss, lags, strict=True))
    ]


def test_doctests() -> None:
    assert doctest.testmod(bench.soak_summary).failed == 0


@pytest.mark.parametrize(("minutes", "warmup"), [(1, 0), (2, 0), (3, 1), (14, 4), (30, 5)])
def test_warmup_is_five_minutes_or_a_third(minutes: int, warmup: int) -> None:
    assert warmup_minutes(minutes) == warmup


def test_slope_is_least_squares_per_minute() -> None:
    # Sxy / Sxx = 9 / 5 around the means (1.5, 4).
    assert slope([0, 1, 2, 3], [1.5, 2.5, 5.5, 6.5]) == pytest.approx(1.8)
    assert slope([0, 1, 2], [4, 4, 4]) == pytest.approx(0.0)
    assert slope([], []) is None


def test_warmup_growth_does_not_count() -> None:
    # 30 minutes: 100 MB of growth in the first 5, then flat: the slope is 0, RSS ok.
    rss = [200.0 + 20 * m for m in range(6)] + [300.0] * 25
    out = summarize(series(rss), minutes=30, max_rss_slope=1.0, max_lag=100)
    assert out["warmup_minutes"] == 5
    assert out["steady_samples"] == 26
    assert out["rss_slope_mb_per_min"] == pytest.approx(0.0)
    assert out["state_keys_slope_per_min"] == pytest.approx(1.0)
    assert out["rss_ok"] is True


def test_steady_growth_fails_rss() -> None:
    rss = [300.0 + 1.5 * m for m in range(31)]
    out = summarize(series(rss), minutes=30, max_rss_slope=1.0, max_lag=100)
    assert out["rss_slope_mb_per_min"] == pytest.approx(1.5)
    assert out["rss_ok"] is False


def test_lag_bound_applies_after_the_warmup_only() -> None:
    lag = [5000.0, 4000.0, 3000.0, 50.0, 60.0, 40.0, 30.0, 50.0, 40.0]
    out = summarize(series([300.0] * 9, lag), minutes=8, max_rss_slope=1.0, max_lag=100)
    assert out["warmup_minutes"] == 2
    assert out["max_lag_after_warmup"] == 3000.0
    assert out["lag_bounded"] is False
    out = summarize(series([300.0] * 9, lag), minutes=9, max_rss_slope=1.0, max_lag=100)
    assert out["max_lag_after_warmup"] == 60.0
    assert out["lag_bounded"] is True


def test_too_few_samples_give_no_slope_and_no_pass() -> None:
    out = summarize(series([300.0]), minutes=1, max_rss_slope=1.0, max_lag=100)
    assert out["rss_slope_mb_per_min"] is None
    assert out["rss_ok"] is False
