"""Read the alert history back from ``perf.alerts`` (the topic is the durable log).

Seeks every partition with ``offsets_for_times`` to ``since - lookback`` (record
timestamps are when an alert was produced; an alert's own times are event times, close to
it in live operation, and ``lookback`` covers the gap), reads to the end offsets seen at
the start, decodes, and filters with :func:`alerts.history.select`.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition

from alerts.history import select
from config.kafka import client_options, start_client
from config.settings import Settings
from schemas import Alert, DecodeError, decode

__all__ = ["read_alert_history"]


async def read_alert_history(
    settings: Settings,
    *,
    entity_id: str | None = None,
    entity_type: str | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    lookback_ms: int = 86_400_000,
) -> list[Alert]:
    """Alerts of one entity (or all) overlapping ``[since_ms, until_ms)``, in log order."""
    topic = settings.topic("perf.alerts")
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await start_client(consumer, settings)
    try:
        ids = consumer.partitions_for_topic(topic) or set()
        for _ in range(20):  # a fresh consumer may not have the topic's metadata yet
            if ids:
                break
            await asyncio.sleep(0.25)
            await consumer._client.force_metadata_update()
            ids = consumer.partitions_for_topic(topic) or set()
        if not ids:
            return []  # no such topic: no history
        partitions = [TopicPartition(topic, p) for p in sorted(ids)]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        starts = (
            await consumer.offsets_for_times(
                {tp: max(0, since_ms - lookback_ms) for tp in partitions}
            )
            if since_ms is not None
            else {}
        )
        for tp in partitions:
            found = starts.get(tp)
            if found is None and since_ms is not None:
                consumer.seek(tp, ends[tp])  # nothing that recent in this partition
            elif found is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, found.offset)
        alerts: list[Alert] = []
        pending = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, messages in batch.items():
                for message in messages:
                    if message.offset < ends[tp]:
                        try:
                            alerts.append(decode(Alert, message.value or b""))
                        except DecodeError:
                            continue  # not ours to fix here; the producer validated it
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return select(
            alerts,
            entity_id=entity_id,
            entity_type=entity_type,
            since_ms=since_ms,
            until_ms=until_ms,
        )
    finally:
        await consumer.stop()
