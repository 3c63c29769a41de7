"""Issue 17: a partition is idle only when the broker confirms nothing more is there."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from tests.unit.test_state_eviction import T0, Event, FakeTable, FakeTopic, Message, aggregator
from tests.unit.test_state_eviction import sample as provider_sample


def scripted(answers: list[Mapping[int, int] | Exception]):  # type: ignore[no-untyped-def]
    """An ``end_offsets`` that gives ``answers`` in order (an exception is raised)."""

    async def end_offsets(partitions: list[int]) -> Mapping[int, int]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return end_offsets


def test_quiet_is_idle_only_after_the_broker_confirmed_it_for_the_idle_time() -> None:
    async def scenario() -> None:
        agg = aggregator(FakeTable(), FakeTopic())
        await agg.process([Event(Message(provider_sample("a", T0), 0))])  # type: ignore[list-item]
        part = agg.partitions[0]
        end_offsets = scripted(
            [
                RuntimeError("broker down"),  # unreachable: not idle
                {0: 5},  # records past ours exist (we lag): not idle
                {0: 1},  # nothing past offset 0: the quiet clock starts now
                RuntimeError("broker down"),  # and starts over
                {0: 1},  # confirmed again: the clock starts again
                {0: 1},  # confirmed for longer than idle_close_s: idle, the window closes
            ]
        )
        part.last_arrival_s -= 600  # no record for ten minutes
        for _ in range(5):
            await agg.close_idle(end_offsets)
            assert agg.series["a"].windows, "closed before the broker confirmed it long enough"
        assert part.confirmed_quiet_s is not None
        part.confirmed_quiet_s -= agg.settings.idle_close_s
        await agg.close_idle(end_offsets)
        assert not agg.series["a"].windows

    asyncio.run(scenario())


def test_an_outage_the_check_never_saw_does_not_count_as_quiet() -> None:
    """The CI failure: the check hung for the whole outage, so none failed during it.

    The first answer after the broker is back starts the clock; the samples its producer
    resends next are on time, not late.
    """

    async def scenario() -> None:
        dlq = FakeTopic()
        agg = aggregator(FakeTable(), dlq)
        await agg.process([Event(Message(provider_sample("a", T0), 0))])  # type: ignore[list-item]
        agg.partitions[0].last_arrival_s -= 3 * agg.settings.idle_close_s
        await agg.close_idle(scripted([{0: 1}]))
        assert agg.series["a"].windows
        await agg.process([Event(Message(provider_sample("a", T0 + 1_000, seq=1), 1))])  # type: ignore[list-item]
        assert agg.partitions[0].confirmed_quiet_s is None
        assert dlq.sent == [], "the resent sample was late"

    asyncio.run(scenario())


def test_without_a_check_quiet_counts_from_the_last_record() -> None:
    async def scenario() -> None:
        agg = aggregator(FakeTable(), FakeTopic())
        await agg.process([Event(Message(provider_sample("a", T0), 0))])  # type: ignore[list-item]
        await agg.close_idle(None)
        assert agg.series["a"].windows
        agg.partitions[0].last_arrival_s -= agg.settings.idle_close_s
        await agg.close_idle(None)
        assert not agg.series["a"].windows

    asyncio.run(scenario())


def test_a_partition_revoked_during_the_check_is_skipped_not_a_crash() -> None:
    """The clean-clone failure: a rebalance during the end-offsets request (the leader of
    the group's coordinator was SIGKILLed) revoked partition 0; the check then looked it
    up, raised KeyError, and the timer's error stopped the whole worker."""

    async def scenario() -> None:
        agg = aggregator(FakeTable(), FakeTopic())
        await agg.process([Event(Message(provider_sample("a", T0), 0))])  # type: ignore[list-item]
        agg.partitions[0].last_arrival_s -= 3 * agg.settings.idle_close_s

        async def revoked_meanwhile(partitions: list[int]) -> Mapping[int, int]:
            agg.forget_partitions({0})
            return {0: 1}

        await agg.close_idle(revoked_meanwhile)
        assert 0 not in agg.partitions

    asyncio.run(scenario())
