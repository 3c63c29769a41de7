"""Issue 16: the batched window path gives exactly the state of the per-sample path.

``QuantileSketch.add_many`` / ``WindowAccumulator.add_many`` against repeated ``add``,
``QuantileSketch.quantiles`` against ``quantile``, and the aggregator's deferred per-window
updates (a tame batch) against the same records offered one batch per record.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from models.sketch import QuantileSketch
from models.windows import WindowAccumulator, batch_is_tame
from tests.unit.test_state_eviction import T0, Event, FakeTable, FakeTopic, Message, aggregator
from tests.unit.test_state_eviction import sample as provider_sample

FAST = settings(max_examples=200, deadline=None, database=None)

values = st.one_of(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.sampled_from([0.0, -0.0, 1e-320, -1e-320, 42.0]),
)


@FAST
@given(st.lists(values, min_size=1, max_size=200))
def test_add_many_is_add_one_by_one(xs: list[float]) -> None:
    one, many = QuantileSketch(), QuantileSketch()
    for x in xs:
        one.add(x)
    many.add_many(xs)
    assert json.dumps(many.to_state()) == json.dumps(one.to_state())
    qs = (0.0, 0.01, 0.5, 0.95, 0.99, 1.0)
    assert many.quantiles(qs) == [one.quantile(q) for q in qs]


@FAST
@given(
    st.lists(
        st.fixed_dictionaries(
            {"a": st.one_of(st.none(), values, st.just(float("nan"))), "b": values}
        ),
        min_size=1,
        max_size=50,
    )
)
def test_accumulator_add_many_is_add_one_by_one(rows: list[dict[str, float | None]]) -> None:
    one, many = WindowAccumulator(), WindowAccumulator()
    for row in rows:
        one.add(row)
    many.add_many(rows)
    assert many.to_state() == one.to_state()


def test_values_near_the_float_limit_take_the_per_sample_path() -> None:
    assert batch_is_tame([{"a": 1.0}, {"a": None}], [WindowAccumulator()])
    assert not batch_is_tame([{"a": 1.0}, {"a": 1e300}], [])
    big = WindowAccumulator()
    big.add({"a": 1e300})
    assert not batch_is_tame([{"a": 1.0}], [big])


def _run(batches: list[list[Event]]) -> tuple[dict[str, Any], list[Any], list[Any]]:
    async def scenario() -> tuple[dict[str, Any], list[Any], list[Any]]:
        table, dlq = FakeTable(), FakeTopic()
        agg = aggregator(table, dlq)
        for batch in batches:
            await agg.process(batch)  # type: ignore[arg-type]
        # Dead letters carry the wall clock: compare what they say and where from.
        letters = [(d.offset, d.reason, d.error_type) for _, d in dlq.sent]
        return dict(table.data), agg.metrics_topic.sent, letters  # type: ignore[attr-defined]

    return asyncio.run(scenario())


def test_one_batch_equals_one_record_per_batch() -> None:
    # Three keys, out-of-order times, a replayed offset, a resent (seq, ts), a bad record
    # and a late one: one batch of all of them ends in the same state, windows and dead
    # letters as one batch per record.
    records = [
        (provider_sample("a", T0, 0), 0),
        (provider_sample("b", T0 + 1_000, 0), 1),
        (provider_sample("a", T0 + 2_000, 1), 2),
        (provider_sample("a", T0 + 2_000, 1), 3),  # sent twice by its producer
        (b"{not json", 4),
        (provider_sample("c", T0 + 7_500, 0), 5),  # closes the first 5 s window
        (provider_sample("b", T0 + 3_000, 1), 6),  # late by then
        (provider_sample("a", T0 + 8_000, 2), 7),
        (provider_sample("b", T0 + 8_500, 2), 2),  # offset already applied: a replay
    ]
    events = [Event(Message(value, offset)) for value, offset in records]
    assert _run([events]) == _run([[e] for e in events])
    state, windows, letters = _run([events])
    assert [w.entity_id for _, w in windows] == ["a", "b"]
    assert {"a", "b", "c"} <= set(state)
    assert [(offset, kind) for offset, _, kind in letters] == [(4, "json"), (6, "late")]
