"""Kafka adapter of the simulator: produce :class:`~sim.marketplace.SimRecord` values.

Two pacing modes:

* **realtime** - a record is sent no earlier than its event time (wall clock), so a
  live pipeline sees telemetry arrive as it would from real providers;
* **backfill** - records are sent as fast as the broker takes them, with many
  ``send`` futures in flight and awaited in chunks (one round trip per chunk instead
  of one per record).

Each record's Kafka timestamp is its event time (``ts_ms``), so history can be found by
time (``computeperf replay``). Either way every record counted as sent has been
acknowledged by the broker (``acks="all"``, idempotent producer) before :func:`publish`
returns.

>>> import asyncio
>>> from sim import MarketplaceSim
>>> from config.settings import Settings
>>> fake = MemoryProducer()
>>> recs = MarketplaceSim(seed=1, providers=2, workloads=1).records(
...     1_700_000_000_000, 1_700_000_002_000)
>>> asyncio.run(publish(recs, settings=Settings(topic_prefix="t."), realtime=False,
...                     producer_factory=lambda s: fake))
10
>>> fake.sent[0][:2]
('t.providers.catalog', b'prov-000')
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Protocol, runtime_checkable

from aiokafka import AIOKafkaProducer

from config.kafka import client_options
from config.settings import Settings
from schemas import encode
from sim.marketplace import SimRecord

__all__ = ["MemoryProducer", "Producer", "default_producer", "publish"]


@runtime_checkable
class Producer(Protocol):
    """The subset of :class:`aiokafka.AIOKafkaProducer` that :func:`publish` uses.

    Examples
    --------
    >>> isinstance(MemoryProducer(), Producer)
    True
    """

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def flush(self) -> None: ...

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        timestamp_ms: int | None = None,
    ) -> Awaitable[object]: ...


def default_producer(settings: Settings) -> Producer:
    """The durable producer the simulator uses against a real broker."""
    producer: Producer = AIOKafkaProducer(
        **client_options(settings),
        linger_ms=5,
        acks="all",
        enable_idempotence=True,
    )
    return producer


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def publish(
    records: Iterable[SimRecord],
    *,
    settings: Settings,
    realtime: bool,
    progress: Callable[[int], None] | None = None,
    stop: asyncio.Event | None = None,
    topic_counts: MutableMapping[str, int] | None = None,
    chunk_size: int = 5000,
    producer_factory: Callable[[Settings], Producer] = default_producer,
    send_at_ms: Callable[[int], int] | None = None,
) -> int:
    """Produce ``records`` to Kafka and return how many were sent (and acknowledged).

    Parameters
    ----------
    records : iterable of SimRecord
        Records in non-decreasing event time (as :meth:`MarketplaceSim.records` yields).
    settings : Settings
        Broker address and topic prefix (``settings.topic(record.topic)``).
    realtime : bool
        Pace sends to the wall clock (True) or send as fast as possible (False).
    progress : callable, optional
        Called with the running count of acknowledged records after each batch.
    stop : asyncio.Event, optional
        When set (e.g. by a SIGINT handler), stop taking records, deliver what was
        sent and return normally.
    topic_counts : mutable mapping, optional
        Incremented per logical topic for each acknowledged record.
    chunk_size : int
        Sends in flight before they are awaited, in backfill mode.
    producer_factory : callable
        Builds the producer from ``settings``; tests pass an in-memory fake.
    send_at_ms : callable, optional
        In realtime mode, the wall time at which to send a record of a given event time
        (default: its event time, so history is sent at once; the demo paces its history).

    Examples
    --------
    >>> import asyncio
    >>> from sim.marketplace import MarketplaceSim
    >>> fake, counts = MemoryProducer(), {}
    >>> sim = MarketplaceSim(seed=2, providers=1, workloads=1)
    >>> n = asyncio.run(publish(sim.records(1_700_000_000_000, 1_700_000_001_000),
    ...     settings=Settings(), realtime=False, topic_counts=counts,
    ...     producer_factory=lambda s: fake))
    >>> n, counts["telemetry.provider"], fake.flushed
    (5, 1, True)
    """
    producer = producer_factory(settings)
    sent = 0
    pending: list[Awaitable[object]] = []
    pending_topics: list[str] = []

    async def drain() -> None:
        # Awaiting every delivery future is what makes the count "durable": a failed
        # delivery raises here instead of being silently dropped.
        nonlocal sent
        if not pending:
            return
        await asyncio.gather(*pending)
        sent += len(pending)
        if topic_counts is not None:
            for topic in pending_topics:
                topic_counts[topic] = topic_counts.get(topic, 0) + 1
        pending.clear()
        pending_topics.clear()
        if progress is not None:
            progress(sent)

    async def wait_until(ts_ms: int) -> bool:
        """Sleep until wall time ``ts_ms``; False when asked to stop meanwhile."""
        while (delay_ms := ts_ms - _now_ms()) > 0:
            if stop is None:
                await asyncio.sleep(delay_ms / 1000.0)
                continue
            try:
                await asyncio.wait_for(stop.wait(), delay_ms / 1000.0)
            except TimeoutError:
                continue
            return False
        return True

    await producer.start()
    try:
        for rec in records:
            if stop is not None and stop.is_set():
                break
            due_ms = rec.ts_ms if send_at_ms is None else send_at_ms(rec.ts_ms)
            if realtime and due_ms > _now_ms():
                # Deliver what is due before idling, so consumers see it on time.
                await producer.flush()
                await drain()
                if not await wait_until(due_ms):
                    break
            # The Kafka timestamp is the event time, so history can be found by time
            # (offsets_for_times: `computeperf replay`).
            fut = await producer.send(
                settings.topic(rec.topic),
                value=encode(rec.record),
                key=rec.key.encode(),
                timestamp_ms=rec.ts_ms,
            )
            pending.append(fut)
            pending_topics.append(rec.topic)
            if len(pending) >= chunk_size:
                await drain()
        await producer.flush()
        await drain()
    finally:
        # stop() also flushes whatever is still buffered (e.g. after a cancellation).
        await producer.stop()
    return sent


class MemoryProducer:
    """In-memory stand-in for the producer (tests, dry runs): keeps every send in ``sent``.

    Every send is acknowledged at once; ``sent`` holds ``(topic, key, value)`` tuples.

    Examples
    --------
    >>> import asyncio
    >>> p = MemoryProducer()
    >>> async def one() -> object:
    ...     fut = await p.send("t", value=b"v", key=b"k")
    ...     return await fut
    >>> asyncio.run(one()) is None, p.sent
    (True, [('t', b'k', b'v')])
    """

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None]] = []
        self.started = self.stopped = self.flushed = False

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def flush(self) -> None:
        self.flushed = True

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        timestamp_ms: int | None = None,
    ) -> Awaitable[object]:
        self.sent.append((topic, key, value))
        fut: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut
