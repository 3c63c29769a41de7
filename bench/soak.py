"""``computeperf bench soak``: steady live load on one worker for N minutes; does it drift?

A broker (the configured one, or a temporary one as ``bench pipeline`` starts), one
``computeperf worker`` and a producer thread sending live provider telemetry (event time =
now) at ``--rate`` samples/s from a population of ``--providers`` providers, of which
``--churn`` (a fraction) is replaced by new ids every minute: the replaced ids go idle and
must be evicted (``--evict-after-s``), so the state stays bounded only if eviction works.

Once a minute the bench samples the worker's resident memory (``VmRSS``,
:func:`streams.workers.memory_mb`), its lag (records produced minus records it has
processed, from its ``/metrics``) and its state size (``computeperf_state_keys``), prints
a progress line on stderr and, at the end, one JSON object: the samples and the slope of
each series after the warm-up (:mod:`bench.soak_summary`). Acceptance (issue 17): RSS
slope ≤ 1 MB/min after the first 5 minutes, lag bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import tempfile
import threading
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click
import numpy as np

from agents.produce import durable_producer, send_all
from bench.pipeline import encode_sample
from bench.soak_summary import Sample, summarize, warmup_minutes
from config.kafka import client_options
from config.settings import Settings
from infra.kafka import broker as kafka
from streams.heap_snapshots import snapshot_path
from streams.topics import ensure_topics
from streams.workers import WorkerProcess, memory_mb, metric_sum

SOURCE = "telemetry.provider"


def say(message: str) -> None:
    click.echo(f"[soak] {message}", err=True)


@dataclass
class Population:
    """The providers sending now; :meth:`churn` replaces a fraction by never-seen ids.

    >>> p = Population(size=4, churn=0.5)
    >>> p.ids
    ['p0-0000', 'p0-0001', 'p0-0002', 'p0-0003']
    >>> p.churn_once(); p.ids
    ['p1-0000', 'p1-0001', 'p0-0002', 'p0-0003']
    """

    size: int
    churn: float
    generation: int = 0
    ids: list[str] = field(default_factory=list)
    cursor: int = 0

    def __post_init__(self) -> None:
        self.ids = [f"p0-{i:04d}" for i in range(self.size)]

    def churn_once(self) -> None:
        """Replace the next ``churn`` share of the slots (round robin) by new ids."""
        self.generation += 1
        for n in range(round(self.size * self.churn)):
            slot = (self.cursor + n) % self.size
            self.ids[slot] = f"p{self.generation}-{slot:04d}"
        self.cursor = (self.cursor + round(self.size * self.churn)) % self.size


@dataclass
class LoadThread:
    """A thread producing live samples at ``rate``/s until stopped; counts what is acked."""

    settings: Settings
    population: Population
    rate: float
    produced: int = 0
    error: BaseException | None = None
    stopping: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def start(self) -> LoadThread:
        self.thread = threading.Thread(target=self._run, name="soak-load", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=30)

    def _run(self) -> None:
        try:
            asyncio.run(self._produce())
        except BaseException as exc:  # reported by the sampler: the run is void
            self.error = exc

    async def _produce(self) -> None:
        topic = self.settings.topic(SOURCE)
        rng = np.random.default_rng(11)
        seq: dict[str, int] = {}
        tick_s, sent_f = 0.1, 0.0
        start = time.monotonic()
        async with durable_producer(self.settings) as producer:
            i = 0
            while not self.stopping.is_set():
                due = self.rate * (time.monotonic() - start)
                batch = []
                while sent_f < due:
                    ids = self.population.ids
                    provider = ids[i % len(ids)]
                    i += 1
                    sent_f += 1
                    n = seq.get(provider, 0)
                    seq[provider] = n + 1
                    now_ms = int(time.time() * 1000)
                    temp, util = float(rng.normal(68, 4)), float(rng.uniform(20, 100))
                    value = encode_sample(provider, now_ms, n, temp, util)
                    batch.append((topic, provider.encode(), value))
                if batch:
                    self.produced += await send_all(producer, batch)
                # Forget the cursors of ids churned out (their worker state is evicted).
                if len(seq) > 4 * len(self.population.ids):
                    live = set(self.population.ids)
                    seq = {k: v for k, v in seq.items() if k in live}
                await asyncio.sleep(tick_s)


@dataclass
class HeapProbe:
    """Heap snapshots of a worker started with ``PYTHONTRACEMALLOC=1`` (``--tracemalloc``).

    The worker writes one on ``SIGUSR2`` (:mod:`streams.heap_snapshots`); the probe keeps
    the one at the end of the warm-up and the latest, to say which lines grew in between.
    """

    pid: int
    folder: Path
    taken: int = 0
    base: tracemalloc.Snapshot | None = None
    last: tracemalloc.Snapshot | None = None

    def take(self, keep_as_base: bool, timeout_s: float = 300.0) -> float:
        """Take a snapshot; return the traced heap in MiB."""
        path = snapshot_path(self.folder, self.taken)
        self.taken += 1
        os.kill(self.pid, signal.SIGUSR2)
        deadline = time.monotonic() + timeout_s
        while not path.exists():
            if time.monotonic() > deadline:
                raise click.ClickException(f"no heap snapshot {path} in {timeout_s:.0f}s")
            time.sleep(0.5)
        snap = tracemalloc.Snapshot.load(str(path)).filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        path.unlink()
        self.last = snap
        if keep_as_base or self.base is None:
            self.base = snap
        return sum(t.size for t in snap.traces) / 2**20

    def growth(self, top: int = 15) -> list[str]:
        """The source lines whose live allocations grew most from the base to the latest."""
        if self.base is None or self.last is None:
            return []
        return [
            f"{d.traceback[0].filename}:{d.traceback[0].lineno} "
            f"{d.size_diff / 1024:+,.0f} KiB ({d.count_diff:+,} blocks)"
            for d in self.last.compare_to(self.base, "lineno")[:top]
        ]


def soak_settings(base: Settings, tmp: Path, agents: str, evict_after_s: float) -> Settings:
    run = uuid.uuid4().hex[:6]
    return base.model_copy(
        update={
            "topic_prefix": f"soak{run}.",
            "app_id": f"computeperf-soak-{run}",
            "data_dir": tmp / run,
            "web_port": kafka.free_port(),
            "agents": agents,
            "state_evict_after_s": evict_after_s,
        }
    )


@contextmanager
def local_broker(base: Settings) -> Iterator[Settings]:
    """``base``, or a copy pointing at a temporary broker when none serves its address."""
    security = client_options(base)
    if kafka.serves_metadata(security.pop("bootstrap_servers"), **security):
        yield base
        return
    say("no broker at the configured address: starting a temporary one")
    data = Path(tempfile.mkdtemp(prefix="computeperf-soak-kafka-"))
    broker = kafka.start(data_dir=data, port=kafka.free_port(), controller_port=kafka.free_port())
    try:
        yield base.model_copy(update={"kafka_bootstrap_servers": broker.bootstrap_servers})
    finally:
        broker.stop()


def take_sample(
    minute: float, worker: WorkerProcess, load: LoadThread, traced_mb: float | None = None
) -> Sample:
    """The worker now: RSS, lag (produced - processed), keys held, evicted so far."""
    assert worker.process is not None
    produced = load.produced
    for attempt in range(6):  # a busy worker may answer /metrics late: wait, never give up
        try:
            text = worker.metrics_text()
            break
        except OSError:
            if worker.process.poll() is not None or attempt == 5:
                raise
            time.sleep(5)
    processed = metric_sum(text, "computeperf_events_in_total", topic=SOURCE)
    return Sample(
        minute=minute,
        rss_mb=memory_mb(worker.process.pid),
        lag=max(0.0, produced - processed),
        state_keys=metric_sum(text, "computeperf_state_keys", topic=SOURCE),
        produced=produced,
        processed=processed,
        evicted=metric_sum(text, "computeperf_evicted_keys_total", topic=SOURCE),
        traced_mb=traced_mb,
    )


def run_soak(
    minutes: int,
    rate: float,
    providers: int,
    churn: float,
    agents: str,
    evict_after_s: float,
    sample_s: float = 60.0,
    heap: bool = False,
) -> dict[str, Any]:
    """Run the soak; return the samples and the summary (:func:`bench.soak_summary.summarize`).

    ``heap``: the worker traces its allocations (``PYTHONTRACEMALLOC=1``) and the result
    has the traced heap per sample and the lines that grew most after the warm-up.
    """
    tmp = Path(tempfile.mkdtemp(prefix="computeperf-soak-"))
    warmup = warmup_minutes(minutes)
    probe: HeapProbe | None = None
    with local_broker(Settings()) as base:
        settings = soak_settings(base, tmp, agents, evict_after_s)
        asyncio.run(ensure_topics(settings))
        if heap:
            os.environ["PYTHONTRACEMALLOC"] = "1"  # read by the worker child only
        worker = WorkerProcess(settings, tmp / "worker.log").start()
        os.environ.pop("PYTHONTRACEMALLOC", None)
        assert worker.process is not None
        if heap:
            probe = HeapProbe(worker.process.pid, settings.data_dir)
        load: LoadThread | None = None
        try:
            worker.wait_ready()
            population = Population(providers, churn)
            load = LoadThread(settings, population, rate).start()
            samples = [take_sample(0.0, worker, load)]
            t0 = time.monotonic()
            for minute in range(1, minutes + 1):
                time.sleep(max(0.0, t0 + minute * sample_s - time.monotonic()))
                if load.error is not None:
                    raise click.ClickException(f"load producer failed: {load.error!r}")
                population.churn_once()
                traced = probe.take(keep_as_base=minute == warmup) if probe else None
                sample = take_sample(float(minute), worker, load, traced)
                samples.append(sample)
                say(
                    f"minute {minute}/{minutes}: RSS {sample.rss_mb:.1f} MB, "
                    f"lag {sample.lag:.0f}, state keys {sample.state_keys:.0f}, "
                    f"evicted {sample.evicted:.0f}, produced {sample.produced}"
                    + (f", traced heap {traced:.1f} MB" if traced is not None else "")
                )
        finally:
            if load is not None:
                load.stop()
            worker.stop()
    summary = summarize(samples, minutes, max_rss_slope=1.0, max_lag=rate * 30)
    if probe is not None:
        summary["heap_growth_after_warmup"] = probe.growth()
    return {
        "minutes": minutes,
        "rate_per_s": rate,
        "providers": providers,
        "churn_per_min": churn,
        "evict_after_s": evict_after_s,
        "agents": settings.agents,
        "window_s": settings.window_s,
        "bootstrap": settings.kafka_bootstrap_servers,
        **summary,
        "samples": [s.as_dict() for s in samples],
    }


@click.command("soak")
@click.option("--minutes", default=30, show_default=True, help="Length of the run.")
@click.option("--rate", default=500.0, show_default=True, help="Live samples/s.")
@click.option("--providers", default=2000, show_default=True, help="Providers sending at once.")
@click.option(
    "--churn",
    default=0.1,
    show_default=True,
    help="Share of the providers replaced by new ids every minute (the old ones go idle).",
)
@click.option(
    "--evict-after-s",
    default=120.0,
    show_default=True,
    help="The worker's state_evict_after_s: idle ids are forgotten after this long.",
)
@click.option("--agents", default="windows,alerts", show_default=True, help="Worker role.")
@click.option(
    "--sample-s",
    default=60.0,
    show_default=True,
    help="Length of a 'minute' (a shorter one for a quick check; slopes stay per sample).",
)
@click.option(
    "--tracemalloc",
    "heap",
    is_flag=True,
    help="Trace the worker's allocations (slower): traced heap per sample and the source "
    "lines that grew most after the warm-up (heap_growth_after_warmup).",
)
def soak_command(
    minutes: int,
    rate: float,
    providers: int,
    churn: float,
    evict_after_s: float,
    agents: str,
    sample_s: float,
    heap: bool,
) -> None:
    """Steady load on one worker for N minutes: slopes of RSS, lag and state size (JSON)."""
    result = run_soak(minutes, rate, providers, churn, agents, evict_after_s, sample_s, heap)
    click.echo(json.dumps(result))
