"""Worker processes, producing and draining topics: shared by the fault harness
(``bench/faults.py``) and the integration tests (``tests/integration/harness.py``
re-exports them).

>>> wait_for(lambda: True, timeout_s=0.1)
True
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.produce import produce_durably
from config.kafka import client_options
from config.settings import Settings
from infra.kafka.broker import free_port
from schemas import MetricWindow, Record, decode
from streams.workers import WorkerProcess


def fresh_settings(bootstrap: str, tmp: Path, **overrides: object) -> Settings:
    """Settings with a fresh topic prefix and consumer group, as every run needs."""
    run = uuid.uuid4().hex[:8]
    (tmp / "faust").mkdir(parents=True, exist_ok=True)
    values: dict[str, object] = {
        "kafka_bootstrap_servers": bootstrap,
        "topic_prefix": f"t{run}.",
        "app_id": f"computeperf-{run}",
        "data_dir": tmp / "faust",
        "web_port": free_port(),
        "partitions": 4,
        "window_s": 5,
        "grace_s": 1,
        "idle_close_s": 3.0,
        "batch_within_s": 0.1,
        "max_future_s": 300,
        "session_timeout_s": 8.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def start_worker(settings: Settings, tmp: Path, name: str = "worker") -> WorkerProcess:
    """Start a worker with its own web port; its log goes to ``tmp/<name>.log``."""
    own = settings.model_copy(update={"web_port": free_port()})
    return WorkerProcess(own, tmp / f"{name}.log").start()


async def produce(settings: Settings, items: Iterable[tuple[str, str, bytes]]) -> int:
    """Produce ``(logical topic, key, value bytes)`` durably; return the count."""
    physical = ((settings.topic(t), key.encode(), value) for t, key, value in items)
    return await produce_durably(settings, physical)


async def drain(
    settings: Settings,
    topic: str,
    *,
    until: Callable[[list[tuple[bytes | None, bytes]]], bool],
    timeout_s: float = 120.0,
) -> list[tuple[bytes | None, bytes]]:
    """Read ``topic`` from the beginning until ``until(records)`` holds or time runs out."""
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await consumer.start()
    try:
        name = settings.topic(topic)
        parts = consumer.partitions_for_topic(name) or set()
        while not parts:
            await asyncio.sleep(0.2)
            await consumer._client.force_metadata_update()
            parts = consumer.partitions_for_topic(name) or set()
        consumer.assign([TopicPartition(name, p) for p in parts])
        await consumer.seek_to_beginning()
        records: list[tuple[bytes | None, bytes]] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for msgs in batch.values():
                records.extend((m.key, m.value) for m in msgs)
            if until(records):
                return records
        return records
    finally:
        await consumer.stop()


R = TypeVar("R", bound=Record)


def decode_all(model: type[R], records: Iterable[tuple[bytes | None, bytes]]) -> list[R]:
    return [decode(model, value) for _, value in records]


def drain_window_records(
    settings: Settings, expected: int, timeout_s: float = 120.0
) -> list[MetricWindow]:
    """Every record on perf.metrics once ``expected`` distinct windows are there (or time
    ran out), repeats included."""

    def distinct(records: list[tuple[bytes | None, bytes]]) -> int:
        return len({w.key for w in decode_all(MetricWindow, records)})

    records = asyncio.run(
        drain(
            settings, "perf.metrics", until=lambda r: distinct(r) >= expected, timeout_s=timeout_s
        )
    )
    return decode_all(MetricWindow, records)


def drain_windows(
    settings: Settings, expected: int, timeout_s: float = 120.0
) -> dict[str, MetricWindow]:
    """The windows on perf.metrics once ``expected`` distinct ones are there (or time ran
    out), de-duplicated by window key: output is at-least-once, and a window sent twice
    must be the same window both times."""
    windows: dict[str, MetricWindow] = {}
    for w in drain_window_records(settings, expected, timeout_s):
        assert windows.setdefault(w.key, w) == w, f"two different windows for {w.key}"
    return windows


def wait_for(check: Callable[[], bool], timeout_s: float, interval_s: float = 0.5) -> bool:
    """Poll ``check`` every ``interval_s`` until it holds or ``timeout_s`` passes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval_s)
    return check()


def miscounted(
    windows: dict[str, MetricWindow], expected: dict[str, list[Any]]
) -> dict[str, tuple[int, int]]:
    """``window key -> (counted, produced)`` for every window whose count is not its samples'."""
    return {
        k: (w.count, len(expected[k])) for k, w in windows.items() if w.count != len(expected[k])
    }
