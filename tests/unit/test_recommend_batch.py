"""The recommendation role's pure part: snapshot -> instance -> proposals and reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import ALL_AGENTS, OPTIONAL_AGENTS, Settings
from evaluation.prediction import simulated_examples
from models.prediction import ModelVersionError, PerformancePredictor
from models.prediction_features import default_feature_spec, featurize
from optimizers.capacity import ProviderHealth, pending_replicas, provider_capacities
from optimizers.plan import Snapshot, model_estimator, plan_batch
from optimizers.problem import feasible
from schemas import ProviderInfo, WorkloadSpec
from streams.app import create_app

NOW = 1_700_000_000_000


def _info(
    pid: str, model: str, count: int, vram: float, price: float, **kw: object
) -> ProviderInfo:
    return ProviderInfo(
        provider_id=pid,
        ts_ms=NOW,
        region=str(kw.get("region", "us-east")),
        gpu_model=model,
        gpu_count=count,
        vram_gb_per_gpu=vram,
        price_usd_per_gpu_hour=price,
        status=str(kw.get("status", "online")),
    )


def _spec(gpus: int, vram: float, **kw: object) -> WorkloadSpec:
    return WorkloadSpec(
        tenant_id="acme", workload_type="training", gpus=gpus, vram_gb_per_gpu=vram, **kw
    )  # type: ignore[arg-type]


def test_capacities_follow_status_health_and_our_own_bookkeeping() -> None:
    catalog = {
        "busy": _info("busy", "A100 80GB", 8, 80.0, 1.8),
        "off": _info("off", "A100 80GB", 8, 80.0, 1.8, status="offline"),
        "sick": _info("sick", "A100 80GB", 8, 80.0, 1.8),
        "tired": _info("tired", "A100 80GB", 8, 80.0, 1.8, status="degraded"),
        "ours": _info("ours", "A100 80GB", 8, 80.0, 1.8),
    }
    health = {"busy": ProviderHealth(busy_gpus=5.0), "sick": ProviderHealth(availability=0.5)}
    caps = {p.provider_id: p for p in provider_capacities(catalog, health, {"ours": 3, "busy": 2})}
    assert set(caps) == {"busy", "tired", "ours"}
    assert (caps["busy"].free_gpus, caps["ours"].free_gpus, caps["tired"].free_gpus) == (3, 5, 8)
    assert caps["tired"].reputation == 0.5


def test_replicas_become_an_anti_affinity_group() -> None:
    one, two, three = pending_replicas([("w1", _spec(1, 16.0)), ("w2", _spec(1, 16.0, replicas=2))])
    assert (one.workload_id, one.replica_group) == ("w1", None)
    assert [(w.workload_id, w.replica_group) for w in (two, three)] == [
        ("w2.r0", "w2"),
        ("w2.r1", "w2"),
    ]


def test_plan_batch_places_what_fits_and_explains_the_rest() -> None:
    catalog = {
        "l4": _info("l4", "L4 24GB", 4, 24.0, 0.5),
        "h100": _info("h100", "H100 80GB", 16, 80.0, 2.5),
        "eu": _info("eu", "A100 80GB", 8, 80.0, 1.5, region="eu-west"),
    }
    pending = {
        "small": _spec(1, 16.0),
        "big": _spec(8, 80.0, allowed_regions=("us-east",)),
        "pair": _spec(2, 40.0, replicas=2),
        "huge": _spec(1, 200.0),
        "mars": _spec(1, 16.0, allowed_regions=("mars-north",)),
    }
    plan = plan_batch(Snapshot(NOW, catalog, {}, pending, {}), time_limit_s=1.0, ttl_ms=60_000)
    placed = {r.workload_id: r for r in plan.proposals}
    assert set(placed) == {"small", "big", "pair.r0", "pair.r1"}
    assert placed["pair.r0"].provider_id != placed["pair.r1"].provider_id
    caps = {p.provider_id: p for p in provider_capacities(catalog, {}, {})}
    specs = {w.workload_id: w for w in pending_replicas(sorted(pending.items()))}
    used: dict[str, int] = {}
    for wid, r in placed.items():
        assert feasible(specs[wid], caps[r.provider_id])
        used[r.provider_id] = used.get(r.provider_id, 0) + specs[wid].gpus
        assert r.expires_at_ms == NOW + 60_000 and 0.0 <= r.confidence <= 1.0
    assert all(used[p] <= caps[p].free_gpus for p in used)
    assert {(u.workload_id, u.reason) for u in plan.unplaced} == {
        ("huge", "vram"),
        ("mars", "region"),
    }


def test_empty_fleet_leaves_every_workload_unplaced_with_a_reason() -> None:
    plan = plan_batch(
        Snapshot(NOW, {}, {}, {"w": _spec(1, 8.0)}, {}), time_limit_s=0.5, ttl_ms=1000
    )
    assert plan.proposals == [] and [u.reason for u in plan.unplaced] == ["no_providers"]


def test_recommendations_role_registers_its_agents_in_its_own_group() -> None:
    settings = Settings(agents="recommendations", kafka_bootstrap_servers="127.0.0.1:1")
    app = create_app(settings)
    names = {name.rsplit(".", 1)[-1] for name in app.agents}
    assert names == {"track_workload_lifecycle", "track_placement_catalog", "track_provider_health"}
    assert settings.group_id == "computeperf-recommendations"
    assert Settings(agents="windows,recommendations").agents == "windows,recommendations"


def test_every_role_agent_survives_in_one_worker_with_all_roles() -> None:
    # Two agents of one name in one app: the later replaced the earlier (the recommender's
    # catalog agent vanished beside the analysis role's in `make run`'s planner worker).
    expected: set[str] = set()
    for role in ALL_AGENTS + OPTIONAL_AGENTS:
        one = create_app(Settings(agents=role, kafka_bootstrap_servers="127.0.0.1:1"))
        names = [name.rsplit(".", 1)[-1] for name in one.agents]
        assert not expected & set(names), f"{role} reuses agent names {expected & set(names)}"
        expected |= set(names)
    every_role = ",".join(ALL_AGENTS + OPTIONAL_AGENTS)
    everything = create_app(Settings(agents=every_role, kafka_bootstrap_servers="127.0.0.1:1"))
    assert {name.rsplit(".", 1)[-1] for name in everything.agents} == expected


def test_a_saved_throughput_model_drives_the_estimates(tmp_path: Path) -> None:
    spec = default_feature_spec()
    train = simulated_examples(spec, 31, providers=6, workloads=12, hours=3)
    cal = simulated_examples(spec, 32, providers=6, workloads=12, hours=3)
    model = PerformancePredictor(spec, seed=0, max_iter=30).fit(train, cal)
    path = tmp_path / "tput.model"
    model.save(path)
    catalog = {
        "l4": _info("l4", "L4 24GB", 4, 24.0, 0.5),
        "h100": _info("h100", "H100 80GB", 8, 80.0, 2.5),
    }
    snap = Snapshot(NOW, catalog, {}, {"w": _spec(1, 16.0)}, {})
    plan = plan_batch(snap, time_limit_s=0.5, ttl_ms=1000, estimator=model_estimator(path))
    (rec,) = plan.proposals
    # The same number straight from the model, one row at a time.
    x = featurize(spec, "training", 1, 16.0, catalog[rec.provider_id], None, NOW)
    direct = model.predict_one(x, rec.provider_id, "training")
    assert rec.expected_throughput == pytest.approx(direct.value)
    # The model's interval, not the prior's fixed +-50 %, sets the confidence.
    prior = plan_batch(snap, time_limit_s=0.5, ttl_ms=1000).proposals[0]
    assert rec.confidence != pytest.approx(prior.confidence)
    (tmp_path / "latency.model").write_bytes(
        path.read_bytes().replace(b'"throughput"', b'"latency_ms"')
    )
    with pytest.raises(ModelVersionError, match="latency_ms"):
        model_estimator(tmp_path / "latency.model")


@pytest.mark.parametrize(
    ("status", "availability", "price", "moves"),
    [
        ("online", 1.0, 1.5, False),  # healthy and fairly priced: stays
        ("degraded", 1.0, 1.5, True),  # half speed for the same money
        ("online", 0.4, 1.5, True),  # mostly unavailable
        ("offline", None, 1.5, True),
        ("online", 1.0, 4.5, True),  # price spike: the same work for a third
        ("online", 0.99, 1.5, False),  # a small dip does not pay for 5 minutes of downtime
    ],
)
def test_running_workloads_move_only_when_it_pays(
    status: str, availability: float | None, price: float, moves: bool
) -> None:
    catalog = {
        "here": _info("here", "A100 80GB", 8, 80.0, price, status=status),
        "there": _info("there", "A100 80GB", 8, 80.0, 1.5),
    }
    health = {"here": ProviderHealth(availability=availability)}
    running = {"w": ("here", _spec(2, 40.0))}
    plan = plan_batch(
        Snapshot(NOW, catalog, health, {}, running),
        time_limit_s=0.5,
        ttl_ms=60_000,
        migration_horizon_h=4.0,
        migration_downtime_s=300.0,
    )
    assert plan.proposals == [] and plan.running == {"w"}
    assert [(m.workload_id, m.from_provider_id, m.provider_id) for m in plan.migrations] == (
        [("w", "here", "there")] if moves else []
    )
    for m in plan.migrations:
        assert m.kind == "migrate" and "gains" in m.rationale
        if status == "offline":
            assert m.perf_per_dollar_gain == 0.0 and "delivers nothing now" in m.rationale
        else:
            assert m.perf_per_dollar_gain > 0


def test_migrations_use_only_gpus_new_placements_leave_free() -> None:
    catalog = {
        "here": _info("here", "A100 80GB", 8, 80.0, 1.5, status="offline"),
        "there": _info("there", "A100 80GB", 2, 80.0, 1.5),
    }
    snap = Snapshot(NOW, catalog, {}, {"new": _spec(2, 40.0)}, {"old": ("here", _spec(2, 40.0))})
    plan = plan_batch(snap, time_limit_s=0.5, ttl_ms=60_000)
    assert [(r.workload_id, r.provider_id) for r in plan.proposals] == [("new", "there")]
    assert plan.migrations == []
    alone = plan_batch(
        Snapshot(NOW, catalog, {}, {}, snap.running), time_limit_s=0.5, ttl_ms=60_000
    )
    assert [r.provider_id for r in alone.migrations] == ["there"]
