"""Contract every detector in ``models.detectors`` must honour (River's ``checks/common``).

Parametrized over every detector (and the ensemble, default and small): pickle round-trip
before and after learning, input not mutated, missing / new / non-finite features,
same seed same scores, ``score_one`` free of side effects, a defined warm-up, scores in
[0, 1].
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.detectors import (
    Cohort,
    Detector,
    EnsembleDetector,
    ForecastResidualDetector,
    HalfSpaceTreesDetector,
    PeerGroupDetector,
    RobustBaselineDetector,
    Score,
)
from models.detectors.series import SeriesDetector
from models.detectors.window_detector import window_detector

STEP_MS = 60_000
T0_MS = 1_700_000_000_000


def small_members(seed: int) -> list[Detector]:
    return [
        RobustBaselineDetector(window_size=20, warmup=5),
        HalfSpaceTreesDetector(n_trees=5, height=4, window_size=16, seed=seed),
        ForecastResidualDetector(
            period_ms=8 * STEP_MS, step_ms=STEP_MS, residual_window=16, min_residuals=4
        ),
    ]


def seeded_cohort() -> Cohort:
    cohort = Cohort(max_age_ms=10**12)
    for i, shift in enumerate((-0.5, 0.0, 0.3, 0.6)):
        cohort.update(f"peer-{i}", {"a": 10 + shift, "b": 5 + shift, "c": shift}, T0_MS)
    return cohort


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[int], Detector]
    #: Points learned before the first warm score.
    warmup: int


CASES = [
    Case("robust", lambda seed: RobustBaselineDetector(window_size=20, warmup=5), 5),
    Case(
        "hst",
        lambda seed: HalfSpaceTreesDetector(n_trees=5, height=4, window_size=16, seed=seed),
        16,
    ),
    Case(
        "forecast",
        lambda seed: ForecastResidualDetector(
            period_ms=8 * STEP_MS, step_ms=STEP_MS, residual_window=16, min_residuals=4
        ),
        8 + 4,
    ),
    Case(
        "forecast-inferred-step",
        lambda seed: ForecastResidualDetector(
            period_ms=8 * STEP_MS, residual_window=16, min_residuals=4
        ),
        8 + 4,
    ),
    Case("peer", lambda seed: PeerGroupDetector("me", seeded_cohort()), 0),
    Case(
        "ensemble-small",
        lambda seed: EnsembleDetector(small_members(seed), min_history=5, seed=seed),
        5 + 5,
    ),
    # Robust warm-up (8) plus the calibrator's minimum history (20).
    Case("ensemble-default", lambda seed: EnsembleDetector(seed=seed), 8 + 20),
    # The windowed z-score's minimum (30 points); the sequence memories warm up later.
    Case("series", lambda seed: SeriesDetector(), 30),
    # The agent's: the windowed z's minimum is 24 windows there.
    Case("window", lambda seed: window_detector(), 24),
]


def stream(n: int, seed: int = 0) -> list[tuple[dict[str, float], int]]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        x = {
            "a": 10 + float(rng.normal(0, 0.5)),
            "b": 5 + float(np.sin(i / 3)) + float(rng.normal(0, 0.2)),
            "c": float(rng.normal(0, 1)),
        }
        out.append((x, T0_MS + i * STEP_MS))
    return out


def run(det: Detector, points: list[tuple[dict[str, float], int]]) -> list[Score | None]:
    scores = []
    for x, ts in points:
        scores.append(det.score_one(x, ts))
        det.learn_one(x, ts)
    return scores


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    return request.param  # type: ignore[no-any-return]


def test_is_a_detector(case: Case) -> None:
    assert isinstance(case.make(0), Detector)


def test_pickle_round_trip_before_learning(case: Case) -> None:
    det = case.make(1)
    clone = pickle.loads(pickle.dumps(det))
    points = stream(case.warmup + 25)
    assert run(clone, points) == run(det, points)


def test_pickle_round_trip_after_learning(case: Case) -> None:
    det = case.make(1)
    points = stream(case.warmup + 40)
    half = case.warmup + 10
    run(det, points[:half])
    clone = pickle.loads(pickle.dumps(det))
    rest = run(det, points[half:])
    assert any(s is not None and s.warm for s in rest)
    assert run(clone, points[half:]) == rest


def test_input_not_mutated(case: Case) -> None:
    det = case.make(0)
    for x, ts in stream(case.warmup + 10):
        before = copy.deepcopy(x)
        frozen = MappingProxyType(x)  # any attempt to write raises TypeError
        det.score_one(frozen, ts)
        det.learn_one(frozen, ts)
        assert x == before


def test_missing_new_and_non_finite_features(case: Case) -> None:
    det = case.make(0)
    points = stream(case.warmup + 5)
    run(det, points)
    ts = points[-1][1] + STEP_MS
    for x in (
        {"a": 10.0},  # b and c missing
        {"a": 10.0, "b": 5.0, "c": 0.0, "brand_new": 3.0},
        {"brand_new": 1.0},
        {"a": float("nan"), "b": float("inf"), "c": 0.0},
        {"a": 10.0, "flag": True, "label": "x"},  # type: ignore[dict-item]
    ):
        score = det.score_one(x, ts)
        assert score is not None
        assert 0.0 <= score.value <= 1.0
        det.learn_one(x, ts)
        ts += STEP_MS
    assert det.score_one({}, ts) is None
    assert det.score_one({"a": float("nan")}, ts) is None
    det.learn_one({}, ts)


def test_same_seed_same_scores(case: Case) -> None:
    points = stream(case.warmup + 30, seed=3)
    first = run(case.make(7), points)
    assert first == run(case.make(7), points)
    assert sum(s is not None and s.warm for s in first) >= 30


def test_score_one_has_no_side_effects(case: Case) -> None:
    points = stream(case.warmup + 20)
    scored, unscored = case.make(0), case.make(0)
    for x, ts in points:
        once = scored.score_one(x, ts)
        assert scored.score_one(x, ts) == once
        scored.learn_one(x, ts)
        unscored.learn_one(x, ts)
    probe = ({"a": 13.0, "b": 4.0, "c": 2.0}, points[-1][1] + STEP_MS)
    assert scored.score_one(*probe) == unscored.score_one(*probe)


def test_defined_warm_up(case: Case) -> None:
    scores = run(case.make(0), stream(case.warmup + 15))
    warm = [s is not None and s.warm for s in scores]
    assert warm == [False] * case.warmup + [True] * 15
    # Unknown is not healthy: a cold score carries no explanation either.
    for s in scores[: case.warmup]:
        assert s is not None and not s.contributions


def test_scores_explain_themselves(case: Case) -> None:
    det = case.make(0)
    points = stream(case.warmup + 5)
    run(det, points)
    score = det.score_one({"a": 30.0, "b": 5.0, "c": 0.0}, points[-1][1] + STEP_MS)
    assert score is not None and score.warm
    assert set(score.contributions) <= {"a", "b", "c"}
    assert all(0.0 <= v <= 1.0 for v in score.contributions.values())
    assert score.observed.get("a") == 30.0
    assert set(score.expected) == set(score.observed)


finite = st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=15, deadline=None, database=None)
@given(
    values=st.lists(
        st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), finite, max_size=4),
        min_size=1,
        max_size=40,
    ),
    which=st.sampled_from([c for c in CASES if c.name != "ensemble-default"]),
)
def test_any_finite_stream_scores_in_unit_interval(
    values: list[dict[str, float]], which: Case
) -> None:
    det = which.make(0)
    for i, x in enumerate(values):
        score = det.score_one(x, T0_MS + i * STEP_MS)
        assert (score is None) == (not x)
        assert score is None or 0.0 <= score.value <= 1.0
        det.learn_one(x, T0_MS + i * STEP_MS)
