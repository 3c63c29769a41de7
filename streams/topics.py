"""The topic registry: every topic of the contract, created explicitly at start-up.

The broker runs with ``auto.create.topics.enable=false``, so a topic exists only if it is
listed here (or is one of Faust's own changelog/leader topics, which Faust declares).

>>> [t.name for t in TOPICS if t.compacted]
['providers.catalog', 'perf.recommendations', 'perf.slo', 'perf.budgets']
>>> spec_for("perf.dlq").key
'source topic'
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from config.kafka import client_options, start_client
from config.settings import Settings
from schemas import TOPIC_RECORDS, Record
from schemas.dlq import MAX_MESSAGE_BYTES as DLQ_MAX_MESSAGE_BYTES


@dataclass(frozen=True)
class TopicSpec:
    """One topic of the contract: its logical name, key, record type and log settings."""

    name: str
    key: str
    compacted: bool = False
    retention_ms: int | None = None
    #: The topic's ``max.message.bytes`` when it must be known (``None``: broker default).
    max_message_bytes: int | None = None
    #: Its partition count when fixed (``None``: ``Settings.partitions``).
    partitions: int | None = None

    @property
    def record(self) -> type[Record]:
        return TOPIC_RECORDS[self.name]

    def configs(self, settings: Settings) -> dict[str, str]:
        """The topic's log settings, with ``min.insync.replicas`` from ``settings``.

        >>> spec_for("perf.budgets").configs(Settings(replication_factor=3))["min.insync.replicas"]
        '2'
        """
        sizes = durability_configs(settings)
        if self.max_message_bytes is not None:
            sizes["max.message.bytes"] = str(self.max_message_bytes)
        if self.compacted:
            return {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000", **sizes}
        retention = self.retention_ms or settings.telemetry_retention_ms
        return {"cleanup.policy": "delete", "retention.ms": str(retention), **sizes}


def durability_configs(settings: Settings) -> dict[str, str]:
    """Topic settings every topic we create carries (ours and Faust's changelogs).

    An ``acks=all`` write is acknowledged once this many copies hold it: with 3 copies and
    2 in sync, one broker may die without losing an acknowledged record or refusing writes.
    """
    return {"min.insync.replicas": str(settings.topic_min_insync_replicas)}


DAY_MS = 24 * 3600 * 1000
TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec("telemetry.provider", "provider_id"),
    TopicSpec("telemetry.workload", "workload_id"),
    TopicSpec("workloads.lifecycle", "workload_id", retention_ms=30 * DAY_MS),
    TopicSpec("providers.catalog", "provider_id", compacted=True),
    TopicSpec("perf.metrics", "entity", retention_ms=30 * DAY_MS),
    TopicSpec("perf.anomalies", "entity", retention_ms=30 * DAY_MS),
    TopicSpec("perf.insights", "entity", retention_ms=30 * DAY_MS),
    TopicSpec("perf.alerts", "fingerprint", retention_ms=90 * DAY_MS),
    TopicSpec("perf.recommendations", "recommendation_id", compacted=True),
    TopicSpec("scheduler.feedback", "recommendation_id", retention_ms=90 * DAY_MS),
    TopicSpec("perf.outcomes", "recommendation_id", retention_ms=90 * DAY_MS),
    TopicSpec("perf.reports", "report_id", retention_ms=365 * DAY_MS),
    # Dead letters are cut to fit this (schemas/dlq.py), whatever the broker's default.
    TopicSpec(
        "perf.dlq",
        "source topic",
        retention_ms=30 * DAY_MS,
        max_message_bytes=DLQ_MAX_MESSAGE_BYTES,
    ),
    TopicSpec("perf.alert_actions", "fingerprint or silence id", retention_ms=90 * DAY_MS),
    # The latest status per entity and SLO is all that matters: compacted.
    TopicSpec("perf.slo", "<entity_type>:<entity_id>|<slo key>", compacted=True),
    TopicSpec("perf.budgets", "tenant_id", compacted=True),
    # Never written: holding its one partition in a role's lease group is the lease
    # (streams/lease.py: one active instance of a single-instance role, standbys wait).
    TopicSpec("control.leases", "none", partitions=1),
)


def spec_for(name: str) -> TopicSpec:
    """Return the spec of a logical topic name."""
    for spec in TOPICS:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown topic {name!r}; known: {[t.name for t in TOPICS]}")


async def ensure_topics(settings: Settings, timeout_s: float = 30.0) -> list[str]:
    """Create every registry topic that does not exist yet; return the names created."""
    admin = AIOKafkaAdminClient(**client_options(settings), request_timeout_ms=15000)
    await asyncio.wait_for(start_client(admin, settings), timeout_s)
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(
                name=settings.topic(spec.name),
                num_partitions=spec.partitions or settings.partitions,
                replication_factor=settings.replication_factor,
                topic_configs=spec.configs(settings),
            )
            for spec in TOPICS
            if settings.topic(spec.name) not in existing
        ]
        if wanted:
            response = await admin.create_topics(wanted, timeout_ms=int(timeout_s * 1000))
            for name, code, *rest in response.topic_errors:
                # Another worker may create the same topic at the same moment: that is fine.
                if code not in (0, TopicAlreadyExistsError.errno):
                    message = rest[0] if rest else ""
                    raise RuntimeError(f"cannot create topic {name}: error {code} {message}")
        return [t.name for t in wanted]
    finally:
        await admin.close()
