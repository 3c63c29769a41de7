"""Worker memory with many distinct keys, before and after idle-state eviction (issue 17).

``python -m bench.state_eviction --ids 100000`` starts a broker (or uses
``KAFKA_BOOTSTRAP_SERVERS``) and a worker, sends one sample for each of ``--ids`` distinct
provider ids, then prints the worker's resident memory (VmRSS) as JSON lines: at start,
at the peak, once the windows closed, and after the eviction timeout
(``--evict-after-s``) when the worker has forgotten the idle keys. The target of issue 17:
100,000 ids → back below 600 MB. A bench, not a test: the figures depend on the machine.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import click

from agents.produce import produce_durably
from config.settings import Settings
from infra.kafka import broker as kafka
from schemas import ProviderSample, encode
from streams.workers import WorkerProcess, memory_mb


def sample(provider_id: str, ts_ms: int) -> bytes:
    return encode(
        ProviderSample(
            provider_id=provider_id,
            ts_ms=ts_ms,
            seq=0,
            gpu_util_pct=50.0,
            gpu_mem_used_gb=10.0,
            gpu_mem_total_gb=80.0,
            gpu_temp_c=60.0,
            power_w=300.0,
            sm_clock_mhz=1400.0,
            net_rtt_ms=2.0,
            net_bandwidth_gbps=100.0,
            gpus_busy=4,
            gpus_total=8,
            error_count=0,
        )
    )


def metric(worker: WorkerProcess, name: str, **labels: str) -> float:
    """``worker.metric``, or -1 while the worker is too busy to answer in time."""
    try:
        return worker.metric(name, **labels)
    except OSError:
        return -1.0


def report(stage: str, worker: WorkerProcess, **extra: object) -> None:
    assert worker.process is not None
    line = {"stage": stage, "rss_mb": round(memory_mb(worker.process.pid), 1), **extra}
    print(json.dumps(line), flush=True)


def run(
    bootstrap: str, tmp: Path, ids: int, agents: str, evict_after_s: float, wait_s: float
) -> None:
    run_id = uuid.uuid4().hex[:8]
    settings = Settings(
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=f"bench{run_id}.",
        app_id=f"evict-{run_id}",
        data_dir=tmp / "faust",
        web_port=kafka.free_port(),
        agents=agents,
        window_s=5,
        grace_s=1,
        idle_close_s=3.0,
        state_evict_after_s=evict_after_s,
    )
    worker = WorkerProcess(settings, tmp / "worker.log").start()
    try:
        worker.wait_ready()
        report("started", worker)
        ts_ms = int(time.time() * 1000) - 60_000
        items = (
            (
                settings.topic("telemetry.provider"),
                f"p-{i:07d}".encode(),
                sample(f"p-{i:07d}", ts_ms),
            )
            for i in range(ids)
        )
        asyncio.run(produce_durably(settings, items))
        while metric(worker, "computeperf_events_in_total", topic="telemetry.provider") < ids:
            time.sleep(1)
        report("consumed", worker, ids=ids)
        while metric(worker, "computeperf_windows_emitted_total") < ids:
            time.sleep(1)
        report("windows closed", worker, peak_rss_mb=round(worker.peak_rss_mb(), 1))
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if metric(worker, "computeperf_evicted_keys_total") >= ids:
                break
            time.sleep(2)
        time.sleep(5)
        evicted = metric(worker, "computeperf_evicted_keys_total")
        report("after eviction timeout", worker, evicted=evicted)
    finally:
        worker.stop()


@click.command()
@click.option("--ids", default=100_000, show_default=True, help="Distinct provider ids.")
@click.option("--agents", default="windows", show_default=True, help="Worker role.")
@click.option("--evict-after-s", default=30.0, show_default=True)
@click.option(
    "--wait-s",
    default=None,
    type=float,
    help="How long to wait for the eviction after the windows closed [evict-after-s + 60].",
)
def main(ids: int, agents: str, evict_after_s: float, wait_s: float | None) -> None:
    """Print the worker's RSS before and after idle-state eviction."""
    wait = evict_after_s + 60 if wait_s is None else wait_s
    with tempfile.TemporaryDirectory(prefix="computeperf-evict-") as name:
        tmp = Path(name)
        existing = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if existing:
            run(existing, tmp, ids, agents, evict_after_s, wait)
            return
        broker = kafka.start(
            data_dir=tmp / "kafka", port=kafka.free_port(), controller_port=kafka.free_port()
        )
        try:
            run(broker.bootstrap_servers, tmp, ids, agents, evict_after_s, wait)
        finally:
            broker.stop()


if __name__ == "__main__":
    sys.exit(main())
