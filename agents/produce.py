"""Produce raw records durably, in chunks: the one helper behind tests, benchmarks and replay.

Every record is acknowledged by the broker (``acks="all"``) before the call returns; the
sends of a chunk are in flight together, so a chunk costs one round trip.

>>> Outgoing("perf.metrics", b"k", b"v").partition is None
True
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from itertools import islice
from typing import NamedTuple

from aiokafka import AIOKafkaProducer

from config.kafka import client_options, start_client
from config.settings import Settings

__all__ = ["Outgoing", "durable_producer", "produce_durably", "send_all"]


class Outgoing(NamedTuple):
    """One record to send: a plain ``(topic, key, value)`` triple converts to it.

    ``partition`` and ``timestamp_ms`` default to the producer's choice (key hash, now);
    replay sets both to keep a copy co-partitioned and in its original time.
    """

    topic: str
    key: bytes | None
    value: bytes
    partition: int | None = None
    timestamp_ms: int | None = None


@asynccontextmanager
async def durable_producer(settings: Settings) -> AsyncIterator[AIOKafkaProducer]:
    """A started producer that waits for all in-sync replicas; stopped on exit.

    Idempotent: a batch retried after a broker restart is written once and in order.
    """
    producer = AIOKafkaProducer(
        **client_options(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    await start_client(producer, settings)
    try:
        yield producer
    finally:
        await producer.stop()


async def send_all(
    producer: AIOKafkaProducer, items: Iterable[Outgoing | tuple[str, bytes, bytes]]
) -> int:
    """Send one chunk with all its sends in flight together; return it once all are acked."""
    futures = []
    for item in items:
        out = Outgoing(*item)
        futures.append(
            await producer.send(
                out.topic,
                key=out.key,
                value=out.value,
                partition=out.partition,
                timestamp_ms=out.timestamp_ms,
            )
        )
    await asyncio.gather(*futures)
    return len(futures)


async def produce_durably(
    settings: Settings,
    items: Iterable[Outgoing | tuple[str, bytes, bytes]],
    chunk: int = 5000,
) -> int:
    """Send records in chunks of ``chunk``; return how many were acknowledged."""
    sent = 0
    async with durable_producer(settings) as producer:
        records = iter(items)
        while batch := list(islice(records, chunk)):
            sent += await send_all(producer, batch)
    return sent
