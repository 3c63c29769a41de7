"""Durable output: records are awaited until the broker acknowledged them.

``await topic.send()`` only enqueues; an output must be on the broker before the state
change or offset commit that depends on it (FAUST-NOTES.md). Every record of a batch is
sent first and then all acknowledgements are awaited together, so a batch costs one
round trip, not one per record.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn, TypeVar

from aiokafka.errors import KafkaError
from faust.types import Message, StreamT, TableT, TopicT

from agents.context import partition_context
from config.metrics import PipelineMetrics
from config.settings import Settings
from schemas import DeadLetter, DecodeError, Record, WorkloadEvent, decode

log = logging.getLogger(__name__)

R = TypeVar("R", bound=Record)

#: Exit status of a worker whose durable write the broker never acknowledged (EX_TEMPFAIL).
EXIT_WRITE_STALLED = 75


def exit_stalled(what: str) -> NoReturn:
    """Stop the worker at once: a durable write (``what``) was never acknowledged.

    A graceful stop would flush the same producer and wait as long; nothing after the
    write was committed, so the restarted worker reprocesses it (as after a SIGKILL).
    """
    log.critical(
        "durable write not acknowledged (%s): the worker exits with %d; restarted, it "
        "processes again what was not committed",
        what,
        EXIT_WRITE_STALLED,
    )
    logging.shutdown()
    os._exit(EXIT_WRITE_STALLED)


async def within_deadline(
    write: Awaitable[None],
    timeout_s: float,
    what: str,
    on_stall: Callable[[str], NoReturn] = exit_stalled,
) -> None:
    """Await ``write`` (sends and their acknowledgements) for at most ``timeout_s``.

    Past the deadline ``on_stall(what)`` runs, by default :func:`exit_stalled`: a write
    the broker never acknowledges (a partition whose leader never learned of it, a frozen
    cluster) would otherwise hold the agent, and every commit after it, without end
    (issue 17). The sends are inside the deadline too: a send may wait for metadata.

    >>> class Stalled(Exception): ...
    >>> def stall(what: str) -> NoReturn:
    ...     raise Stalled(what)
    >>> asyncio.run(within_deadline(asyncio.Event().wait(), 0.01, "perf.metrics", stall))
    Traceback (most recent call last):
    ...
    agents.outputs.Stalled: perf.metrics, not acknowledged after 0.01 s
    >>> asyncio.run(within_deadline(asyncio.sleep(0), 1.0, "perf.metrics", stall))
    """
    try:
        await asyncio.wait_for(write, timeout_s)
    except TimeoutError:
        on_stall(f"{what}, not acknowledged after {timeout_s:g} s")


def write_timeout(endpoint: TopicT | TableT[Any, Any]) -> float:
    """The app's ``durable_write_timeout_s`` for writes to ``endpoint`` (a topic or table)."""
    settings = getattr(getattr(endpoint, "app", None), "settings", None) or Settings()
    return settings.durable_write_timeout_s


#: Per topic several stages read, the roles that dead-letter its bad records, in order of
#: preference: in a worker, only the first of them that it runs does, so a bad record is
#: dead-lettered once per consumer group, not once per stage. (``fleet`` and ``analysis``
#: never do: they only log.) Topics not listed are dead-lettered by their one reader.
DEAD_LETTER_OWNERS: dict[str, tuple[str, ...]] = {
    "perf.metrics": ("alerts", "anomalies", "api", "budgets"),
    "perf.anomalies": ("alerts", "api"),
    "perf.budgets": ("alerts", "api"),
    "workloads.lifecycle": ("api", "recommendations", "approvals", "budgets"),
    "providers.catalog": ("api", "recommendations"),
    "perf.recommendations": ("api", "approvals"),
}


def owns_dead_letters(role: str, topic: str, roles: frozenset[str]) -> bool:
    """Whether stage ``role`` dead-letters bad records of ``topic`` in a worker of ``roles``.

    >>> every = frozenset({"alerts", "anomalies", "api", "budgets"})
    >>> [owns_dead_letters(r, "perf.metrics", every) for r in ("alerts", "anomalies")]
    [True, False]
    >>> owns_dead_letters("anomalies", "perf.metrics", frozenset({"anomalies", "budgets"}))
    True
    >>> owns_dead_letters("windows", "telemetry.provider", frozenset({"windows"}))
    True
    """
    owners = [r for r in DEAD_LETTER_OWNERS.get(topic, (role,)) if r in roles]
    return (owners[0] if owners else role) == role


async def send_durably(
    topic: TopicT,
    records: Sequence[tuple[str, Record]],
    metrics: PipelineMetrics,
    logical_name: str,
) -> None:
    """Send ``(key, record)`` pairs to ``topic`` and wait until all are acknowledged."""
    if not records:
        return

    async def write() -> None:
        futures = [await topic.send(key=key, value=record) for key, record in records]
        await asyncio.gather(*futures)

    await within_deadline(write(), write_timeout(topic), logical_name)
    metrics.events_out.labels(topic=logical_name).inc(len(records))


async def persist_durably(table: TableT[Any, Any], items: Sequence[tuple[str, Any, int]]) -> None:
    """Write ``(key, value, partition)`` to ``table``; wait until its changelog has them.

    ``table[key] = value`` leaves the changelog record in Faust's producer buffer, and
    Faust's pre-commit flush gives up after 0.1 s without a record leaving that buffer
    (``ProducerBuffer.flush_atmost``), so an offset commit can overtake the state it
    depends on and a crash then loses that state. Here the local store is updated and
    the changelog record sent to the source partition of the key (co-partitioned, as
    Faust would) and acknowledged before the caller acks the events.
    """

    async def write() -> None:
        futures = []
        for key, value, partition in items:
            with partition_context(partition):
                table.data[key] = value
            changelog = table.changelog_topic
            futures.append(await changelog.send(key=key, value=value, partition=partition))
        await asyncio.gather(*futures)

    await within_deadline(write(), write_timeout(table), f"{table.name}'s changelog")


async def delete_durably(table: TableT[Any, Any], items: Sequence[tuple[str, int]]) -> None:
    """Remove ``(key, partition)`` from ``table``; wait until its changelog has the tombstones.

    A tombstone (value ``None``), not just a local delete: otherwise the next recovery
    reads the key back from the changelog.
    """

    async def write() -> None:
        futures = []
        for key, partition in items:
            table.data.pop(key, None)
            # Filled by Faust's memory store on recovery only, and not cleaned by pop.
            getattr(table.data, "_key_partition", {}).pop(key, None)
            futures.append(
                await table.changelog_topic.send(
                    key=key, value=None, partition=partition, value_serializer="raw"
                )
            )
        await asyncio.gather(*futures)

    await within_deadline(write(), write_timeout(table), f"{table.name}'s changelog")


def dead_letter(message: Message, reason: str, error_type: str) -> DeadLetter:
    """Wrap a consumed message that could not be used, with where it came from and why.

    Raw bytes that would not fit the dead-letter topic are truncated, and the dead letter
    says so (:meth:`DeadLetter.wrap`).
    """
    return DeadLetter.wrap(
        source_topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        ts_ms=int(time.time() * 1000),
        key=message.key if isinstance(message.key, bytes) or message.key is None else None,
        value=message.value if isinstance(message.value, bytes) else b"",
        reason=reason,
        error_type=error_type,
    )


async def send_dead_letters(
    topic: TopicT,
    letters: Sequence[DeadLetter],
    metrics: PipelineMetrics,
    logical_source: str,
) -> None:
    """Dead-letter ``letters`` durably and count them per error type."""
    await send_durably(topic, [(logical_source, d) for d in letters], metrics, "perf.dlq")
    for d in letters:
        metrics.dead_letters.labels(topic=logical_source, error_type=d.error_type).inc()


def guarded_agent(
    handler: Callable[[Message], Awaitable[None]],
    *,
    name: str,
    source: str,
    metrics: PipelineMetrics,
    dlq_topic: TopicT,
) -> Callable[[StreamT[Any]], Awaitable[None]]:
    """An agent body calling ``handler`` per message; a failure dead-letters that message.

    A bug must neither kill the agent (faust#175) nor pass silently: the message goes to
    the dead-letter topic (error type ``internal``), is counted, and the stream goes on.
    A retriable broker error is no fault of the message: the worker exits
    (:func:`exit_stalled`) and its restart processes the message again.
    """

    async def run(stream: StreamT[Any]) -> None:
        async for event in stream.events():
            metrics.events_in.labels(topic=source).inc()
            try:
                await handler(event.message)
            except Exception as exc:
                if isinstance(exc, KafkaError) and exc.retriable:
                    exit_stalled(f"{source}@{event.message.offset}: {exc!r}")
                log.exception("cannot use %s@%d", source, event.message.offset)
                letter = dead_letter(event.message, f"internal error: {exc!r}", "internal")
                await send_dead_letters(dlq_topic, [letter], metrics, source)

    run.__name__ = run.__qualname__ = name
    return run


async def decode_or_dead_letter(
    model: type[R],
    message: Message,
    *,
    dlq_topic: TopicT,
    metrics: PipelineMetrics,
    source: str,
    dead_letters: bool = True,
) -> R | None:
    """``message``'s value as ``model``, or ``None`` once it is dead-lettered with its reason.

    Bad input is never dropped silently: the undecodable message goes durably to
    ``perf.dlq`` (error type from the :class:`~schemas.DecodeError`) and is counted, unless
    ``dead_letters`` is false: another stage of this worker owns the topic's dead letters
    (:func:`owns_dead_letters`).
    """
    try:
        return decode(model, message.value or b"")
    except DecodeError as exc:
        if not dead_letters:
            log.debug("%s@%d: dead-lettered by its owner: %s", source, message.offset, exc)
            return None
        letter = dead_letter(message, exc.reason, exc.error_type)
        await send_dead_letters(dlq_topic, [letter], metrics, source)
        return None


async def remember_tenant(
    message: Message,
    tenants: TableT[Any, Any],
    *,
    dlq_topic: TopicT,
    metrics: PipelineMetrics,
    dead_letters: bool = True,
) -> None:
    """Keep the tenant of the workload of a ``workloads.lifecycle`` message in ``tenants``.

    Only events that carry the workload's spec say who the tenant is; a write happens only
    when the table does not already hold that tenant.
    """
    event = await decode_or_dead_letter(
        WorkloadEvent,
        message,
        dlq_topic=dlq_topic,
        metrics=metrics,
        source="workloads.lifecycle",
        dead_letters=dead_letters,
    )
    if event is None or event.spec is None:
        return
    if tenants.get(event.workload_id) != event.spec.tenant_id:
        await persist_durably(
            tenants, [(event.workload_id, event.spec.tenant_id, message.partition)]
        )


async def wait_for_tenant(lookup: Callable[[], str | None], timeout_s: float) -> str | None:
    """``lookup()`` (a tenant :func:`remember_tenant` recorded), polled for up to
    ``timeout_s``: the lifecycle agent runs beside the caller's and may not have caught up
    (at start-up); ``None`` if it still knows nothing then.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while (tenant := lookup()) is None:
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(0.1)
    return tenant
