"""The budgets role's adapter (agents/budgets.py) without a broker: fake topics and tables.

The real-broker path (Faust changelogs, the API, the alert) is in
tests/integration/test_budgets_api.py.
"""

from __future__ import annotations

import asyncio

import pytest

from agents.budgets import UNATTRIBUTED, BudgetWorker
from alerts.budget_book import BudgetBook
from config.metrics import PipelineMetrics
from config.settings import Settings
from schemas import (
    DeadLetter,
    MetricStats,
    MetricWindow,
    TenantBudgetStatus,
    WorkloadEvent,
    WorkloadSpec,
    encode,
)
from tests.unit.test_approvals_agent import FakeTable, FakeTopic, Msg

T0 = 1_700_000_000_000 // 3_600_000 * 3_600_000
BOOK = BudgetBook.from_dict(
    {"budgets": {"acme": {"limit_usd": 100, "period": "day"}, "*": {"limit_usd": 1000}}}
)


def make_worker(
    spend: FakeTable | None = None, tenants: FakeTable | None = None, wait_s: float = 0.0
) -> tuple[BudgetWorker, FakeTopic, FakeTopic]:
    out, dlq = FakeTopic(), FakeTopic()
    worker = BudgetWorker(
        settings=Settings(
            agents="budgets", kafka_bootstrap_servers="127.0.0.1:1", budget_tenant_wait_s=wait_s
        ),
        metrics=PipelineMetrics(),
        book=BOOK,
        budgets_topic=out,  # type: ignore[arg-type]
        dlq_topic=dlq,  # type: ignore[arg-type]
        tenants=tenants if tenants is not None else FakeTable({"w1": "acme", "w2": "acme"}),  # type: ignore[arg-type]
        spend=spend if spend is not None else FakeTable(),  # type: ignore[arg-type]
    )
    return worker, out, dlq


def window(wid: str, minute: int, usd: float, entity_type: str = "workload") -> Msg:
    start = T0 + minute * 60_000
    stats = MetricStats(count=2, mean=usd / 2, min=0, max=usd, p50=0, p95=0, p99=0)
    w = MetricWindow(
        entity_type=entity_type,
        entity_id=wid,
        window_start_ms=start,
        window_end_ms=start + 60_000,
        count=2,
        metrics={"cost_accrued_usd": stats},
    )
    return Msg(encode(w), topic="perf.metrics")


def run(worker: BudgetWorker, *msgs: Msg) -> None:
    async def go() -> None:
        for m in msgs:
            await worker.on_window(m)

    asyncio.run(go())


def statuses(topic: FakeTopic) -> list[TenantBudgetStatus]:
    return [v for _, v in topic.sent if isinstance(v, TenantBudgetStatus)]


def test_redelivered_window_counts_once_and_status_goes_out_keyed_by_tenant() -> None:
    worker, out, _ = make_worker()
    run(worker, window("w1", 0, 3.0), window("w2", 0, 1.0), window("w1", 0, 3.0))
    sent = statuses(out)
    assert [k for k, _ in out.sent] == ["acme", "acme"]  # the duplicate changes no status
    assert sent[-1].spent_usd == pytest.approx(4.0) and sent[-1].limit_usd == 100.0
    assert worker.windows.labels(outcome="duplicate")._value.get() == 1


def test_restart_on_the_same_table_counts_nothing_twice_and_resends_the_status() -> None:
    spend = FakeTable()
    first, _, _ = make_worker(spend)
    run(first, window("w1", 0, 3.0), window("w1", 1, 2.0))
    second, out, _ = make_worker(spend)  # a restart: the table is what was durable
    run(second, window("w1", 1, 2.0), window("w1", 2, 1.0))
    sent = statuses(out)
    assert [s.spent_usd for s in sent] == pytest.approx([5.0, 6.0])
    # One small value per (tenant, hour): money and marks together.
    [(key, value)] = spend.data.items()
    assert key == f"acme|{T0}" and value["marks"] == {"w1": T0 + 180_000}


def test_unknown_workload_is_booked_unattributed_and_other_windows_ignored() -> None:
    worker, out, _ = make_worker(tenants=FakeTable())
    run(worker, window("w9", 0, 2.0), window("p1", 0, 5.0, entity_type="provider"))
    [status] = statuses(out)
    assert (status.tenant_id, status.spent_usd, status.limit_usd) == (UNATTRIBUTED, 2.0, 1000.0)


def test_windows_wait_for_their_tenant_only_while_the_lifecycle_catches_up() -> None:
    """At start-up a window waits for its workload's lifecycle event; once the catch-up
    is over an unknown workload is booked at once (it was 5 s per unknown id: a flood of
    junk ids stalled the role), and a recovery starts a new catch-up."""
    tenants = FakeTable()
    worker, out, _ = make_worker(tenants=tenants, wait_s=0.5)

    async def go() -> list[str]:
        async def announce(wid: str) -> None:
            await asyncio.sleep(0.05)
            tenants.data[wid] = "acme"

        # Start-up: the tenant arrives while the window waits.
        await asyncio.gather(worker.on_window(window("w1", 0, 1.0)), announce("w1"))
        await asyncio.sleep(0.5)  # the catch-up is over
        await asyncio.gather(worker.on_window(window("w2", 0, 1.0)), announce("w2"))
        await worker.on_recovered()
        await asyncio.gather(worker.on_window(window("w3", 0, 1.0)), announce("w3"))
        return [s.tenant_id for s in statuses(out)]

    assert asyncio.run(go()) == ["acme", UNATTRIBUTED, "acme"]
    assert worker.windows.labels(outcome="unattributed")._value.get() == 1


def test_lifecycle_maps_tenants_and_bad_records_are_dead_lettered() -> None:
    tenants = FakeTable()
    worker, _, dlq = make_worker(tenants=tenants)
    spec = WorkloadSpec(tenant_id="beta", workload_type="inference", gpus=1, vram_gb_per_gpu=16)
    event = WorkloadEvent(workload_id="w5", ts_ms=T0, kind="submitted", spec=spec)

    async def go() -> None:
        await worker.on_lifecycle(Msg(encode(event), topic="workloads.lifecycle"))
        await worker.on_window(Msg(b"not json", topic="perf.metrics"))

    asyncio.run(go())
    assert tenants.data == {"w5": "beta"}
    [(_, letter)] = dlq.sent
    assert isinstance(letter, DeadLetter) and letter.source_topic == "perf.metrics"


def test_buckets_of_a_finished_period_are_deleted() -> None:
    spend = FakeTable()
    worker, _, _ = make_worker(spend)
    day = T0 - T0 % 86_400_000
    yesterday = (day - 3_600_000 - T0) // 60_000
    run(worker, window("w1", yesterday, 1.0), window("w1", (day - T0) // 60_000 + 24 * 60, 1.0))
    assert {k: v is None for k, v in spend.data.items()} == {
        f"acme|{day - 3_600_000}": True,
        f"acme|{day + 86_400_000}": False,
    }
