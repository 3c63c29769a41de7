"""Issue 17: every producer of ours is idempotent and waits for all in-sync replicas."""

from __future__ import annotations

import asyncio

from config.settings import Settings
from streams.app import create_app
from streams.durable_producer import DurableProducer
from streams.publish import default_producer


def test_fausts_producer_is_idempotent_with_acks_all() -> None:
    async def build() -> None:
        app = create_app(Settings(kafka_bootstrap_servers="127.0.0.1:1"))
        assert isinstance(app.producer, DurableProducer)
        producer = app.producer._new_producer()
        # aiokafka keeps a transaction manager only for idempotent producers; acks=all is -1.
        assert producer._txn_manager is not None
        assert producer.client is not None and producer._sender._acks == -1

    asyncio.run(build())


def test_the_simulators_producer_is_idempotent_too() -> None:
    async def build() -> None:
        producer = default_producer(Settings(kafka_bootstrap_servers="127.0.0.1:1"))
        assert producer._txn_manager is not None  # type: ignore[attr-defined]

    asyncio.run(build())
