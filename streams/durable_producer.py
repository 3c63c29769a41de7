"""Faust's Kafka producer with the settings that lose nothing across a broker restart.

Faust asks aiokafka for ``acks="all"`` and idempotence only inside transactions
(``Producer._settings_extra``); otherwise a batch retried after a broker restart can be
written twice or, with several batches in flight to a partition, out of order. Changelog
records and outputs of ours then reach the log in another order than they were sent: a
window state can be overtaken by an older one. With idempotence the broker keeps each
partition's order and drops the retried duplicates (issue 17, defect 4).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from faust.transport.drivers.aiokafka import Producer
from mode.utils.times import Seconds

from streams.topics import durability_configs

#: What every producer of ours sets (also ``agents/produce.py`` and ``streams/publish.py``).
DURABLE_PRODUCER_SETTINGS: Mapping[str, Any] = {"acks": "all", "enable_idempotence": True}


class DurableProducer(Producer):
    """Faust's aiokafka producer with :data:`DURABLE_PRODUCER_SETTINGS` always on."""

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), **DURABLE_PRODUCER_SETTINGS}

    async def create_topic(
        self,
        topic: str,
        partitions: int,
        replication: int,
        *,
        config: Mapping[str, Any] | None = None,
        timeout: Seconds = 20.0,
        retention: Seconds | None = None,
        compacting: bool | None = None,
        deleting: bool | None = None,
        ensure_created: bool = False,
    ) -> None:
        """Create a topic Faust declares (changelogs, the leader topic) as durable as ours.

        Faust passes the replication factor (``topic_replication_factor``) but nothing
        about in-sync replicas: ``min.insync.replicas`` comes from the app's settings, as
        for the registry's topics (``streams/topics.py``).
        """
        settings = getattr(self.app, "settings", None)
        if settings is not None:
            config = {**durability_configs(settings), **(config or {})}
        await super().create_topic(
            topic,
            partitions,
            replication,
            config=config,
            timeout=timeout,
            retention=retention,
            compacting=compacting,
            deleting=deleting,
            ensure_created=ensure_created,
        )


__all__ = ["DURABLE_PRODUCER_SETTINGS", "DurableProducer"]
