"""Issue 17: a broker SIGKILLed mid-stream and restarted loses no accepted sample."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from agents.produce import durable_producer, send_all
from config.settings import Settings
from infra.kafka import broker as kafka
from schemas import DeadLetter
from tests.integration.harness import (
    decode_all,
    drain,
    drain_windows,
    fresh_settings,
    miscounted,
    start_worker,
)
from tests.integration.scenario import thermal_scenario

pytestmark = pytest.mark.kafka


async def produce_paced(
    settings: Settings, messages: list[tuple[str, str, bytes]], per_s: float
) -> int:
    """Send ``messages`` at ``per_s`` a second; a chunk that fails is sent again until acked.

    A resend after an error may duplicate records on the topic (the pipeline de-duplicates
    by ``seq``); returns the number of distinct records acknowledged.
    """
    chunk = max(1, int(per_s / 5))
    async with durable_producer(settings) as producer:
        for at in range(0, len(messages), chunk):
            out = [(settings.topic(t), k.encode(), v) for t, k, v in messages[at : at + chunk]]
            while True:
                try:
                    await send_all(producer, out)
                    break
                except Exception:
                    await asyncio.sleep(1.0)
            await asyncio.sleep(0.2)
    return len(messages)


def test_broker_sigkill_and_restart_loses_no_sample(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data_dir = tmp_path_factory.mktemp("crash-kafka")
    port, controller_port = kafka.free_port(), kafka.free_port()
    broker = kafka.start(data_dir=data_dir, port=port, controller_port=controller_port)
    settings = fresh_settings(
        broker.bootstrap_servers, tmp_path, agents="windows", idle_close_s=20.0
    )
    scenario = thermal_scenario(providers=8, span_s=150, seed=21)
    expected = scenario.expected_windows(settings.window_ms)
    worker = start_worker(settings, tmp_path)
    produced: list[int] = []
    # Production in a thread of its own: the broker is restarted from this one, because
    # the broker dies with the thread that started it (PR_SET_PDEATHSIG).
    producer = threading.Thread(
        target=lambda: produced.append(
            asyncio.run(produce_paced(settings, scenario.messages(), per_s=30))
        )
    )
    restarted: list[kafka.Broker] = []
    try:
        producer.start()
        # ~40 s of production: the broker dies after 12 s and is back ~10 s later.
        time.sleep(12)
        broker.process.send_signal(signal.SIGKILL)
        broker.process.wait(10)
        time.sleep(10)
        restarted.append(kafka.start(data_dir=data_dir, port=port, controller_port=controller_port))
        producer.join(300)
        assert produced, "production did not finish"
        windows = drain_windows(settings, len(expected), timeout_s=180)
        assert set(windows) == set(expected)
        counted = sum(w.count for w in windows.values())
        short = miscounted(windows, expected)
        if short:
            letters = decode_all(
                DeadLetter,
                asyncio.run(drain(settings, "perf.dlq", until=lambda r: False, timeout_s=3)),
            )
            reasons = Counter(d.reason.split(":")[0][:80] for d in letters)
            pytest.fail(
                f"counted {counted} of {produced[0]}; windows (counted, produced) {short}; "
                f"dead letters {dict(reasons)}; worker log {worker.log}"
            )
        assert counted == produced[0]
    finally:
        producer.join(60)
        worker.stop()
        for b in [broker, *restarted]:
            if b.process.poll() is None:
                b.stop()
