"""Produce raw records durably, in chunks: the one helper behind tests and benchmarks.

Every record is acknowledged by the broker (``acks="all"``) before the call returns; the
sends of a chunk are in flight together, so a chunk costs one round trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from itertools import islice

from aiokafka import AIOKafkaProducer


async def produce_durably(
    bootstrap_servers: str, items: Iterable[tuple[str, bytes, bytes]], chunk: int = 5000
) -> int:
    """Send ``(topic, key, value)`` records; return how many were acknowledged."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, acks="all", linger_ms=5, max_batch_size=256 * 1024
    )
    await producer.start()
    sent = 0
    try:
        records = iter(items)
        while batch := list(islice(records, chunk)):
            futures = [await producer.send(t, key=k, value=v) for t, k, v in batch]
            await asyncio.gather(*futures)
            sent += len(batch)
        return sent
    finally:
        await producer.stop()
