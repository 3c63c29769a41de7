"""Fault run (a) of issue 17: the broker leading most input partitions SIGKILLed mid-run.

Telemetry flows at a steady pace into topics with three replicas and
``min.insync.replicas=2``; the node leading most ``telemetry.provider`` partitions is
SIGKILLed ``kill_after_s`` into the run and restarted ``restart_after_s`` after the kill
(from the calling thread: a node dies with the thread that started it). The worker is
never restarted. Shared by ``computeperf evaluate faults`` and
``tests/integration/test_cluster_faults.py``.

"Resumed" is the first moment the worker's ``computeperf_processing_latency_seconds_count``
(records processed with outputs durable) exceeds what was acknowledged before the kill
plus the chunk then in flight (and any chunk resent): a record acknowledged only after the
kill.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from bench.fault_harness import (
    ProcessingSampler,
    busiest_leader,
    partition_metadata,
    run_in_thread,
)
from bench.harness import drain_window_records
from bench.scenario import Scenario
from infra.kafka.broker import Cluster
from schemas import MetricWindow
from streams.workers import WorkerProcess

__all__ = ["BrokerKillRun", "kill_busiest_leader"]

RATE_PER_S = 30.0
CHUNK = 6  # records a send of the paced producer holds (RATE_PER_S / 5)


@dataclass
class BrokerKillRun:
    """What happened: the node killed, how long processing took to resume, the windows."""

    victim: int
    victim_led: int
    resume_s: float | None
    producer_error: BaseException | None
    windows: list[MetricWindow]  # every record on perf.metrics, repeats included
    worker_alive: bool


def kill_busiest_leader(
    cluster: Cluster,
    worker: WorkerProcess,
    scenario: Scenario,
    *,
    kill_after_s: float = 8.0,
    restart_after_s: float = 10.0,
    drain_timeout_s: float = 120.0,
) -> BrokerKillRun:
    """Produce ``scenario`` paced through ``worker`` (ready), kill and restart the busiest
    leader meanwhile, then read every window emitted."""
    settings = worker.settings
    source = settings.topic("telemetry.provider")
    victim, led = busiest_leader(asyncio.run(partition_metadata(cluster.bootstrap_servers, source)))
    sampler = ProcessingSampler(worker).start()
    producer, progress = run_in_thread(
        settings, scenario.messages(), rate_per_s=RATE_PER_S, chunk=CHUNK
    )
    try:
        time.sleep(kill_after_s)
        with progress.lock:
            acked_at_kill = progress.acked
        killed_at = time.monotonic()
        cluster.node(victim).kill()
        time.sleep(max(0.0, killed_at + restart_after_s - time.monotonic()))
        cluster.restart(victim)
        producer.join(300)
    finally:
        producer.join(60)
        sampler.stop()
    beyond = acked_at_kill + CHUNK * (1 + progress.resent_chunks)
    resumed = sampler.first_beyond(killed_at, beyond)
    expected = len(scenario.expected_windows(settings.window_ms))
    windows = drain_window_records(settings, expected, drain_timeout_s)
    return BrokerKillRun(
        victim=victim,
        victim_led=led,
        resume_s=None if resumed is None else resumed - killed_at,
        producer_error=progress.error if progress.done else TimeoutError("production unfinished"),
        windows=windows,
        worker_alive=worker.process is not None and worker.process.poll() is None,
    )
