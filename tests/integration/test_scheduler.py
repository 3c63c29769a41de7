"""The reference scheduler on the real broker: approved through the workflow, applied
exactly once (also across a restart), feedback and realised-vs-predicted records out."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from config.settings import DEFAULT_POLICIES_PATH
from schemas import (
    FeedbackOutcome,
    Recommendation,
    RecommendationOutcome,
    RecommendationStatus,
    SchedulerFeedback,
    encode,
)
from sim.reference_market import SimulatedMarketplace
from streams.scheduler import run_scheduler
from streams.topics import ensure_topics
from tests.integration.harness import decode_all, drain, fresh_settings, produce
from workflow.approver import Approver
from workflow.policy import PolicyBook

pytestmark = pytest.mark.kafka

S = RecommendationStatus


def proposed(
    rid: str, workload: str, target: str, source: str | None, now_ms: int
) -> Recommendation:
    return Recommendation(
        recommendation_id=rid,
        ts_ms=now_ms,
        status="proposed",
        kind="migrate" if source else "place",
        workload_id=workload,
        provider_id=target,
        from_provider_id=source,
        expected_throughput=1200.0,
        cost_usd_per_hour=3.0,
        perf_per_dollar_gain=0.4,
        sla_risk=0.05,
        confidence=0.8,
        rationale="test",
        expires_at_ms=now_ms + 3_600_000,
    )


def approve(approver: Approver, rec: Recommendation) -> Recommendation:
    decision = approver.review(rec, "tenant-01", rec.ts_ms)
    assert decision.acted, decision.record.reason
    return decision.record


def test_approved_recommendation_is_applied_once_across_restarts(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = fresh_settings(kafka_bootstrap, tmp_path, partitions=2)
    asyncio.run(ensure_topics(settings))
    approver = Approver(PolicyBook.load(DEFAULT_POLICIES_PATH))
    now = time.time_ns() // 1_000_000
    a = proposed("rec-a", "wl-a", "prov-001", None, now)
    b = proposed("rec-b", "wl-b", "prov-003", None, now)
    unapproved = proposed("rec-c", "wl-c", "prov-002", None, now)  # never approved
    a_ok, b_ok = approve(approver, a), approve(approver, b)

    def rows(*recs: Recommendation) -> list[tuple[str, str, bytes]]:
        return [("perf.recommendations", r.recommendation_id, encode(r)) for r in recs]

    asyncio.run(produce(settings, rows(a, a_ok, unapproved)))
    market = SimulatedMarketplace(seed=1, providers=6)
    assert asyncio.run(run_scheduler(settings, market, idle_exit_s=3.0)) == 1

    # Restart mid-stream: a new approval, and A's approval delivered once more.
    asyncio.run(produce(settings, rows(b, b_ok, a_ok)))
    again = SimulatedMarketplace(seed=1, providers=6)
    assert asyncio.run(run_scheduler(settings, again, idle_exit_s=3.0)) == 1
    assert again.placements == {"wl-b": "prov-003"}
    # And a third start with nothing new applies nothing.
    assert asyncio.run(run_scheduler(settings, SimulatedMarketplace(1, 6), idle_exit_s=2.0)) == 0

    feedback = decode_all(
        SchedulerFeedback,
        asyncio.run(drain(settings, "scheduler.feedback", until=lambda r: len(r) >= 2)),
    )
    assert sorted(f.recommendation_id for f in feedback) == ["rec-a", "rec-b"]
    assert {f.outcome for f in feedback} == {FeedbackOutcome.APPLIED}

    outcomes = decode_all(
        RecommendationOutcome,
        asyncio.run(drain(settings, "perf.outcomes", until=lambda r: len(r) >= 2)),
    )
    assert sorted(o.recommendation_id for o in outcomes) == ["rec-a", "rec-b"]
    for o in outcomes:
        assert o.predicted_throughput == 1200.0 and o.samples > 0
        assert o.throughput_error == pytest.approx(o.realised_throughput / 1200.0 - 1.0)

    history = decode_all(
        Recommendation,
        asyncio.run(drain(settings, "perf.recommendations", until=lambda r: len(r) >= 8)),
    )
    applied = [r for r in history if r.status is S.APPLIED]
    assert sorted(r.recommendation_id for r in applied) == ["rec-a", "rec-b"]
    assert all(r.actor == "scheduler" for r in applied)
    assert not any(r.recommendation_id == "rec-c" and r.status is S.APPLIED for r in history)
