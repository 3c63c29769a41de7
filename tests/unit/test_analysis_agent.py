"""The analysis role's adapter (agents/analysis.py) without a broker: fake topic and table."""

from __future__ import annotations

import asyncio
from typing import Any

from agents.analysis import FleetAnalysis
from config.metrics import PipelineMetrics
from config.settings import Settings
from models.windows import WindowAccumulator
from schemas import EntityType, Insight, MetricWindow, ProviderInfo, WorkloadSample
from streams.app import create_app
from tests.fakes import FakeTable, FakeTopic

T0 = 1_793_491_200_000


def test_analysis_role_runs_its_agents_in_its_own_group() -> None:
    settings = Settings(agents="analysis", kafka_bootstrap_servers="127.0.0.1:1")
    app = create_app(settings)
    names = {name.rsplit(".", 1)[-1] for name in app.agents}
    assert names == {
        "aggregate_workload_windows",
        "collect_provider_windows",
        "track_provider_catalog",
    }
    assert app.conf.id == "computeperf-analysis"
    assert Settings(agents="analysis,windows").agents == "windows,analysis"


def _sample(wid: str, pid: str, io_wait: float) -> WorkloadSample:
    return WorkloadSample(
        workload_id=wid,
        ts_ms=T0,
        seq=0,
        provider_id=pid,
        tenant_id="t1",
        workload_type="training",
        throughput=100.0,
        throughput_unit="samples/s",
        step_time_ms=100.0,
        gpu_util_pct=92.0,
        requests=0,
        errors=0,
        cost_accrued_usd=0.001,
        cpu_util_pct=40.0,
        mem_bw_util_pct=50.0,
        io_wait_pct=io_wait,
    )


def _closed(stage: FleetAnalysis, start: int, io_wait: float) -> list[tuple[str, int, Any]]:
    out = []
    for pid in ("p1", "p2"):
        for i in range(2):
            sample = _sample(f"w{pid}{i}", pid, io_wait)
            acc = WindowAccumulator()
            for _ in range(60):
                acc.add(stage.workload_values(sample))
            out.append((sample.workload_id, start, acc))
    return out


def test_a_regional_incident_is_reported_once_and_boards_are_written() -> None:
    settings = Settings(kafka_bootstrap_servers="127.0.0.1:1", analysis_settle_s=2.0)
    topic, table = FakeTopic(), FakeTable()
    stage = FleetAnalysis(
        settings=settings,
        metrics=PipelineMetrics(),
        insights_topic=topic,  # type: ignore[arg-type]
        leaderboard_table=table,  # type: ignore[arg-type]
    )
    for pid in ("p1", "p2"):
        stage.on_catalog(
            ProviderInfo(
                provider_id=pid,
                ts_ms=T0,
                region="eu-central",
                gpu_model="A100 80GB",
                gpu_count=8,
                vram_gb_per_gpu=80.0,
                price_usd_per_gpu_hour=1.5,
                status="online",
            )
        )

    async def run() -> list[int]:
        sent = []
        for minute in range(3):
            start = T0 + minute * 60_000
            await stage.on_workload_windows(0, start, _closed(stage, start, io_wait=40.0))
            stage.on_provider_window(
                MetricWindow(
                    entity_type=EntityType.PROVIDER,
                    entity_id="p1",
                    window_start_ms=start,
                    window_end_ms=start + 60_000,
                    count=0,
                    metrics={},
                )
            )
        assert stage.ready(0.0) == []  # the workload watermark has not passed them yet
        stage.workload_watermark = lambda: T0 + 3 * 60_000
        # p2's provider windows never came: the windows wait for them, then settle...
        assert stage.ready(0.0) == []
        assert stage.ready(0.5) == []
        # ... except those the provider stage has visibly passed (p1 sent later windows).
        assert stage.ready(1.5) == [T0, T0 + 60_000]
        assert stage.ready(2.5) == [T0, T0 + 60_000, T0 + 120_000]
        sent.append(await stage.flush(1e12))
        # A window that arrives after its fleet window was analysed is ignored.
        await stage.on_workload_windows(0, T0, _closed(stage, T0, io_wait=2.0))
        sent.append(await stage.flush(1e12))
        return sent

    assert asyncio.run(run()) == [1, 0]
    key, insight = topic.sent[0]
    assert isinstance(insight, Insight)
    assert (key, insight.scope.value, insight.kind) == (
        "region:eu-central",
        "region",
        "network_io_bound",
    )
    assert set(table.data) == {"A100 80GB/training"}
    board = table.data["A100 80GB/training"]
    assert {row["provider_id"] for row in board} == {"p1", "p2"}
    assert stage.pending == {}


def test_workload_windows_carry_kpis() -> None:
    settings = Settings(kafka_bootstrap_servers="127.0.0.1:1")
    stage = FleetAnalysis(
        settings=settings,
        metrics=PipelineMetrics(),
        insights_topic=FakeTopic(),  # type: ignore[arg-type]
        leaderboard_table=FakeTable(),  # type: ignore[arg-type]
    )
    acc = WindowAccumulator()
    for _ in range(30):
        acc.add(stage.workload_values(_sample("w1", "p1", 2.0)))
    window = stage.summarize(EntityType.WORKLOAD, "w1", T0, 60_000, acc)
    assert window.availability == 0.5
    assert window.error_rate == 0.0
    assert window.perf_per_dollar is not None
    assert abs(window.perf_per_dollar - 100_000.0) < 1e-6
