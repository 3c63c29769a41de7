"""The one set of stand-ins for what an agent's pure-ish worker uses of Faust.

Unit tests of agent workers (``AnomalyScorer``, the approvals and analysis workers) need
something with ``send`` and something table-like; the real thing needs a broker, which
the integration tests use.
"""

from __future__ import annotations

import asyncio
from typing import Any


class FakeTopic:
    """A topic whose ``send`` completes at once; ``sent`` keeps ``(key, value)``.

    With a shared ``log``, every send is also appended as ``(name, (key, value, partition))``,
    so a test can check the order of writes across topics and tables.
    """

    def __init__(self, name: str = "topic", log: list[tuple[str, Any]] | None = None) -> None:
        self.name = name
        self.log = log if log is not None else []
        self.sent: list[tuple[Any, Any]] = []

    async def send(self, *, key: Any, value: Any, partition: int | None = None, **_: Any) -> Any:
        self.sent.append((key, value))
        self.log.append((self.name, (key, value, partition)))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class FakeTable:
    """What a worker uses of a Faust table: reads, and ``changelog_topic`` for durable writes."""

    def __init__(
        self, data: dict[str, Any] | None = None, changelog_topic: FakeTopic | None = None
    ) -> None:
        self.name = "table"
        self.data: dict[str, Any] = dict(data or {})
        self.changelog_topic = changelog_topic or FakeTopic("changelog")

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def values(self) -> Any:
        return self.data.values()

    def items(self) -> Any:
        return self.data.items()
