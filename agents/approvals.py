"""Agent: decide proposed recommendations by policy; the ``approvals`` worker role.

Worker role ``approvals`` (``COMPUTEPERF_AGENTS=approvals``; ``make run`` runs it in the
planner worker). The decisions themselves are :class:`workflow.approver.Approver`'s
(policies per tenant and kind, auto-approval limits, minimum change, rate limits per
provider, dry-run); this module feeds it and publishes what it decides:

* ``track_workload_tenants`` (``workloads.lifecycle``): the tenant of every workload whose
  event carries its spec. Table ``workload_to_tenant``.
* ``review_recommendations`` (``perf.recommendations``): each ``proposed`` record from the
  engine that has not been decided yet (:func:`workflow.decision_log.needs_review`) is
  reviewed under its tenant's policies and the resulting record (approved, rejected,
  expired, or a note with the status still proposed: waiting for an operator,
  recommend-only, dry-run) goes back to ``perf.recommendations``. Its own records, notes
  and every other status are never decided again. A tenant not known yet after
  ``approval_tenant_wait_s`` is decided with the ``*`` policies, and the record's
  reason says so. Table ``recommendation_to_decision`` (one
  :class:`~workflow.decision_log.DecisionEntry` per id).
* ``expire_waiting_proposals`` (timer, ``approval_sweep_s``): a proposal waiting for an
  operator past its ``expires_at_ms`` is expired; entries that can no longer matter are
  forgotten.

**The rate limit survives a restart** because the limiter is rebuilt from the decision
table (:func:`~workflow.decision_log.rebuild_limiter`) after every recovery, and a
decision's entry, grant included, is written durably *before* its record is sent: a
crash in between re-sends the stored record when the proposal is delivered again,
rather than deciding it a second time. One write per decision, so the grants and the
decisions cannot disagree.

**No decision on stale proposals.** At start-up (first record) the role reads
``perf.recommendations`` (compacted) to its end and remembers, per id, the newest record
that is not an engine proposal; a proposal older than that (an operator or this role
already decided, the scheduler applied) is skipped, as the scheduler skips what its
ledger holds. Without it a new consumer group (``make run``'s planner joined another
role) would decide old proposals again.

**Operator approvals pass the same rate limit.** The HTTP API decides them with
:meth:`~workflow.approver.Approver.approve` over a limiter of every approval recorded on
``perf.recommendations`` (``api.readmodel.approvals_limiter``), and this role counts each
operator approval it sees as a grant in its own (``count_operator_approval``), so policy
approvals after it see it too.

Limits, on purpose: the role runs as **one worker** (the limiter needs every provider's
grants, which a second worker in the group would only partly see); an approval by the API
and one by this role at the same moment can each miss the other (both limiters follow the
topic), so a provider can get one action more than its limit then.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import faust
from faust.types import TableT, TopicT
from prometheus_client import Counter

from agents.outputs import (
    decode_or_dead_letter,
    guarded_agent,
    owns_dead_letters,
    persist_durably,
    remember_tenant,
    send_durably,
    wait_for_tenant,
)
from agents.topic_history import history_consumer, plan_history, read_history
from config.metrics import PipelineMetrics
from config.settings import Settings
from schemas import (
    DecodeError,
    Recommendation,
    RecommendationStatus,
    decode,
)
from workflow.approver import Approver
from workflow.decision_log import (
    DecisionEntry,
    count_operator_approval,
    expire_waiting,
    horizon_ms,
    is_own,
    is_stale,
    needs_review,
    rebuild_limiter,
    record_decision,
    review,
    tenant_of,
)
from workflow.policy import PolicyBook

__all__ = [
    "ApprovalMetrics",
    "ApprovalWorker",
    "decided_ids",
    "register_approval_agents",
]

log = logging.getLogger(__name__)

S = RecommendationStatus


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class ApprovalMetrics:
    """The role's own series on the worker's registry."""

    def __init__(self, metrics: PipelineMetrics) -> None:
        self.decisions = Counter(
            "computeperf_approval_decisions",
            "Records the approvals role sent, per status (proposed: a note, the "
            "recommendation waits for an operator, is recommend-only or dry-run)",
            ["status"],
            registry=metrics.registry,
        )
        for status in (S.APPROVED, S.REJECTED, S.EXPIRED, S.PROPOSED):
            self.decisions.labels(status=status.value)


def _decided_at(rec: Recommendation) -> int | None:
    """The time ``rec`` decides its id at, or None for an engine proposal."""
    if rec.status is S.PROPOSED and not is_own(rec):
        return None
    return rec.ts_ms


async def decided_ids(settings: Settings) -> dict[str, int]:
    """Per id, the newest time it was decided at on ``perf.recommendations``, read to its end."""
    decided: dict[str, int] = {}
    async with history_consumer(settings) as consumer:
        plan = await plan_history(consumer, [settings.topic("perf.recommendations")], None)
        async for batch in read_history(consumer, plan, None):
            for message in batch:
                if message.value is None:
                    continue
                try:
                    at = _decided_at(decode(Recommendation, message.value))
                except DecodeError:
                    continue  # dead-lettered when the agent reaches it
                if at is not None and message.key is not None:
                    key = message.key.decode(errors="replace")
                    decided[key] = max(at, decided.get(key, at))
    return decided


class ApprovalWorker:
    """The runtime of the role: see the module docstring."""

    def __init__(
        self,
        *,
        settings: Settings,
        metrics: PipelineMetrics,
        book: PolicyBook,
        recommendations_topic: TopicT,
        dlq_topic: TopicT,
        tenants: TableT[Any, Any],
        decisions: TableT[Any, Any],
        read_decided: Callable[[], Awaitable[dict[str, int]]],
        clock: Callable[[], int] = _wall_ms,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.own = ApprovalMetrics(metrics)
        self.book = book
        self.horizon_ms = horizon_ms(book)
        self.recommendations_topic = recommendations_topic
        self.dlq_topic = dlq_topic
        self.tenants = tenants
        self.decisions = decisions
        self.read_decided = read_decided
        self.clock = clock
        self.lock = asyncio.Lock()
        self._approver: Approver | None = None  # rebuilt from the table when None
        self._decided: dict[str, int] | None = None  # read from the topic on first use

    # ------------------------------------------------------------ state
    def entries(self) -> Iterator[DecisionEntry]:
        """Every decision entry in the table."""
        for value in self.decisions.values():
            if value:
                yield DecisionEntry.model_validate(value)

    def entry(self, rid: str) -> DecisionEntry | None:
        value = self.decisions.get(rid)
        return DecisionEntry.model_validate(value) if value else None

    @property
    def approver(self) -> Approver:
        """The Approver, its limiter holding every grant of the decision table."""
        if self._approver is None:
            self._approver = Approver(self.book, rebuild_limiter(self.entries()))
        return self._approver

    async def on_recovered(self) -> None:
        """The table was (re)loaded from its changelog: rebuild the limiter from it."""
        self._approver = None

    async def _save(self, entries: list[tuple[str, DecisionEntry | None, int]]) -> None:
        await persist_durably(
            self.decisions,
            [(rid, e.model_dump(mode="json") if e else None, p) for rid, e, p in entries],
        )

    async def _send(self, records: list[Recommendation]) -> None:
        await send_durably(
            self.recommendations_topic,
            [(r.recommendation_id, r) for r in records],
            self.metrics,
            "perf.recommendations",
        )
        for r in records:
            self.own.decisions.labels(status=r.status.value).inc()

    # ------------------------------------------------------------ per event
    async def on_lifecycle(self, message: Any) -> None:
        await remember_tenant(
            message,
            self.tenants,
            dlq_topic=self.dlq_topic,
            metrics=self.metrics,
            dead_letters=owns_dead_letters(
                "approvals", "workloads.lifecycle", self.settings.agent_set
            ),
        )

    async def on_recommendation(self, message: Any) -> None:
        rec = await decode_or_dead_letter(
            Recommendation,
            message,
            dlq_topic=self.dlq_topic,
            metrics=self.metrics,
            source="perf.recommendations",
            dead_letters=owns_dead_letters(
                "approvals", "perf.recommendations", self.settings.agent_set
            ),
        )
        if rec is None:
            return
        if self._decided is None:
            self._decided = await self.read_decided()
        rid = rec.recommendation_id
        async with self.lock:
            entry = self.entry(rid)
            at = _decided_at(rec)
            if at is not None:
                self._decided[rid] = max(at, self._decided.get(rid, at))
                if rec.status is S.APPROVED and not is_own(rec):
                    # An operator's approval counts against the same rate limit.
                    counted = count_operator_approval(entry, rec, partition=message.partition)
                    if counted is not None:
                        await self._save([(rid, counted, counted.partition)])
                        self.approver.limiter.try_acquire(
                            counted.providers, rec.ts_ms, limit=0, interval_ms=1
                        )
                    return
                if entry is not None and entry.waiting and not is_own(rec):
                    # An operator (or the engine, superseding) decided: nothing to expire.
                    closed = entry.model_copy(update={"waiting": False})
                    await self._save([(rid, closed, entry.partition)])
                return
            known = self._decided.get(rid, -1)
            if not needs_review(rec, entry, known):
                if entry and entry.proposal_ts_ms == rec.ts_ms and known < entry.record.ts_ms:
                    # Delivered again before its decision reached the topic (a restart
                    # between the table write and the send): send it as it was decided.
                    await self._send([entry.record])
                return
            tenant = await self._tenant_of(rec.workload_id)
            decision = review(self.approver, rec, tenant, self.clock())
            new = record_decision(
                decision, rec, entry, partition=message.partition, horizon_ms=self.horizon_ms
            )
            # Durable before the record goes out: see the module docstring.
            await self._save([(rid, new, message.partition)])
            await self._send([decision.record])

    async def _tenant_of(self, workload_id: str) -> str | None:
        return await wait_for_tenant(
            lambda: tenant_of(workload_id, self.tenants), self.settings.approval_tenant_wait_s
        )

    # ------------------------------------------------------------ timer
    async def sweep(self) -> int:
        """Expire proposals that waited for an operator too long; forget stale entries.

        Returns how many were expired.
        """
        now_ms = self.clock()
        async with self.lock:
            expired: list[tuple[str, DecisionEntry]] = []
            stale: list[tuple[str, DecisionEntry | None, int]] = []
            for rid, value in list(self.decisions.items()):
                if not value:
                    continue
                entry = DecisionEntry.model_validate(value)
                done = expire_waiting(entry, now_ms)
                if done is not None:
                    expired.append((rid, done))
                elif is_stale(entry, now_ms, self.horizon_ms):
                    stale.append((rid, None, entry.partition))
            # Sent first: a crash before the table write expires them again (same status).
            await self._send([e.record for _, e in expired])
            await self._save([(rid, e, e.partition) for rid, e in expired] + stale)
            return len(expired)


def register_approval_agents(
    app: faust.App,
    *,
    settings: Settings,
    metrics: PipelineMetrics,
    lifecycle: TopicT,
    recommendations: TopicT,
    recommendations_topic: TopicT,
    dlq_topic: TopicT,
) -> ApprovalWorker:
    """Wire the role's two agents and its expiry timer to ``app``.

    The policy book is read here: a bad file stops the worker at start-up, loudly.
    """
    worker = ApprovalWorker(
        settings=settings,
        metrics=metrics,
        book=PolicyBook.load(settings.approval_policies),
        recommendations_topic=recommendations_topic,
        dlq_topic=dlq_topic,
        tenants=app.Table("workload_to_tenant", partitions=settings.partitions),
        decisions=app.Table("recommendation_to_decision", partitions=settings.partitions),
        read_decided=lambda: decided_ids(settings),
    )
    worker.decisions.on_recover(worker.on_recovered)
    for topic, handler, source, name in (
        (lifecycle, worker.on_lifecycle, "workloads.lifecycle", "track_workload_tenants"),
        (
            recommendations,
            worker.on_recommendation,
            "perf.recommendations",
            "review_recommendations",
        ),
    ):
        agent = guarded_agent(
            handler, name=name, source=source, metrics=metrics, dlq_topic=dlq_topic
        )
        app.agent(topic, name=name)(agent)

    async def expire_waiting_proposals() -> None:
        if app.in_recovery:
            return  # a write now could be overwritten by an older changelog record
        try:
            await worker.sweep()
        except Exception:
            log.exception("approvals: expiry sweep failed")  # the next tick retries

    app.timer(settings.approval_sweep_s, name="expire_waiting_proposals")(expire_waiting_proposals)
    return worker
