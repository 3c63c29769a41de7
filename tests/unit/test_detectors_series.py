"""Detectors on real-world shapes: the failures NAB exposed, one test each, and the parts."""

from __future__ import annotations

import itertools
import math
import pickle
import random

import pytest

from models.detectors import ForecastResidualDetector
from models.detectors.likelihood import AnomalyLikelihood, normal_surprise
from models.detectors.seasonal import SeasonalResidual
from models.detectors.sequence import SequenceMemory
from models.detectors.series import SeriesDetector


def run(det: SeriesDetector, values: list[float]) -> list[float]:
    scores = []
    for t, v in enumerate(values):
        s = det.score_one({"value": v}, t)
        det.learn_one({"value": v}, t)
        scores.append(s.value if s is not None and s.warm else math.nan)
    return scores


@pytest.mark.parametrize("seasonality_points", [2, 24, 288])
def test_forecaster_survives_a_first_season_averaging_exactly_zero(
    seasonality_points: int,
) -> None:
    """River's HoltWinters divided by the first season's mean (ZeroDivisionError)."""
    det = ForecastResidualDetector(period_ms=seasonality_points * 1000, step_ms=1000)
    values = [0.0] * seasonality_points + [0.0, 0.0, 5.0] * 40
    for t, v in enumerate(values):
        det.score_one({"disk": v}, t * 1000)
        det.learn_one({"disk": v}, t * 1000)
    score = det.score_one({"disk": 0.0}, len(values) * 1000)
    assert score is not None and 0.0 <= score.value <= 1.0


def test_series_detector_survives_all_zero_and_flat_stretches() -> None:
    values = [0.0] * 600 + [3.0, 0.0, 0.0] * 100 + [7.0] * 300
    scores = run(SeriesDetector(), values)
    warm = [s for s in scores if not math.isnan(s)]
    assert len(warm) > 1000 and all(0.0 <= s < 1.0 for s in warm)


def test_clean_sine_stays_below_the_alarm_threshold_after_warm_up() -> None:
    values = [math.sin(2 * math.pi * t / 96) for t in range(4000)]
    det = SeriesDetector()
    scores = run(det, values)
    assert max(scores[300:]) < det.threshold


def test_spike_in_noisy_seasonal_series_ranks_in_the_top_percent() -> None:
    rng = random.Random(5)
    values = [10 * math.sin(2 * math.pi * t / 144) + rng.gauss(0, 1) for t in range(3000)]
    values[2500] += 25
    det = SeriesDetector()
    scores = run(det, values)
    above = sum(s >= scores[2500] for s in scores[300:])
    assert above <= 27, (scores[2500], above)


def test_one_anomaly_raises_one_alarm_not_a_flood() -> None:
    values = [float(t % 10) for t in range(3000)]
    for t in range(2000, 2030):  # 30 broken points
        values[t] = 5.0
    det = SeriesDetector()
    scores = run(det, values)
    alarms = [t for t, s in enumerate(scores) if s >= det.threshold]
    assert alarms and alarms[0] >= 2000
    assert len(alarms) <= 5


def test_scores_do_not_saturate() -> None:
    values = [1.0] * 500 + [1e9]
    scores = run(SeriesDetector(), values)
    assert 0.9 < scores[-1] < 1.0


def test_pickle_round_trip_gives_the_same_scores() -> None:
    values = [math.sin(t / 7) + (t % 13) / 10 for t in range(800)]
    det = SeriesDetector()
    run(det, values[:400])
    twin = pickle.loads(pickle.dumps(det))
    assert run(det, values[400:]) == run(twin, values[400:])


def test_normal_surprise_is_continuous_and_increasing() -> None:
    zs = [0.5 * i for i in range(120)]
    s = [normal_surprise(z) for z in zs]
    assert all(b > a for a, b in itertools.pairwise(s))
    assert normal_surprise(29.999) == pytest.approx(normal_surprise(30.0), rel=1e-3)


def test_likelihood_reads_a_sustained_rise_of_raw_scores() -> None:
    lik = AnomalyLikelihood(learning_period=100)
    rng = random.Random(1)
    for _ in range(1000):
        lik.learn_one(rng.uniform(0.0, 0.4))
    assert lik.surprise(0.2) < 1.0
    for _ in range(9):
        lik.learn_one(0.95)
    assert lik.surprise(0.95) > 5.0


def test_sequence_memory_bounds_its_contexts() -> None:
    mem = SequenceMemory(warmup=20, max_contexts=50)
    rng = random.Random(2)
    for _ in range(2000):
        mem.learn_one(rng.uniform(0, 100))
    assert len(mem._counts) <= 50


def _daily(t: int, rng: random.Random) -> float:
    """A 5-minute series with a daily shape: 288 points a day."""
    return 10.0 + 5.0 * math.sin(2 * math.pi * (t % 288) / 288) + rng.gauss(0, 0.3)


def run_timed(det: SeriesDetector, values: list[float], stamps: list[int]) -> list[float]:
    scores = []
    for ts, v in zip(stamps, values, strict=True):
        s = det.score_one({"value": v}, ts)
        det.learn_one({"value": v}, ts)
        scores.append(s.value if s is not None and s.warm else math.nan)
    return scores


def test_a_daily_shape_that_breaks_inside_the_normal_range_alarms() -> None:
    """A day whose peak stays at the daily mean: no value is unusual, its time of day is.

    The seasonal residual alarms before the detector without it does."""
    rng = random.Random(3)
    step = 300_000
    n = 288 * 8
    values = [_daily(t, rng) for t in range(n)]
    broken = range(288 * 7 + 40, 288 * 7 + 110)  # around the peak at slot 72
    for t in broken:
        values[t] = 10.0 + rng.gauss(0, 0.3)
    stamps = [t * step for t in range(n)]
    det = SeriesDetector()
    scores = run_timed(det, values, stamps)
    assert max(scores[288 * 3 : broken[0]]) < det.threshold
    assert max(scores[broken[0] : broken[-1]]) >= det.threshold
    first = next(t for t in broken if scores[t] >= det.threshold)
    plain = run_timed(SeriesDetector(seasonal=False), values, stamps)
    assert all(plain[t] < det.threshold for t in broken[: first - broken[0] + 1])


def test_seasonal_residual_scores_repeated_and_backward_timestamps() -> None:
    rng = random.Random(4)
    step = 300_000
    stamps = [t * step for t in range(288 * 4)]
    stamps[500] = stamps[499]  # repeated
    stamps[700] = stamps[699] - 55 * 60_000  # a step back of 55 minutes
    values = [_daily(t, rng) for t in range(len(stamps))]
    scores = run_timed(SeriesDetector(), values, stamps)
    warm = [s for s in scores if not math.isnan(s)]
    assert len(warm) == len(values) - 30 and all(0.0 <= s < 1.0 for s in warm)


def test_seasonal_residual_reads_its_slot_width_off_the_sampling_step() -> None:
    sr = SeasonalResidual(steps=10)
    for t in range(20):
        sr.learn_one(1.0, t * 1_800_000)  # every 30 minutes
    assert sr._slot_ms == 1_800_000
    fast = SeasonalResidual(steps=10)
    for t in range(20):
        fast.learn_one(1.0, t * 1000)  # every second: slots of the 15-minute floor
    assert fast._slot_ms == 900_000


def test_a_nightly_spike_stops_alarming_once_it_recurs_and_others_still_alarm() -> None:
    """A backup's CPU spike at 03:00 every night is routine after two nights."""
    rng = random.Random(6)
    step = 300_000
    n = 288 * 10
    values = [1.0 + rng.gauss(0, 0.05) for _ in range(n)]
    nightly = [d * 288 + 36 for d in range(10)]  # 03:00
    for t in nightly:
        values[t] = 3.0
    lone = 288 * 8 + 150  # 12:30 on day 8
    values[lone] = 3.0
    stamps = [t * step for t in range(n)]
    det = SeriesDetector()
    scores = run_timed(det, values, stamps)
    assert all(scores[t] < det.threshold for t in nightly[4:])
    assert scores[lone] >= det.threshold
    plain = run_timed(SeriesDetector(recurrence_days=0), values, stamps)
    assert sum(plain[t] >= det.threshold for t in nightly[4:]) >= 3
