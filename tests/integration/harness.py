"""Helpers for integration tests: worker processes, producing and draining topics."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from infra.kafka.broker import free_port, terminate
from schemas import Record, decode
from streams.settings import Settings


def fresh_settings(bootstrap: str, tmp: Path, **overrides: object) -> Settings:
    """Settings with a fresh topic prefix and consumer group, as every test needs."""
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


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process build exactly ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPUTEPERF_")}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"COMPUTEPERF_{name.upper()}"] = str(value)
    return env


@dataclass
class Worker:
    """A ``computeperf worker`` child process."""

    settings: Settings
    log: Path
    web_port: int
    process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> Worker:
        env = settings_env(self.settings)
        env["COMPUTEPERF_WEB_PORT"] = str(self.web_port)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "streams",
                    "worker",
                    "-l",
                    "info",
                    "--web-port",
                    str(self.web_port),
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited:\n{self.log.read_text()[-4000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"worker not ready in {timeout_s}s:\n{self.log.read_text()[-4000:]}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def metrics_text(self) -> str:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as r:
            return r.read().decode()

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``."""
        total = 0.0
        for line in self.metrics_text().splitlines():
            if not line.startswith(name + "{") and not line.startswith(name + " "):
                continue
            head, _, value = line.rpartition(" ")
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                total += float(value)
        return total

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            terminate(self.process.pid, timeout_s=20)
            self.process.wait(5)


def start_worker(settings: Settings, tmp: Path, name: str = "worker") -> Worker:
    return Worker(settings, tmp / f"{name}.log", free_port()).start()


async def produce(settings: Settings, items: Iterable[tuple[str, str, bytes]]) -> int:
    """Produce ``(logical topic, key, value bytes)`` durably; return the count."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, acks="all", linger_ms=5
    )
    await producer.start()
    try:
        futures = [
            await producer.send(settings.topic(topic), key=key.encode(), value=value)
            for topic, key, value in items
        ]
        await asyncio.gather(*futures)
        return len(futures)
    finally:
        await producer.stop()


async def drain(
    settings: Settings,
    topic: str,
    *,
    until: Callable[[list[tuple[bytes | None, bytes]]], bool],
    timeout_s: float = 120.0,
) -> list[tuple[bytes | None, bytes]]:
    """Read ``topic`` from the beginning until ``until(records)`` holds or time runs out."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
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
