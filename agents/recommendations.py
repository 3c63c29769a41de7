"""Agent: batch pending workloads, place them with CP-SAT, propose on ``perf.recommendations``.

Worker role ``recommendations`` (``COMPUTEPERF_AGENTS=recommendations``). Three small
agents keep the snapshot the solver needs in changelogged tables:

* ``track_workload_lifecycle`` (``workloads.lifecycle``): ``submitted`` makes a workload
  pending; ``scheduled``/``started``/``migrated`` with a provider make it running there
  (its GPUs count as busy); ``completed``/``failed`` forget it; ``preempted`` makes it
  pending again. Table ``workload_to_state``.
* ``track_placement_catalog`` (``providers.catalog``): latest ``ProviderInfo`` per provider
  (not ``track_provider_catalog``: the analysis role has an agent of that name, and in one
  worker the later of two same-named agents replaced the other, so the recommender never
  saw a provider in ``make run``'s planner).
  Table ``provider_to_catalog``.
* ``track_provider_health`` (``perf.metrics``, provider windows): busy GPUs (max of the
  window), availability, error rate. Table ``provider_to_health``.

A solve runs when ``reco_batch_max`` workloads are pending or ``reco_batch_s`` after the
pending set last changed, never per event: the snapshot is copied on the event loop and
solved in the default executor (:class:`~optimizers.placement.CpSatPlacer` with
``reco_time_limit_s``; the await is cut at twice that plus 5 s). The planning step is
pure and lives in :mod:`optimizers.plan`; the rules turning the snapshot into
an instance are in :mod:`optimizers.capacity`.

Outputs, sent durably before the table that remembers them is written:

* one ``proposed`` :class:`~schemas.Recommendation` per placed replica (key
  ``recommendation_id``); a changed proposal first supersedes the previous one
  (:func:`optimizers.recommend.supersede`), an unchanged live one is not re-sent;
* one ``migrate`` proposal per running workload whose move pays (outage, degradation or
  a price rise; :func:`~optimizers.plan.plan_migrations_of`), onto GPUs the
  batch's placements leave free; a live migration that stops paying is superseded;
* for each workload nothing can host, an :class:`~schemas.Insight` of kind
  ``unplaceable`` on ``perf.insights`` (key ``workload:<id>``) whose evidence holds the
  reason (:class:`~optimizers.result.Unplaced`: a constraint name, ``capacity``, ...);
  a live proposal of such a workload is superseded with that reason.

Predictions: with ``reco_model_path`` set, a saved throughput
:class:`~models.prediction.PerformancePredictor` (features from the catalog; provider
history is not fed to it here yet); otherwise the GPU model's relative speed for the
workload type times ``gpus ** 0.92`` (the simulator's catalogue prior) with a wide ±50 %
interval, which the confidence figures then honestly reflect.

Limits, on purpose: placement is one global decision, so the role runs as one worker (a
second worker in the group would see only its partitions of the tables); tenant budgets
have no source topic yet and are not enforced; provider health comes from the last window
only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import faust
from faust.types import TableT, TopicT
from prometheus_client import Counter, Histogram

from agents.outputs import (
    decode_or_dead_letter,
    guarded_agent,
    owns_dead_letters,
    persist_durably,
    send_durably,
)
from config.metrics import PipelineMetrics
from config.settings import Settings
from optimizers.capacity import ProviderHealth, health_from_window, replica_ids
from optimizers.plan import (
    BatchPlan,
    EstimatorFactory,
    Snapshot,
    model_estimator,
    plan_batch,
    prior_estimator,
)
from optimizers.recommend import supersede, unplaced_insight
from schemas import (
    DecodeError,
    EntityType,
    Insight,
    MetricWindow,
    ProviderInfo,
    Recommendation,
    RecommendationKind,
    WorkloadEvent,
    WorkloadEventKind,
    WorkloadSpec,
    decode,
)

log = logging.getLogger(__name__)

_RUNNING = (WorkloadEventKind.SCHEDULED, WorkloadEventKind.STARTED, WorkloadEventKind.MIGRATED)
_DONE = (WorkloadEventKind.COMPLETED, WorkloadEventKind.FAILED)


class RecommendationMetrics:
    """The role's own series on the worker's registry."""

    def __init__(self, metrics: PipelineMetrics) -> None:
        registry = metrics.registry
        self.solve_seconds = Histogram(
            "computeperf_placement_solve_seconds",
            "Wall time of one placement batch (snapshot to proposals)",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
            registry=registry,
        )
        self.batches = Counter(
            "computeperf_placement_batches",
            "Placement batches, per outcome (solved, timeout, error)",
            ["outcome"],
            registry=registry,
        )
        self.recommendations = Counter(
            "computeperf_recommendations_emitted",
            "Recommendation records sent, per status",
            ["status"],
            registry=registry,
        )
        self.unplaceable = Counter(
            "computeperf_unplaceable_workloads",
            "Workloads nothing could host, per reason",
            ["reason"],
            registry=registry,
        )


def _dump(record: Any) -> str:
    return str(record.model_dump_json())


class RecommendationPlanner:
    """The runtime of the role: table updates per event, batched solves off the loop."""

    def __init__(
        self,
        *,
        settings: Settings,
        metrics: PipelineMetrics,
        recommendations_topic: TopicT,
        insights_topic: TopicT,
        dlq_topic: TopicT,
        workloads: TableT[Any, Any],
        catalog: TableT[Any, Any],
        health: TableT[Any, Any],
        live: TableT[Any, Any],
        estimator: EstimatorFactory = prior_estimator,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.own = RecommendationMetrics(metrics)
        self.recommendations_topic = recommendations_topic
        self.insights_topic = insights_topic
        self.dlq_topic = dlq_topic
        self.workloads = workloads
        self.catalog = catalog
        self.health = health
        self.live = live
        self.estimator = estimator
        self.wake = asyncio.Event()
        self.dirty = False
        self.lock = asyncio.Lock()
        self.last_reason: dict[str, str] = {}

    # ------------------------------------------------------------ per event
    async def on_lifecycle(self, message: Any) -> None:
        event = await decode_or_dead_letter(
            WorkloadEvent,
            message,
            dlq_topic=self.dlq_topic,
            metrics=self.metrics,
            source="workloads.lifecycle",
            dead_letters=owns_dead_letters(
                "recommendations", "workloads.lifecycle", self.settings.agent_set
            ),
        )
        if event is None:
            return
        current = self.workloads.get(event.workload_id) or {}
        spec_json = current.get("spec")
        if event.spec is not None:
            spec_json = event.spec.model_dump_json()
        state: dict[str, Any] | None
        if event.kind in _DONE:
            state = None
        elif event.kind in _RUNNING and event.provider_id is not None:
            state = {"phase": "running", "provider_id": event.provider_id, "spec": spec_json}
        elif event.kind in (WorkloadEventKind.SUBMITTED, WorkloadEventKind.PREEMPTED):
            if spec_json is None:  # preempted before we ever saw its spec: nothing to place
                return
            state = {"phase": "pending", "since_ms": event.ts_ms, "spec": spec_json}
        else:
            return
        state_json = None if state is None else {**state, "partition": message.partition}
        await persist_durably(self.workloads, [(event.workload_id, state_json, message.partition)])
        if state is None or state["phase"] == "running":
            # Applied (or moot): the scheduler acted on it, so it is not superseded later.
            replicas = WorkloadSpec.model_validate_json(spec_json).replicas if spec_json else 1
            ids = [event.workload_id, *replica_ids(event.workload_id, replicas)]
            stale = [(i, None, message.partition) for i in dict.fromkeys(ids) if self.live.get(i)]
            await persist_durably(self.live, stale)
        self.dirty = True
        if self._pending_count() >= self.settings.reco_batch_max:
            self.wake.set()

    async def on_catalog(self, message: Any) -> None:
        info = await decode_or_dead_letter(
            ProviderInfo,
            message,
            dlq_topic=self.dlq_topic,
            metrics=self.metrics,
            source="providers.catalog",
            dead_letters=owns_dead_letters(
                "recommendations", "providers.catalog", self.settings.agent_set
            ),
        )
        if info is None:
            return
        await persist_durably(self.catalog, [(info.provider_id, _dump(info), message.partition)])
        self.dirty = True

    async def on_window(self, message: Any) -> None:
        try:
            window = decode(MetricWindow, message.value or b"")
        except DecodeError:
            return  # the alert and anomaly roles dead-letter bad windows already
        if window.entity_type is not EntityType.PROVIDER:
            return
        old = self.health.get(window.entity_id)
        if old is not None and old.get("window_end_ms", 0) >= window.window_end_ms:
            return  # replayed or late: keep the newest
        h = health_from_window(window)
        value = {
            "busy_gpus": h.busy_gpus,
            "availability": h.availability,
            "error_rate": h.error_rate,
            "window_end_ms": h.window_end_ms,
        }
        await persist_durably(self.health, [(window.entity_id, value, message.partition)])
        self.dirty = True  # busy GPUs and availability change placements and migrations

    def _pending_count(self) -> int:
        return sum(1 for v in self.workloads.values() if v and v.get("phase") == "pending")

    # ------------------------------------------------------------ batches
    def snapshot(self, now_ms: int) -> Snapshot:
        catalog = {k: ProviderInfo.model_validate_json(v) for k, v in self.catalog.items()}
        health = {
            k: ProviderHealth(
                v.get("busy_gpus"), v.get("availability"), v.get("error_rate"), v["window_end_ms"]
            )
            for k, v in self.health.items()
            if v
        }
        pending: dict[str, WorkloadSpec] = {}
        running: dict[str, tuple[str, WorkloadSpec]] = {}
        for wid, v in self.workloads.items():
            if not v or v.get("spec") is None:
                continue
            spec = WorkloadSpec.model_validate_json(v["spec"])
            if v["phase"] == "pending":
                pending[wid] = spec
            else:
                running[wid] = (v["provider_id"], spec)
        return Snapshot(now_ms, catalog, health, pending, running)

    async def run_batches(self) -> None:
        """Loop: wait for the batch trigger (count or time), then solve; never raises."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=self.settings.reco_batch_s)
            self.wake.clear()
            if not self.dirty:
                continue
            self.dirty = False
            try:
                await self.solve_once()
            except Exception:
                # A bug must not end the loop (faust#175); the next change retries.
                log.exception("placement batch failed")
                self.own.batches.labels(outcome="error").inc()
                self.dirty = True

    async def solve_once(self) -> BatchPlan | None:
        """One batch: snapshot, solve in the executor, send, remember."""
        async with self.lock:
            now_ms = int(time.time() * 1000)
            snap = self.snapshot(now_ms)
            if not snap.pending and not snap.running:
                return None
            limit = self.settings.reco_time_limit_s
            loop = asyncio.get_running_loop()
            started = time.perf_counter()
            try:
                plan = await asyncio.wait_for(
                    loop.run_in_executor(
                        None,
                        lambda: plan_batch(
                            snap,
                            time_limit_s=limit,
                            ttl_ms=self.settings.reco_ttl_s * 1000,
                            estimator=self.estimator,
                            migration_horizon_h=self.settings.reco_migration_horizon_h,
                            migration_downtime_s=self.settings.reco_migration_downtime_s,
                        ),
                    ),
                    timeout=2 * limit + 5.0,
                )
            except TimeoutError:
                log.warning("placement batch of %d workloads timed out", len(snap.pending))
                self.own.batches.labels(outcome="timeout").inc()
                self.dirty = True
                return None
            self.own.solve_seconds.observe(time.perf_counter() - started)
            self.own.batches.labels(outcome="solved").inc()
            await self._emit(plan, now_ms)
            return plan

    async def _emit(self, plan: BatchPlan, now_ms: int) -> None:
        live = {wid: Recommendation.model_validate_json(v) for wid, v in self.live.items() if v}
        withdrawn = [(u.workload_id, f"unplaceable: {u.reason}") for u in plan.unplaced]
        moving = {m.workload_id for m in plan.migrations}
        withdrawn += [
            (wid, "the move no longer pays")
            for wid, rec in live.items()
            if rec.kind is RecommendationKind.MIGRATE and wid in plan.running and wid not in moving
        ]
        sent, new_live = supersede(
            live, plan.proposals + plan.migrations, now_ms=now_ms, withdrawn=withdrawn
        )
        insights: list[tuple[str, Insight]] = []
        for u in plan.unplaced:
            if self.last_reason.get(u.workload_id) != u.reason:
                insights.append((f"workload:{u.workload_id}", unplaced_insight(u, now_ms)))
            self.own.unplaceable.labels(reason=u.reason).inc()
        await send_durably(
            self.recommendations_topic,
            [(r.recommendation_id, r) for r in sent],
            self.metrics,
            "perf.recommendations",
        )
        await send_durably(self.insights_topic, insights, self.metrics, "perf.insights")
        for r in sent:
            self.own.recommendations.labels(status=r.status.value).inc()
        for u in plan.unplaced:
            self.last_reason[u.workload_id] = u.reason
        # Remember what is live, on the partition of each workload's lifecycle events.
        changes = []
        for wid in set(live) | set(new_live):
            if live.get(wid) == new_live.get(wid):
                continue
            partition = self._partition_of(wid)
            value = _dump(new_live[wid]) if wid in new_live else None
            changes.append((wid, value, partition))
        await persist_durably(self.live, changes)

    def _partition_of(self, replica_id: str) -> int:
        state = self.workloads.get(replica_id)
        if state is None and ".r" in replica_id:
            state = self.workloads.get(replica_id.rsplit(".r", 1)[0])
        return int((state or {}).get("partition", 0))


def register_recommendation_agents(
    app: faust.App,
    *,
    settings: Settings,
    metrics: PipelineMetrics,
    lifecycle: TopicT,
    catalog: TopicT,
    windows: TopicT,
    recommendations_topic: TopicT,
    insights_topic: TopicT,
    dlq_topic: TopicT,
) -> RecommendationPlanner:
    """Wire the role's three table-keeping agents and its batch loop to ``app``."""
    estimator: EstimatorFactory = prior_estimator
    if settings.reco_model_path is not None:
        estimator = model_estimator(settings.reco_model_path)
    planner = RecommendationPlanner(
        settings=settings,
        metrics=metrics,
        recommendations_topic=recommendations_topic,
        insights_topic=insights_topic,
        dlq_topic=dlq_topic,
        workloads=app.Table("workload_to_state", partitions=settings.partitions),
        catalog=app.Table("provider_to_catalog", partitions=settings.partitions),
        health=app.Table("provider_to_health", partitions=settings.partitions),
        live=app.Table("workload_to_recommendation", partitions=settings.partitions),
        estimator=estimator,
    )

    for topic, handler, source, name in (
        (lifecycle, planner.on_lifecycle, "workloads.lifecycle", "track_workload_lifecycle"),
        (catalog, planner.on_catalog, "providers.catalog", "track_placement_catalog"),
        (windows, planner.on_window, "perf.metrics", "track_provider_health"),
    ):
        agent = guarded_agent(
            handler, name=name, source=source, metrics=metrics, dlq_topic=dlq_topic
        )
        app.agent(topic, name=name)(agent)

    async def plan_placements() -> None:
        await planner.run_batches()

    app.task(plan_placements)
    return planner


__all__ = [
    "RecommendationMetrics",
    "RecommendationPlanner",
    "register_recommendation_agents",
]
