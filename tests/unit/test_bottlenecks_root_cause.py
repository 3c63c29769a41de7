"""Bottleneck classes (models/bottlenecks.py), root-cause scope (models/root_cause.py) and
the engine that ties them with leaderboards and roll-ups (models/analysis.py)."""

from __future__ import annotations

import math

import pytest

from models.analysis import AnalysisEngine, WindowAnalysis, WorkloadMeta
from models.bottlenecks import classify_bottleneck, is_problem, window_medians
from models.leaderboard import CohortLeaderboard
from models.root_cause import ProviderBaselines, WorkloadState, attribute_scope
from models.windows import WindowAccumulator
from schemas import BottleneckKind, EntityType, Insight, RootCauseScope, WorkloadType

T0 = 1_793_491_200_000
K = BottleneckKind


def _acc(n: int = 12, **values: float) -> WindowAccumulator:
    acc = WindowAccumulator()
    for _ in range(n):
        acc.add(values)
    return acc


HEALTHY = {"gpu_util_pct": 93.0, "cpu_util_pct": 40.0, "mem_bw_util_pct": 55.0, "io_wait_pct": 2.0}


@pytest.mark.parametrize(
    ("workload", "provider", "expected"),
    [
        (HEALTHY, None, K.GPU_BOUND),
        (HEALTHY, {"gpu_temp_c": 91.0}, K.THERMAL_THROTTLING),
        (HEALTHY, {"gpu_temp_c": 70.0}, K.GPU_BOUND),
        ({**HEALTHY, "cpu_util_pct": 97.0, "gpu_util_pct": 45.0}, None, K.CPU_STARVED),
        # A busy CPU with a busy GPU is not starvation.
        ({**HEALTHY, "cpu_util_pct": 97.0}, None, K.GPU_BOUND),
        ({**HEALTHY, "io_wait_pct": 35.0, "gpu_util_pct": 60.0}, None, K.NETWORK_IO_BOUND),
        ({**HEALTHY, "mem_bw_util_pct": 93.0}, None, K.MEMORY_BOUND),
        ({**HEALTHY, "gpu_util_pct": 30.0, "cpu_util_pct": 20.0}, None, K.UNDER_UTILISED),
        # Optional host metrics missing: only the GPU utilisation rules apply.
        ({"gpu_util_pct": 95.0}, None, K.GPU_BOUND),
        ({"gpu_util_pct": 50.0}, None, K.UNDER_UTILISED),
    ],
)
def test_classification_table(
    workload: dict[str, float], provider: dict[str, float] | None, expected: BottleneckKind
) -> None:
    d = classify_bottleneck(window_medians(_acc(**workload)), provider)
    assert d is not None and d.kind is expected
    assert 0.5 <= d.confidence <= 1.0
    assert d.evidence["gpu_util_pct_p50"] == pytest.approx(workload["gpu_util_pct"], rel=0.01)


def test_no_gpu_utilisation_no_diagnosis() -> None:
    assert classify_bottleneck({"cpu_util_pct": 99.0}) is None
    assert classify_bottleneck({"gpu_util_pct": math.nan}) is None


def test_confidence_grows_with_the_margin() -> None:
    near = classify_bottleneck({**HEALTHY, "io_wait_pct": 21.0})
    far = classify_bottleneck({**HEALTHY, "io_wait_pct": 45.0})
    assert near is not None and far is not None
    assert near.confidence < far.confidence == 1.0


def test_problem_depends_on_workload_type() -> None:
    assert not is_problem(K.GPU_BOUND, WorkloadType.INFERENCE)
    assert is_problem(K.UNDER_UTILISED, WorkloadType.RENDERING)
    assert is_problem(K.MEMORY_BOUND, WorkloadType.INFERENCE)


def _states(spec: list[tuple[str, str, str, BottleneckKind, bool]]) -> list[WorkloadState]:
    return [WorkloadState(*row) for row in spec]


REGIONS = {"p1": "eu", "p2": "eu", "p3": "eu", "p4": "us", "p5": "us"}


def test_regional_incident_is_one_region_finding() -> None:
    ws = _states(
        [
            (f"w{p}{i}", p, "eu", K.NETWORK_IO_BOUND, True)
            for p in ("p1", "p2", "p3")
            for i in (1, 2)
        ]
        + [("w41", "p4", "us", K.GPU_BOUND, False)]
    )
    found = attribute_scope(ws, {}, REGIONS)
    assert [(f.scope, f.entity_id) for f in found] == [(RootCauseScope.REGION, "eu")]
    assert len(found[0].workloads) == 6 and found[0].providers == ("p1", "p2", "p3")


def test_one_provider_of_a_region_is_the_provider() -> None:
    ws = _states(
        [
            ("w1", "p1", "eu", K.THERMAL_THROTTLING, True),
            ("w2", "p1", "eu", K.THERMAL_THROTTLING, True),
            ("w3", "p2", "eu", K.GPU_BOUND, False),
            ("w4", "p3", "eu", K.GPU_BOUND, False),
        ]
    )
    found = attribute_scope(ws, {}, REGIONS)
    assert [(f.scope, f.entity_id) for f in found] == [(RootCauseScope.PROVIDER, "p1")]


def test_lone_workload_is_its_own_cause_unless_the_provider_shows_it() -> None:
    ws = _states(
        [("w1", "p4", "us", K.NETWORK_IO_BOUND, True), ("w2", "p4", "us", K.GPU_BOUND, False)]
    )
    assert [(f.scope, f.entity_id) for f in attribute_scope(ws, {}, REGIONS)] == [
        (RootCauseScope.WORKLOAD, "w1")
    ]
    found = attribute_scope(ws, {"p4": {K.NETWORK_IO_BOUND}}, REGIONS)
    assert [(f.scope, f.entity_id) for f in found] == [(RootCauseScope.PROVIDER, "p4")]
    assert found[0].workloads == ("w1",)


def test_healthy_fleet_has_no_findings() -> None:
    ws = _states(
        [("w1", "p1", "eu", K.GPU_BOUND, False), ("w2", "p2", "eu", K.UNDER_UTILISED, False)]
    )
    assert attribute_scope(ws, {}, REGIONS) == []
    assert attribute_scope([], {}, {}) == []


def test_baselines_do_not_learn_from_incidents() -> None:
    b = ProviderBaselines()
    for _ in range(5):
        assert b.signals("p", {"net_rtt_ms": 10.0}) == set()
    for _ in range(20):  # a long incident stays an incident
        assert b.signals("p", {"net_rtt_ms": 40.0}) == {K.NETWORK_IO_BOUND}
    assert b.signals("p", {"net_rtt_ms": 12.0}) == set()


def _fleet_window(
    engine: AnalysisEngine, start: int, throughput_of: dict[str, float]
) -> WindowAnalysis:
    workloads = {}
    for i, (pid, thr) in enumerate(sorted(throughput_of.items())):
        workloads[f"w{i}"] = (
            WorkloadMeta(pid, "t1", "training"),
            _acc(n=60, **HEALTHY, throughput=thr, cost_accrued_usd=0.001, errors=0.0),
        )
    return engine.analyse_window(start, {}, workloads)


def test_engine_demotes_a_provider_that_loses_throughput() -> None:
    engine = AnalysisEngine(leaderboard=CohortLeaderboard(horizon=5, min_samples=3))
    levels = {"p1": 100.0, "p2": 95.0, "p3": 90.0, "p4": 92.0}
    for p in levels:
        engine.set_provider(p, region="eu", gpu_model="A100")
    for minute in range(5):
        _fleet_window(engine, T0 + minute * 60_000, levels)
    board = engine.leaderboard.standings("A100/training")
    assert board[0].provider_id == "p1" and not any(s.underperformer for s in board)
    changed: list[str] = []
    engine_insights: list[Insight] = []
    for minute in range(5, 10):
        out = _fleet_window(engine, T0 + minute * 60_000, {**levels, "p1": 30.0})
        changed += list(out.changed_boards)
        engine_insights += out.insights
    board = engine.leaderboard.standings("A100/training")
    assert board[-1].provider_id == "p1" and board[-1].underperformer
    assert changed  # the new board was emitted
    demotions = [i for i in engine_insights if i.kind == "leaderboard_demotion"]
    assert [(i.entity_id, i.evidence["cohort"]) for i in demotions] == [("p1", "A100/training")]
    assert demotions[0].evidence["rank"] == 4.0 and demotions[0].evidence["robust_z"] <= -3.0
    assert all(s.reliability == 1.0 for s in board)


def test_engine_rolls_up_and_evicts() -> None:
    engine = AnalysisEngine()
    engine.set_provider("p1", region="eu", gpu_model="A100")
    closed = []
    for minute in range(60):
        out = engine.analyse_window(
            T0 + minute * 60_000,
            {"p1": _acc(n=60, gpu_temp_c=70.0, net_rtt_ms=5.0)},
            {"w1": (WorkloadMeta("p1", "t1", "inference"), _acc(n=60, **HEALTHY))},
        )
        closed += out.closed_rollups
    hours = {r.series for r in closed if r.size_ms == 3_600_000}
    assert hours == {
        "workload:w1",
        "tenant:t1",
        "cohort:A100/inference",
        "provider:p1",
        "provider_cohort:p1/inference",
    }
    assert all(r.acc.count == 3600 for r in closed if r.size_ms == 3_600_000)
    assert engine.rollups.open_windows() == 0


def test_engine_insights_are_region_scoped_for_a_regional_incident() -> None:
    engine = AnalysisEngine()
    for p in ("p1", "p2", "p3"):
        engine.set_provider(p, region="eu", gpu_model="A100")
    slow = {**HEALTHY, "io_wait_pct": 35.0}
    workloads = {
        f"w{p}{i}": (WorkloadMeta(p, "t", "training"), _acc(**slow))
        for p in ("p1", "p2", "p3")
        for i in range(2)
    }
    out = engine.analyse_window(T0, {}, workloads)
    assert [(i.entity_type, i.entity_id, i.kind) for i in out.insights] == [
        (EntityType.REGION, "eu", "network_io_bound")
    ]
    assert out.insights[0].ts_ms == T0 + 60_000
    # The incident goes on: found again, but reported once.
    again = engine.analyse_window(T0 + 60_000, {}, workloads)
    assert len(again.findings) == 1 and again.insights == []
    healthy = {k: (m, _acc(**HEALTHY)) for k, (m, _) in workloads.items()}
    assert engine.analyse_window(T0 + 120_000, {}, healthy).findings == []
    assert len(engine.analyse_window(T0 + 180_000, {}, workloads).insights) == 1
