"""The anomaly agent's cache of decoded detector states: hits, stale tags, bound, off."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from agents.anomalies import AnomalyScorer, DetectorState, encode_state, score_window
from agents.anomaly_cache import StateCache
from config.metrics import PipelineMetrics
from models.detectors.window_detector import window_detector
from schemas import encode
from tests.fakes import FakeTable, FakeTopic
from tests.unit.test_anomaly_agent_core import STEP_MS, T0_MS, FakeMessage, window

KEY = "provider:prov-1"


@dataclass
class Tag:
    last_window_end_ms: int | None


def scorer(cache_entities: int) -> tuple[AnomalyScorer, FakeTable]:
    table = FakeTable(changelog_topic=FakeTopic("changelog"))
    return (
        AnomalyScorer(
            metrics=PipelineMetrics(),
            anomalies_topic=FakeTopic("anomalies"),
            dlq_topic=FakeTopic("dlq"),
            table=table,
            cache_entities=cache_entities,
        ),
        table,
    )


def feed(s: AnomalyScorer, indexes: range, entity: str = "prov-1") -> None:
    async def go() -> None:
        for i in indexes:
            await s.process(FakeMessage(encode(window(i, entity=entity))))

    asyncio.run(go())


def lookups(s: AnomalyScorer, outcome: str) -> float:
    value = s.metrics.registry.get_sample_value(
        "computeperf_anomaly_state_cache_lookups_total",
        {"entity_type": "provider", "outcome": outcome},
    )
    return value or 0.0


def test_cache_hits_when_the_table_holds_what_it_wrote() -> None:
    s, table = scorer(cache_entities=4)
    feed(s, range(5))
    # The first window finds no table value (miss); every later one its own last write.
    assert (lookups(s, "miss"), lookups(s, "hit")) == (1.0, 4.0)
    cached = s.cache.get(KEY, table.data[KEY]["last_window_end_ms"])
    assert cached is not None and cached.last_window_end_ms == T0_MS + 5 * STEP_MS


def test_value_written_elsewhere_is_decoded_not_the_stale_object() -> None:
    s, table = scorer(cache_entities=4)
    feed(s, range(5))
    # Another worker (after a rebalance) scored this entity further: its value wins.
    other = DetectorState(window_detector())
    for i in range(8):
        score_window(other, window(i), threshold=0.9)
    table.data[KEY] = encode_state(other)
    feed(s, range(8, 9))
    assert lookups(s, "miss") == 2.0
    # The state learned on from the other worker's 8 windows, not from the cached 5.
    score_window(other, window(8), threshold=0.9)
    assert table.data[KEY] == encode_state(other)


def test_restart_with_an_older_value_misses() -> None:
    cache: StateCache[Tag] = StateCache(max_entities=2)
    cache.put("a", Tag(120_000))
    assert cache.get("a", 60_000) is None  # the table's value is older: stale object dropped
    assert cache.get("a", 120_000) is None and len(cache) == 0
    cache.put("a", Tag(None))
    assert cache.get("a", None) is None  # no table value: never served from the cache


def test_eviction_bound_least_recently_used_first() -> None:
    cache: StateCache[Tag] = StateCache(max_entities=2)
    cache.put("a", Tag(1))
    cache.put("b", Tag(1))
    assert cache.get("a", 1) is not None  # "a" used: "b" is now the oldest
    cache.put("c", Tag(1))
    assert len(cache) == 2 and cache.get("b", 1) is None
    assert cache.get("a", 1) is not None and cache.get("c", 1) is not None


def test_agent_cache_stays_within_its_bound() -> None:
    s, _ = scorer(cache_entities=2)
    for entity in ("prov-1", "prov-2", "prov-3"):
        feed(s, range(2), entity=entity)
    assert len(s.cache) == 2


@pytest.mark.parametrize("size", [0])
def test_zero_turns_the_cache_off(size: int) -> None:
    s, table = scorer(cache_entities=size)
    feed(s, range(3))
    assert len(s.cache) == 0 and not s.cache.enabled
    assert lookups(s, "hit") == lookups(s, "miss") == 0.0
    assert table.data[KEY]["last_window_end_ms"] == T0_MS + 3 * STEP_MS


def test_negative_size_is_refused() -> None:
    with pytest.raises(ValueError, match="max_entities"):
        StateCache(-1)


def test_failed_scoring_drops_the_cached_state() -> None:
    s, table = scorer(cache_entities=4)
    feed(s, range(2))
    cached = s.cache.get(KEY, table.data[KEY]["last_window_end_ms"])
    assert cached is not None
    cached.detector.series = None  # type: ignore[assignment]  # scoring now raises
    feed(s, range(2, 3))  # dead-lettered as an internal error
    assert len(s.cache) == 0  # the next window decodes the table's value
    assert table.data[KEY]["last_window_end_ms"] == T0_MS + 2 * STEP_MS
