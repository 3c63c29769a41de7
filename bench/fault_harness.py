"""Pieces of the fault runs: a paced producer that counts its acknowledgements, the
cluster's partition leaders, and a sampler of a worker's processed-record count.

Used by ``bench/broker_kill.py`` (and through it ``tests/integration/test_cluster_faults.py``).

>>> Progress().acked
0
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from aiokafka import AIOKafkaClient

from agents.produce import durable_producer, send_all
from config.settings import Settings
from streams.workers import WorkerProcess

__all__ = [
    "ProcessingSampler",
    "Progress",
    "busiest_leader",
    "partition_metadata",
    "produce_paced",
    "run_in_thread",
]


@dataclass
class Progress:
    """What the paced producer has had acknowledged, for another thread to read."""

    acked: int = 0
    resent_chunks: int = 0
    done: bool = False
    error: BaseException | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


async def produce_paced(
    settings: Settings,
    messages: list[tuple[str, str, bytes]],
    progress: Progress,
    *,
    rate_per_s: float,
    chunk: int,
) -> None:
    """Send ``messages`` at ``rate_per_s``, ``chunk`` records a send, counting the acks.

    A chunk that fails is sent again (it may then be on the topic twice; the pipeline
    de-duplicates by ``seq``); the resends are counted.
    """
    async with durable_producer(settings) as producer:
        for at in range(0, len(messages), chunk):
            out = [(settings.topic(t), k.encode(), v) for t, k, v in messages[at : at + chunk]]
            while True:
                try:
                    await send_all(producer, out)
                    break
                except Exception:
                    with progress.lock:
                        progress.resent_chunks += 1
                    await asyncio.sleep(0.5)
            with progress.lock:
                progress.acked += len(out)
            await asyncio.sleep(chunk / rate_per_s)


def run_in_thread(
    settings: Settings,
    messages: list[tuple[str, str, bytes]],
    *,
    rate_per_s: float,
    chunk: int,
) -> tuple[threading.Thread, Progress]:
    """:func:`produce_paced` in a daemon thread of its own (started); its progress."""
    progress = Progress()

    def run() -> None:
        try:
            asyncio.run(
                produce_paced(settings, messages, progress, rate_per_s=rate_per_s, chunk=chunk)
            )
        except BaseException as exc:
            progress.error = exc
        finally:
            progress.done = True

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, progress


async def partition_metadata(bootstrap: str, topic: str) -> dict[int, tuple[int, list[int]]]:
    """``partition -> (leader, in-sync replicas)`` of ``topic``, fresh from the cluster."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        client.add_topic(topic)
        await client.force_metadata_update()
        parts = client.cluster._partitions.get(topic, {})
        return {p: (meta.leader, sorted(meta.isr)) for p, meta in parts.items()}
    finally:
        await client.close()


def busiest_leader(metadata: dict[int, tuple[int, list[int]]]) -> tuple[int, int]:
    """The node leading the most partitions, and how many it leads.

    >>> busiest_leader({0: (2, [1, 2, 3]), 1: (2, [1, 2, 3]), 2: (1, [1, 2, 3])})
    (2, 2)
    """
    leaders = Counter(leader for leader, _ in metadata.values())
    node, led = leaders.most_common(1)[0]
    return node, led


@dataclass
class ProcessingSampler:
    """Samples a worker's records processed with outputs durable, every quarter second,
    in a thread of its own until :meth:`stop`."""

    worker: WorkerProcess
    topic: str = "telemetry.provider"
    samples: list[tuple[float, float]] = field(default_factory=list)  # (monotonic, count)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> ProcessingSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set() or len(self.samples) < 2:
            try:
                count = self.worker.metric(
                    "computeperf_processing_latency_seconds_count", topic=self.topic
                )
                self.samples.append((time.monotonic(), count))
            except OSError:
                pass
            time.sleep(0.25)

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def first_beyond(self, after: float, count: float) -> float | None:
        """The first sampling moment after ``after`` with more than ``count`` processed."""
        return next((t for t, n in self.samples if t > after and n > count), None)
