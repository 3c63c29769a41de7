"""Unit tests of the pieces behind the detectors: oracle, edge-case table, properties."""

from __future__ import annotations

import math
from collections import deque
from statistics import NormalDist

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.detectors import (
    Cohort,
    EnsembleDetector,
    ForecastResidualDetector,
    HalfSpaceTreesDetector,
    PeerGroupDetector,
    QuantileCalibrator,
    RangeScaler,
    RobustBaselineDetector,
    Score,
    evaluate,
    robust_location_scale,
    squash,
    window_features,
)
from models.detectors.synthetic import LabelledPoint, synthetic_stream
from schemas import Anomaly, MetricStats, MetricWindow

FAST = settings(max_examples=40, deadline=None, database=None)
T0 = 1_700_000_000_000
STEP = 60_000


# ----------------------------------------------------------------------------- squash


@FAST
@given(st.floats(0, 1e6), st.floats(0, 1e6), st.floats(0.1, 50))
def test_squash_is_monotone_and_bounded(a: float, b: float, z_half: float) -> None:
    lo, hi = sorted((a, b))
    assert 0.0 <= squash(lo, z_half) <= squash(hi, z_half) <= 1.0


@pytest.mark.parametrize(("z", "expected"), [(0.0, 0.0), (-1.0, 0.0), (4.0, 0.5), (math.inf, 1.0)])
def test_squash_table(z: float, expected: float) -> None:
    assert squash(z, 4.0) == expected


# ----------------------------------------------------------------------------- Score


def test_score_validates_and_converts() -> None:
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        Score(-0.1, warm=True)
    s = Score(0.8, True, {"a": 0.2, "b": 0.8}, {"b": 1.0}, {"b": 9.0})
    assert s.top_feature == "b"
    assert Score(0.0, warm=False).top_feature is None
    anomaly = s.to_anomaly("provider", "prov-1", T0, "robust")
    assert isinstance(anomaly, Anomaly)
    assert anomaly.contributing_features == {"a": 0.2, "b": 0.8}
    assert anomaly.expected == {"b": 1.0} and anomaly.observed == {"b": 9.0}


# ----------------------------------------------------------------------------- robust


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([3.0], (3.0, 0.03)),  # one sample: the relative floor
        ([0.0], (0.0, 1e-9)),  # one zero: the absolute floor
        ([2.0, 2.0, 2.0, 2.0], (2.0, 0.02)),
        ([0.0, 0.0, 0.0, 8.0], (0.0, 2.0 * 1.2533)),  # MAD 0: mean absolute deviation
        ([1.0, 2.0, 3.0], (2.0, 1.4826)),
    ],
)
def test_robust_location_scale_table(values: list[float], expected: tuple[float, float]) -> None:
    median, scale = robust_location_scale(values)
    assert median == expected[0]
    assert scale == pytest.approx(expected[1])


def test_robust_baseline_matches_numpy_oracle() -> None:
    rng = np.random.default_rng(5)
    det = RobustBaselineDetector(window_size=10, warmup=3, tail=0.1)
    window: deque[float] = deque(maxlen=10)
    for i in range(60):
        v = float(rng.standard_t(3))
        s = det.score_one({"v": v}, T0 + i)
        if len(window) >= 3:
            arr = np.array(window)
            med = float(np.median(arr))
            scale = 1.4826 * float(np.median(np.abs(arr - med)))
            low, high = np.quantile(arr, [0.1, 0.9])
            scale = max(scale, max(high - med, med - low) / 1.2815515655446004)
            scale = max(scale, 0.01 * abs(med), 1e-9)
            assert s is not None and s.warm
            assert s.expected["v"] == pytest.approx(med)
            assert s.value == pytest.approx(squash(abs(v - med) / scale, 4.0))
        else:
            assert s is not None and not s.warm
        det.learn_one({"v": v}, T0 + i)
        window.append(v)


def test_robust_min_abs_scale_per_feature() -> None:
    det = RobustBaselineDetector(window_size=10, warmup=3, min_abs_scale={"errors": 1.0})
    for i in range(10):
        det.learn_one({"errors": 0.01 * (i % 3), "other": 0.01 * (i % 3)}, i)
    s = det.score_one({"errors": 1.01, "other": 1.01}, 10)
    assert s is not None
    assert s.contributions["errors"] == pytest.approx(squash(1.0, 4.0))
    assert s.contributions["other"] > 0.99


def test_robust_sparse_counter_is_scored_by_its_exceedance_rate() -> None:
    # An error counter at 0 in 95 of 96 windows: one more error is a 2-in-97 event, not
    # the infinite z-score of a zero spread; a busier window is no rarer than "the rarest".
    det = RobustBaselineDetector(window_size=96, warmup=8)
    for i in range(96):
        det.learn_one({"errors": 1.0 if i == 40 else 0.0}, i)
    one, many = det.score_one({"errors": 1.0}, 96), det.score_one({"errors": 9.0}, 96)
    assert one is not None and many is not None
    assert one.value == pytest.approx(squash(NormalDist().inv_cdf(1 - 2 / 97), 4.0))
    assert one.value < many.value < 0.25


def test_robust_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="warmup"):
        RobustBaselineDetector(window_size=5, warmup=6)


# ----------------------------------------------------------------------------- scaler / HST


def test_range_scaler_table() -> None:
    sc = RangeScaler(margin=0.1)
    assert sc.transform_one({"a": 1.0}) == {}  # nothing learned yet
    sc.learn_one({"a": 0.0, "c": 5.0})
    sc.learn_one({"a": 10.0, "c": 5.0, "b": float("nan")})
    out = sc.transform_one({"a": 0.0, "b": 1.0, "c": 5.0})
    assert out["a"] == pytest.approx(1 / 12)  # 10 % margin each side of [0, 10]
    assert "b" not in out  # never learned a finite value
    assert 0.0 < out["c"] < 1.0  # constant feature: still inside the cube
    assert sc.transform_one({"a": 1e9, "c": -1e9}) == {"a": 1.0, "c": 0.0}
    assert sc.mean("a") == 5.0


def test_hst_scoring_does_not_widen_the_range() -> None:
    det = HalfSpaceTreesDetector(window_size=10, n_trees=3, height=3, seed=1)
    for i in range(10):
        det.learn_one({"a": float(i % 3)}, i)
    before = (dict(det.scaler.low), dict(det.scaler.high))
    det.score_one({"a": 500.0}, 11)
    assert (det.scaler.low, det.scaler.high) == before


def test_hst_outlier_scores_higher_than_inlier_and_seed_matters() -> None:
    rng = np.random.default_rng(2)
    points = [{"a": float(rng.normal(0, 1)), "b": float(rng.normal(0, 1))} for _ in range(100)]
    scores = {}
    for seed in (1, 2):
        det = HalfSpaceTreesDetector(window_size=50, seed=seed)
        for i, x in enumerate(points):
            det.learn_one(x, i)
        inlier = det.score_one({"a": 0.0, "b": 0.0}, 100)
        outlier = det.score_one({"a": 2.5, "b": -2.5}, 100)
        assert inlier is not None and outlier is not None
        assert outlier.value > inlier.value
        scores[seed] = inlier.value
    assert scores[1] != scores[2]


# ----------------------------------------------------------------------------- forecast


def seasonal(i: int, period: int = 12) -> float:
    return 100.0 + 10.0 * math.sin(2 * math.pi * i / period)


def test_forecast_learns_the_season_from_the_first_one() -> None:
    # River initialises additive seasonal indices as ratios; we correct them, so a
    # noiseless seasonal series is forecast almost exactly right after one season.
    det = ForecastResidualDetector(period_ms=12 * STEP, step_ms=STEP, min_residuals=4)
    for i in range(12 + 4):
        det.learn_one({"y": seasonal(i)}, T0 + i * STEP)
    s = det.score_one({"y": seasonal(16)}, T0 + 16 * STEP)
    assert s is not None and s.warm
    assert s.expected["y"] == pytest.approx(seasonal(16), abs=0.5)


def test_forecast_infers_the_step_and_bridges_gaps() -> None:
    det = ForecastResidualDetector(period_ms=12 * STEP, min_residuals=4)
    rng = np.random.default_rng(0)
    learned = [i for i in range(60) if not 40 <= i < 45]  # five windows never learned
    for i in learned:
        det.learn_one({"y": seasonal(i) + float(rng.normal(0, 0.3))}, T0 + i * STEP)
    assert det.step_ms == STEP
    # The seasonal phase survived the gap: the typical value is expected, a jump is not.
    typical = det.score_one({"y": seasonal(60)}, T0 + 60 * STEP)
    jump = det.score_one({"y": seasonal(60) + 15.0}, T0 + 60 * STEP)
    assert typical is not None and jump is not None
    assert typical.value < 0.3 < 0.9 < jump.value
    assert typical.expected["y"] == pytest.approx(seasonal(60), abs=1.0)


def test_forecast_ignores_out_of_order_points() -> None:
    det = ForecastResidualDetector(period_ms=4 * STEP, step_ms=STEP, min_residuals=2)
    for i in range(10):
        det.learn_one({"y": float(i % 4)}, T0 + i * STEP)
    before = det.score_one({"y": 1.0}, T0 + 10 * STEP)
    det.learn_one({"y": 1e6}, T0 + 3 * STEP)  # late: ignored
    assert det.score_one({"y": 1.0}, T0 + 10 * STEP) == before


def test_forecast_without_usable_season() -> None:
    # A period of one point is no season: plain Holt (level + trend) still works.
    det = ForecastResidualDetector(period_ms=STEP, step_ms=STEP, min_residuals=4)
    for i in range(20):
        det.learn_one({"y": 5.0 + 0.1 * (i % 2)}, T0 + i * STEP)
    s = det.score_one({"y": 50.0}, T0 + 20 * STEP)
    assert s is not None and s.warm and s.value > 0.99


# ----------------------------------------------------------------------------- peer group


def test_peer_cold_start_and_stale_peers() -> None:
    cohort = Cohort(max_age_ms=60_000)
    det = PeerGroupDetector("new", cohort, min_peers=3)
    assert det.score_one({"t": 60.0}, T0) == Score(0.0, warm=False)
    for i, t in enumerate((60.0, 61.0, 62.0)):
        PeerGroupDetector(f"p{i}", cohort).learn_one({"t": t}, T0)
    fresh = det.score_one({"t": 90.0}, T0 + 30_000)
    assert fresh is not None and fresh.warm and fresh.value > 0.99
    assert fresh.expected == {"t": 61.0}
    stale = det.score_one({"t": 90.0}, T0 + 61_000)
    assert stale is not None and not stale.warm


def test_peer_excludes_itself_and_keeps_latest() -> None:
    cohort = Cohort()
    for i in range(3):
        cohort.update(f"p{i}", {"t": 10.0}, T0)
    me = PeerGroupDetector("me", cohort)
    me.learn_one({"t": 1000.0}, T0)
    cohort.update("p0", {"t": 999.0}, T0 - 1)  # older than what p0 reported: ignored
    s = me.score_one({"t": 10.0}, T0)
    assert s is not None and s.expected == {"t": 10.0} and s.value == 0.0
    with pytest.raises(ValueError, match="min_peers"):
        PeerGroupDetector("x", min_peers=1)


# ----------------------------------------------------------------------------- calibration


def test_calibrator_readiness_and_order() -> None:
    cal = QuantileCalibrator(min_history=3)
    assert cal.calibrate(0.5) == 0.0
    for raw in (0.01, 0.02, 0.03):
        assert not cal.ready
        cal.update(raw)
    assert cal.ready
    values = [cal.calibrate(r) for r in (0.0, 0.02, 0.3, 0.9, 0.999, 1.0)]
    assert values == sorted(values)
    assert values[1] == 0.0 and values[-1] > 0.99


# ----------------------------------------------------------------------------- ensemble


def test_ensemble_does_not_learn_anomalous_points() -> None:
    robust = RobustBaselineDetector(window_size=30, warmup=5)
    det = EnsembleDetector([robust], min_history=5, shift_windows=3)
    rng = np.random.default_rng(1)
    for i in range(30):
        det.learn_one({"a": 10 + float(rng.normal(0, 0.1))}, T0 + i * STEP)
    member = det.members[0]
    assert isinstance(member, RobustBaselineDetector)
    before = list(member._values["a"])
    det.learn_one({"a": 50.0}, T0 + 30 * STEP)
    assert list(member._values["a"]) == before
    assert det.in_shift == 1
    det.learn_one({"a": 10.0}, T0 + 31 * STEP)
    assert det.in_shift == 0


def test_ensemble_rebaselines_after_a_persistent_shift() -> None:
    det = EnsembleDetector(
        [RobustBaselineDetector(window_size=30, warmup=3)],
        min_history=5,
        shift_windows=4,
        confirm_windows=2,
    )
    rng = np.random.default_rng(1)
    for i in range(30):
        det.learn_one({"a": 10 + float(rng.normal(0, 0.1))}, T0 + i * STEP)
    values = []
    for i in range(30, 40):
        x = {"a": 20 + float(rng.normal(0, 0.1))}
        s = det.score_one(x, T0 + i * STEP)
        assert s is not None
        values.append(s.value)
        det.learn_one(x, T0 + i * STEP)
    # Persistence: the first shifted window alone is not yet an incident.
    assert values[0] < 0.9
    assert all(v >= 0.9 for v in values[1:4])
    assert all(v < 0.9 for v in values[4:])
    assert det.rebaselines == 1


def _warm_robust_ensemble(**kwargs: int) -> EnsembleDetector:
    det = EnsembleDetector(
        [RobustBaselineDetector(window_size=30, warmup=5)], min_history=5, **kwargs
    )
    rng = np.random.default_rng(1)
    for i in range(30):
        det.learn_one({"a": 10 + float(rng.normal(0, 0.1))}, T0 + i * STEP)
    return det


def test_ensemble_one_odd_window_does_not_alarm_and_is_learned_late() -> None:
    det = _warm_robust_ensemble(shift_windows=3, confirm_windows=2)
    member = det.members[0]
    assert isinstance(member, RobustBaselineDetector)
    spike = det.score_one({"a": 50.0}, T0 + 30 * STEP)
    det.learn_one({"a": 50.0}, T0 + 30 * STEP)
    assert spike is not None and spike.warm and spike.value < 0.5
    assert 50.0 not in member._values["a"]  # held back until the next window
    det.learn_one({"a": 10.0}, T0 + 31 * STEP)
    assert list(member._values["a"])[-2:] == [50.0, 10.0]  # a one-off: learned, in order


def test_ensemble_two_anomalous_windows_alarm_and_are_never_learned() -> None:
    det = _warm_robust_ensemble(shift_windows=5, confirm_windows=2)
    member = det.members[0]
    assert isinstance(member, RobustBaselineDetector)
    before = list(member._values["a"])
    scores = []
    for i, v in enumerate([50.0, 51.0, 10.0]):
        scores.append(det.score_one({"a": v}, T0 + (30 + i) * STEP))
        det.learn_one({"a": v}, T0 + (30 + i) * STEP)
    assert [s is not None and s.value >= 0.9 for s in scores] == [False, True, False]
    assert list(member._values["a"]) == [*before[1:], 10.0]


def test_ensemble_needs_agreement_of_two_members() -> None:
    # The second member is deaf (z of 1,000 for 0.5): the first alone cannot alarm.
    def ensemble(agreement: int) -> EnsembleDetector:
        members = [
            RobustBaselineDetector(warmup=5),
            RobustBaselineDetector(warmup=5, z_half=1000.0),
        ]
        det = EnsembleDetector(members, min_history=5, confirm_windows=1, agreement=agreement)
        rng = np.random.default_rng(2)
        for i in range(30):
            det.learn_one({"a": 10 + float(rng.normal(0, 0.1))}, T0 + i * STEP)
        return det

    alone, together = ensemble(1), ensemble(2)
    s1 = alone.score_one({"a": 50.0}, T0 + 30 * STEP)
    s2 = together.score_one({"a": 50.0}, T0 + 30 * STEP)
    assert s1 is not None and s2 is not None
    assert s1.value > 0.9 > s2.value
    assert s2.top_feature == "a"  # still explained by the strongest member


def test_ensemble_explains_with_the_strongest_member() -> None:
    det = EnsembleDetector(seed=0)
    points = synthetic_stream(0, 24 * 4)
    for p in points:
        det.learn_one(p.x, p.ts_ms)
    x = dict(points[-1].x, rtt_ms=60.0)
    s = det.score_one(x, points[-1].ts_ms + 3_600_000)
    assert s is not None and s.warm and s.value > 0.9
    assert s.top_feature == "rtt_ms"
    assert s.observed["rtt_ms"] == 60.0
    assert abs(s.expected["rtt_ms"] - 20.0) < 2.0


def test_ensemble_rejects_bad_configuration() -> None:
    with pytest.raises(ValueError, match="shift_windows"):
        EnsembleDetector(shift_windows=0)
    with pytest.raises(ValueError, match="confirm_windows"):
        EnsembleDetector(confirm_windows=0)
    with pytest.raises(ValueError, match="agreement"):
        EnsembleDetector(agreement=0)
    with pytest.raises(ValueError, match="one flag per member"):
        EnsembleDetector(precalibrated=[True])


# ----------------------------------------------------------------------------- evaluation


class Scripted:
    """A detector replaying fixed scores (None: cold)."""

    def __init__(self, values: list[float | None]) -> None:
        self.values = values
        self.i = 0

    def score_one(self, x: object, ts_ms: int) -> Score:
        v = self.values[self.i]
        return Score(0.0, False) if v is None else Score(v, True)

    def learn_one(self, x: object, ts_ms: int) -> None:
        self.i += 1


def test_evaluate_counts() -> None:
    labels = [False, False, True, True, True, False, False, True, False, False]
    scores = [None, 0.1, 0.2, 0.2, 0.95, 0.95, 0.1, 0.99, 0.1, 0.95]
    points = [LabelledPoint(i, T0 + i, {"a": 1.0}, lab) for i, lab in enumerate(labels)]
    q = evaluate(Scripted(scores), points, threshold=0.9, max_delay=2, grace=1)
    # Incident at 2 alarmed at 4 (too late); incident at 7 at once; the alarm at 5 is
    # within grace of the first; the one at 9 is false.
    assert (q.incidents, q.detected, q.alarms, q.false_alarms, q.unknown) == (2, 1, 4, 1, 1)
    assert q.recall == 0.5 and q.precision == 0.75


# ----------------------------------------------------------------------------- features


def test_window_features_skip_missing() -> None:
    stats = MetricStats(count=2, mean=1.0, min=0.0, max=2.0, p50=1.0, p95=2.0, p99=2.0)
    w = MetricWindow(
        entity_type="provider",
        entity_id="p",
        window_start_ms=T0,
        window_end_ms=T0 + STEP,
        count=2,
        metrics={"b": stats, "a": stats},
        availability=1.0,
    )
    assert window_features(w, stats=("p99",)) == {"a.p99": 2.0, "b.p99": 2.0, "availability": 1.0}


def test_synthetic_stream_is_deterministic() -> None:
    assert synthetic_stream(3, 30) == synthetic_stream(3, 30)
    assert synthetic_stream(3, 30) != synthetic_stream(4, 30)


def test_ensemble_keeps_a_peer_cohort_shared() -> None:
    cohort = Cohort()
    det = EnsembleDetector([PeerGroupDetector("me", cohort)], min_history=3)
    for i in range(5):
        for p in range(3):
            cohort.update(f"peer-{p}", {"t": 60.0 + p}, T0 + i * STEP)
        det.learn_one({"t": 61.0}, T0 + i * STEP)
    assert set(cohort._latest) == {"me", "peer-0", "peer-1", "peer-2"}
    for p in range(3):  # the whole cohort heats up: "me" at 61 is now the odd one
        cohort.update(f"peer-{p}", {"t": 90.0 + p}, T0 + 5 * STEP)
    s = det.score_one({"t": 61.0}, T0 + 5 * STEP)
    assert s is not None and s.warm and s.value > 0.9
    assert s.expected == {"t": 91.0}
