"""The approvals role on the real broker: proposals approved by policy (under their
workload's tenant) and applied once by the reference scheduler; the rate limit holds
across a restart of the approvals worker; a dry-run book approves nothing."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from config.settings import Settings
from schemas import (
    FeedbackOutcome,
    Recommendation,
    RecommendationStatus,
    SchedulerFeedback,
    WorkloadEvent,
    WorkloadSpec,
    encode,
)
from sim.reference_market import SimulatedMarketplace
from streams.scheduler import run_scheduler
from streams.topics import ensure_topics
from tests.integration import test_scheduler as scheduler_test
from tests.integration.harness import decode_all, drain, fresh_settings, produce, start_worker

pytestmark = pytest.mark.kafka

S = RecommendationStatus

# Only tenant acme is auto-approved (so an approval shows the tenant was looked up),
# at most one action per provider per hour.
POLICIES = """
dry_run: {dry_run}
policies:
  - {{tenant: "*", kind: "*", mode: manual}}
  - {{tenant: acme, kind: "*", mode: auto, max_sla_risk: 1.0, min_gain: -1.0,
     max_actions_per_provider: 1, interval_s: 3600}}
"""


def role_settings(kafka_bootstrap: str, tmp_path: Path, *, dry_run: bool) -> Settings:
    path = tmp_path / "policies.yaml"
    path.write_text(POLICIES.format(dry_run=str(dry_run).lower()))
    settings = fresh_settings(
        kafka_bootstrap,
        tmp_path,
        agents="approvals",
        partitions=2,
        approval_policies=path,
        approval_tenant_wait_s=5.0,
    )
    asyncio.run(ensure_topics(settings))
    return settings


def submitted(workload: str, tenant: str, now_ms: int) -> tuple[str, str, bytes]:
    spec = WorkloadSpec(tenant_id=tenant, workload_type="inference", gpus=1, vram_gb_per_gpu=16)
    event = WorkloadEvent(workload_id=workload, ts_ms=now_ms, kind="submitted", spec=spec)
    return ("workloads.lifecycle", workload, encode(event))


def proposed(rid: str, workload: str, provider: str, now_ms: int) -> tuple[str, str, bytes]:
    rec = scheduler_test.proposed(rid, workload, provider, None, now_ms)
    return ("perf.recommendations", rid, encode(rec))


def decided(settings: Settings, expected: dict[str, S]) -> dict[str, Recommendation]:
    """Wait for the approvals role's record on each id of ``expected``; return them by id."""

    def ours(records: list[tuple[bytes | None, bytes]]) -> dict[str, Recommendation]:
        out = {}
        for r in decode_all(Recommendation, records):
            if r.actor.startswith("policy:") and r.recommendation_id in expected:
                out[r.recommendation_id] = r
        return out

    def done(records: list[tuple[bytes | None, bytes]]) -> bool:
        return set(ours(records)) == set(expected)

    found = ours(asyncio.run(drain(settings, "perf.recommendations", until=done)))
    assert {k: v.status for k, v in found.items()} == expected, found
    return found


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def test_policy_approves_by_tenant_scheduler_applies_and_limit_survives_restart(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = role_settings(kafka_bootstrap, tmp_path, dry_run=False)
    t = now_ms()
    asyncio.run(produce(settings, [submitted(f"wl-{i}", "acme", t) for i in range(1, 5)]))
    worker = start_worker(settings, tmp_path, "approvals")
    try:
        asyncio.run(produce(settings, [proposed("rec-a", "wl-1", "prov-001", now_ms())]))
        a = decided(settings, {"rec-a": S.APPROVED})["rec-a"]
        assert (a.actor, a.reason) == ("policy:acme/*", "auto-approved by policy")

        market = SimulatedMarketplace(seed=1, providers=6)
        assert asyncio.run(run_scheduler(settings, market, idle_exit_s=3.0)) == 1
        assert market.placements == {"wl-1": "prov-001"}

        asyncio.run(produce(settings, [proposed("rec-b", "wl-2", "prov-001", now_ms())]))
        b = decided(settings, {"rec-b": S.REJECTED})["rec-b"]
        assert b.reason.startswith("rate limit")
    finally:
        worker.stop()

    # A restarted worker: the grant on prov-001 still counts, prov-002 has room.
    worker = start_worker(settings, tmp_path, "approvals-restarted")
    try:
        asyncio.run(
            produce(
                settings,
                [
                    proposed("rec-c", "wl-3", "prov-001", now_ms()),
                    proposed("rec-d", "wl-4", "prov-002", now_ms()),
                ],
            )
        )
        after = decided(settings, {"rec-c": S.REJECTED, "rec-d": S.APPROVED})
        assert after["rec-c"].reason.startswith("rate limit")
        assert worker.metric("computeperf_approval_decisions_total", status="rejected") == 1
        assert worker.metric("computeperf_approval_decisions_total", status="approved") == 1
    finally:
        worker.stop()

    again = SimulatedMarketplace(seed=1, providers=6)
    assert asyncio.run(run_scheduler(settings, again, idle_exit_s=3.0)) == 1
    assert again.placements == {"wl-4": "prov-002"}

    feedback = decode_all(
        SchedulerFeedback,
        asyncio.run(drain(settings, "scheduler.feedback", until=lambda r: len(r) >= 2)),
    )
    assert sorted((f.recommendation_id, f.outcome) for f in feedback) == [
        ("rec-a", FeedbackOutcome.APPLIED),
        ("rec-d", FeedbackOutcome.APPLIED),
    ]
    history = decode_all(
        Recommendation,
        asyncio.run(drain(settings, "perf.recommendations", until=lambda r: len(r) >= 10)),
    )
    ours = [r.recommendation_id for r in history if r.actor.startswith("policy:")]
    assert sorted(ours) == ["rec-a", "rec-b", "rec-c", "rec-d"]  # each decided once
    applied = sorted(r.recommendation_id for r in history if r.status is S.APPLIED)
    assert applied == ["rec-a", "rec-d"]


def test_dry_run_notes_what_it_would_do_and_nothing_is_applied(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = role_settings(kafka_bootstrap, tmp_path, dry_run=True)
    asyncio.run(produce(settings, [submitted("wl-1", "acme", now_ms())]))
    worker = start_worker(settings, tmp_path, "approvals")
    try:
        asyncio.run(produce(settings, [proposed("rec-a", "wl-1", "prov-001", now_ms())]))
        note = decided(settings, {"rec-a": S.PROPOSED})["rec-a"]
        assert note.reason == "dry-run: would approve (auto-approved by policy)"
    finally:
        worker.stop()
    market = SimulatedMarketplace(seed=1, providers=6)
    assert asyncio.run(run_scheduler(settings, market, idle_exit_s=3.0)) == 0
    assert market.placements == {}
    history = decode_all(
        Recommendation,
        asyncio.run(drain(settings, "perf.recommendations", until=lambda r: len(r) >= 2)),
    )
    assert {r.status for r in history} == {S.PROPOSED}
