"""Issue 17: a broker SIGKILLed mid-stream and restarted loses no accepted sample."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from bench.fault_harness import run_in_thread
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
    messages = scenario.messages()
    restarted: list[kafka.Broker] = []
    # Production in a thread of its own, 60 a second (a chunk that fails is sent again
    # until acknowledged): the broker is restarted from this one, because the broker dies
    # with the thread that started it (PR_SET_PDEATHSIG).
    producer, progress = run_in_thread(settings, messages, rate_per_s=60, chunk=6)
    try:
        # ~20 s of production: the broker dies after 8 s and is back ~10 s later.
        time.sleep(8)
        broker.process.send_signal(signal.SIGKILL)
        broker.process.wait(10)
        time.sleep(10)
        restarted.append(kafka.start(data_dir=data_dir, port=port, controller_port=controller_port))
        producer.join(300)
        assert progress.done and progress.error is None, "production did not finish"
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
                f"counted {counted} of {len(messages)}; windows (counted, produced) {short}; "
                f"dead letters {dict(reasons)}; worker log {worker.log}"
            )
        assert counted == len(messages)
    finally:
        producer.join(60)
        worker.stop()
        for b in [broker, *restarted]:
            if b.process.poll() is None:
                b.stop()
