"""Issue 17 on a real broker: bad input that once stopped the pipeline no longer does."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path

import pytest

from agents.produce import durable_producer, send_all
from config.settings import Settings
from schemas import DeadLetter, MetricWindow, ProviderSample, encode
from schemas.dlq import MAX_VALUE_BYTES
from tests.integration.harness import decode_all, drain, fresh_settings, produce, start_worker
from tests.integration.scenario import assert_window_matches_oracle, thermal_scenario

pytestmark = pytest.mark.kafka


def test_poison_values_and_oversized_records_are_dead_lettered_and_the_rest_goes_on(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    # One partition: every provider shares the partition of the bad records, so a crash
    # of its agent would lose all their later windows.
    settings = fresh_settings(kafka_bootstrap, tmp_path, partitions=1, agents="windows")
    scenario = thermal_scenario(providers=3, span_s=40)
    expected = scenario.expected_windows(settings.window_ms)
    messages = scenario.messages()
    middle = scenario.samples[len(scenario.samples) // 2]
    # Valid by the schema, but two of them overflow a window's mean to infinity.
    poison = [
        middle.model_copy(update={"provider_id": "poison-1", "seq": i, "power_w": 1e308})
        for i in range(2)
    ]
    oversized = b'{"provider_id": "' + b"x" * 1_000_000 + b'"}'
    at = len(messages) // 2
    messages[at:at] = [
        ("telemetry.provider", "poison-1", encode(poison[0])),
        ("telemetry.provider", "poison-1", encode(poison[1])),
        ("telemetry.provider", middle.provider_id, oversized),
    ]
    poison_key = f"provider:poison-1:{middle.ts_ms - middle.ts_ms % settings.window_ms}:5000"

    worker = start_worker(settings, tmp_path)
    try:
        asyncio.run(produce(settings, messages))
        records = asyncio.run(
            drain(settings, "perf.metrics", until=lambda r: len(r) >= len(expected) + 1)
        )
        windows = {w.key: w for w in decode_all(MetricWindow, records)}
        assert set(windows) == set(expected) | {poison_key}
        for key, samples in expected.items():
            assert_window_matches_oracle(windows[key], samples)
        assert windows[poison_key].count == 1
        assert windows[poison_key].metrics["power_w"].mean == 1e308

        letters = decode_all(
            DeadLetter,
            asyncio.run(drain(settings, "perf.dlq", until=lambda r: len(r) >= 2, timeout_s=30)),
        )
        by_type = {d.error_type: d for d in letters}
        assert len(letters) == 2 and set(by_type) == {"range", "validation"}
        assert "power_w" in by_type["range"].reason
        assert by_type["range"].value == encode(poison[1])
        big = by_type["validation"]
        assert big.value_bytes == len(oversized) and big.value == oversized[:MAX_VALUE_BYTES]
        assert "truncated" in big.reason
        assert worker.metric("computeperf_dead_letters_total") == 2
        consumed = worker.metric("computeperf_events_in_total", topic="telemetry.provider")
        assert consumed == len(messages)
    finally:
        worker.stop()


def provider_sample(provider_id: str, ts_ms: int, seq: int) -> ProviderSample:
    return ProviderSample(
        provider_id=provider_id,
        ts_ms=ts_ms,
        seq=seq,
        gpu_util_pct=50.0 + seq % 7,
        gpu_mem_used_gb=10.0,
        gpu_mem_total_gb=80.0,
        gpu_temp_c=60.0,
        power_w=300.0 + seq,
        sm_clock_mhz=1400.0,
        net_rtt_ms=2.0,
        net_bandwidth_gbps=100.0,
        gpus_busy=4,
        gpus_total=8,
        error_count=0,
    )


async def produce_live(
    settings: Settings, neighbours: list[str], skewed: str, *, span_s: float, skew_ms: int
) -> tuple[list[ProviderSample], int]:
    """Neighbours at 4 Hz on the wall clock, ``skewed`` at 1 Hz ``skew_ms`` ahead of it.

    Returns the neighbours' samples (all produced and acknowledged) and how many samples
    the skewed provider sent.
    """
    topic = settings.topic("telemetry.provider")
    sent: list[ProviderSample] = []
    skewed_sent = 0
    async with durable_producer(settings) as producer:
        started = time.monotonic()
        tick = 0
        while time.monotonic() - started < span_s:
            now_ms = int(time.time() * 1000)
            batch = [provider_sample(p, now_ms, tick) for p in neighbours]
            out = [(topic, s.provider_id.encode(), encode(s)) for s in batch]
            if tick % 4 == 2:
                ahead = provider_sample(skewed, now_ms + skew_ms, skewed_sent)
                out.append((topic, skewed.encode(), encode(ahead)))
                skewed_sent += 1
            await send_all(producer, out)
            sent += batch
            tick += 1
            await asyncio.sleep(0.25)
    return sent, skewed_sent


def test_one_fast_clock_does_not_make_its_neighbours_late(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    # One partition: the fast provider shares its watermark with every neighbour.
    settings = fresh_settings(kafka_bootstrap, tmp_path, partitions=1, agents="windows")
    neighbours = [f"steady-{i}" for i in range(3)]
    worker = start_worker(settings, tmp_path)
    try:
        # 4 minutes ahead: inside the 5 minutes the schema check accepts.
        sent, skewed_sent = asyncio.run(
            produce_live(settings, neighbours, "fast-clock", span_s=14, skew_ms=240_000)
        )
        expected: dict[str, list[ProviderSample]] = defaultdict(list)
        for s in sent:
            start = s.ts_ms - s.ts_ms % settings.window_ms
            expected[f"provider:{s.provider_id}:{start}:{settings.window_ms}"].append(s)
        records = asyncio.run(
            drain(
                settings,
                "perf.metrics",
                until=lambda r: set(expected) <= {w.key for w in decode_all(MetricWindow, r)},
                timeout_s=60,
            )
        )
        windows = {w.key: w for w in decode_all(MetricWindow, records)}
        counts = {key: windows[key].count if key in windows else 0 for key in expected}
        assert counts == {key: len(samples) for key, samples in expected.items()}
        assert not any(w.entity_id == "fast-clock" for w in windows.values())  # not yet due
        assert worker.metric("computeperf_late_samples_total") == 0
        assert worker.metric("computeperf_ahead_samples_total") == skewed_sent
        assert worker.metric("computeperf_dead_letters_total") == 0
    finally:
        worker.stop()


def test_idle_keys_are_forgotten_with_changelog_tombstones(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = fresh_settings(kafka_bootstrap, tmp_path, agents="windows", state_evict_after_s=2.0)
    ts_ms = int(time.time() * 1000) - 120_000
    ids = [f"once-{i:03d}" for i in range(40)]
    worker = start_worker(settings, tmp_path)
    try:
        messages = [
            ("telemetry.provider", key, encode(provider_sample(key, ts_ms, 0))) for key in ids
        ]
        asyncio.run(produce(settings, messages))
        asyncio.run(drain(settings, "perf.metrics", until=lambda r: len(r) >= len(ids)))
        deadline = time.monotonic() + 60
        while worker.metric("computeperf_evicted_keys_total") < len(ids):
            assert time.monotonic() < deadline, "idle keys were not evicted"
            time.sleep(1)
        # The changelog's last record of every key is a tombstone: recovery drops it.
        changelog = f"{settings.group_id}-provider_to_window_state-changelog"
        unprefixed = settings.model_copy(update={"topic_prefix": ""})

        def last_values(records: list[tuple[bytes | None, bytes]]) -> dict[str, bytes | None]:
            latest: dict[str, bytes | None] = {}
            for key, value in records:
                if key is not None:  # keys as text, whatever the table's key serializer
                    latest[key.decode().strip('"')] = value
            return latest

        records = asyncio.run(
            drain(
                unprefixed,
                changelog,
                until=lambda r: all(last_values(r).get(k, b"") is None for k in ids),
                timeout_s=30,
            )
        )
        latest = last_values(records)
        assert {k: latest.get(k, b"missing") for k in ids} == dict.fromkeys(ids)
    finally:
        worker.stop()
