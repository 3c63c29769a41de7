"""Agent: tenant spend from workload windows, budget status on ``perf.budgets``; role ``budgets``.

Worker role ``budgets`` (``COMPUTEPERF_AGENTS=budgets``; ``make run`` runs it in the
planner worker). Two agents:

* ``track_budget_tenants`` (``workloads.lifecycle``): the tenant of every workload whose
  event carries its spec. Table ``budget_workload_to_tenant``.
* ``count_tenant_spend`` (``perf.metrics``, workload windows from the ``analysis`` role):
  each window's cost (``cost_accrued_usd`` mean x count) is counted into its tenant's
  bucket of the window's UTC hour (:mod:`alerts.spend_ledger`), table
  ``tenant_hour_to_spend``; then the tenant's :class:`~schemas.TenantBudgetStatus` in the
  current period (:mod:`alerts.budget_tracking`: spent, limit from the budget file, burn,
  forecast at period end, projected exhaustion) goes to ``perf.budgets`` (compacted, key
  tenant id).

**Counted once, never lost.** A bucket value holds the hour's USD *and*, per workload, the
end of the last window counted; one table write stores both, acknowledged before the
window's offset can be committed (``persist_durably``). A window delivered again ends at
or before its workload's mark and changes nothing; a crash before the write loses
nothing (the window comes again). The status is sent (acknowledged) before the bucket
is written, as the alert agent sends SLO statuses before its trackers: a crash in
between sends the same status again. Buckets of hours before the tenant's current
period are deleted when the period rolls over.

**Tenant of a window.** Workload windows carry no tenant; the lifecycle agent beside
this one keeps the mapping. A window waits up to ``budget_tenant_wait_s`` for it (the
lifecycle agent may lag at start-up); after that its spend is booked to the tenant
:data:`UNATTRIBUTED` (visible, not lost) and counted in
``computeperf_budget_windows_total{outcome="unattributed"}``.

Limits, on purpose: the role runs as **one worker** (a tenant's spend comes from
windows of every partition; the buckets are written to the partition of the tenant,
which one worker owns entirely only when it owns everything). The in-memory index of
the buckets (:class:`~alerts.spend_ledger.SpendLedger`) is rebuilt from the table after
every recovery.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
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
from alerts.budget_book import BudgetBook
from alerts.budget_tracking import tenant_status
from alerts.spend_ledger import (
    HOUR_MS,
    SpendBucket,
    SpendLedger,
    count_window,
    window_spend_usd,
)
from config.metrics import PipelineMetrics
from config.settings import Settings
from schemas import (
    EntityType,
    MetricWindow,
    TenantBudgetStatus,
)

__all__ = ["UNATTRIBUTED", "BudgetWorker", "register_budget_agents"]

log = logging.getLogger(__name__)

#: Tenant booked for the spend of workloads whose tenant is not known.
UNATTRIBUTED = "unattributed"


class BudgetWorker:
    """The runtime of the role: see the module docstring."""

    def __init__(
        self,
        *,
        settings: Settings,
        metrics: PipelineMetrics,
        book: BudgetBook,
        budgets_topic: TopicT,
        dlq_topic: TopicT,
        tenants: TableT[Any, Any],
        spend: TableT[Any, Any],
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.book = book
        self.budgets_topic = budgets_topic
        self.dlq_topic = dlq_topic
        self.tenants = tenants
        self.spend = spend
        self.lock = asyncio.Lock()
        self._ledger: SpendLedger | None = None  # rebuilt from the table when None
        self._sent: dict[str, TenantBudgetStatus] = {}
        self._unknown: set[str] = set()  # workloads that waited once: no second wait
        # Loop time until which a window may wait for its tenant (set by the first lookup
        # after start-up or a recovery): the lifecycle agent may not have caught up then.
        self._catch_up_until: float | None = None
        self.windows = Counter(
            "computeperf_budget_windows",
            "Workload windows seen by the budgets role, per outcome",
            ["outcome"],
            registry=metrics.registry,
        )
        for outcome in ("counted", "duplicate", "unattributed", "no_cost"):
            self.windows.labels(outcome=outcome)

    @property
    def ledger(self) -> SpendLedger:
        """Every bucket of the spend table, indexed by tenant and hour."""
        if self._ledger is None:
            self._ledger = SpendLedger(
                SpendBucket.model_validate(v) for v in list(self.spend.values()) if v
            )
        return self._ledger

    async def on_recovered(self) -> None:
        """The tables were (re)loaded from their changelogs: rebuild the index from them."""
        self._ledger = None
        self._sent.clear()
        self._catch_up_until = None

    def partition_of(self, tenant_id: str) -> int:
        return zlib.crc32(tenant_id.encode()) % self.settings.partitions

    # ------------------------------------------------------------ per event
    async def on_lifecycle(self, message: Any) -> None:
        await remember_tenant(
            message,
            self.tenants,
            dlq_topic=self.dlq_topic,
            metrics=self.metrics,
            dead_letters=owns_dead_letters(
                "budgets", "workloads.lifecycle", self.settings.agent_set
            ),
        )

    async def on_window(self, message: Any) -> None:
        window = await decode_or_dead_letter(
            MetricWindow,
            message,
            dlq_topic=self.dlq_topic,
            metrics=self.metrics,
            source="perf.metrics",
            dead_letters=owns_dead_letters("budgets", "perf.metrics", self.settings.agent_set),
        )
        if window is None:
            return
        if window.entity_type is not EntityType.WORKLOAD:
            return
        usd = window_spend_usd(window)
        if usd is None:
            self.windows.labels(outcome="no_cost").inc()
            return
        tenant = await self._tenant_of(window.entity_id)
        if tenant is None:
            tenant = UNATTRIBUTED
            self.windows.labels(outcome="unattributed").inc()
        async with self.lock:
            try:
                await self._count(tenant, window, usd)
            except BaseException:
                self._ledger = None  # the index may be ahead of the table: rebuild it
                raise

    async def _count(self, tenant: str, window: MetricWindow, usd: float) -> None:
        ledger = self.ledger
        start = window.window_start_ms
        old = ledger.get(tenant, start - start % HOUR_MS)
        new = count_window(old, tenant, window.entity_id, start, window.window_end_ms, usd)
        self.windows.labels(outcome="duplicate" if new is None else "counted").inc()
        if new is not None:
            ledger.put(new)
        status = tenant_status(self.book, ledger, tenant)
        writes: list[tuple[str, Any, int]] = []
        if new is not None:
            writes.append((new.key, new.model_dump(mode="json"), self.partition_of(tenant)))
        if status is not None:
            for stale in ledger.before(tenant, status.period_start_ms):
                ledger.drop(tenant, stale.hour_ms)
                writes.append((stale.key, None, self.partition_of(tenant)))
            if self._sent.get(tenant) != status:
                # Durable before the bucket: see the module docstring.
                await send_durably(
                    self.budgets_topic, [(tenant, status)], self.metrics, "perf.budgets"
                )
                self._sent[tenant] = status
        if writes:
            await persist_durably(self.spend, writes)

    async def _tenant_of(self, workload_id: str) -> str | None:
        """The tenant of ``workload_id``, or ``None`` (booked to ``unattributed``).

        Only during the catch-up after start-up or a recovery (``budget_tenant_wait_s``
        from the first lookup) does a window wait for its workload's lifecycle event, and
        at most until the catch-up ends: a flood of workload ids no lifecycle event
        announced stalls the role for that long once, not 5 s per id.
        """
        now = asyncio.get_running_loop().time()
        if self._catch_up_until is None:
            self._catch_up_until = now + self.settings.budget_tenant_wait_s
        wait = 0.0 if workload_id in self._unknown else max(0.0, self._catch_up_until - now)
        tenant = await wait_for_tenant(lambda: self.tenants.get(workload_id), wait)
        if tenant is None:
            self._unknown.add(workload_id)
            return None
        self._unknown.discard(workload_id)
        return str(tenant)


def register_budget_agents(
    app: faust.App,
    *,
    settings: Settings,
    metrics: PipelineMetrics,
    lifecycle: TopicT,
    windows: TopicT,
    budgets_topic: TopicT,
    dlq_topic: TopicT,
) -> BudgetWorker:
    """Wire the role's two agents to ``app``.

    The budget file is read here: a bad file stops the worker at start-up, loudly.
    """
    worker = BudgetWorker(
        settings=settings,
        metrics=metrics,
        book=BudgetBook.load(settings.budgets_path),
        budgets_topic=budgets_topic,
        dlq_topic=dlq_topic,
        tenants=app.Table("budget_workload_to_tenant", partitions=settings.partitions),
        spend=app.Table("tenant_hour_to_spend", partitions=settings.partitions),
    )
    worker.spend.on_recover(worker.on_recovered)
    for topic, handler, source, name in (
        (lifecycle, worker.on_lifecycle, "workloads.lifecycle", "track_budget_tenants"),
        (windows, worker.on_window, "perf.metrics", "count_tenant_spend"),
    ):
        agent = guarded_agent(
            handler, name=name, source=source, metrics=metrics, dlq_topic=dlq_topic
        )
        app.agent(topic, name=name)(agent)
    return worker
