"""Issue 17: on a 3-broker cluster, the leader of most input partitions dies mid-run.

Telemetry flows at a steady pace into topics with three replicas and
``min.insync.replicas=2``; the broker leading most ``telemetry.provider`` partitions is
SIGKILLed and restarted 10 s later. Leaders move to the two survivors, the worker (never
restarted) goes on, and every window holds exactly the samples produced for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bench.broker_kill import kill_busiest_leader
from bench.fault_harness import partition_metadata
from evaluation.faults import compare_windows
from infra.kafka import broker as kafka
from tests.integration.harness import (
    drain_windows,
    fresh_settings,
    miscounted,
    produce,
    start_worker,
    wait_for,
)
from tests.integration.scenario import thermal_scenario

pytestmark = [pytest.mark.kafka, pytest.mark.cluster]

RESUME_LIMIT_S = 30.0


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
    try:
        for topic in (source, settings.topic("perf.metrics"), changelog):
            configured = asyncio.run(topic_settings(bootstrap, topic))
            assert configured["min.insync.replicas"] == "2", topic
            replicas = asyncio.run(partition_metadata(bootstrap, topic))
            assert replicas and all(len(isr) == 3 for _, isr in replicas.values()), (
                topic,
                replicas,
            )
        run = kill_busiest_leader(kafka_cluster, worker, scenario)
        assert run.producer_error is None, run.producer_error
        assert run.resume_s is not None, "no processing after the kill"
        report_figure("resume_after_leader_kill_s", run.resume_s, "s")
        assert run.resume_s < RESUME_LIMIT_S, run.resume_s

        # Per provider and window: exactly the samples produced, none lost or counted twice.
        faults = compare_windows(expected, run.windows)
        assert (faults.lost, faults.double_counted) == (0, 0), faults.examples
        assert run.worker_alive
        report_figure("victim_led_input_partitions", run.victim_led, f"of {settings.partitions}")

        # The restarted node catches up and is back in every in-sync replica set.
        def all_in_sync() -> bool:
            meta = asyncio.run(partition_metadata(bootstrap, source))
            return all(len(isr) == 3 for _, isr in meta.values())

        assert wait_for(all_in_sync, 30), asyncio.run(partition_metadata(bootstrap, source))
    finally:
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
