"""End to end on a real broker: simulator → worker → windows, alerts and dead letters."""

from __future__ import annotations

import asyncio
import json
import math
import time
from pathlib import Path

import pytest

from schemas import Alert, AlertStatus, DeadLetter, MetricWindow, ProviderSample, encode
from tests.integration.harness import decode_all, drain, fresh_settings, produce, start_worker
from tests.integration.scenario import assert_window_matches_oracle, thermal_scenario

pytestmark = pytest.mark.kafka


def malformed_messages(good: ProviderSample) -> dict[str, tuple[bytes, str]]:
    """Bad records, each with the error type the DLQ must give it."""
    base = json.loads(encode(good))
    future = {**base, "ts_ms": int(time.time() * 1000) + 3_600_000}
    wrong_type = {**base, "gpu_util_pct": "hot"}
    negative = {**base, "gpu_util_pct": -5.0}
    missing = {k: v for k, v in base.items() if k != "gpu_temp_c"}
    nan_text = json.dumps(base).replace(f'"gpu_temp_c": {base["gpu_temp_c"]}', '"gpu_temp_c": NaN')
    assert "NaN" in nan_text
    return {
        "bad-json": (b'{"provider_id": "p-x", "ts_ms": ', "json"),
        "not-utf8": (b"\xff\xfe\x00garbage", "json"),
        "wrong-type": (json.dumps(wrong_type).encode(), "validation"),
        "nan": (nan_text.encode(), "validation"),
        "negative-util": (json.dumps(negative).encode(), "validation"),
        "missing-field": (json.dumps(missing).encode(), "validation"),
        "far-future": (json.dumps(future).encode(), "future"),
    }


def test_thermal_incident_windows_alert_and_dead_letters(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = fresh_settings(kafka_bootstrap, tmp_path)
    scenario = thermal_scenario()
    expected = scenario.expected_windows(settings.window_ms)
    bad = malformed_messages(scenario.samples[0])
    messages = scenario.messages()
    # Bad records interleaved with good ones, on the keys of real providers.
    for i, (name, (raw, _)) in enumerate(sorted(bad.items())):
        key = scenario.samples[i].provider_id
        messages.insert(50 * (i + 1), ("telemetry.provider", key, raw))
        assert name

    worker = start_worker(settings, tmp_path)
    try:
        asyncio.run(produce(settings, messages))
        records = asyncio.run(
            drain(settings, "perf.metrics", until=lambda r: len(r) >= len(expected))
        )
        windows = {w.key: w for w in decode_all(MetricWindow, records)}
        assert set(windows) == set(expected)
        for key, samples in expected.items():
            assert_window_matches_oracle(windows[key], samples)

        alert_records = asyncio.run(
            drain(
                settings,
                "perf.alerts",
                until=lambda r: any(b'"resolved"' in v for _, v in r),
                timeout_s=60,
            )
        )
        alerts = decode_all(Alert, alert_records)
        assert [a.status for a in alerts] == [AlertStatus.FIRING, AlertStatus.RESOLVED]
        assert {a.labels["entity_id"] for a in alerts} == {scenario.hot_provider}
        assert alerts[0].fingerprint == alerts[1].fingerprint
        incident = scenario.incident
        assert incident.start_ms <= alerts[0].starts_at_ms < incident.end_ms
        assert alerts[1].ends_at_ms is not None and alerts[1].ends_at_ms > incident.end_ms

        dlq_records = asyncio.run(
            drain(settings, "perf.dlq", until=lambda r: len(r) >= len(bad), timeout_s=30)
        )
        letters = decode_all(DeadLetter, dlq_records)
        assert len(letters) == len(bad)
        by_value = {d.value: d for d in letters}
        for name, (raw, error_type) in bad.items():
            letter = by_value[raw]
            assert letter.error_type == error_type, (name, letter.reason)
            assert letter.reason and letter.source_topic == settings.topic("telemetry.provider")
            assert letter.offset >= 0
        assert worker.metric("computeperf_dead_letters_total") == len(bad)
        assert worker.metric("computeperf_windows_emitted_total") == len(expected)
        consumed = worker.metric("computeperf_events_in_total", topic="telemetry.provider")
        assert consumed == len(messages)
        assert not math.isnan(worker.metric("computeperf_processing_latency_seconds_count"))
    finally:
        worker.stop()
