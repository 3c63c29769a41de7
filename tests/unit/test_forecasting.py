"""Seasonal forecaster: beats seasonal-naive, honest intervals, robust to spikes, follows shifts."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
from click.testing import CliRunner

from cli.evaluate.forecast import forecast_command
from evaluation.forecast import evaluate_forecasts, score_series
from models.forecasting import ForecastPoint, SeasonalForecaster, forecast

PERIOD = 24


def seasonal_series(seed: int, days: int, noise: float = 2.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hours = np.arange(days * PERIOD)
    return 50 + 20 * np.sin(2 * np.pi * hours / PERIOD) + rng.normal(0, noise, hours.size)


def rolling_errors(y: np.ndarray, horizon: int, start: int) -> tuple[list[float], list[float]]:
    model = SeasonalForecaster(period=PERIOD, max_horizon=horizon)
    ours: list[float] = []
    naive: list[float] = []
    for t, value in enumerate(y):
        if t >= start:
            for p in model.forecast(horizon):
                target = t + p.step - 1
                if target < len(y):
                    ours.append(abs(y[target] - p.value))
                    naive.append(abs(y[target] - y[target - PERIOD]))
        model.learn_one(float(value))
    return ours, naive


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beats_seasonal_naive_on_noisy_seasonal_series(seed: int) -> None:
    # Seasonal-naive carries one day's noise into its forecast; a smoothed season does not.
    ours, naive = rolling_errors(seasonal_series(seed, days=8), horizon=6, start=4 * PERIOD)
    assert np.mean(ours) < 0.95 * np.mean(naive)


def test_interval_coverage_is_close_to_nominal() -> None:
    y = seasonal_series(3, days=14)
    model = SeasonalForecaster(period=PERIOD, max_horizon=3)
    inside = total = 0
    for t, value in enumerate(y):
        if t >= 6 * PERIOD:
            p = model.forecast(1, coverage=0.8)[0]
            inside += p.lower <= value <= p.upper
            total += 1
        model.learn_one(float(value))
    assert 0.7 <= inside / total <= 0.9


def test_a_spike_in_history_barely_moves_the_forecast() -> None:
    y = seasonal_series(4, days=5)
    spiked = y.copy()
    spiked[4 * PERIOD + 3] += 500.0  # an outage or a price spike, after the start
    clean = forecast(list(y), horizon=PERIOD)
    dirty = forecast(list(spiked), horizon=PERIOD)
    diff = max(abs(a.value - b.value) for a, b in zip(clean, dirty, strict=True))
    assert diff < 0.02 * 500.0


def test_a_spike_in_the_start_is_not_learned_as_a_daily_pattern() -> None:
    flat = [10.0] * (3 * PERIOD)
    flat[5] = 30.0  # one hour of the first day only
    points = forecast(flat, horizon=PERIOD)
    assert max(abs(p.value - 10.0) for p in points) < 0.5


def test_a_confirmed_level_shift_is_adopted() -> None:
    history = [100.0] * (4 * PERIOD) + [130.0] * 6
    assert forecast(history, horizon=1, period=PERIOD)[0].value == pytest.approx(130.0, abs=3.0)
    # One point is a spike, not a shift.
    spike = [100.0] * (4 * PERIOD) + [130.0]
    assert forecast(spike, horizon=1, period=PERIOD)[0].value == pytest.approx(100.0, abs=1.0)


@pytest.mark.parametrize(
    ("history", "horizon", "coverage", "message"),
    [
        ([], 1, 0.9, "nothing learned"),
        ([math.nan, math.inf], 1, 0.9, "nothing learned"),
        ([1.0, 2.0], 0, 0.9, "horizon"),
        ([1.0, 2.0], 1, 1.0, "coverage"),
    ],
)
def test_bad_input_is_a_clear_error(
    history: list[float], horizon: int, coverage: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        forecast(history, horizon, coverage=coverage)


def test_short_history_gives_its_median_with_unknown_bounds() -> None:
    points = forecast([3.0, 9.0, 4.0, math.nan], horizon=2)
    assert [p.value for p in points] == [4.0, 4.0]
    assert all(p.lower == -math.inf and p.upper == math.inf for p in points)


def test_no_season_when_period_is_below_two() -> None:
    points = forecast([5.0 + 0.1 * (i % 2) for i in range(60)], horizon=3, period=1)
    assert all(abs(p.value - 5.05) < 0.2 and p.width < 1.0 for p in points)


def test_pickle_round_trip_keeps_forecasts() -> None:
    model = SeasonalForecaster(period=PERIOD, max_horizon=4)
    y = seasonal_series(5, days=4)
    for v in y[:-10]:
        model.learn_one(float(v))
    copy = pickle.loads(pickle.dumps(model))
    for v in y[-10:]:
        model.learn_one(float(v))
        copy.learn_one(float(v))
    assert model.forecast(4) == copy.forecast(4)
    assert isinstance(model.forecast(1)[0], ForecastPoint)


def test_score_series_against_a_hand_made_naive() -> None:
    # A series that is its own seasonal-naive forecast plus a drift: naive errs by the
    # daily drift, our trend-free model by more at first, then by the level it tracks.
    y = [float(h % PERIOD) for h in range(5 * PERIOD)]
    m = score_series({"a": y}, period=PERIOD, horizon=2, train_points=3 * PERIOD, coverage=0.9)
    assert m["mae_seasonal_naive"] == 0.0 and m["targets"] == 2 * PERIOD * 2 - 1
    assert math.isnan(m["mase"])  # 0 / 0 is not a figure


def test_evaluate_forecast_command_prints_one_json_document() -> None:
    result = CliRunner().invoke(
        forecast_command,
        [
            *("--seed", "3", "--days", "4", "--train-days", "3", "--providers", "2"),
            *("--workloads", "3", "--horizon", "2", "--json"),
        ],
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    for kind in ("utilisation", "spend"):
        row = figures[kind]
        assert row["targets"] > 0 and 0.0 <= row["coverage"] <= 1.0
        assert row["mase"] is None or row["mase"] > 0.0
    assert figures["parameters"]["seed"] == 3


def test_evaluate_forecast_rejects_too_short_runs() -> None:
    result = CliRunner().invoke(forecast_command, ["--days", "3", "--train-days", "3"])
    assert result.exit_code != 0 and "--days must exceed" in result.output


def test_evaluate_forecasts_is_deterministic() -> None:
    kwargs = {"days": 4.0, "providers": 2, "workloads": 2, "horizon": 2}
    assert evaluate_forecasts(1, **kwargs) == evaluate_forecasts(1, **kwargs)  # type: ignore[arg-type]
