"""Issue 17 on a real broker: bad input that once stopped the pipeline no longer does."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from schemas import DeadLetter, MetricWindow, encode
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
