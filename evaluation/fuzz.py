"""Hostile input for every topic a worker consumes, each record labelled with its fate.

:func:`fuzz_cases` mixes valid records (drawn by Hypothesis from the schemas,
:mod:`evaluation.fuzz_strategies`) with bad ones (byte-level mutations of valid records,
:mod:`evaluation.fuzz_mutations`), for every topic of :data:`FUZZED_TOPICS`. Each
:class:`FuzzCase` says what the pipeline must do with it:

- ``dead_letter``: the record reaches ``perf.dlq`` exactly once, with a reason. A mutated
  record is kept only if the schema decoder refuses it (the labels are not guessed);
  telemetry the schema accepts but no window can represent (two samples near the largest
  float in one window: their sum overflows) is labelled so too, by the windows' own rule.
- ``accepted``: used, never dead-lettered; a telemetry sample is counted in exactly one
  window (:func:`expected_windows`). Records with no key (null keys) are valid: the
  pipeline keys by the record, not the message.
- ``duplicate``: a telemetry sample sent again byte for byte (a replayed ``seq``): neither
  dead-lettered nor counted twice.

Pure: no Kafka here (``bench/fuzz.py`` sends the cases and checks the outcome).

>>> cases = fuzz_cases(bad=40, valid=60, seed=1, now_ms=1_800_000_000_000, window_ms=5_000)
>>> sum(c.expect is Expect.DEAD_LETTER for c in cases)
40
>>> sorted({c.topic for c in cases}) == sorted(FUZZED_TOPICS)
True
>>> cases == fuzz_cases(bad=40, valid=60, seed=1, now_ms=1_800_000_000_000, window_ms=5_000)
True
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from evaluation.fuzz_mutations import MUTATIONS
from evaluation.fuzz_strategies import draw_examples
from models.windows import WindowAccumulator
from schemas import (
    TOPIC_RECORDS,
    DecodeError,
    ProviderSample,
    Record,
    WorkloadSample,
    decode,
    encode,
    record_key,
)

__all__ = [
    "COMPACTED",
    "FUZZED_TOPICS",
    "TELEMETRY",
    "Expect",
    "FuzzCase",
    "expected_windows",
    "fuzz_cases",
]

#: Every topic a worker running all roles consumes (a unit test checks it against the app).
FUZZED_TOPICS: tuple[str, ...] = (
    "telemetry.provider",
    "telemetry.workload",
    "workloads.lifecycle",
    "providers.catalog",
    "perf.metrics",
    "perf.anomalies",
    "perf.insights",
    "perf.alerts",
    "perf.recommendations",
    "perf.outcomes",
    "perf.alert_actions",
    "perf.slo",
    "perf.budgets",
)
#: Compacted topics (``streams/topics.py``; a unit test checks): the broker refuses a
#: record without a key there, so null keys are sent only to the others.
COMPACTED = frozenset({"providers.catalog", "perf.recommendations", "perf.slo", "perf.budgets"})
#: Topics aggregated into event-time windows, with the entity type their windows carry.
TELEMETRY: dict[str, tuple[type[ProviderSample] | type[WorkloadSample], str]] = {
    "telemetry.provider": (ProviderSample, "provider"),
    "telemetry.workload": (WorkloadSample, "workload"),
}
#: Share of the records that go to each telemetry topic (the rest share the others).
TELEMETRY_SHARE = 0.2
#: Id fields drawn from a small pool, so that records of one entity meet in its state.
POOLED_IDS = ("provider_id", "workload_id", "tenant_id", "entity_id", "recommendation_id")
SAMPLE_INTERVAL_MS = 1_000
#: Relative frequency of each mutation (1 unless said): a 1 MB record is costly to send,
#: keep and dead-letter, and a few of them say as much as many.
MUTATION_WEIGHTS = {"huge_string": 0.05}


class Expect(StrEnum):
    """What the pipeline must do with a record."""

    ACCEPTED = "accepted"
    DEAD_LETTER = "dead_letter"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class FuzzCase:
    """One record to send: where, what, why, and its expected fate.

    ``window`` is the ``MetricWindow.key`` an accepted telemetry sample counts in.
    """

    topic: str
    key: bytes | None
    value: bytes
    kind: str
    expect: Expect
    window: str | None = None

    @property
    def bad(self) -> bool:
        return self.expect is Expect.DEAD_LETTER


def _pooled(record: Record, rng: random.Random, entities: int, prefix: str) -> Record | None:
    """``record`` with its ids from the pool (``None`` if the schema then refuses it)."""
    update = {
        name: f"{prefix}{name.split('_')[0][:4]}-{rng.randrange(entities)}"
        for name in POOLED_IDS
        if isinstance(getattr(record, name, None), str)
    }
    try:
        return type(record).model_validate({**record.model_dump(), **update})
    except ValueError:
        return None


def _is_refused(topic: str, value: bytes, now_ms: int) -> bool:
    """Whether the stage reading ``topic`` refuses ``value`` (only telemetry is checked for
    far-future event times: the other agents decode without a clock)."""
    try:
        decode(TOPIC_RECORDS[topic], value, now_ms=now_ms if topic in TELEMETRY else None)
    except DecodeError:
        return True
    return False


def _bad_cases(
    topic: str, pool: list[Record], count: int, rng: random.Random, now_ms: int
) -> Iterator[FuzzCase]:
    """``count`` mutated records of ``topic`` its decoder refuses, mutations in turn."""
    names = sorted(MUTATIONS)
    weights = [MUTATION_WEIGHTS.get(name, 1.0) for name in names]
    made = attempts = 0
    while made < count:
        attempts += 1
        if attempts > 50 * count + 100:
            raise RuntimeError(f"mutations of {topic} keep passing the decoder")
        (kind,) = rng.choices(names, weights)
        base = rng.choice(pool)
        value = MUTATIONS[kind](encode(base), rng)
        if value is None or not _is_refused(topic, value, now_ms):
            continue
        null_key = topic not in COMPACTED and rng.random() < 0.05
        key = None if null_key else record_key(base).encode()
        made += 1
        yield FuzzCase(topic, key, value, kind, Expect.DEAD_LETTER)


def _valid_cases(
    topic: str, pool: list[Record], count: int, rng: random.Random, entities: int, prefix: str
) -> Iterator[FuzzCase]:
    made = 0
    while made < count:
        record = _pooled(rng.choice(pool), rng, entities, prefix)
        if record is None:
            continue
        null_key = topic not in COMPACTED and rng.random() < 0.03
        key = None if null_key else record_key(record).encode()
        made += 1
        yield FuzzCase(topic, key, encode(record), "valid" if key else "null_key", Expect.ACCEPTED)


def _telemetry_cases(
    topic: str, pool: list[Record], count: int, rng: random.Random, plan: _TimePlan
) -> Iterator[FuzzCase]:
    """Valid samples in event-time order, a few replayed, each labelled by the windows' rule.

    A sample is ``dead_letter`` when the window it falls in could not represent it (the
    pipeline's :meth:`WindowAccumulator.unrepresentable`), else ``accepted`` in that window.
    """
    model, entity_type = TELEMETRY[topic]
    id_field = "provider_id" if model is ProviderSample else "workload_id"
    seqs: Counter[str] = Counter()
    windows: dict[str, WindowAccumulator] = {}
    last: dict[str, FuzzCase] = {}
    for i in range(count):
        entity_no, step = i % plan.entities, i // plan.entities
        ts_ms = plan.start_ms + step * SAMPLE_INTERVAL_MS
        null_key = rng.random() < 0.03
        entity = f"{plan.prefix}{'nk' if null_key else 'e'}-{entity_no if not null_key else i}"
        drawn = rng.choice(pool)
        sample = model.model_validate(
            {**drawn.model_dump(), id_field: entity, "ts_ms": ts_ms, "seq": seqs[entity]}
        )
        seqs[entity] += 1
        start = ts_ms - ts_ms % plan.window_ms
        window = f"{entity_type}:{entity}:{start}:{plan.window_ms}"
        acc = windows.setdefault(window, WindowAccumulator())
        values = {name: getattr(sample, name) for name in model.NUMERIC_FIELDS}
        key = None if null_key else entity.encode()
        if acc.unrepresentable(values) is not None:
            yield FuzzCase(topic, key, encode(sample), "unrepresentable", Expect.DEAD_LETTER)
            continue
        acc.add(values)
        case = FuzzCase(topic, key, encode(sample), "valid", Expect.ACCEPTED, window)
        yield case
        if null_key:
            continue
        if entity in last and rng.random() < 0.05:
            # The sample before this one again: a replay, recognised by its seq.
            before = last[entity]
            yield FuzzCase(topic, before.key, before.value, "replayed_seq", Expect.DUPLICATE)
        last[entity] = case


@dataclass(frozen=True)
class _TimePlan:
    start_ms: int
    window_ms: int
    entities: int
    prefix: str


def _interleave(streams: list[list[FuzzCase]], rng: random.Random) -> list[FuzzCase]:
    """All cases in a random order that keeps each stream's own order (event time)."""
    slots = [n for n, s in enumerate(streams) for _ in s]
    rng.shuffle(slots)
    cursors = [0] * len(streams)
    out = []
    for n in slots:
        out.append(streams[n][cursors[n]])
        cursors[n] += 1
    return out


def fuzz_cases(
    *,
    bad: int,
    valid: int,
    seed: int,
    now_ms: int,
    window_ms: int,
    entities: int = 8,
    prefix: str = "fz-",
    pool_size: int = 60,
    topics: tuple[str, ...] = FUZZED_TOPICS,
) -> list[FuzzCase]:
    """``bad`` records the pipeline must dead-letter among about ``valid`` others.

    ``topics`` (all of :data:`FUZZED_TOPICS` by default) are the topics fuzzed.
    Telemetry takes :data:`TELEMETRY_SHARE` of each count per topic; its valid samples
    run at 1 Hz per entity up to about a minute before ``now_ms`` (none late, none in the
    future). A few valid telemetry samples turn out ``dead_letter`` (unrepresentable in
    their window): they count as bad, and the bad mutations are that many fewer.
    """
    rng = random.Random(seed)
    share = {t: TELEMETRY_SHARE for t in TELEMETRY if t in topics}
    others = [t for t in topics if t not in share]
    rest = (1.0 - sum(share.values())) / len(others) if others else 0.0
    share.update({t: rest for t in others})
    if not others:  # telemetry only: it takes everything
        share = {t: 1.0 / len(share) for t in share}
    pools = {
        t: draw_examples(TOPIC_RECORDS[t], pool_size, seed=seed + n)
        for n, t in enumerate(FUZZED_TOPICS)
        if t in topics
    }
    streams: list[list[FuzzCase]] = []
    for topic in [t for t in TELEMETRY if t in share]:
        n_valid = round(valid * share[topic])
        span_ms = (n_valid // entities + 1) * SAMPLE_INTERVAL_MS
        start_ms = (now_ms - span_ms - 60_000) // window_ms * window_ms
        plan = _TimePlan(start_ms, window_ms, entities, prefix)
        streams.append(list(_telemetry_cases(topic, pools[topic], n_valid, rng, plan)))
    refused = sum(c.bad for s in streams for c in s)
    quotas = _split(bad - refused, share, rng)
    for topic in topics:
        if topic not in TELEMETRY:
            n_valid = round(valid * share[topic])
            streams.append(list(_valid_cases(topic, pools[topic], n_valid, rng, entities, prefix)))
        streams.append(list(_bad_cases(topic, pools[topic], quotas[topic], rng, now_ms)))
    return _interleave(streams, rng)


def _split(total: int, share: dict[str, float], rng: random.Random) -> dict[str, int]:
    """``total`` split by ``share`` exactly, the rounding left to chance."""
    counts = {t: int(max(0, total) * s) for t, s in share.items()}
    topics = sorted(share)
    while sum(counts.values()) < total:
        counts[rng.choice(topics)] += 1
    return counts


def expected_windows(cases: list[FuzzCase]) -> dict[str, int]:
    """Samples each window must count: the accepted telemetry, per ``MetricWindow.key``."""
    return dict(Counter(c.window for c in cases if c.window is not None))
