"""``computeperf scheduler``: the reference scheduler, the example an integration copies.

It consumes approved recommendations from ``perf.recommendations``, applies each to a
marketplace (here the simulated one, :class:`sim.reference_market.SimulatedMarketplace`)
and reports: a ``SchedulerFeedback`` on ``scheduler.feedback``, an ``applied`` / ``failed``
status record on ``perf.recommendations``, and the realised-vs-predicted
``RecommendationOutcome`` of the settling window on ``perf.outcomes``.

**Each approved recommendation is applied exactly once, even across restarts.** The
``recommendation_id`` is the idempotency key and ``scheduler.feedback`` is the ledger:

1. at start-up the scheduler reads ``scheduler.feedback`` up to its end and remembers every
   id it holds (whatever the outcome): those are done;
2. it then reads ``perf.recommendations`` (compacted, so a full scan is cheap) from the
   beginning, with no consumer group: offsets are not what keeps it correct, the ledger is;
3. for an ``approved`` record whose id is not done it applies the action, and writes the
   feedback *first*, waiting for the broker's acknowledgement: that write is the commit
   point. Only then come the status record and the outcome.

A crash between applying and the acknowledged feedback write re-applies that one action
after a restart; the marketplace's apply must therefore be idempotent (placing a workload
where it already runs is a no-op: ``SimulatedMarketplace.apply`` does this). Duplicate
deliveries and re-published approvals hit the ledger and are skipped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from agents.produce import durable_producer
from agents.topic_history import history_consumer, partitions, plan_history, read_history
from config.kafka import client_options, start_client
from config.settings import Settings
from schemas import (
    DecodeError,
    FeedbackOutcome,
    Recommendation,
    RecommendationStatus,
    SchedulerFeedback,
    decode,
    encode,
)
from sim.reference_market import SimulatedMarketplace
from streams.topics import ensure_topics
from workflow.transitions import InvalidTransition, transition

__all__ = ["applied_ids", "run_scheduler"]

log = logging.getLogger(__name__)


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


async def applied_ids(settings: Settings) -> set[str]:
    """Every recommendation id already on ``scheduler.feedback`` (the ledger)."""
    done: set[str] = set()
    async with history_consumer(settings) as consumer:
        plan = await plan_history(consumer, [settings.topic("scheduler.feedback")], None)
        async for batch in read_history(consumer, plan, None):
            for message in batch:
                try:
                    done.add(decode(SchedulerFeedback, message.value).recommendation_id)
                except DecodeError:
                    if message.key:  # still the idempotency key, even if the body is bad
                        done.add(message.key.decode(errors="replace"))
    return done


async def _apply_one(
    settings: Settings,
    producer: AIOKafkaProducer,
    market: SimulatedMarketplace,
    rec: Recommendation,
    now_ms: int,
) -> FeedbackOutcome:
    outcome, detail = market.apply(rec, now_ms)
    key = rec.recommendation_id.encode()
    feedback = SchedulerFeedback(
        recommendation_id=rec.recommendation_id,
        ts_ms=now_ms,
        outcome=outcome,
        workload_id=rec.workload_id,
        provider_id=rec.provider_id if outcome is FeedbackOutcome.APPLIED else None,
        detail=detail,
    )
    # The commit point: once acknowledged, this id is never applied again.
    await producer.send_and_wait(settings.topic("scheduler.feedback"), encode(feedback), key=key)
    status = {
        FeedbackOutcome.APPLIED: RecommendationStatus.APPLIED,
        FeedbackOutcome.FAILED: RecommendationStatus.FAILED,
        FeedbackOutcome.SKIPPED: RecommendationStatus.EXPIRED,
    }[outcome]
    try:
        record = transition(
            rec, status, actor="scheduler", ts_ms=max(now_ms, rec.ts_ms), reason=detail
        )
    except InvalidTransition as exc:
        log.warning("no status record for %s: %s", rec.recommendation_id, exc)
    else:
        await producer.send_and_wait(
            settings.topic("perf.recommendations"), encode(record), key=key
        )
    if outcome is FeedbackOutcome.APPLIED:
        result = market.settle(rec, now_ms)
        await producer.send_and_wait(settings.topic("perf.outcomes"), encode(result), key=key)
    return outcome


async def run_scheduler(
    settings: Settings,
    market: SimulatedMarketplace,
    *,
    idle_exit_s: float | None = None,
    now_ms: Callable[[], int] = _wall_ms,
) -> int:
    """Apply approved recommendations until stopped (or idle for ``idle_exit_s``).

    Returns how many recommendations this run applied (outcome ``applied``).
    """
    await ensure_topics(settings)
    done = await applied_ids(settings)
    log.info("scheduler: %d recommendations already handled", len(done))
    applied = 0
    consumer = AIOKafkaConsumer(
        **client_options(settings),
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    await start_client(consumer, settings)
    try:
        tps = await partitions(consumer, settings.topic("perf.recommendations"))
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        async with durable_producer(settings) as producer:
            idle_since = time.monotonic()
            while idle_exit_s is None or time.monotonic() - idle_since < idle_exit_s:
                batch = await consumer.getmany(timeout_ms=500, max_records=500)
                for messages in batch.values():
                    for message in messages:
                        idle_since = time.monotonic()
                        try:
                            rec = decode(Recommendation, message.value)
                        except DecodeError as exc:
                            log.warning("skipping undecodable recommendation: %s", exc)
                            continue
                        rid = rec.recommendation_id
                        if rec.status in (
                            RecommendationStatus.APPLIED,
                            RecommendationStatus.FAILED,
                        ):
                            done.add(rid)
                        if rec.status is not RecommendationStatus.APPROVED or rid in done:
                            continue
                        outcome = await _apply_one(settings, producer, market, rec, now_ms())
                        done.add(rid)
                        applied += outcome is FeedbackOutcome.APPLIED
                        log.info("scheduler: %s %s", rid, outcome.value)
    finally:
        await consumer.stop()
    return applied
