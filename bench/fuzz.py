"""Send the fuzz cases (evaluation/fuzz.py) to a broker and judge what the workers made of them.

:func:`send_cases` produces every case durably, in order, and remembers where each landed
(topic, partition, offset); :func:`judge` reads ``perf.dlq`` and ``perf.metrics`` and the
consumer group's committed offsets and says, per case, whether the pipeline did what the
case's label asks:

- every bad record dead-lettered exactly once (matched by source topic, partition and
  offset), with a reason;
- no valid or replayed record dead-lettered, and no dead letter of a record that is no
  case at all (an output of the pipeline itself that it could not use);
- every accepted telemetry sample counted in its window exactly once (replays not);
- every other valid record consumed: the worker's group committed past it.

>>> FuzzOutcome(fuzz_records=3, fuzz_dead_lettered=3).clean
True
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from agents.produce import durable_producer
from agents.topic_history import history_consumer, plan_history, read_history
from bench.harness import start_worker
from config.kafka import client_options, start_client
from config.settings import Settings
from evaluation.fuzz import Expect, FuzzCase, expected_windows, fuzz_cases
from schemas import DeadLetter, DecodeError, MetricWindow, decode
from streams.workers import WorkerProcess

__all__ = [
    "FuzzOutcome",
    "FuzzRun",
    "Position",
    "fuzz_worker",
    "judge",
    "read_topic",
    "send_cases",
    "wait_judged",
]

Position = tuple[str, int, int]  # physical topic, partition, offset


async def send_cases(
    settings: Settings, cases: Sequence[FuzzCase], chunk: int = 500
) -> dict[Position, FuzzCase]:
    """Produce ``cases`` in order (all acknowledged); where each one landed."""
    landed: dict[Position, FuzzCase] = {}
    async with durable_producer(settings) as producer:
        for at in range(0, len(cases), chunk):
            part = cases[at : at + chunk]
            futures = [
                await producer.send(settings.topic(c.topic), key=c.key, value=c.value) for c in part
            ]
            for case, meta in zip(part, await asyncio.gather(*futures), strict=True):
                landed[(meta.topic, meta.partition, meta.offset)] = case
    return landed


async def read_topic(settings: Settings, topic: str) -> list[tuple[bytes | None, bytes]]:
    """Every record of logical ``topic`` up to its end now, as ``(key, value)``."""
    async with history_consumer(settings) as consumer:
        plan = await plan_history(consumer, [settings.topic(topic)], None)
        return [
            (m.key, m.value or b"")
            async for batch in read_history(consumer, plan, None)
            for m in batch
        ]


async def committed_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    """The worker group's committed offset per ``(physical topic, partition)``."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    await start_client(admin, settings)
    try:
        found = await admin.list_consumer_group_offsets(settings.group_id)
        return {(tp.topic, tp.partition): meta.offset for tp, meta in found.items()}
    finally:
        await admin.close()


@dataclass
class FuzzOutcome:
    """What the pipeline did with the cases; :attr:`clean` when all went as labelled."""

    fuzz_records: int = 0
    fuzz_dead_lettered: int = 0
    valid_records: int = 0
    valid_records_lost: int = 0
    #: Bad cases with no dead letter, or with several (by position).
    missing: list[Position] = field(default_factory=list)
    repeated: list[Position] = field(default_factory=list)
    without_reason: list[Position] = field(default_factory=list)
    #: Dead letters of valid or replayed cases, and of records that are no case.
    valid_dead_lettered: list[Position] = field(default_factory=list)
    foreign_dead_letters: list[str] = field(default_factory=list)
    #: Telemetry windows whose count differs from the samples accepted for them.
    miscounted: dict[str, tuple[int, int]] = field(default_factory=dict)
    unconsumed: list[Position] = field(default_factory=list)
    internal_errors: int = 0

    @property
    def clean(self) -> bool:
        return (
            self.fuzz_dead_lettered == self.fuzz_records
            and self.valid_records_lost == 0
            and not (self.valid_dead_lettered or self.foreign_dead_letters or self.miscounted)
        )

    def summary(self) -> dict[str, object]:
        """Counts, and a few examples of each kind of failure."""
        return {
            "fuzz_records": self.fuzz_records,
            "fuzz_dead_lettered": self.fuzz_dead_lettered,
            "valid_records": self.valid_records,
            "valid_records_lost": self.valid_records_lost,
            "missing": self.missing[:5],
            "repeated": self.repeated[:5],
            "without_reason": self.without_reason[:5],
            "valid_dead_lettered": self.valid_dead_lettered[:5],
            "foreign_dead_letters": self.foreign_dead_letters[:5],
            "miscounted": dict(list(self.miscounted.items())[:5]),
            "unconsumed": self.unconsumed[:5],
            "internal_errors": self.internal_errors,
        }


async def judge(settings: Settings, landed: dict[Position, FuzzCase]) -> FuzzOutcome:
    """Compare the dead letters, windows and committed offsets now with the labels."""
    physical = {topic for topic, _, _ in landed}
    letters: dict[Position, list[DeadLetter]] = {}
    out = FuzzOutcome()
    for _, value in await read_topic(settings, "perf.dlq"):
        d = decode(DeadLetter, value)
        position = (d.source_topic, d.partition, d.offset)
        if d.source_topic not in physical:
            continue  # another run's topics, or a stage's own outputs: judged below
        letters.setdefault(position, []).append(d)
        out.internal_errors += d.error_type == "internal"
    for position, found in letters.items():
        case = landed.get(position)
        if case is None:
            out.foreign_dead_letters.append(f"{position}: {found[0].reason[:200]}")
        elif not case.bad:
            out.valid_dead_lettered.append(position)
    committed = await committed_offsets(settings)
    for position, case in landed.items():
        found = letters.get(position, [])
        if case.bad:
            out.fuzz_records += 1
            if len(found) > 1:
                out.repeated.append(position)
            elif not found:
                out.missing.append(position)
            elif not found[0].reason.strip():
                out.without_reason.append(position)
            else:
                out.fuzz_dead_lettered += 1
            continue
        out.valid_records += 1
        topic, partition, offset = position
        if committed.get((topic, partition), -1) <= offset:
            out.unconsumed.append(position)
    out.miscounted = await miscounted_windows(settings, list(landed.values()))
    lost_in_windows = sum(max(0, want - got) for got, want in out.miscounted.values())
    out.valid_records_lost = (
        len(out.unconsumed)
        + lost_in_windows
        # Telemetry dead-lettered by mistake is missing from its window already.
        + sum(
            1
            for p in out.valid_dead_lettered
            if landed[p].expect is Expect.ACCEPTED and landed[p].window is None
        )
    )
    return out


async def miscounted_windows(
    settings: Settings, cases: list[FuzzCase]
) -> dict[str, tuple[int, int]]:
    """``window key -> (counted, expected)`` for every telemetry window that is off."""
    expected = expected_windows(cases)
    counted: dict[str, int] = {}
    for _, value in await read_topic(settings, "perf.metrics"):
        try:
            window = decode(MetricWindow, value)
        except DecodeError:
            continue  # a fuzz case of perf.metrics itself
        if window.key in expected:
            # A window emitted again after a restart carries the same count (idempotent).
            counted[window.key] = max(counted.get(window.key, 0), window.count)
    return {
        key: (counted.get(key, 0), want)
        for key, want in expected.items()
        if counted.get(key, 0) != want
    }


def wait_judged(
    settings: Settings,
    landed: dict[Position, FuzzCase],
    *,
    timeout_s: float,
    settle_s: float = 3.0,
    progress: Callable[[str], None] = lambda line: None,
) -> FuzzOutcome:
    """Judge until the outcome is clean and stays so for ``settle_s`` (late duplicates
    would show), or ``timeout_s`` passes; the last outcome."""
    deadline = time.monotonic() + timeout_s
    clean_since: float | None = None
    while True:
        outcome = asyncio.run(judge(settings, landed))
        now = time.monotonic()
        done = outcome.clean and not outcome.unconsumed
        progress(
            f"fuzz: {outcome.fuzz_dead_lettered}/{outcome.fuzz_records} dead-lettered, "
            f"{len(outcome.unconsumed)} valid unconsumed, {len(outcome.miscounted)} windows off"
        )
        if done:
            clean_since = clean_since or now
            if now - clean_since >= settle_s:
                return outcome
        else:
            clean_since = None
        if now >= deadline:
            return outcome
        time.sleep(1.0)


@dataclass
class FuzzRun:
    """The outcome of a fuzz run, the worker that ran it (stopped) and whether it was alive."""

    outcome: FuzzOutcome
    worker: WorkerProcess
    alive: bool


def fuzz_worker(
    settings: Settings,
    tmp: Path,
    *,
    topics: tuple[str, ...],
    bad: int,
    valid: int,
    seed: int,
    timeout_s: float,
) -> FuzzRun:
    """Start a worker of ``settings``, send it the cases of ``topics``, judge, stop it."""
    worker = start_worker(settings, tmp).wait_ready()
    try:
        cases = fuzz_cases(
            topics=topics,
            bad=bad,
            valid=valid,
            seed=seed,
            now_ms=int(time.time() * 1000),
            window_ms=settings.window_ms,
        )
        landed = asyncio.run(send_cases(settings, cases))
        outcome = wait_judged(settings, landed, timeout_s=timeout_s)
        alive = worker.process is not None and worker.process.poll() is None
    finally:
        worker.stop()
    return FuzzRun(outcome, worker, alive)


def kinds(cases: Sequence[FuzzCase]) -> dict[str, int]:
    """How many cases of each kind (mutation, ``valid``, ``replayed_seq``, ...)."""
    return dict(Counter(c.kind for c in cases))
