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

Optional phases:

- ``--peers``: the same job on Quix Streams (``bench/quix_peer.py``, in a venv of its
  own: ``bench/peers.py``), on the same backlog in its own consumer group, measured by the
  rule of phase 2 on its processed count: ``quix_events_per_s`` and ``ratio_vs_quix`` =
  pipeline / quix events per second.
- ``--scale-out``: 1 and 2 workers (``--workers``) of one consumer group on a backlog of
  ``--scale-partitions`` (8) partitions, produced once every worker is ready and the
  group has settled: ``scale_out_events_per_s`` per worker count.
Progress goes to stderr; the JSON (with ``--json``) to stdout.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import threading
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
from bench.peers import QUIX_VERSION, QuixPeer, ensure_quix_python
from config.kafka import client_options
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
    admin = AIOKafkaAdminClient(**client_options(settings))
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
        **client_options(settings),
        group_id=f"{settings.app_id}-passthrough",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=settings.batch_max,
    )
    producer = AIOKafkaProducer(**client_options(settings), acks="all", linger_ms=5)
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


def worker_processed(*workers: WorkerProcess) -> Callable[[], float]:
    """The records the workers have processed so far, from their ``/metrics``."""
    return lambda: sum(
        w.metric("computeperf_events_in_total", topic="telemetry.provider") for w in workers
    )


def pipeline_throughput(
    processed: Callable[[], float],
    n: int,
    timeout_s: float,
    on_progress: Callable[[float], None] = lambda n: None,
) -> float:
    """Poll a processed-records counter; return events/s from the first to the last record.

    The same rule for every contender: our workers (``worker_processed``) and the peers.
    """
    first_t, deadline = None, time.monotonic() + timeout_s
    first_n = 0.0
    seen = 0.0
    while time.monotonic() < deadline:
        done = processed()
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
    raise click.ClickException(f"{n} records not processed in {timeout_s:.0f}s")


def quix_phase(settings: Settings, source: str, n: int, workdir: Path) -> tuple[float, int, float]:
    """The Quix Streams peer on ``source`` (its own group): events/s, windows out, peak RSS.

    Measured with the rule of our phase (``pipeline_throughput`` on its processed count).
    """
    peer = QuixPeer(
        python=ensure_quix_python(),
        bootstrap=settings.kafka_bootstrap_servers,
        source=source,
        sink=settings.topic("bench.quix-windows"),
        group=f"{settings.app_id}-quix",
        workdir=workdir,
        window_s=settings.window_s,
        grace_s=settings.grace_s,
        partitions=settings.partitions,
    ).start()
    try:
        with terminal_progress("[bench] quix", total=n) as advance:
            eps = pipeline_throughput(
                peer.processed, n, timeout_s=max(120.0, n / 500), on_progress=advance
            )
        return eps, peer.counters()["windows"], peer.peak_rss_mb()
    finally:
        peer.stop()


async def group_members(settings: Settings) -> tuple[str, int]:
    """State and member count of the workers' consumer group."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([settings.group_id])
        _error, _group, state, _ptype, _protocol, members = response.groups[0][:6]
        return str(state), len(members)
    finally:
        await admin.close()


def wait_group_stable(settings: Settings, members: int, timeout_s: float = 120.0) -> None:
    """Wait until the consumer group is Stable with ``members`` members (rebalance done)."""
    deadline = time.monotonic() + timeout_s
    state, count = "", 0
    while time.monotonic() < deadline:
        state, count = asyncio.run(group_members(settings))
        if state == "Stable" and count == members:
            return
        time.sleep(0.5)
    raise click.ClickException(f"group {settings.group_id}: {state} with {count} members")


def scale_out_run(
    settings: Settings,
    values: list[tuple[bytes, bytes]],
    workers: int,
    tmp: Path,
    started: list[WorkerProcess],
) -> tuple[float, list[int]]:
    """Events/s of ``workers`` workers of one group, and each one's share of the records.

    The workers start on empty topics; the backlog is produced (in a thread) only when
    every one is ready (``/readyz``) and the group has settled with all of them, so the
    figure is their throughput together, not a first worker's head start while the second
    joins. The producer is several times faster than the workers: they stay behind it.
    """
    asyncio.run(ensure_topics(settings))
    group = [
        WorkerProcess(
            settings.model_copy(
                update={"web_port": kafka.free_port(), "data_dir": tmp / f"w{workers}-{i}"}
            ),
            tmp / f"scale-{workers}-worker-{i}.log",
        )
        for i in range(workers)
    ]
    for worker in group:
        started.append(worker.start())
    for worker in group:
        worker.wait_ready()
    wait_group_stable(settings, workers)
    for worker in group:
        worker.wait_ready()
    source = settings.topic("telemetry.provider")
    records = [(source, k, v) for k, v in values]
    producer = threading.Thread(
        target=lambda: asyncio.run(produce_durably(settings, records)),
        daemon=True,
    )
    producer.start()
    try:
        with terminal_progress(f"[bench] {workers} worker(s)", total=len(values)) as advance:
            eps = pipeline_throughput(
                worker_processed(*group),
                len(values),
                timeout_s=max(120.0, len(values) / 500),
                on_progress=advance,
            )
        return eps, [int(worker_processed(w)()) for w in group]
    finally:
        producer.join()
        for worker in group:
            worker.stop()


async def latency_run(settings: Settings, rate: float, duration_s: float) -> dict[str, Any]:
    """Produce live samples at ``rate``/s; return per-sample e2e latency percentiles."""
    topic = settings.topic("telemetry.provider")
    producer = AIOKafkaProducer(**client_options(settings), acks="all", linger_ms=2)
    consumer = AIOKafkaConsumer(
        settings.topic("perf.metrics"),
        **client_options(settings),
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
    events: int,
    window_s: int,
    rate: float,
    duration_s: float,
    agents: str,
    peers: bool = False,
    scale_out: tuple[int, ...] = (),
    scale_partitions: int = 8,
) -> dict[str, Any]:
    base = Settings()
    broker = None
    security = client_options(base)
    if not kafka.serves_metadata(security.pop("bootstrap_servers"), **security):
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
        asyncio.run(produce_durably(settings, ((source, k, v) for k, v in values)))

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
                worker_processed(worker),
                events,
                timeout_s=max(120.0, events / 500),
                on_progress=advance,
            )
        peak_rss = worker.peak_rss_mb()
        say(f"pipeline: {pipeline_eps:,.0f} events/s, peak RSS {peak_rss:.0f} MiB")
        worker.stop()

        compared: dict[str, Any] = {}
        if peers:
            say("peers: Quix Streams on the same backlog (its own consumer group) ...")
            quix_eps, quix_windows, quix_rss = quix_phase(settings, source, events, tmp / "quix")
            say(f"quix: {quix_eps:,.0f} events/s, {quix_windows} windows out")
            compared = {
                "quix_events_per_s": round(quix_eps, 1),
                "ratio_vs_quix": round(pipeline_eps / quix_eps, 3),
                "quix_windows_out": quix_windows,
                "quix_peak_rss_mb": round(quix_rss, 1),
                "quix_version": QUIX_VERSION,
                "quix_p95": "custom Aggregator: log-bucket sketch, 1 % relative accuracy",
            }

        say(f"phase 3/3: live latency at {rate:.0f} events/s for {duration_s:.0f}s ...")
        live = bench_settings(base, run + "l", tmp, agents, window_s)
        asyncio.run(ensure_topics(live))
        live_worker = WorkerProcess(live, tmp / "latency-worker.log")
        workers.append(live_worker.start())
        # Steady state: the worker's start-up (table recovery) is not latency of the pipeline.
        live_worker.wait_ready()
        latency = asyncio.run(latency_run(live, rate, duration_s))
        peak_rss = max(peak_rss, live_worker.peak_rss_mb())
        live_worker.stop()

        scaled: dict[str, Any] = {}
        if scale_out:
            per_count: dict[str, float] = {}
            shares: dict[str, list[int]] = {}
            for count in scale_out:
                say(f"scale-out: {count} worker(s) on {scale_partitions} partitions ...")
                wide = bench_settings(base, f"{run}x{count}", tmp, agents).model_copy(
                    update={"partitions": scale_partitions}
                )
                eps, shares[str(count)] = scale_out_run(
                    wide, values, count, tmp / f"scale{count}", workers
                )
                per_count[str(count)] = round(eps, 1)
                say(f"scale-out: {count} worker(s): {eps:,.0f} events/s")
            scaled = {
                "scale_out_partitions": scale_partitions,
                "scale_out_events_per_s": per_count,
                "scale_out_records_per_worker": shares,
            }
            if len(scale_out) > 1:
                low, high = str(min(scale_out)), str(max(scale_out))
                scaled["scale_out_speedup"] = round(per_count[high] / per_count[low], 3)
        return {
            "events": events,
            "pipeline_events_per_s": round(pipeline_eps, 1),
            "passthrough_events_per_s": round(passthrough_eps, 1),
            "ratio": round(pipeline_eps / passthrough_eps, 3),
            **compared,
            **latency,
            "peak_rss_mb": round(peak_rss, 1),
            "window_s": window_s,
            "agents": settings.agents,
            "rules": str(settings.rules_path or "default (every file of alerts/rules/)"),
            "latency_rate_per_s": rate,
            "partitions": settings.partitions,
            "batch_max": settings.batch_max,
            "bootstrap": settings.kafka_bootstrap_servers,
            **scaled,
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
@click.option(
    "--peers",
    is_flag=True,
    help="Also run the job on Quix Streams (same backlog, own group): quix_events_per_s, "
    "ratio_vs_quix. Its venv (.cache/quix-venv) is built on first use.",
)
@click.option(
    "--scale-out",
    "scale_out",
    is_flag=True,
    help="Also measure 1 and 2 workers (--workers to choose) on a backlog of "
    "--scale-partitions partitions: scale_out_events_per_s per worker count.",
)
@click.option(
    "--workers",
    "worker_counts",
    default="1,2",
    show_default=True,
    help="Worker counts of --scale-out, comma-separated.",
)
@click.option("--scale-partitions", default=8, show_default=True, help="Partitions of --scale-out.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def bench_pipeline(
    events: int,
    window_s: int,
    rate: float,
    duration_s: float,
    agents: str,
    peers: bool,
    scale_out: bool,
    worker_counts: str,
    scale_partitions: int,
    as_json: bool,
) -> None:
    """Sustained throughput and e2e latency of the pipeline vs a raw passthrough (and peers)."""
    counts = tuple(int(c) for c in worker_counts.split(",")) if scale_out else ()
    result = run_bench(events, window_s, rate, duration_s, agents, peers, counts, scale_partitions)
    if as_json:
        click.echo(json.dumps(result))
    else:
        for key, value in result.items():
            click.echo(f"{key:>26}: {value}")
    sys.stdout.flush()
