"""Replay: yesterday's telemetry, replayed into a namespace, gives the live run's windows,
and the live topics and consumer group are left exactly as they were."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from config.settings import Settings
from schemas import Alert, MetricWindow, ProviderSample
from streams.topics import TOPICS, ensure_topics
from tests.integration.harness import decode_all, drain, fresh_settings, run_cli, start_worker

pytestmark = pytest.mark.kafka

DAY_MS = 24 * 3600 * 1000
SPAN_S = 90


async def _end_offsets(settings: Settings, names: list[str]) -> dict[str, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await consumer.start()
    try:
        await consumer.topics()  # metadata of every topic (and a first await for aiokafka)
        totals = {}
        for name in names:
            topic = settings.topic(name)
            tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            totals[name] = sum((await consumer.end_offsets(tps)).values())
        return totals
    finally:
        await consumer.stop()


async def _committed(settings: Settings) -> dict[tuple[str, int], int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(settings.group_id)
        return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}
    finally:
        await admin.close()


def _by_key(windows: list[MetricWindow]) -> dict[str, MetricWindow]:
    # A window may be re-emitted after a crash with identical content: the key dedups.
    return {w.key: w for w in windows}


def test_replay_of_yesterday_gives_the_live_windows_and_leaves_live_untouched(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    live = fresh_settings(kafka_bootstrap, tmp_path)
    asyncio.run(ensure_topics(live))
    now_ms = time.time_ns() // 1_000_000
    start_ms = now_ms - DAY_MS
    start_ms -= start_ms % live.window_ms
    start = datetime.fromtimestamp(start_ms / 1000, UTC).isoformat()
    # Yesterday, from the simulator's historical mode, with a thermal incident on provider
    # 0 so that alerts are part of what must replay identically.
    summary = json.loads(
        run_cli(
            [
                "simulate",
                "--backfill",
                "--start",
                start,
                "--duration-s",
                str(SPAN_S),
                "--providers",
                "3",
                "--workloads",
                "2",
                "--seed",
                "4",
                "--incident",
                "thermal_throttling:0:20:50",
                "--json",
            ],
            live,
            tmp_path,
        )
    )
    provider_samples = summary["records_by_topic"]["telemetry.provider"]
    assert provider_samples >= 3 * SPAN_S * 0.9

    telemetry = decode_all(
        ProviderSample,
        asyncio.run(drain(live, "telemetry.provider", until=lambda r: len(r) >= provider_samples)),
    )
    expected_keys = {
        f"provider:{s.provider_id}:{s.ts_ms - s.ts_ms % live.window_ms}:{live.window_ms}"
        for s in telemetry
    }

    worker = start_worker(live, tmp_path, "live")
    try:
        live_windows = _by_key(
            decode_all(
                MetricWindow,
                asyncio.run(
                    drain(
                        live,
                        "perf.metrics",
                        until=lambda r: (
                            len({MetricWindow.model_validate_json(v).key for _, v in r})
                            >= len(expected_keys)
                        ),
                        timeout_s=180,
                    )
                ),
            )
        )
        time.sleep(live.idle_close_s + 3)  # let the alert agent see the last windows
        outputs = [t.name for t in TOPICS if t.name.startswith("perf.")]
        live_ends_before = asyncio.run(_end_offsets(live, outputs))
        live_group_before = asyncio.run(_committed(live))
        live_alerts = decode_all(
            Alert,
            asyncio.run(
                drain(
                    live, "perf.alerts", until=lambda r: len(r) >= live_ends_before["perf.alerts"]
                )
            ),
        )

        until = datetime.fromtimestamp((start_ms + SPAN_S * 1000 + 60_000) / 1000, UTC)
        report = json.loads(
            run_cli(
                [
                    "replay",
                    "--since",
                    start,
                    "--until",
                    until.isoformat(),
                    "--into",
                    "yday",
                    "--logs",
                    str(tmp_path / "replay"),
                    "--json",
                ],
                live,
                tmp_path,
            )
        )
        time.sleep(2)
        live_ends_after = asyncio.run(_end_offsets(live, outputs))
        live_group_after = asyncio.run(_committed(live))
    finally:
        worker.stop()

    assert set(live_windows) == expected_keys
    assert report["copied"]["telemetry.provider"] == provider_samples
    ns = live.model_copy(update={"topic_prefix": report["topic_prefix"]})
    assert ns.topic("perf.metrics") == f"{live.topic_prefix}replay.yday.perf.metrics"
    replayed = _by_key(
        decode_all(
            MetricWindow,
            asyncio.run(
                drain(
                    ns, "perf.metrics", until=lambda r: len(r) >= report["outputs"]["perf.metrics"]
                )
            ),
        )
    )
    assert replayed == live_windows

    replayed_alerts = decode_all(
        Alert,
        asyncio.run(
            drain(ns, "perf.alerts", until=lambda r: len(r) >= report["outputs"]["perf.alerts"])
        ),
    )
    assert live_alerts, "the thermal incident should have fired an alert in the live run"
    assert [(a.fingerprint, a.status) for a in replayed_alerts] == [
        (a.fingerprint, a.status) for a in live_alerts
    ]

    # Live outputs and the live consumer group are exactly as they were.
    assert live_ends_after == live_ends_before
    assert live_group_after == live_group_before
