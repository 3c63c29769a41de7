"""Cohort leaderboards (models/leaderboard.py) and trends (models/trends.py) against numpy.

The oracle recomputes means, t intervals, Wilson intervals and robust z-scores with numpy
from the same windows after every update; trends are checked against a brute-force
median of pairwise slopes and a hand-written Mann-Kendall S statistic.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.leaderboard import CohortLeaderboard, robust_z_scores, standings_changed
from models.trends import MIN_POINTS, TrendTracker, estimate_trend, is_getting_worse

FAST = settings(max_examples=40, deadline=None, database=None)
HOUR = 3_600_000


def _wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return centre - half, centre + half


def test_standings_match_numpy_after_every_update() -> None:
    rng = np.random.default_rng(1)
    board = CohortLeaderboard(horizon=20, min_samples=5)
    history: dict[str, list[tuple[float, bool]]] = {p: [] for p in "abcde"}
    level = {"a": 10.0, "b": 12.0, "c": 11.0, "d": 9.5, "e": 3.0}
    for _ in range(30):
        for p in "abcde":
            ppd = float(rng.normal(level[p], 0.5))
            ok = bool(rng.random() < 0.9)
            board.update("cohort", p, ppd, good=ok)
            history[p] = (history[p] + [(ppd, ok)])[-20:]
        out = {s.provider_id: s for s in board.standings("cohort")}
        ranked = [p for p in "abcde" if len(history[p]) >= 5]
        means = np.array([np.mean([v for v, _ in history[p]]) for p in ranked])
        med = np.median(means) if ranked else math.nan
        madn = 1.482602218505602 * np.median(np.abs(means - med)) if ranked else math.nan
        for p in "abcde":
            vals = np.array([v for v, _ in history[p]])
            s = out[p]
            assert s.windows == len(vals)
            assert s.perf_per_dollar == pytest.approx(vals.mean())
            if p in ranked:
                assert s.robust_z == pytest.approx((vals.mean() - med) / madn)
                assert s.normalised_perf_per_dollar == pytest.approx(vals.mean() / med)
            if len(vals) >= 2:
                half = 1.96 * vals.std(ddof=1) / math.sqrt(len(vals))
                # t quantile > normal quantile: the interval is at least the z interval.
                lo, hi = s.perf_per_dollar_ci
                assert lo <= vals.mean() - half + 1e-12 and hi >= vals.mean() + half - 1e-12
                assert lo <= vals.mean() <= hi
            k = sum(g for _, g in history[p])
            assert s.reliability == k / len(vals)
            assert s.reliability_ci == pytest.approx(_wilson(k, len(vals)), abs=1e-9)
        order = sorted(ranked, key=lambda p: -np.mean([v for v, _ in history[p]]))
        assert [s.provider_id for s in board.standings("cohort")][: len(order)] == order
    assert {s.provider_id for s in board.standings("cohort") if s.underperformer} == {"e"}


def test_newcomer_is_neither_ranked_nor_flagged() -> None:
    board = CohortLeaderboard(min_samples=10)
    for _ in range(12):
        for p, v in (("a", 10.0), ("b", 10.5), ("c", 9.8)):
            board.update("c1", p, v, good=True)
    for _ in range(9):
        board.update("c1", "new", 0.5, good=False)
    by_id = {s.provider_id: s for s in board.standings("c1")}
    assert by_id["new"].rank is None and not by_id["new"].underperformer
    board.update("c1", "new", 0.5, good=False)
    by_id = {s.provider_id: s for s in board.standings("c1")}
    assert by_id["new"].rank == 4 and by_id["new"].underperformer


def test_demotion_changes_the_board() -> None:
    board = CohortLeaderboard(horizon=10, min_samples=5)
    for _ in range(10):
        for p, v in (("a", 10.0), ("b", 9.0), ("c", 8.0), ("d", 7.5)):
            board.update("c1", p, v, good=True)
    before = board.standings("c1")
    assert before[0].provider_id == "a"
    for _ in range(10):
        for p, v in (("a", 2.0), ("b", 9.0), ("c", 8.0), ("d", 7.5)):
            board.update("c1", p, v, good=True)
    after = board.standings("c1")
    assert standings_changed(before, after)
    assert after[-1].provider_id == "a" and after[-1].underperformer


def test_bad_input_is_ignored_and_bad_settings_rejected() -> None:
    board = CohortLeaderboard()
    board.update("c", "p", math.nan, good=True)
    board.update("c", "p", -1.0, good=True)
    assert board.standings("c") == [] and board.tracked_providers() == 0
    assert board.standings("unknown") == []
    with pytest.raises(ValueError):
        CohortLeaderboard(confidence=1.0)
    with pytest.raises(ValueError):
        CohortLeaderboard(min_samples=0)


def test_robust_z_edge_cases() -> None:
    assert robust_z_scores(np.array([])).size == 0
    assert robust_z_scores(np.array([5.0, 5.0, 5.0])).tolist() == [0.0, 0.0, 0.0]


@FAST
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=MIN_POINTS, max_size=40))
def test_theil_sen_slope_is_the_median_pairwise_slope(values: list[float]) -> None:
    ts = [i * HOUR for i in range(len(values))]
    trend = estimate_trend(ts, values)
    slopes = [(values[j] - values[i]) / (j - i) for i, j in combinations(range(len(values)), 2)]
    if np.ptp(values) == 0:
        assert trend.direction == "no_trend"
        return
    assert trend.slope_per_hour == pytest.approx(float(np.median(slopes)), abs=1e-9)
    s = sum(np.sign(values[j] - values[i]) for i, j in combinations(range(len(values)), 2))
    # Mann-Kendall: a significant trend's direction is the sign of S.
    if trend.direction == "increasing":
        assert s > 0
    elif trend.direction == "decreasing":
        assert s < 0


def test_noise_has_no_trend_and_a_drift_is_found() -> None:
    rng = np.random.default_rng(4)
    ts = [h * HOUR for h in range(72)]
    noise = rng.normal(100, 5, 72)
    assert estimate_trend(ts, noise.tolist()).direction == "no_trend"
    worse = noise - 0.5 * np.arange(72)
    t = estimate_trend(ts, worse.tolist())
    assert t.direction == "decreasing" and t.slope_ci_per_hour[0] < -0.5 < t.slope_ci_per_hour[1]
    assert is_getting_worse(t, higher_is_better=True)


def test_trend_edge_cases() -> None:
    assert estimate_trend([], []).direction == "insufficient_data"
    ts = [h * HOUR for h in range(8)]
    vals = [1.0, math.nan, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert estimate_trend(ts, vals).points == 7
    assert estimate_trend([0] * 8, list(range(8))).direction == "insufficient_data"
    with pytest.raises(ValueError, match="times but"):
        estimate_trend([0, 1], [1.0])


def test_tracker_is_bounded() -> None:
    tr = TrendTracker(max_points=10)
    for h in range(50):
        tr.update("p", "m", h * HOUR, float(h))
    tr.update("p", "m", 51 * HOUR, math.inf)
    t = tr.trend("p", "m")
    assert t.points == 10 and t.direction == "increasing"
    assert tr.trend("q", "m").direction == "insufficient_data"
