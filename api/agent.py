"""Agent ``maintain_read_model`` (worker role ``api``): output topics into the API's tables.

One agent reads every topic the API shows and folds each record into the table of its
topic with the pure functions of :mod:`api.readmodel`, under the record's own Kafka key
(so each table is co-partitioned with its source and ``app.table_route`` can find the
worker that owns a key). Records that do not decode are dead-lettered; a bug on one
record dead-letters that record and the agent goes on (faust#175). Table writes go
through ``agents.outputs.persist_durably`` (acknowledged before the offset commit), and
every ``apply_*`` is idempotent, so a replay after a crash changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import faust
from aiokafka.partitioner import murmur2
from faust.types import StreamT, TableT, TopicT

from agents.outputs import dead_letter, owns_dead_letters, persist_durably, send_dead_letters
from api import readmodel, service_levels
from api.readmodel import TABLES
from config.metrics import PipelineMetrics
from config.settings import Settings
from schemas import (
    Alert,
    AlertAction,
    AlertActionKind,
    Anomaly,
    DecodeError,
    Insight,
    MetricWindow,
    ProviderInfo,
    Recommendation,
    RecommendationOutcome,
    Record,
    SloStatus,
    TenantBudgetStatus,
    WorkloadEvent,
    decode,
    record_key,
)

log = logging.getLogger(__name__)

SOURCES = TABLES


def key_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` (murmur2), as producers do.

    >>> key_partition(b"prov-003", 4)
    2
    """
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


@dataclass
class ReadModel:
    """The API's tables, by name (``provider_to_info``, ``fingerprint_to_alert``, ...).

    ``owned(table)`` gives the partitions of the table's source topic this worker is
    assigned now (``None``: all). Reads skip
    keys of other partitions: Faust's memory store keeps the keys a worker wrote after
    their partition moved to another worker, and those copies go stale.
    """

    tables: dict[str, TableT[Any, Any]]
    partitions: int = 1
    owned: Callable[[str], set[int] | None] = lambda name: None

    def table(self, name: str) -> TableT[Any, Any]:
        return self.tables[name]

    def values(self, name: str) -> dict[str, Any]:
        """A snapshot of this worker's partitions of table ``name`` (key → value)."""
        owned = self.owned(name)
        return {
            key.decode(): value
            for key, value in self.tables[name].items()
            if owned is None or key_partition(key, self.partitions) in owned
        }

    def get(self, name: str, key: str) -> Any:
        """The value of ``key`` if this worker owns its partition, else ``None``."""
        raw = key.encode()
        owned = self.owned(name)
        if owned is not None and key_partition(raw, self.partitions) not in owned:
            return None
        return self.tables[name].get(raw)


def create_read_model(app: faust.App, settings: Settings) -> ReadModel:
    """Declare the read model's tables on ``app``."""
    names = {table for _, table in SOURCES.values()}
    # The topic whose records decide each table's partitions (acknowledgements on
    # perf.alert_actions share the alerts' keys, hence their partitions).
    source_of = {name: settings.topic(topic) for topic, (_, name) in SOURCES.items()}
    source_of["fingerprint_to_alert"] = settings.topic("perf.alerts")
    source_of["recommendation_to_view"] = settings.topic("perf.recommendations")

    def owned(name: str) -> set[int]:
        source = source_of[name]
        return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == source}

    return ReadModel(
        {
            # Raw keys: Faust hashes a table key in its serialized form to find the worker
            # that owns it (table_route); the JSON default ('"p1"') would hash elsewhere
            # than the source topic's key (b"p1") that decided the record's partition.
            name: app.Table(name, key_type=bytes, partitions=settings.partitions)
            for name in sorted(names)
        },
        partitions=settings.partitions,
        owned=owned,
    )


def fold(model: ReadModel, topic: str, key: str, record: Record) -> tuple[str, Any] | None:
    """The table and new value one record of ``topic`` makes (``None``: nothing changes)."""
    # The agent reads its own event's partition unfiltered (model.get filters by the
    # assignment, which may lag behind the events of a partition just taken over).
    name = SOURCES[topic][1]
    current = model.table(name).get(key.encode())
    new: Any
    if isinstance(record, ProviderInfo):
        new = readmodel.apply_provider_info(current, record)
    elif isinstance(record, MetricWindow):
        new = readmodel.apply_metric_window(current, key, record)
    elif isinstance(record, WorkloadEvent):
        new = readmodel.apply_workload_event(current, record)
    elif isinstance(record, Anomaly | Insight):
        new = readmodel.apply_recent(current, record)
    elif isinstance(record, Alert):
        new = readmodel.apply_alert(current, record)
    elif isinstance(record, Recommendation):
        new = readmodel.apply_recommendation(current, record)
    elif isinstance(record, RecommendationOutcome):
        new = readmodel.apply_outcome(current, record)
    elif isinstance(record, SloStatus):
        new = service_levels.apply_slo_status(current, record)
    elif isinstance(record, TenantBudgetStatus):
        new = service_levels.apply_budget_status(current, record)
    elif isinstance(record, AlertAction) and record.kind is AlertActionKind.ACKNOWLEDGE:
        # Acknowledgements live on their alert (same key: the fingerprint).
        name = "fingerprint_to_alert"
        current = model.table(name).get(key.encode())
        new = readmodel.apply_acknowledgement(current, record)
    elif isinstance(record, AlertAction):
        new = readmodel.apply_silence(current, record)
    else:  # pragma: no cover - SOURCES lists every record type handled above
        raise TypeError(f"no read model for {type(record).__name__}")
    if new is None or new == current:
        return None
    return name, new


def register_read_model_agent(
    app: faust.App,
    *,
    settings: Settings,
    model: ReadModel,
    metrics: PipelineMetrics,
    dlq_topic: TopicT,
) -> None:
    """Wire ``maintain_read_model`` to every topic of :data:`SOURCES`."""
    logical = {settings.topic(name): name for name in SOURCES}
    owned = {name for name in SOURCES if owns_dead_letters("api", name, settings.agent_set)}
    source = app.topic(
        *logical,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )

    async def maintain_read_model(stream: StreamT[Any]) -> None:
        async for event in stream.events():
            msg = event.message
            topic = logical.get(msg.topic, msg.topic)
            metrics.events_in.labels(topic=topic).inc()
            try:
                record = decode(SOURCES[topic][0], msg.value or b"")
                key = msg.key.decode() if isinstance(msg.key, bytes) else ""
                key = key or record_key(record)
                change = fold(model, topic, key, record)
                if change is not None:
                    table, value = change
                    # Durable before the offset commit, and without Faust's first-write
                    # partition check, which fails while the consumer has no metadata of
                    # a fresh changelog topic yet (PartitionsMismatch "0 partitions").
                    raw_key: Any = key.encode()  # the tables' keys are bytes (see above)
                    await persist_durably(model.table(table), [(raw_key, value, msg.partition)])
            except DecodeError as exc:
                if topic not in owned:
                    continue  # another stage of this worker dead-letters this topic
                letter = dead_letter(msg, exc.reason, exc.error_type)
                await send_dead_letters(dlq_topic, [letter], metrics, topic)
            except Exception as exc:
                log.exception("read model cannot use %s@%d", msg.topic, msg.offset)
                letter = dead_letter(msg, f"internal error: {exc!r}", "internal")
                await send_dead_letters(dlq_topic, [letter], metrics, topic)

    app.agent(source, name="maintain_read_model")(maintain_read_model)


__all__ = ["SOURCES", "ReadModel", "create_read_model", "register_read_model_agent"]
