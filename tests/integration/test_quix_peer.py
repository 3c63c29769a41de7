"""The bench's Quix Streams peer computes our windows: same windows, counts, statistics.

``computeperf bench pipeline --peers`` compares our throughput with the peer's; the
comparison means something only if the peer does the same job. Both read the same small
backlog (the bench's own records) from one topic on the real broker, each in its own
consumer group, and every window the peer closes must be one of ours with the same count,
the same mean/min/max of every metric and a p95 within both sketches' error.
"""

from __future__ import annotations

import ast
import asyncio
import json
import time
from pathlib import Path

import pytest

from bench.peers import PEER_SCRIPT, QuixPeer, ensure_quix_python
from bench.pipeline import samples
from schemas import MetricWindow, ProviderSample
from tests.integration.harness import decode_all, drain, fresh_settings, produce, start_worker

pytestmark = pytest.mark.kafka

PROVIDERS = 4
TICKS = 90  # 90 s of 1 Hz telemetry: 3 windows of 30 samples per provider
WINDOW_S = 30


def peer_numeric_fields() -> tuple[str, ...]:
    """``NUMERIC_FIELDS`` of the peer script (it runs in its own venv: read, not imported)."""
    for node in ast.parse(PEER_SCRIPT.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "NUMERIC_FIELDS":
            return tuple(ast.literal_eval(node.value))
    raise AssertionError("NUMERIC_FIELDS not found in the peer")


def test_the_peer_summarises_the_metrics_we_summarise() -> None:
    assert peer_numeric_fields() == ProviderSample.NUMERIC_FIELDS


def test_quix_peer_emits_our_windows(kafka_bootstrap: str, tmp_path: Path) -> None:
    settings = fresh_settings(
        kafka_bootstrap, tmp_path, agents="windows", window_s=WINDOW_S, idle_close_s=2.0
    )
    start_ms = 1_700_000_010_000  # a multiple of the window
    n = PROVIDERS * TICKS
    backlog = [
        ("telemetry.provider", f"prov-{i % PROVIDERS:04d}", v)
        for i, v in enumerate(samples(n, start_ms, 1000, PROVIDERS))
    ]
    worker = start_worker(settings, tmp_path)
    peer = QuixPeer(
        python=ensure_quix_python(),
        bootstrap=kafka_bootstrap,
        source=settings.topic("telemetry.provider"),
        sink=settings.topic("bench.quix-windows"),
        group=f"{settings.app_id}-quix",
        workdir=tmp_path / "quix",
        window_s=settings.window_s,
        grace_s=settings.grace_s,
        partitions=settings.partitions,
    ).start()
    try:
        asyncio.run(produce(settings, backlog))
        windows_per_provider = TICKS * 1000 // settings.window_ms
        ours_records = asyncio.run(
            drain(
                settings,
                "perf.metrics",
                until=lambda r: len(r) >= PROVIDERS * windows_per_provider,
                timeout_s=45,
            )
        )
        deadline = time.monotonic() + 30
        while peer.processed() < n and time.monotonic() < deadline:
            time.sleep(0.1)
        assert peer.processed() == n
        # With closing by the partition's event time, a partition's newest window stays
        # open: every provider's other windows close.
        closable = PROVIDERS * (windows_per_provider - 1)
        quix_records = asyncio.run(
            drain(settings, "bench.quix-windows", until=lambda r: len(r) >= closable, timeout_s=30)
        )
    finally:
        peer.stop()
        worker.stop()

    ours = {
        (w.entity_id, w.window_start_ms): w
        for w in decode_all(MetricWindow, ours_records)
        if w.entity_type == "provider" and w.count > 0
    }
    theirs = {(k.decode(), json.loads(v)["start"]): json.loads(v) for k, v in quix_records}
    assert len(ours) == PROVIDERS * windows_per_provider
    assert len(theirs) >= closable
    assert theirs.keys() <= ours.keys()
    for key, q in theirs.items():
        w = ours[key]
        assert q["end"] == w.window_end_ms
        assert q["count"] == w.count
        for field in ProviderSample.NUMERIC_FIELDS:
            stats = w.metrics[field]
            assert q[f"{field}_mean"] == pytest.approx(stats.mean, rel=1e-9), (key, field)
            assert q[f"{field}_min"] == pytest.approx(stats.min, rel=1e-12), (key, field)
            assert q[f"{field}_max"] == pytest.approx(stats.max, rel=1e-12), (key, field)
            # The same sketch (DDSketch's log mapping at 1 %, its rank rule) on both sides;
            # ours clamps a quantile to the exact [min, max], the peer's aggregator does not.
            p95 = min(max(q[f"{field}_p95"], q[f"{field}_min"]), q[f"{field}_max"])
            assert p95 == pytest.approx(stats.p95, rel=1e-9), (key, field)
