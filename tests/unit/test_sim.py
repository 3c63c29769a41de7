"""Unit tests of the marketplace simulator (pure core, publisher and CLI; no broker)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Awaitable, Iterable
from itertools import islice, pairwise

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli import simulate as cli
from config.settings import Settings
from schemas import (
    TOPIC_RECORDS,
    ProviderInfo,
    ProviderSample,
    WorkloadEvent,
    WorkloadEventKind,
    WorkloadSample,
    WorkloadType,
    decode,
    encode,
)
from schemas.gpus import GPU_MODELS, REGIONS, THROUGHPUT_UNITS
from schemas.times import parse_time_ms
from sim.incidents import Incident, IncidentKind, effects_at, random_incidents
from sim.marketplace import MarketplaceSim, SimRecord
from streams.publish import MemoryProducer, publish

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
MIN = 60_000


def run(sim: MarketplaceSim, minutes: float, start: int = T0) -> list[SimRecord]:
    return list(sim.records(start, start + round(minutes * MIN)))


def provider_samples(recs: Iterable[SimRecord], pid: str) -> list[ProviderSample]:
    return [
        r.record
        for r in recs
        if isinstance(r.record, ProviderSample) and r.record.provider_id == pid
    ]


def workload_samples(recs: Iterable[SimRecord], pid: str) -> list[WorkloadSample]:
    return [
        r.record
        for r in recs
        if isinstance(r.record, WorkloadSample) and r.record.provider_id == pid
    ]


def p95(values: Iterable[float]) -> float:
    return float(np.percentile(np.fromiter(values, dtype=float), 95))


@pytest.fixture(scope="module")
def baseline() -> tuple[MarketplaceSim, list[SimRecord]]:
    sim = MarketplaceSim(seed=11, random_incidents=3)
    return sim, run(sim, 30)


# ----------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_records() -> None:
    a = MarketplaceSim(seed=5, random_incidents=2)
    b = MarketplaceSim(seed=5, random_incidents=2)
    ra, rb = run(a, 10), run(b, 10)
    assert [(r.topic, r.key, encode(r.record)) for r in ra] == [
        (r.topic, r.key, encode(r.record)) for r in rb
    ]
    assert a.incidents == b.incidents and len(a.incidents) == 2
    # Calling records() again on the same object replays the same run.
    assert run(a, 10) == ra


def test_different_seed_gives_different_records() -> None:
    ra = run(MarketplaceSim(seed=1), 2)
    rb = run(MarketplaceSim(seed=2), 2)
    assert [encode(r.record) for r in ra] != [encode(r.record) for r in rb]
    assert [p.gpu_model for p in MarketplaceSim(seed=1).providers] != [
        p.gpu_model for p in MarketplaceSim(seed=2).providers
    ]


def test_incident_does_not_perturb_unaffected_entities() -> None:
    # One random stream per entity: an incident changes its provider's records only.
    inc = Incident("noisy_neighbour", "prov-002", T0 + 2 * MIN, T0 + 4 * MIN, 0.8)
    clean = run(MarketplaceSim(seed=9), 6)
    dirty = run(MarketplaceSim(seed=9, incidents=[inc]), 6)

    def others(recs: list[SimRecord]) -> list[SimRecord]:
        return [
            r
            for r in recs
            if isinstance(r.record, ProviderSample | WorkloadSample)
            and r.record.provider_id != "prov-002"
        ]

    assert others(clean) == others(dirty)
    assert clean != dirty


# ----------------------------------------------------------------------------- stream shape


def test_records_validate_and_round_trip(baseline: tuple[MarketplaceSim, list[SimRecord]]) -> None:
    _, recs = baseline
    for r in recs:
        model = TOPIC_RECORDS[r.topic]
        assert isinstance(r.record, model)
        assert decode(model, encode(r.record)) == r.record
        # Re-validating the dumped fields catches anything built without validation.
        assert model.model_validate(r.record.model_dump()) == r.record
        entity = r.record.provider_id if r.topic == "providers.catalog" else None
        if isinstance(r.record, ProviderSample):
            entity = r.record.provider_id
        elif isinstance(r.record, WorkloadSample | WorkloadEvent):
            entity = r.record.workload_id
        assert r.key == entity


def test_timestamps_non_decreasing_and_seq_strictly_plus_one(
    baseline: tuple[MarketplaceSim, list[SimRecord]],
) -> None:
    sim, recs = baseline
    ts = [r.ts_ms for r in recs]
    assert ts == sorted(ts)
    assert ts[0] == T0 and ts[-1] < T0 + 30 * MIN
    seqs: dict[tuple[str, str], list[int]] = defaultdict(list)
    for r in recs:
        if isinstance(r.record, ProviderSample | WorkloadSample):
            seqs[(r.topic, r.key)].append(r.record.seq)
    assert len(seqs) == len(sim.providers) + len(sim.workload_profiles)
    for key, s in seqs.items():
        assert s == list(range(len(s))), key


def test_catalog_and_lifecycle_come_first_with_compatible_placements(
    baseline: tuple[MarketplaceSim, list[SimRecord]],
) -> None:
    sim, recs = baseline
    n_p, n_w = len(sim.providers), len(sim.workload_profiles)
    head = recs[: n_p + 2 * n_w]
    catalog = {r.key: r.record for r in head[:n_p] if isinstance(r.record, ProviderInfo)}
    assert len(catalog) == n_p and all(c.ts_ms == T0 for c in catalog.values())
    assert {c.gpu_model for c in catalog.values()} == set(GPU_MODELS)  # 12 providers >= 8
    assert {c.region for c in catalog.values()} == set(REGIONS)
    events = [r.record for r in head[n_p:]]
    assert all(isinstance(e, WorkloadEvent) for e in events)
    used: dict[str, int] = defaultdict(int)
    for sub, started in zip(events[::2], events[1::2], strict=True):
        assert isinstance(sub, WorkloadEvent) and isinstance(started, WorkloadEvent)
        assert sub.kind is WorkloadEventKind.SUBMITTED and sub.spec is not None
        assert started.kind is WorkloadEventKind.STARTED and started.provider_id is not None
        assert sub.workload_id == started.workload_id
        spec, prov = sub.spec, catalog[started.provider_id]
        assert spec.vram_gb_per_gpu <= prov.vram_gb_per_gpu
        assert not spec.allowed_gpu_models or prov.gpu_model in spec.allowed_gpu_models
        assert not spec.allowed_regions or prov.region in spec.allowed_regions
        if spec.max_price_usd_per_gpu_hour is not None:
            assert prov.price_usd_per_gpu_hour <= spec.max_price_usd_per_gpu_hour
        used[prov.provider_id] += spec.gpus
    assert all(used[pid] <= catalog[pid].gpu_count for pid in used)
    assert not any(isinstance(r.record, ProviderInfo | WorkloadEvent) for r in recs[len(head) :])


def test_normal_operation_is_realistic() -> None:
    sim = MarketplaceSim(seed=4)
    recs = run(sim, 20)
    temps = [r.record.gpu_temp_c for r in recs if isinstance(r.record, ProviderSample)]
    assert 55.0 <= float(np.median(temps)) <= 75.0
    assert p95(temps) < 80.0 and min(temps) > 45.0
    prices = {p.provider_id: p.price_usd_per_gpu_hour for p in sim.providers}
    for r in recs:
        rec = r.record
        if isinstance(rec, WorkloadSample):
            gpus = sim.workload_profiles[int(rec.workload_id.split("-")[1])].gpus
            expected = prices[rec.provider_id] * gpus * sim.interval_ms / 3_600_000
            assert rec.cost_accrued_usd == pytest.approx(expected, rel=1e-4)
            assert rec.throughput > 0 and rec.throughput_unit == THROUGHPUT_UNITS[rec.workload_type]
            if rec.workload_type is WorkloadType.INFERENCE:
                assert rec.latency_ms is not None and rec.requests > 0
            else:
                assert rec.step_time_ms is not None and rec.latency_ms is None
        elif isinstance(rec, ProviderSample):
            assert rec.gpus_busy >= 1 or rec.gpu_util_pct < 5


def test_faster_models_have_higher_throughput_per_gpu() -> None:
    training = WorkloadType.TRAINING
    order = ["H100 80GB", "A100 80GB", "RTX 4090 24GB", "RTX 3090 24GB"]
    tput = [GPU_MODELS[m].throughput_per_gpu(training) for m in order]
    assert tput == sorted(tput, reverse=True)
    rendering = WorkloadType.RENDERING
    assert GPU_MODELS["RTX 4090 24GB"].throughput_per_gpu(rendering) > GPU_MODELS[
        "A100 80GB"
    ].throughput_per_gpu(rendering)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32),
    providers=st.integers(1, 10),
    workloads=st.integers(0, 30),
    interval_ms=st.sampled_from([250, 1000, 5000]),
    n_random=st.integers(0, 4),
)
def test_any_configuration_yields_valid_ordered_records(
    seed: int, providers: int, workloads: int, interval_ms: int, n_random: int
) -> None:
    sim = MarketplaceSim(seed, providers, workloads, interval_ms, random_incidents=n_random)
    recs = run(sim, 1)
    assert [r.ts_ms for r in recs] == sorted(r.ts_ms for r in recs)
    for r in recs:
        assert decode(TOPIC_RECORDS[r.topic], encode(r.record)) == r.record
    assert len(sim.incidents) == n_random


# ----------------------------------------------------------------------------- incidents


def test_thermal_throttling_heats_and_slows_only_that_provider() -> None:
    inc = Incident(IncidentKind.THERMAL_THROTTLING, "prov-003", T0 + 5 * MIN, T0 + 12 * MIN, 0.4)
    sim = MarketplaceSim(seed=21, incidents=[inc])
    recs = run(sim, 20)
    hot = provider_samples(recs, "prov-003")
    inside = [s for s in hot if inc.active(s.ts_ms)]
    outside = [s for s in hot if not inc.active(s.ts_ms)]
    assert p95(s.gpu_temp_c for s in inside) > 85.0
    assert p95(s.gpu_temp_c for s in outside) < 80.0
    assert np.mean([s.sm_clock_mhz for s in inside]) < 0.85 * np.mean(
        [s.sm_clock_mhz for s in outside]
    )
    for other in sim.providers:
        if other.provider_id != "prov-003":
            assert p95(s.gpu_temp_c for s in provider_samples(recs, other.provider_id)) < 80.0
    for w in {s.workload_id for s in workload_samples(recs, "prov-003")}:
        mine = [s for s in workload_samples(recs, "prov-003") if s.workload_id == w]
        t_in = np.mean([s.throughput for s in mine if inc.active(s.ts_ms)])
        t_out = np.mean([s.throughput for s in mine if not inc.active(s.ts_ms)])
        assert t_in < 0.9 * t_out


def test_outage_leaves_a_heartbeat_gap_and_seq_continues() -> None:
    inc = Incident("provider_outage", "prov-001", T0 + 3 * MIN, T0 + 6 * MIN)
    sim = MarketplaceSim(seed=8, incidents=[inc])
    recs = run(sim, 10)
    prov = provider_samples(recs, "prov-001")
    work = workload_samples(recs, "prov-001")
    assert work, "the test needs a workload on the failed provider"
    assert not [s for s in prov if inc.active(s.ts_ms)]
    assert not [s for s in work if inc.active(s.ts_ms)]
    assert prov[0].ts_ms == T0 and prov[-1].ts_ms > inc.end_ms
    assert [s.seq for s in prov] == list(range(len(prov)))
    gap = max(b.ts_ms - a.ts_ms for a, b in pairwise(prov))
    assert gap == inc.duration_ms + sim.interval_ms
    assert len(provider_samples(recs, "prov-000")) == 10 * MIN // sim.interval_ms


def test_price_spike_emits_catalog_updates_and_raises_cost() -> None:
    inc = Incident("price_spike", "prov-002", T0 + 2 * MIN, T0 + 4 * MIN, 0.5)
    sim = MarketplaceSim(seed=3, incidents=[inc])
    recs = run(sim, 6)
    infos = [r for r in recs if r.topic == "providers.catalog" and r.key == "prov-002"]
    assert [r.ts_ms for r in infos] == [T0, inc.start_ms, inc.end_ms]
    base, spike, back = (r.record for r in infos)
    assert isinstance(base, ProviderInfo) and isinstance(spike, ProviderInfo)
    assert isinstance(back, ProviderInfo)
    assert spike.price_usd_per_gpu_hour == pytest.approx(3.0 * base.price_usd_per_gpu_hour)
    assert back.price_usd_per_gpu_hour == base.price_usd_per_gpu_hour
    work = workload_samples(recs, "prov-002")
    if work:
        w0 = work[0].workload_id
        cost_in = [s.cost_accrued_usd for s in work if s.workload_id == w0 and inc.active(s.ts_ms)]
        cost_out = [s.cost_accrued_usd for s in work if s.workload_id == w0 and s.ts_ms < T0 + MIN]
        assert min(cost_in) > 2.9 * max(cost_out)


def test_price_spike_in_progress_at_start_is_in_initial_catalog() -> None:
    inc = Incident("price_spike", "prov-000", T0 - MIN, T0 + MIN, 1.0)
    sim = MarketplaceSim(seed=3, incidents=[inc])
    first = next(iter(sim.records(T0, T0 + 2 * MIN)))
    assert isinstance(first.record, ProviderInfo)
    assert first.record.price_usd_per_gpu_hour == pytest.approx(
        4.0 * sim.providers[0].price_usd_per_gpu_hour
    )


def test_memory_creep_grows_towards_total_then_resets() -> None:
    inc = Incident("memory_creep", "prov-004", T0 + 2 * MIN, T0 + 12 * MIN, 1.0)
    recs = run(MarketplaceSim(seed=6, incidents=[inc]), 15)
    samples = provider_samples(recs, "prov-004")
    inside = [s for s in samples if inc.active(s.ts_ms)]
    used = np.array([s.gpu_mem_used_gb for s in inside])
    total = inside[0].gpu_mem_total_gb
    before = np.mean([s.gpu_mem_used_gb for s in samples if s.ts_ms < inc.start_ms])
    after = np.mean([s.gpu_mem_used_gb for s in samples if s.ts_ms >= inc.end_ms])
    minutes = np.arange(len(used))
    slope = np.polyfit(minutes, used, 1)[0]
    assert slope > 0 and np.corrcoef(minutes, used)[0, 1] > 0.95  # linear growth
    assert used[-1] > 0.97 * total and used[-1] > before + 0.5 * (total - before)
    assert after == pytest.approx(before, rel=0.05)
    assert sum(s.error_count for s in inside[-30:]) > sum(s.error_count for s in inside[:30])


def test_network_degradation_raises_rtt_and_latency() -> None:
    sim = MarketplaceSim(seed=12)
    host = next(
        w.provider_id for w in sim.workload_profiles if w.workload_type is WorkloadType.INFERENCE
    )
    inc = Incident("network_degradation", host, T0 + 2 * MIN, T0 + 5 * MIN, 0.5)
    recs = run(MarketplaceSim(seed=12, incidents=[inc]), 7)
    prov = provider_samples(recs, host)
    rtt_in = np.median([s.net_rtt_ms for s in prov if inc.active(s.ts_ms)])
    rtt_out = np.median([s.net_rtt_ms for s in prov if not inc.active(s.ts_ms)])
    assert 3.0 <= rtt_in / rtt_out <= 10.0
    bw_in = np.median([s.net_bandwidth_gbps for s in prov if inc.active(s.ts_ms)])
    bw_out = np.median([s.net_bandwidth_gbps for s in prov if not inc.active(s.ts_ms)])
    assert bw_in < 0.5 * bw_out
    inf = [s for s in workload_samples(recs, host) if s.workload_type is WorkloadType.INFERENCE]
    lat_in = np.median([s.latency_ms for s in inf if inc.active(s.ts_ms)])
    lat_out = np.median([s.latency_ms for s in inf if not inc.active(s.ts_ms)])
    assert lat_in > 1.5 * lat_out


def test_noisy_neighbour_cuts_throughput_and_adds_jitter() -> None:
    host = MarketplaceSim(seed=2).workload_profiles[0].provider_id
    inc = Incident("noisy_neighbour", host, T0 + 2 * MIN, T0 + 6 * MIN, 1.0)
    recs = run(MarketplaceSim(seed=2, incidents=[inc]), 8)
    prov = provider_samples(recs, host)
    std_in = np.std([s.gpu_util_pct for s in prov if inc.active(s.ts_ms)])
    std_out = np.std([s.gpu_util_pct for s in prov if not inc.active(s.ts_ms)])
    assert std_in > 2 * std_out
    work = workload_samples(recs, host)
    assert work
    for wid in {s.workload_id for s in work}:
        mine = [s for s in work if s.workload_id == wid]
        t_in = np.mean([s.throughput for s in mine if inc.active(s.ts_ms)])
        t_out = np.mean([s.throughput for s in mine if not inc.active(s.ts_ms)])
        assert t_in < 0.75 * t_out


def test_random_incidents_lie_in_the_run_and_are_ground_truth() -> None:
    sim = MarketplaceSim(seed=17, random_incidents=5)
    assert sim.incidents == []  # drawn when the span is known
    end = T0 + 60 * MIN
    drawn = sim.incidents_between(T0, end)
    assert sim.incidents == []  # incidents_between is pure
    recs = sim.records(T0, end)
    assert sim.incidents == drawn and len(drawn) == 5
    assert all(T0 <= i.start_ms < i.end_ms <= end for i in drawn)
    assert {i.provider_id for i in drawn} <= {p.provider_id for p in sim.providers}
    assert next(iter(recs)).topic == "providers.catalog"
    # Unbounded runs place them within the horizon.
    unbounded = MarketplaceSim(seed=17, random_incidents=5, random_incident_horizon_ms=10 * MIN)
    assert all(i.end_ms <= T0 + 10 * MIN for i in unbounded.incidents_between(T0, None))


def test_unbounded_run_keeps_going() -> None:
    sim = MarketplaceSim(seed=1, providers=2, workloads=2, interval_ms=100)
    recs = list(islice(sim.records(T0), 4 + 4 * 1000))
    assert recs[-1].ts_ms == T0 + 999 * 100


def test_effects_and_incident_validation() -> None:
    with pytest.raises(ValueError, match="severity"):
        Incident("thermal_throttling", "p", 0, 10, 0.0)
    with pytest.raises(ValueError, match="end_ms"):
        Incident("thermal_throttling", "p", 10, 10)
    with pytest.raises(ValueError, match="IncidentKind"):
        Incident("meteor", "p", 0, 10)
    with pytest.raises(ValueError, match="unknown provider"):
        MarketplaceSim(seed=1, providers=2, incidents=[Incident("price_spike", "x", 0, 1)])
    with pytest.raises(ValueError):
        MarketplaceSim(seed=1, providers=0)
    both = [
        Incident("thermal_throttling", "p", 0, 100, 1.0),
        Incident("network_degradation", "p", 50, 150, 1.0),
    ]
    fx = effects_at(both, 75)
    assert fx.temp_target_c == 97.0 and fx.rtt_factor == 10.0 and fx.clock_factor < 1
    assert effects_at(both, 125).temp_target_c is None
    rng = np.random.default_rng(0)
    incs = random_incidents(rng, ["a", "b", "c"], 6, T0, T0 + 60 * MIN)
    for i, x in enumerate(incs):
        for y in incs[i + 1 :]:
            overlap = x.start_ms < y.end_ms and y.start_ms < x.end_ms
            assert not (overlap and x.provider_id == y.provider_id)


def test_oversubscribed_fleet_still_validates() -> None:
    sim = MarketplaceSim(seed=1, providers=1, workloads=20, interval_ms=1000)
    recs = run(sim, 1)
    prov = provider_samples(recs, "prov-000")
    assert all(s.gpus_busy <= s.gpus_total and s.gpu_util_pct <= 100 for s in prov)


# ----------------------------------------------------------------------------- publish


def test_publish_backfill_sends_everything_encoded() -> None:
    sim = MarketplaceSim(seed=1, providers=3, workloads=4)
    recs = run(sim, 0.5)
    fake = MemoryProducer()
    counts: dict[str, int] = {}
    seen: list[int] = []
    n = asyncio.run(
        publish(
            recs,
            settings=Settings(topic_prefix="x."),
            realtime=False,
            progress=seen.append,
            topic_counts=counts,
            chunk_size=7,
            producer_factory=lambda s: fake,
        )
    )
    assert n == len(recs) == len(fake.sent) == sum(counts.values())
    assert counts["telemetry.provider"] == 3 * 30 and counts["telemetry.workload"] == 4 * 30
    assert seen == sorted(seen) and seen[-1] == n
    assert fake.started and fake.flushed and fake.stopped
    for r, (topic, key, value) in zip(recs, fake.sent, strict=True):
        assert topic == "x." + r.topic and key == r.key.encode()
        assert value is not None and decode(TOPIC_RECORDS[r.topic], value) == r.record


class _TimedProducer(MemoryProducer):
    def __init__(self) -> None:
        super().__init__()
        self.sent_at_ms: list[int] = []
        self.timestamps: list[int | None] = []

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        timestamp_ms: int | None = None,
    ) -> Awaitable[object]:
        self.sent_at_ms.append(time.time_ns() // 1_000_000)
        self.timestamps.append(timestamp_ms)
        return await super().send(topic, value=value, key=key)


def test_publish_realtime_never_sends_before_event_time() -> None:
    start = time.time_ns() // 1_000_000 + 100
    sim = MarketplaceSim(seed=1, providers=2, workloads=1, interval_ms=100)
    recs = list(sim.records(start, start + 400))
    fake = _TimedProducer()
    t0 = time.monotonic()
    n = asyncio.run(
        publish(recs, settings=Settings(), realtime=True, producer_factory=lambda s: fake)
    )
    assert n == len(recs)
    assert all(at >= r.ts_ms for at, r in zip(fake.sent_at_ms, recs, strict=True))
    # The Kafka record time is the event time (what `computeperf replay` seeks by).
    assert fake.timestamps == [r.ts_ms for r in recs]
    assert time.monotonic() - t0 >= 0.3  # it did wait for the last record's time


def test_publish_stops_when_asked() -> None:
    async def go() -> tuple[int, int]:
        stop = asyncio.Event()
        fake = MemoryProducer()
        start = time.time_ns() // 1_000_000
        recs = MarketplaceSim(seed=1, providers=1, workloads=0, interval_ms=50).records(start)
        asyncio.get_running_loop().call_later(0.3, stop.set)
        n = await publish(
            recs, settings=Settings(), realtime=True, stop=stop, producer_factory=lambda s: fake
        )
        return n, len(fake.sent)

    n, sent = asyncio.run(go())
    assert 3 <= n == sent <= 10 and n == sent


# ----------------------------------------------------------------------------- CLI


@pytest.fixture()
def memory_producer(monkeypatch: pytest.MonkeyPatch) -> MemoryProducer:
    fake = MemoryProducer()
    monkeypatch.setattr(cli, "default_producer", lambda settings: fake)
    return fake


def test_cli_backfill_json_summary(memory_producer: MemoryProducer) -> None:
    args = (
        "--backfill --start 2024-01-01T00:00:00Z --duration-s 60 --providers 3 --workloads 4"
        " --rate 2 --incident thermal_throttling:1:10:20:0.5 --random-incidents 1 --json --quiet"
    )
    result = CliRunner().invoke(cli.simulate, args.split())
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["mode"] == "backfill" and summary["interval_ms"] == 500
    assert summary["start_ms"] == 1_704_067_200_000
    outage = any(i["kind"] == "provider_outage" for i in summary["incidents"])
    n_provider = summary["records_by_topic"]["telemetry.provider"]
    assert n_provider < 3 * 120 if outage else n_provider == 3 * 120
    assert summary["records_sent"] == len(memory_producer.sent)
    assert summary["interrupted"] is False
    kinds = [i["kind"] for i in summary["incidents"]]
    assert len(kinds) == 2 and "thermal_throttling" in kinds
    thermal = next(i for i in summary["incidents"] if i["kind"] == "thermal_throttling")
    assert thermal["provider_id"] == "prov-001" and thermal["start"].startswith("2024-01-01")
    assert thermal["end_ms"] - thermal["start_ms"] == 20_000


def test_cli_realtime_runs_for_duration(memory_producer: MemoryProducer) -> None:
    result = CliRunner().invoke(
        cli.simulate,
        ["--duration-s", "0.5", "--rate", "10", "--providers", "2", "--workloads", "1", "--json"],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["mode"] == "realtime" and summary["records_by_topic"]["telemetry.provider"] == 10


@pytest.mark.parametrize(
    "args",
    [
        ["--backfill"],
        ["--start", "2024-01-01T00:00:00Z", "--duration-s", "5"],
        ["--backfill", "--duration-s", "5", "--incident", "meteor:0:0:1"],
        ["--backfill", "--duration-s", "5", "--incident", "provider_outage:99:0:1"],
        ["--backfill", "--duration-s", "5", "--incident", "provider_outage:0:0"],
        # The demo scripts its own incidents, in real time, and needs room to move.
        ["--demo", "--backfill", "--duration-s", "5"],
        ["--demo", "--random-incidents", "2"],
        ["--demo", "--providers", "2"],
        ["--demo", "--providers", "12", "--workloads", "40"],
    ],
)
def test_cli_rejects_bad_usage(memory_producer: MemoryProducer, args: list[str]) -> None:
    result = CliRunner().invoke(cli.simulate, args)
    assert result.exit_code == 2, result.output
    assert not memory_producer.sent


def test_parse_helpers() -> None:
    arg = cli.parse_incident("network_degradation:3:1.5:2:0.25")
    inc = arg.resolve("prov-003", T0)
    assert (inc.kind, inc.start_ms, inc.end_ms, inc.severity) == (
        IncidentKind.NETWORK_DEGRADATION,
        T0 + 1500,
        T0 + 3500,
        0.25,
    )
    assert parse_time_ms("2024-01-01T00:00:00") == 1_704_067_200_000
    with pytest.raises(ValueError, match="severity"):
        cli.parse_incident("price_spike:0:0:1:2")
