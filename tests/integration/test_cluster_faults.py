"""Issue 17: on a 3-broker cluster, the leader of most input partitions dies mid-run.

Telemetry flows at a steady pace into topics with three replicas and
``min.insync.replicas=2``; the broker leading most ``telemetry.provider`` partitions is
SIGKILLed and restarted 10 s later. Leaders move to the two survivors, the worker (never
restarted) goes on, and every window holds exactly the samples produced for it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiokafka import AIOKafkaClient
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from agents.produce import durable_producer, send_all
from config.settings import Settings
from infra.kafka import broker as kafka
from tests.integration.harness import (
    drain_windows,
    fresh_settings,
    miscounted,
    produce,
    start_worker,
)
from tests.integration.scenario import thermal_scenario

pytestmark = [pytest.mark.kafka, pytest.mark.cluster]

RATE_PER_S = 30.0
CHUNK = 6  # records a send of the paced producer holds (RATE_PER_S / 5)
KILL_AFTER_S = 8.0
RESTART_AFTER_S = 10.0
RESUME_LIMIT_S = 30.0


@dataclass
class Progress:
    """What the paced producer has had acknowledged, for another thread to read."""

    acked: int = 0
    resent_chunks: int = 0
    done: bool = False
    error: BaseException | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


async def produce_paced(
    settings: Settings, messages: list[tuple[str, str, bytes]], progress: Progress
) -> None:
    """Send ``messages`` at :data:`RATE_PER_S`, one chunk at a time, counting the acks.

    A chunk that fails is sent again (it may then be on the topic twice; the pipeline
    de-duplicates by ``seq``); the resends are counted.
    """
    async with durable_producer(settings) as producer:
        for at in range(0, len(messages), CHUNK):
            out = [(settings.topic(t), k.encode(), v) for t, k, v in messages[at : at + CHUNK]]
            while True:
                try:
                    await send_all(producer, out)
                    break
                except Exception:
                    with progress.lock:
                        progress.resent_chunks += 1
                    await asyncio.sleep(0.5)
            with progress.lock:
                progress.acked += len(out)
            await asyncio.sleep(CHUNK / RATE_PER_S)


async def partition_metadata(bootstrap: str, topic: str) -> dict[int, tuple[int, list[int]]]:
    """``partition -> (leader, in-sync replicas)`` of ``topic``, fresh from the cluster."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        client.add_topic(topic)
        await client.force_metadata_update()
        parts = client.cluster._partitions.get(topic, {})
        return {p: (meta.leader, sorted(meta.isr)) for p, meta in parts.items()}
    finally:
        await client.close()


async def topic_settings(bootstrap: str, topic: str) -> dict[str, str]:
    """The effective configuration of ``topic`` as the cluster reports it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        response = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        (resource,) = response[0].to_object()["resources"]
        return {e["config_names"]: e["config_value"] for e in resource["config_entries"]}
    finally:
        await admin.close()


def wait_for(check: Callable[[], bool], timeout_s: float) -> bool:
    """Poll ``check`` every half second until it holds or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.5)
    return check()


def test_leader_sigkill_loses_no_window_and_processing_resumes(
    kafka_cluster: kafka.Cluster,
    tmp_path: Path,
    report_figure: Callable[[str, float, str], None],
) -> None:
    bootstrap = kafka_cluster.bootstrap_servers
    # Idle partitions close their windows after 25 s without a record: longer than the
    # pause of production while leaders move, so no sample is made late by the fault.
    settings = fresh_settings(
        bootstrap, tmp_path, agents="windows", idle_close_s=25.0, replication_factor=3
    )
    scenario = thermal_scenario(providers=8, span_s=120, seed=21)
    expected = scenario.expected_windows(settings.window_ms)
    worker = start_worker(settings, tmp_path).wait_ready()
    source = settings.topic("telemetry.provider")
    changelog = f"{settings.group_id}-provider_to_window_state-changelog"
    for topic in (source, settings.topic("perf.metrics"), changelog):
        configured = asyncio.run(topic_settings(bootstrap, topic))
        assert configured["min.insync.replicas"] == "2", topic
        replicas = asyncio.run(partition_metadata(bootstrap, topic))
        assert replicas and all(len(isr) == 3 for _, isr in replicas.values()), (topic, replicas)

    before = asyncio.run(partition_metadata(bootstrap, source))
    leaders = Counter(leader for leader, _ in before.values())
    victim, led = leaders.most_common(1)[0]

    progress = Progress()
    processed: list[tuple[float, float]] = []  # (monotonic time, records processed)

    def run_producer() -> None:
        try:
            asyncio.run(produce_paced(settings, scenario.messages(), progress))
        except BaseException as exc:
            progress.error = exc
        finally:
            progress.done = True

    def sample_processing() -> None:
        while not progress.done or len(processed) < 2:
            try:
                count = worker.metric(
                    "computeperf_processing_latency_seconds_count", topic="telemetry.provider"
                )
                processed.append((time.monotonic(), count))
            except OSError:
                pass
            time.sleep(0.25)

    producer = threading.Thread(target=run_producer, daemon=True)
    sampler = threading.Thread(target=sample_processing, daemon=True)
    try:
        producer.start()
        sampler.start()
        time.sleep(KILL_AFTER_S)
        with progress.lock:
            acked_at_kill = progress.acked
        killed_at = time.monotonic()
        kafka_cluster.node(victim).kill()
        time.sleep(max(0.0, killed_at + RESTART_AFTER_S - time.monotonic()))
        # From this (the test's) thread: a node dies with the thread that started it.
        kafka_cluster.restart(victim)
        producer.join(300)
        assert progress.done and progress.error is None, progress.error
        sampler.join(30)

        # Resumed once the worker has processed, outputs durable, a record that could only
        # be acknowledged after the kill (beyond the chunk in flight and any resent ones).
        beyond = acked_at_kill + CHUNK * (1 + progress.resent_chunks)
        resumed = [t for t, count in processed if t > killed_at and count > beyond]
        assert resumed, f"no processing after the kill: {processed[-5:]}, beyond {beyond}"
        resume_s = resumed[0] - killed_at
        report_figure("resume_after_leader_kill_s", resume_s, "s")
        assert resume_s < RESUME_LIMIT_S, resume_s

        windows = drain_windows(settings, len(expected))
        lost = sorted(set(expected) - set(windows))
        assert not lost, f"{len(lost)} windows lost: {lost[:10]}"
        assert set(windows) == set(expected)
        # Per provider and window: exactly the samples produced, none lost or counted twice.
        wrong = miscounted(windows, expected)
        assert not wrong, f"(counted, produced) per window: {wrong}"
        assert sum(w.count for w in windows.values()) == len(scenario.samples)
        report_figure("victim_led_input_partitions", led, f"of {settings.partitions}")

        # The restarted node catches up and is back in every in-sync replica set.
        def all_in_sync() -> bool:
            meta = asyncio.run(partition_metadata(bootstrap, source))
            return all(len(isr) == 3 for _, isr in meta.values())

        assert wait_for(all_in_sync, 30), asyncio.run(partition_metadata(bootstrap, source))
    finally:
        progress.done = True
        producer.join(60)
        worker.stop()


def test_full_cluster_restart_recovers_every_table_and_loses_no_window(
    kafka_cluster: kafka.Cluster,
    tmp_path: Path,
    report_figure: Callable[[str, float, str], None],
) -> None:
    """Every node and the worker SIGKILLed at once mid-stream, then all restarted.

    The windows open at the kill live only in the worker's table (its changelog on the
    cluster): a table that did not recover would emit them short of the samples before
    the kill, and a lost watermark record or offset would count samples twice.
    """
    settings = fresh_settings(
        kafka_cluster.bootstrap_servers,
        tmp_path,
        agents="windows",
        idle_close_s=5.0,
        replication_factor=3,
    )
    scenario = thermal_scenario(providers=8, span_s=120, seed=22)
    expected = scenario.expected_windows(settings.window_ms)
    messages = scenario.messages()
    half = len(messages) // 2
    worker = start_worker(settings, tmp_path, "before").wait_ready()
    try:
        asyncio.run(produce(settings, messages[:half]))
        processed = lambda: worker.metric(  # noqa: E731
            "computeperf_processing_latency_seconds_count", topic="telemetry.provider"
        )
        assert wait_for(lambda: processed() >= half, 90), f"{processed()} of {half} processed"
        worker.kill()
        for node in kafka_cluster.nodes:
            node.kill()
        down_at = time.monotonic()
        kafka_cluster.restart_all()  # from the test's thread: nodes die with their thread
        report_figure("cluster_restart_s", time.monotonic() - down_at, "s")
        worker = start_worker(settings, tmp_path, "after").wait_ready()
        asyncio.run(produce(settings, messages[half:]))
        windows = drain_windows(settings, len(expected))
    finally:
        worker.stop()
    assert sorted(set(expected) - set(windows)) == [], "windows lost"
    wrong = miscounted(windows, expected)
    assert not wrong, f"(counted, produced) per window: {wrong}"
