"""Replay (``computeperf replay``, :mod:`cli.replay`): historical telemetry from Kafka
through the same pipeline, in a namespace of its own, so live state is untouched.

How it works:

1. **Namespace.** ``--into NAME`` gives the replay its own topic prefix
   (``<prefix>replay.NAME.``), consumer group and table namespace (``app_id``
   ``<app_id>-replay-NAME``) and data folder: :func:`namespace_settings`.
2. **Copy by time.** For every source topic (:data:`TIME_SOURCES`) and partition, the
   first offset at or after ``--since`` is found with ``offsets_for_times`` (the Kafka
   record timestamp: the simulator and well-behaved producers set it to the event time)
   and records are copied, key, partition and timestamp unchanged, into the namespace's
   topic until a record at or after ``--until`` or the end offset seen at the start
   (live traffic that arrives meanwhile is not chased). The compacted catalog
   (:data:`STATE_SOURCES`) is copied from its beginning up to ``--until``: it is state,
   not history. ``--speed X`` paces the copy at X times the original rate (event time);
   the default, 0, copies as fast as the broker takes it.
3. **Same pipeline.** One worker (``streams.workers.WorkerProcess``, the agents of
   ``--agents``) consumes the namespace's topics, exactly as a live worker consumes the
   live ones, and writes the namespace's ``perf.*`` topics.
4. **Done** when the worker's consumer group has committed every offset it consumes and
   no output topic of the namespace grew for ``idle_close_s + 5`` seconds (the last
   windows close through the idle watermark advance): :func:`wait_until_settled`.

Nothing is written to a live topic and the live consumer groups are never joined.

>>> live = Settings(app_id="computeperf", topic_prefix="")
>>> ns = namespace_settings(live, "backtest-1", web_port=7000)
>>> ns.topic("perf.metrics"), ns.app_id, ns.web_port
('replay.backtest-1.perf.metrics', 'computeperf-replay-backtest-1', 7000)
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path

import click
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from agents.produce import Outgoing, durable_producer, send_all
from agents.topic_history import (
    HistoryPlan,
    history_consumer,
    partitions,
    plan_history,
    read_history,
)
from config.kafka import client_options, start_client
from config.settings import Settings
from streams.topics import TOPICS

__all__ = [
    "STATE_SOURCES",
    "TIME_SOURCES",
    "copy_history",
    "namespace_settings",
    "plan_copy",
    "wait_until_settled",
]

# History: copied from --since to --until.
TIME_SOURCES = ("telemetry.provider", "telemetry.workload", "workloads.lifecycle")
# State (compacted): copied from the beginning to --until.
STATE_SOURCES = ("providers.catalog",)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def namespace_settings(live: Settings, name: str, *, web_port: int | None = None) -> Settings:
    """The settings of replay namespace ``name``: own topics, group, tables and data.

    >>> namespace_settings(Settings(), "bad name")
    Traceback (most recent call last):
    ...
    ValueError: replay name 'bad name' must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$
    """
    if not _NAME.match(name):
        raise ValueError(f"replay name {name!r} must match {_NAME.pattern}")
    return live.model_copy(
        update={
            "topic_prefix": f"{live.topic_prefix}replay.{name}.",
            "app_id": f"{live.app_id}-replay-{name}",
            "data_dir": Path(live.data_dir) / "replay" / name,
            "web_port": web_port if web_port is not None else live.web_port,
        }
    )


async def plan_copy(live: Settings, since_ms: int) -> HistoryPlan:
    """Find, per live source partition, where the copy starts and where the log ends."""
    async with history_consumer(live) as consumer:
        try:
            plan = await plan_history(consumer, map(live.topic, TIME_SOURCES), since_ms)
            state = await plan_history(consumer, map(live.topic, STATE_SOURCES), None)
        except LookupError as exc:
            raise click.ClickException(f"live {exc}") from None
    plan.start.update(state.start)
    plan.end.update(state.end)
    return plan


async def copy_history(
    live: Settings,
    target: Settings,
    plan: HistoryPlan,
    until_ms: int,
    *,
    speed: float = 0.0,
    on_progress: Callable[[int], None] = lambda n: None,
) -> dict[str, int]:
    """Copy the planned live records before ``until_ms`` into ``target``'s topics.

    Returns the records copied per logical topic. Each chunk is acknowledged by the
    broker before the next is read, so a copy that returns has lost nothing.
    """
    copied: dict[str, int] = dict.fromkeys((*TIME_SOURCES, *STATE_SOURCES), 0)
    logical = {live.topic(n): n for n in copied}
    first_ts: int | None = None
    wall_start = time.monotonic()
    async with (
        history_consumer(live) as consumer,
        durable_producer(target) as producer,
    ):
        async for batch in read_history(consumer, plan, until_ms):
            chunk: list[Outgoing] = []
            for m in batch:
                if m.value is None:
                    continue  # a tombstone has nothing to replay
                name = logical[m.topic]
                chunk.append(Outgoing(target.topic(name), m.key, m.value, m.partition, m.timestamp))
                copied[name] += 1
            if speed > 0 and chunk:
                newest = max(o.timestamp_ms or 0 for o in chunk)
                first_ts = first_ts if first_ts is not None else newest
                ahead = (newest - first_ts) / 1000.0 / speed - (time.monotonic() - wall_start)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            if chunk:
                await send_all(producer, chunk)
                on_progress(len(chunk))
    return copied


async def _group_caught_up(
    admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, group: str
) -> bool:
    committed = await admin.list_consumer_group_offsets(group)
    if not committed:
        return False
    ends = await consumer.end_offsets(list(committed))
    return all(meta.offset >= ends[tp] for tp, meta in committed.items())


async def _output_offsets(consumer: AIOKafkaConsumer, target: Settings) -> dict[str, int]:
    outputs = [t.name for t in TOPICS if t.name.startswith("perf.")]
    totals: dict[str, int] = {}
    for name in outputs:
        tps = await partitions(consumer, target.topic(name))
        ends = await consumer.end_offsets(tps) if tps else {}
        totals[name] = sum(ends.values())
    return totals


async def wait_until_settled(
    target: Settings,
    copied_inputs: int,
    *,
    settle_s: float,
    timeout_s: float = 3600.0,
    on_outputs: Callable[[int], None] = lambda n: None,
) -> dict[str, int]:
    """Wait until the namespace's worker consumed everything and its outputs stopped growing.

    Returns the records per output topic of the namespace; ``on_outputs`` gets each growth
    of their total (a progress bar's hook).
    """
    admin = AIOKafkaAdminClient(**client_options(target))
    consumer = AIOKafkaConsumer(**client_options(target))
    await start_client(admin, target)
    await start_client(consumer, target)
    try:
        deadline = time.monotonic() + timeout_s
        last: dict[str, int] = {}
        stable_since = time.monotonic()
        while time.monotonic() < deadline:
            outputs = await _output_offsets(consumer, target)
            if outputs != last:
                on_outputs(sum(outputs.values()) - sum(last.values()))
                last, stable_since = outputs, time.monotonic()
            caught_up = copied_inputs == 0 or await _group_caught_up(
                admin, consumer, target.group_id
            )
            if caught_up and time.monotonic() - stable_since >= settle_s:
                return last
            await asyncio.sleep(1.0)
        raise click.ClickException(f"replay did not settle within {timeout_s:.0f} s")
    finally:
        await consumer.stop()
        await admin.close()
