"""Recommendation records: numbers that follow from the inputs, ids, supersession, risks."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import lognorm, norm

from evaluation.placement import generate_instance
from optimizers.baselines import cheapest_first
from optimizers.migration import RunningWorkload, plan_migrations
from optimizers.placement import CpSatPlacer
from optimizers.problem import PendingWorkload, ProviderCapacity, feasible
from optimizers.recommend import (
    Estimate,
    confidence_within,
    migration_recommendations,
    placement_recommendations,
    recommendation_id,
    sla_risk,
    supersede,
    unplaced_insight,
)
from optimizers.result import Unplaced
from schemas import SLA, Recommendation, RecommendationStatus, decode, encode

NOW = 1_700_000_000_000


def _estimate_from(problem):  # type: ignore[no-untyped-def]
    index = {p.provider_id: j for j, p in enumerate(problem.providers)}
    rows = {w.workload_id: i for i, w in enumerate(problem.workloads)}
    matrix = problem.predicted_throughput

    def estimate(w: PendingWorkload, p: ProviderCapacity) -> Estimate:
        t = float(matrix[rows[w.workload_id], index[p.provider_id]])
        return Estimate(t, t / 1.2, t * 1.2)

    return estimate


def test_placement_records_follow_from_the_solution() -> None:
    problem = generate_instance(providers=60, pending=20, seed=4)
    result = CpSatPlacer(time_limit_s=1.0, seed=0).solve(problem)
    baseline = cheapest_first(problem).assignments
    estimate = _estimate_from(problem)
    recs = placement_recommendations(
        problem, result.assignments, baseline, estimate, now_ms=NOW, ttl_ms=900_000
    )
    assert {r.workload_id for r in recs} == set(result.assignments)
    providers = {p.provider_id: p for p in problem.providers}
    workloads = {w.workload_id: w for w in problem.workloads}
    assert len({r.recommendation_id for r in recs}) == len(recs)
    for r in recs:
        w, p = workloads[r.workload_id], providers[r.provider_id]
        assert r.provider_id == result.assignments[r.workload_id]
        assert feasible(w, p)
        assert r.status is RecommendationStatus.PROPOSED and r.expires_at_ms == NOW + 900_000
        assert r.cost_usd_per_hour == pytest.approx(p.price_usd_per_gpu_hour * w.gpus)
        assert r.expected_throughput == pytest.approx(estimate(w, p).value)
        b = providers[baseline[r.workload_id]] if r.workload_id in baseline else None
        if b is None:
            assert r.perf_per_dollar_gain == 0.0
        else:
            ours = r.expected_throughput / r.cost_usd_per_hour
            theirs = estimate(w, b).value / (b.price_usd_per_gpu_hour * w.gpus)
            assert r.perf_per_dollar_gain == pytest.approx(ours / theirs - 1.0)
        assert f"{r.cost_usd_per_hour:.2f} USD/h" in r.rationale and r.provider_id in r.rationale
        assert r.recommendation_id == recommendation_id("place", r.workload_id, r.provider_id)
        assert decode(Recommendation, encode(r)) == r  # valid on the wire
    # The optimiser is better on perf per dollar than cheapest-first on average.
    assert sum(r.perf_per_dollar_gain for r in recs) > 0


@settings(max_examples=50, deadline=None)
@given(
    st.floats(0.5, 100.0), st.floats(1.05, 3.0), st.floats(0.2, 5.0), st.sampled_from([0.8, 0.9])
)
def test_sla_risk_and_confidence_match_the_lognormal(
    value: float, spread: float, floor_ratio: float, nominal: float
) -> None:
    est = Estimate(value, value / spread, value * spread)
    sigma = math.log(spread) / norm.ppf(0.5 + nominal / 2)
    floor = value * floor_ratio
    expected = lognorm.cdf(floor, s=sigma, scale=value)
    assert sla_risk(SLA(min_throughput=floor), est, nominal=nominal) == pytest.approx(
        expected, abs=1e-9
    )
    ceiling = value * floor_ratio
    lat_risk = sla_risk(SLA(max_p95_latency_ms=ceiling), est, est, nominal=nominal)
    assert lat_risk == pytest.approx(1 - lognorm.cdf(ceiling, s=sigma, scale=value), abs=1e-9)
    both = sla_risk(SLA(min_throughput=floor, max_p95_latency_ms=ceiling), est, est, nominal)
    assert both == pytest.approx(1 - (1 - expected) * (1 - lat_risk), abs=1e-9)
    within = lognorm.cdf(value * 1.1, s=sigma, scale=value) - lognorm.cdf(
        value / 1.1, s=sigma, scale=value
    )
    assert confidence_within(est, nominal=nominal) == pytest.approx(within, abs=1e-9)


@pytest.mark.parametrize(
    ("est", "risk", "confidence"),
    [
        (Estimate(0.0, 0.0, 0.0), 1.0, 0.0),  # predicted to do nothing
        (Estimate(1.0, 0.5, math.inf), 0.5, 0.0),  # unbounded interval: a coin flip
        (Estimate(1.0, 1.0, 1.0), 0.0, 1.0),  # degenerate interval: certain
    ],
)
def test_risk_and_confidence_edge_cases(est: Estimate, risk: float, confidence: float) -> None:
    assert sla_risk(SLA(min_throughput=0.5), est) == pytest.approx(risk)
    assert confidence_within(est) == pytest.approx(confidence)
    assert sla_risk(SLA(), est) == 0.0  # nothing to break


def _rec(pid: str, ts: int = NOW, ttl: int = 1000) -> Recommendation:
    return Recommendation(
        recommendation_id=recommendation_id("place", "w1", pid),
        ts_ms=ts,
        status="proposed",
        kind="place",
        workload_id="w1",
        provider_id=pid,
        expected_throughput=1.0,
        cost_usd_per_hour=1.0,
        perf_per_dollar_gain=0.0,
        sla_risk=0.0,
        confidence=0.5,
        rationale="r",
        expires_at_ms=ts + ttl,
    )


def test_supersede_sends_only_changes_and_expires_cleanly() -> None:
    sent, live = supersede({}, [_rec("p1")], now_ms=NOW)
    assert [r.status for r in sent] == ["proposed"]
    again, live = supersede(live, [_rec("p1", NOW + 10)], now_ms=NOW + 10)
    assert again == []
    changed, live = supersede(live, [_rec("p2", NOW + 20)], now_ms=NOW + 20)
    old, new = changed
    assert (old.provider_id, old.status, old.ts_ms) == ("p1", "superseded", NOW + 20)
    assert old.recommendation_id == recommendation_id("place", "w1", "p1")
    assert new.recommendation_id in old.reason and new.provider_id == "p2"
    refreshed, live = supersede(live, [_rec("p2", NOW + 5000)], now_ms=NOW + 5000)
    assert [r.ts_ms for r in refreshed] == [NOW + 5000]  # the old one had expired
    gone, live = supersede(live, [], now_ms=NOW + 6000, withdrawn=[("w1", "capacity")])
    assert [(r.status, r.reason) for r in gone] == [("superseded", "capacity")]
    assert live == {}
    assert supersede({}, [], now_ms=NOW, withdrawn=[("nobody", "x")]) == ([], {})


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["p1", "p2", "p3", None]), min_size=1, max_size=12))
def test_at_most_one_live_proposal_per_workload(choices: list[str | None]) -> None:
    live: dict[str, Recommendation] = {}
    log: dict[str, Recommendation] = {}  # the compacted topic: latest record per key
    for k, pid in enumerate(choices):
        now = NOW + 100 * k
        proposals = [_rec(pid, now, ttl=250)] if pid else []
        withdrawn = [] if pid else [("w1", "capacity")]
        sent, live = supersede(live, proposals, now_ms=now, withdrawn=withdrawn)
        for r in sent:
            assert r.expires_at_ms >= r.ts_ms
            log[r.recommendation_id] = r
        proposed = [r for r in log.values() if r.status is RecommendationStatus.PROPOSED]
        assert len(proposed) <= 1
        assert (proposed[0].provider_id if proposed else None) == pid


def test_migration_records_only_for_moves_and_explain_the_trade() -> None:
    provs = (
        ProviderCapacity("hot", "us-east", "A100 80GB", 0, 80.0, 2.0),
        ProviderCapacity("cool", "us-east", "A100 80GB", 4, 80.0, 2.0),
    )
    moving = RunningWorkload(PendingWorkload("w1", "acme", 2, 40.0), "hot", 0.5)
    staying = RunningWorkload(PendingWorkload("w2", "acme", 2, 40.0), "hot", 1.0)
    decisions = plan_migrations([moving, staying], provs, lambda w, p: 1.0, horizon_h=4.0)
    recs = migration_recommendations(
        decisions, {"w1": Estimate(1.0, 0.8, 1.25)}, now_ms=NOW, ttl_ms=60_000, horizon_h=4.0
    )
    assert [(r.workload_id, r.from_provider_id, r.provider_id) for r in recs] == [
        ("w1", "hot", "cool")
    ]
    r = recs[0]
    assert r.kind == "migrate" and r.perf_per_dollar_gain == pytest.approx(1.0)
    move = decisions[0]
    assert f"{move.gain_usd:.2f} USD" in r.rationale
    assert f"{move.migration_cost_usd:.2f} USD" in r.rationale
    assert r.recommendation_id == recommendation_id("migrate", "w1", "cool", "hot")
    assert r.recommendation_id != recommendation_id("place", "w1", "cool")


@pytest.mark.parametrize(
    ("reason", "scope"),
    [("vram", "workload"), ("constraints", "workload"), ("capacity", "unknown")],
)
def test_unplaced_workloads_become_insights_with_their_reason(reason: str, scope: str) -> None:
    insight = unplaced_insight(Unplaced("w9", reason, f"{reason} detail"), NOW)
    assert insight.entity_id == "w9" and insight.scope.value == scope
    assert insight.evidence == {"reason": reason, "detail": f"{reason} detail"}
    assert insight.insight_id == unplaced_insight(Unplaced("w9", reason, "other"), NOW).insight_id
