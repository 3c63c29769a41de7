"""Issue 17: a partition is idle only when the broker confirms nothing more is there."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from tests.unit.test_state_eviction import T0, Event, FakeTable, FakeTopic, Message, aggregator
from tests.unit.test_state_eviction import sample as provider_sample


def test_quiet_is_idle_only_when_the_end_offset_says_so() -> None:
    async def scenario() -> None:
        table, dlq = FakeTable(), FakeTopic()
        agg = aggregator(table, dlq)
        await agg.process([Event(Message(provider_sample("a", T0), 0))])  # type: ignore[list-item]
        part = agg.partitions[0]
        answers: list[Mapping[int, int] | Exception] = [
            RuntimeError("broker down"),  # unreachable: not idle
            {0: 5},  # records past ours exist (we lag): not idle
            {0: 1},  # nothing past offset 0: idle, the window closes
        ]

        async def end_offsets(partitions: list[int]) -> Mapping[int, int]:
            answer = answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer

        for _ in range(2):
            part.last_arrival_s -= 60  # quiet for a minute
            await agg.close_idle(end_offsets)
            assert agg.series["a"].windows, "closed while the broker could not confirm"
        part.last_arrival_s -= 60
        await agg.close_idle(end_offsets)
        assert not agg.series["a"].windows and not answers

    asyncio.run(scenario())
