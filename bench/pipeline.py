"""``computeperf bench pipeline``: the worker's throughput and latency, against a baseline.

Three phases, each on fresh topics of the same broker, printed as one JSON object:

1. **passthrough** — the baseline: a raw aiokafka consumer→producer copying the N
   pre-produced records to another topic (batched ``getmany``, all sends awaited).
2. **pipeline** — a real ``computeperf worker`` process consumes the same N records (with
   historical event times) from a backlog; throughput = N / time from its first to its
   last processed record, read from its ``/metrics`` counter.
3. **latency** — a fresh worker, once ready (``/readyz``: tables recovered), and samples
   produced at ``--rate`` per second with event time = produce time; for each sample,
   e2e latency = the Kafka timestamp of the window record that contains it minus the
   sample's produce time. Windows still open when
   production stops (closed later by the idle timeout) are left out.

``ratio`` = pipeline / passthrough events per second (the first target is >= 0.25).
Progress goes to stderr; the JSON (with ``--json``) to stdout.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import numpy as np
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from agents.produce import produce_durably
from config.settings import Settings
from infra.kafka import broker as kafka
from schemas import MetricWindow, ProviderSample, encode
from streams.progress import terminal_progress
from streams.topics import ensure_topics
from streams.workers import WorkerProcess

PROVIDERS = 200


def say(message: str) -> None:
    click.echo(f"[bench] {message}", err=True)


def encode_sample(provider_id: str, ts_ms: int, seq: int, temp_c: float, util_pct: float) -> bytes:
    """One valid provider sample, encoded as on the wire."""
    return encode(
        ProviderSample(
            provider_id=provider_id,
            ts_ms=ts_ms,
            seq=seq,
            gpu_util_pct=util_pct,
            gpu_mem_used_gb=40.0,
            gpu_mem_total_gb=80.0,
            gpu_temp_c=temp_c,
            power_w=350.0,
            sm_clock_mhz=1700.0,
            net_rtt_ms=12.0,
            net_bandwidth_gbps=10.0,
            gpus_busy=4,
            gpus_total=8,
            error_count=0,
        )
    )


def samples(n: int, start_ms: int, interval_ms: int, providers: int) -> Iterator[bytes]:
    """``n`` valid provider samples, round-robin over ``providers``, event time increasing."""
    rng = np.random.default_rng(7)
    temps = rng.normal(68, 4, size=n)
    utils = rng.uniform(20, 100, size=n)
    for i in range(n):
        p, tick = i % providers, i // providers
        yield encode_sample(
            f"prov-{p:04d}", start_ms + tick * interval_ms, tick, float(temps[i]), float(utils[i])
        )


def bench_settings(
    base: Settings, run: str, tmp: Path, agents: str, window_s: int | None = None
) -> Settings:
    return base.model_copy(
        update={
            "topic_prefix": f"bench{run}.",
            "app_id": f"computeperf-bench-{run}",
            "data_dir": tmp / run,
            "web_port": kafka.free_port(),
            "agents": agents,
            "window_s": window_s or base.window_s,
            "grace_s": 0 if window_s else base.grace_s,
            "idle_close_s": 5.0,
        }
    )


async def create_topic(settings: Settings, name: str) -> None:
    """Create the passthrough's sink topic, shaped like the pipeline's topics."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        topic = NewTopic(name, settings.partitions, settings.replication_factor)
        await admin.create_topics([topic])
    finally:
        await admin.close()


async def passthrough(
    settings: Settings,
    source: str,
    sink: str,
    n: int,
    on_progress: Callable[[float], None] = lambda n: None,
) -> float:
    """Copy ``n`` records from ``source`` to ``sink`` with raw aiokafka; return events/s."""
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"{settings.app_id}-passthrough",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=settings.batch_max,
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=5
    )
    await consumer.start()
    await producer.start()
    try:
        copied, first = 0, None
        while copied < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=settings.batch_max)
            msgs = [m for part in batch.values() for m in part]
            if not msgs:
                continue
            first = first or time.perf_counter()
            futures = [await producer.send(sink, key=m.key, value=m.value) for m in msgs]
            await asyncio.gather(*futures)
            await consumer.commit()
            copied += len(msgs)
            on_progress(len(msgs))
        assert first is not None
        return n / (time.perf_counter() - first)
    finally:
        await consumer.stop()
        await producer.stop()


def pipeline_throughput(
    worker: WorkerProcess,
    n: int,
    timeout_s: float,
    on_progress: Callable[[float], None] = lambda n: None,
) -> float:
    """Poll the worker's processed-records counter; return events/s from first to last."""
    first_t, deadline = None, time.monotonic() + timeout_s
    seen = 0.0
    while time.monotonic() < deadline:
        done = worker.metric("computeperf_events_in_total", topic="telemetry.provider")
        on_progress(min(done, n) - seen)
        seen = min(done, n)
        now = time.perf_counter()
        if done > 0 and first_t is None:
            first_t, first_n = now, done
        if done >= n:
            assert first_t is not None
            # The first poll that saw progress already includes one batch: count from it.
            return (n - first_n) / max(now - first_t, 1e-6) if now > first_t else float("inf")
        time.sleep(0.05)
    raise click.ClickException(f"the worker did not process {n} records in {timeout_s:.0f}s")


async def latency_run(settings: Settings, rate: float, duration_s: float) -> dict[str, Any]:
    """Produce live samples at ``rate``/s; return per-sample e2e latency percentiles."""
    topic = settings.topic("telemetry.provider")
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=2
    )
    consumer = AIOKafkaConsumer(
        settings.topic("perf.metrics"),
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await producer.start()
    await consumer.start()
    produced: dict[str, list[int]] = {}  # window key -> produce times of its samples
    window_ms = settings.window_ms
    providers = 50
    seq = [0] * providers
    tick_s = 0.02
    per_tick = max(1, round(rate * tick_s))
    window_ts: dict[str, int] = {}

    async def consume() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                for m in part:
                    w = MetricWindow.model_validate_json(m.value)
                    window_ts.setdefault(w.key, m.timestamp)

    reader = asyncio.create_task(consume())
    try:
        t_end = time.monotonic() + duration_s
        i = 0
        while time.monotonic() < t_end:
            tick_start = time.monotonic()
            futures = []
            for _ in range(per_tick):
                p = i % providers
                now_ms = int(time.time() * 1000)
                provider = f"live-{p:03d}"
                sample = encode_sample(provider, now_ms, seq[p], 68.0, 50.0)
                seq[p] += 1
                i += 1
                start = now_ms - now_ms % window_ms
                produced.setdefault(f"provider:{provider}:{start}:{window_ms}", []).append(now_ms)
                futures.append(await producer.send(topic, key=provider.encode(), value=sample))
            await asyncio.gather(*futures)
            await asyncio.sleep(max(0.0, tick_s - (time.monotonic() - tick_start)))
        last_ms = int(time.time() * 1000)
        # Windows that end before production stopped are closed by data, not by idleness.
        closable = {k for k in produced if int(k.split(":")[2]) + window_ms <= last_ms - 500}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not closable <= window_ts.keys():
            await asyncio.sleep(0.2)
    finally:
        reader.cancel()
        await producer.stop()
        await consumer.stop()
    latencies = np.array(
        [window_ts[k] - t for k in closable if k in window_ts for t in produced[k]], dtype=float
    )
    missing = len(closable - window_ts.keys())
    return {
        "latency_events": int(latencies.size),
        "latency_windows_missing": missing,
        "e2e_p50_ms": round(float(np.percentile(latencies, 50)), 1) if latencies.size else None,
        "e2e_p99_ms": round(float(np.percentile(latencies, 99)), 1) if latencies.size else None,
    }


def run_bench(
    events: int, window_s: int, rate: float, duration_s: float, agents: str
) -> dict[str, Any]:
    base = Settings()
    broker = None
    if not kafka.serves_metadata(base.kafka_bootstrap_servers):
        say("no broker at the configured address: starting a temporary one")
        tmp_broker = Path(tempfile.mkdtemp(prefix="computeperf-bench-kafka-"))
        broker = kafka.start(
            data_dir=tmp_broker, port=kafka.free_port(), controller_port=kafka.free_port()
        )
        base = base.model_copy(update={"kafka_bootstrap_servers": broker.bootstrap_servers})
    tmp = Path(tempfile.mkdtemp(prefix="computeperf-bench-"))
    run = uuid.uuid4().hex[:6]
    workers: list[WorkerProcess] = []
    try:
        # The backlog is 1 Hz telemetry of PROVIDERS providers with the configured window
        # (60 s by default): the shape of production traffic.
        settings = bench_settings(base, run, tmp, agents)
        asyncio.run(ensure_topics(settings))
        start_ms = int(time.time() * 1000) - 3_600_000 - events // PROVIDERS * 1000
        interval_ms = 1000
        say(f"encoding {events} samples ...")
        values = [
            (f"prov-{i % PROVIDERS:04d}".encode(), v)
            for i, v in enumerate(samples(events, start_ms, interval_ms, PROVIDERS))
        ]
        source = settings.topic("telemetry.provider")
        say(f"producing the backlog to {source} ...")
        asyncio.run(
            produce_durably(settings.kafka_bootstrap_servers, ((source, k, v) for k, v in values))
        )

        say("phase 1/3: raw aiokafka passthrough ...")
        sink = settings.topic("bench.passthrough")
        asyncio.run(create_topic(settings, sink))
        with terminal_progress("[bench] passthrough", total=events) as advance:
            passthrough_eps = asyncio.run(passthrough(settings, source, sink, events, advance))
        say(f"passthrough: {passthrough_eps:,.0f} events/s")

        say("phase 2/3: pipeline worker on the backlog ...")
        worker = WorkerProcess(settings, tmp / "pipeline-worker.log")
        workers.append(worker.start())
        with terminal_progress("[bench] pipeline", total=events) as advance:
            pipeline_eps = pipeline_throughput(
                worker, events, timeout_s=max(120.0, events / 500), on_progress=advance
            )
        peak_rss = worker.peak_rss_mb()
        say(f"pipeline: {pipeline_eps:,.0f} events/s, peak RSS {peak_rss:.0f} MiB")
        worker.stop()

        say(f"phase 3/3: live latency at {rate:.0f} events/s for {duration_s:.0f}s ...")
        live = bench_settings(base, run + "l", tmp, agents, window_s)
        asyncio.run(ensure_topics(live))
        live_worker = WorkerProcess(live, tmp / "latency-worker.log")
        workers.append(live_worker.start())
        # Steady state: the worker's start-up (table recovery) is not latency of the pipeline.
        live_worker.wait_ready()
        latency = asyncio.run(latency_run(live, rate, duration_s))
        peak_rss = max(peak_rss, live_worker.peak_rss_mb())
        return {
            "events": events,
            "pipeline_events_per_s": round(pipeline_eps, 1),
            "passthrough_events_per_s": round(passthrough_eps, 1),
            "ratio": round(pipeline_eps / passthrough_eps, 3),
            **latency,
            "peak_rss_mb": round(peak_rss, 1),
            "window_s": window_s,
            "agents": settings.agents,
            "rules": str(settings.rules_path or "default (every file of alerts/rules/)"),
            "latency_rate_per_s": rate,
            "partitions": settings.partitions,
            "batch_max": settings.batch_max,
            "bootstrap": settings.kafka_bootstrap_servers,
        }
    finally:
        for w in workers:
            w.stop()
        if broker is not None:
            broker.stop()


@click.group("bench")
def bench_group() -> None:
    """Benchmarks (figures as ratios against a baseline measured in the same run)."""


@bench_group.command("pipeline")
@click.option("--events", default=200_000, show_default=True, help="Backlog size (records).")
@click.option("--window-s", default=2, show_default=True, help="Window length for the run.")
@click.option("--rate", default=2000.0, show_default=True, help="Live samples/s (latency).")
@click.option("--duration-s", default=15.0, show_default=True, help="Live phase length.")
@click.option(
    "--agents",
    default="windows,alerts",
    show_default=True,
    help="Worker role under test: the telemetry stage by default; the anomaly stage is a "
    "role of its own in production (see docs/benchmarks.md); 'windows,alerts,anomalies' "
    "measures one worker running everything.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def bench_pipeline(
    events: int, window_s: int, rate: float, duration_s: float, agents: str, as_json: bool
) -> None:
    """Sustained throughput and e2e latency of the pipeline vs a raw passthrough."""
    result = run_bench(events, window_s, rate, duration_s, agents)
    if as_json:
        click.echo(json.dumps(result))
    else:
        for key, value in result.items():
            click.echo(f"{key:>26}: {value}")
    sys.stdout.flush()
