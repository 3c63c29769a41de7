"""Pending workloads in, recommendations out: constraints hold, the unplaceable get reasons."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import pytest

from models.prediction_features import default_feature_spec
from optimizers.capacity import pending_replicas, provider_capacities
from optimizers.problem import feasible
from schemas import (
    Insight,
    ProviderInfo,
    ProviderStatus,
    Recommendation,
    RecommendationStatus,
    WorkloadEvent,
    WorkloadSpec,
    encode,
)
from sim.marketplace import MarketplaceSim
from tests.integration.harness import decode_all, drain, fresh_settings, produce, start_worker

pytestmark = pytest.mark.kafka

UNPLACEABLE = {"wl-huge": "vram", "wl-mars": "region"}


def _workloads(now_ms: int, fleet: list[ProviderInfo]) -> dict[str, WorkloadSpec]:
    regions = sorted({p.region for p in fleet})
    specs = {
        f"wl-{k}": WorkloadSpec(
            tenant_id=f"tenant-{k % 3}",
            workload_type=("training", "inference", "fine_tuning", "rendering")[k % 4],
            gpus=(1, 1, 2, 1, 4)[k % 5],
            vram_gb_per_gpu=(16.0, 24.0, 40.0)[k % 3],
            allowed_regions=(regions[k % len(regions)],) if k % 4 == 0 else (),
            max_price_usd_per_gpu_hour=3.0 if k % 3 == 0 else None,
            replicas=2 if k == 5 else 1,
        )
        for k in range(10)
    }
    specs["wl-huge"] = WorkloadSpec(
        tenant_id="tenant-x", workload_type="training", gpus=1, vram_gb_per_gpu=500.0
    )
    specs["wl-mars"] = WorkloadSpec(
        tenant_id="tenant-x",
        workload_type="inference",
        gpus=1,
        vram_gb_per_gpu=8.0,
        allowed_regions=("mars-north",),
    )
    return specs


def _latest(records: list[tuple[bytes | None, bytes]]) -> dict[str, Recommendation]:
    latest: dict[str, Recommendation] = {}
    for rec in decode_all(Recommendation, records):
        latest[rec.recommendation_id] = rec  # a compacted topic keeps the last per key
    return latest


def test_pending_workloads_get_feasible_recommendations_or_a_reason(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    now_ms = int(time.time() * 1000)
    fleet = [
        p.model_copy(update={"ts_ms": now_ms})
        for p in MarketplaceSim(seed=21, providers=12, workloads=2).providers
    ]
    specs = _workloads(now_ms, fleet)
    capacities = {
        p.provider_id: p for p in provider_capacities({p.provider_id: p for p in fleet}, {}, {})
    }
    replicas = {w.workload_id: w for w in pending_replicas(sorted(specs.items()))}
    # Demand is far below the fleet's GPUs: a replica with a feasible host gets one.
    expected = {
        wid
        for wid, w in replicas.items()
        if any(feasible(w, p) and p.free_gpus >= w.gpus for p in capacities.values())
    }
    unplaceable = set(replicas) - expected
    assert set(UNPLACEABLE) <= unplaceable and len(expected) >= 8
    settings = fresh_settings(kafka_bootstrap, tmp_path, agents="recommendations", reco_batch_s=1.0)
    worker = start_worker(settings, tmp_path)
    try:
        catalog = [("providers.catalog", p.provider_id, encode(p)) for p in fleet]
        events = [
            (
                "workloads.lifecycle",
                wid,
                encode(WorkloadEvent(workload_id=wid, ts_ms=now_ms, kind="submitted", spec=spec)),
            )
            for wid, spec in specs.items()
        ]
        asyncio.run(produce(settings, catalog))
        asyncio.run(produce(settings, events))

        def all_proposed(records: list[tuple[bytes | None, bytes]]) -> bool:
            live = [r for r in _latest(records).values() if r.status == "proposed"]
            return {r.workload_id for r in live} >= expected

        recs = asyncio.run(
            drain(settings, "perf.recommendations", until=all_proposed, timeout_s=120)
        )
        insights = decode_all(
            Insight,
            asyncio.run(
                drain(
                    settings,
                    "perf.insights",
                    until=lambda r: {i.entity_id for i in decode_all(Insight, r)} >= unplaceable,
                    timeout_s=60,
                )
            ),
        )
    finally:
        worker.stop()

    live = [r for r in _latest(recs).values() if r.status is RecommendationStatus.PROPOSED]
    assert Counter(r.workload_id for r in live) == Counter(expected)  # one each, none else
    used: Counter[str] = Counter()
    for r in live:
        w, p = replicas[r.workload_id], capacities[r.provider_id]
        assert feasible(w, p), (r.workload_id, r.provider_id)
        used[r.provider_id] += w.gpus
        assert r.cost_usd_per_hour == pytest.approx(p.price_usd_per_gpu_hour * w.gpus)
        assert r.expires_at_ms > r.ts_ms and r.provider_id in r.rationale
    assert all(used[pid] <= capacities[pid].free_gpus for pid in used)
    pair = [r.provider_id for r in live if r.workload_id.startswith("wl-5.r")]
    assert len(pair) == 2 and pair[0] != pair[1]  # anti-affinity of replicas
    reasons = {i.entity_id: i.evidence["reason"] for i in insights if i.kind == "unplaceable"}
    assert {k: reasons.get(k) for k in UNPLACEABLE} == UNPLACEABLE
    assert set(reasons) >= unplaceable
    assert not {r.workload_id for r in _latest(recs).values()} & unplaceable


def test_workload_on_a_provider_gone_offline_gets_a_migration(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    now_ms = int(time.time() * 1000)
    fleet = [
        p.model_copy(update={"ts_ms": now_ms})
        for p in MarketplaceSim(seed=22, providers=8, workloads=2).providers
    ]
    # Home is the best perf per dollar for training by the prior the worker uses, so no
    # move pays while it is healthy: the migration below is the outage's doing.
    prior = default_feature_spec().gpu_prior
    home = max(fleet, key=lambda p: prior[p.gpu_model]["training"] / p.price_usd_per_gpu_hour)
    spec = WorkloadSpec(tenant_id="acme", workload_type="training", gpus=1, vram_gb_per_gpu=16.0)
    settings = fresh_settings(kafka_bootstrap, tmp_path, agents="recommendations", reco_batch_s=1.0)
    worker = start_worker(settings, tmp_path)
    try:
        asyncio.run(
            produce(settings, [("providers.catalog", p.provider_id, encode(p)) for p in fleet])
        )
        lifecycle = [
            WorkloadEvent(workload_id="wl-run", ts_ms=now_ms, kind="submitted", spec=spec),
            WorkloadEvent(
                workload_id="wl-run", ts_ms=now_ms + 1, kind="started", provider_id=home.provider_id
            ),
        ]
        asyncio.run(
            produce(
                settings, [("workloads.lifecycle", e.workload_id, encode(e)) for e in lifecycle]
            )
        )
        time.sleep(3)  # a few batches with the provider healthy
        offline = home.model_copy(update={"status": ProviderStatus.OFFLINE, "ts_ms": now_ms + 2})
        asyncio.run(produce(settings, [("providers.catalog", home.provider_id, encode(offline))]))

        def migrated(records: list[tuple[bytes | None, bytes]]) -> bool:
            return any(r.kind == "migrate" for r in decode_all(Recommendation, records))

        recs = decode_all(
            Recommendation,
            asyncio.run(drain(settings, "perf.recommendations", until=migrated, timeout_s=60)),
        )
    finally:
        worker.stop()
    moves = [r for r in recs if r.kind == "migrate"]
    assert moves, [(r.kind, r.status) for r in recs]
    move = moves[0]  # the first migration ever proposed: it must be the outage's
    assert (move.workload_id, move.from_provider_id) == ("wl-run", home.provider_id)
    assert move.status is RecommendationStatus.PROPOSED and "delivers nothing now" in move.rationale
    target = {p.provider_id: p for p in fleet}[move.provider_id]
    capacities = provider_capacities({target.provider_id: target}, {}, {})
    (w,) = pending_replicas([("wl-run", spec)])
    assert capacities and feasible(w, capacities[0]) and target.provider_id != home.provider_id
    # The placement the scheduler applied (started) is dropped quietly, not superseded.
    assert not [r for r in recs if r.kind == "place" and r.status == "superseded"]
