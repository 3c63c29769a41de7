"""Read a time range of Kafka topics: the one reader behind ``replay`` and ``report``.

:func:`plan_history` finds, per partition, the first offset at or after ``since_ms`` (by
Kafka record time, ``offsets_for_times``; ``None`` = the beginning) and the end offset at
that moment; :func:`read_history` yields the planned records in batches until a record at
or after ``until_ms`` or the planned end, so a read finishes even while producers go on.

>>> tp = TopicPartition("t", 0)
>>> HistoryPlan({tp: 5}, {tp: 12}).upper_bound
7
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from config.kafka import client_options, start_client
from config.settings import Settings

__all__ = ["HistoryPlan", "history_consumer", "partitions", "plan_history", "read_history"]


@dataclass
class HistoryPlan:
    """Per partition: the first offset to read and the end offset seen when planning."""

    start: dict[TopicPartition, int] = field(default_factory=dict)
    end: dict[TopicPartition, int] = field(default_factory=dict)

    @property
    def upper_bound(self) -> int:
        """Records at most to read (the ``until_ms`` cut can only make it fewer)."""
        return sum(max(0, self.end[tp] - off) for tp, off in self.start.items())


@asynccontextmanager
async def history_consumer(settings: Settings) -> AsyncIterator[AIOKafkaConsumer]:
    """A started consumer without a group (it never commits), committed reads only."""
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_poll_records=5000,
    )
    await start_client(consumer, settings)
    try:
        yield consumer
    finally:
        await consumer.stop()


async def partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic`` (empty when it does not exist)."""
    parts = consumer.partitions_for_topic(topic)
    if not parts:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, p) for p in sorted(parts)]


async def plan_history(
    consumer: AIOKafkaConsumer, topics: Iterable[str], since_ms: int | None
) -> HistoryPlan:
    """Plan a read of ``topics`` from ``since_ms`` (``None``: from the beginning).

    Raises ``LookupError`` naming a topic that does not exist.
    """
    plan = HistoryPlan()
    for topic in topics:
        tps = await partitions(consumer, topic)
        if not tps:
            raise LookupError(f"topic {topic!r} does not exist")
        ends = await consumer.end_offsets(tps)
        plan.end.update(ends)
        if since_ms is None:
            plan.start.update(await consumer.beginning_offsets(tps))
            continue
        found = await consumer.offsets_for_times(dict.fromkeys(tps, since_ms))
        for tp in tps:
            hit = found.get(tp)
            plan.start[tp] = hit.offset if hit is not None else ends[tp]
    return plan


async def read_history(
    consumer: AIOKafkaConsumer, plan: HistoryPlan, until_ms: int | None
) -> AsyncIterator[list[ConsumerRecord[bytes, bytes]]]:
    """Yield the planned records (tombstones included) in batches, partition order kept."""
    todo = {tp for tp, off in plan.start.items() if off < plan.end[tp]}
    consumer.assign(sorted(todo, key=lambda tp: (tp.topic, tp.partition)))
    for tp in todo:
        consumer.seek(tp, plan.start[tp])
    while todo:
        batch = await consumer.getmany(*todo, timeout_ms=1000, max_records=5000)
        out: list[ConsumerRecord[bytes, bytes]] = []
        for tp, messages in batch.items():
            if tp not in todo:
                continue
            for m in messages:
                if m.offset >= plan.end[tp] or (until_ms is not None and m.timestamp >= until_ms):
                    todo.discard(tp)
                    consumer.pause(tp)
                    break
                out.append(m)
            else:
                if messages and messages[-1].offset + 1 >= plan.end[tp]:
                    todo.discard(tp)
                    consumer.pause(tp)
        if out:
            yield out
