"""One simulated marketplace run reduced to what the alert engine consumes.

Provider and workload windows aggregated with the pipeline's own window code (event-time
tumbling windows closed by the watermark; workload windows with the analysis role's
KPIs), workload availability events per minute (samples present vs expected: a workload
on a provider in an outage sends nothing), and the spend of every tenant. Used by
:mod:`evaluation.alerts`; pure (reads :mod:`sim`, no I/O).

Examples
--------
>>> run = simulate_run(seed=1, days=0.01, providers=2, workloads=2)
>>> sorted(run.provider_windows), len(run.workload_provider), run.window_ms
(['prov-000', 'prov-001'], 2, 60000)
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from models.summaries import summarize_window
from models.window_kpis import window_kpis
from models.windows import SeriesWindows, TumblingWindows, Watermark, WindowAccumulator
from schemas import EntityType, MetricWindow, ProviderSample, WorkloadSample
from sim.incidents import Incident
from sim.marketplace import MarketplaceSim

__all__ = ["START_MS", "SimRun", "simulate_run"]

#: 2026-11-02T00:00:00Z, a Monday, as the other evaluations.
START_MS = 1_793_577_600_000
_DAY_MS = 86_400_000


@dataclass
class SimRun:
    """What one simulated run gives the alert engine, in event time."""

    start_ms: int
    end_ms: int
    window_ms: int
    interval_ms: int
    incidents: list[Incident]
    provider_windows: dict[str, list[MetricWindow]] = field(default_factory=dict)
    workload_windows: dict[str, list[MetricWindow]] = field(default_factory=dict)
    # workload -> minute start -> samples received in that minute
    workload_samples: dict[str, dict[int, int]] = field(default_factory=dict)
    workload_provider: dict[str, str] = field(default_factory=dict)
    workload_tenant: dict[str, str] = field(default_factory=dict)
    # tenant -> [(ts_ms, usd accrued by one sample)]
    tenant_costs: dict[str, list[tuple[int, float]]] = field(default_factory=dict)


def simulate_run(
    seed: int,
    *,
    days: float,
    providers: int = 8,
    workloads: int = 12,
    interval_s: int = 10,
    window_s: int = 60,
    incidents_per_provider_day: float = 2.0,
    incidents: Sequence[Incident] | None = None,
) -> SimRun:
    """Simulate *days* of a marketplace and reduce it.

    With *incidents* given, exactly those are injected; otherwise random ones at
    ``incidents_per_provider_day``.
    """
    end_ms = START_MS + int(days * _DAY_MS)
    sim = MarketplaceSim(
        seed=seed,
        providers=providers,
        workloads=workloads,
        interval_ms=interval_s * 1000,
        incidents=incidents,
        random_incidents=(
            0
            if incidents is not None
            else max(1, round(incidents_per_provider_day * providers * days))
        ),
        random_incident_horizon_ms=end_ms - START_MS,
    )
    run = SimRun(START_MS, end_ms, window_s * 1000, interval_s * 1000, [])
    tumbling = TumblingWindows(window_ms=run.window_ms, grace_ms=run.interval_ms)
    watermark = Watermark()
    series: dict[str, SeriesWindows] = {}
    windows: dict[str, list[MetricWindow]] = defaultdict(list)
    samples: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    costs: dict[str, list[tuple[int, float]]] = defaultdict(list)

    w_watermark = Watermark()
    w_series: dict[str, SeriesWindows] = {}
    w_windows: dict[str, list[MetricWindow]] = defaultdict(list)

    def close(wm: int) -> None:
        for key, s in series.items():
            for start, acc in tumbling.close(s, watermark_ms=wm):
                windows[key].append(
                    summarize_window(EntityType.PROVIDER, key, start, tumbling.window_ms, acc)
                )

    def close_workloads(wm: int) -> None:
        for key, s in w_series.items():
            for start, acc in tumbling.close(s, watermark_ms=wm):
                w_windows[key].append(workload_window(key, start, acc))

    def workload_window(key: str, start: int, acc: WindowAccumulator) -> MetricWindow:
        # As the analysis role's (agents/analysis.FleetAnalysis.summarize).
        window = summarize_window(EntityType.WORKLOAD, key, start, tumbling.window_ms, acc)
        k = window_kpis(acc, window_ms=tumbling.window_ms, interval_ms=run.interval_ms)
        return window.model_copy(
            update={
                "availability": k.availability,
                "error_rate": k.error_rate,
                "perf_per_dollar": k.perf_per_dollar,
            }
        )

    last_wm = watermark.value_ms
    last_w_wm = w_watermark.value_ms
    for rec in sim.records(START_MS, end_ms):
        record = rec.record
        if isinstance(record, WorkloadSample):
            samples[record.workload_id][record.ts_ms - record.ts_ms % 60_000] += 1
            run.workload_provider[record.workload_id] = record.provider_id
            run.workload_tenant[record.workload_id] = record.tenant_id
            costs[record.tenant_id].append((record.ts_ms, record.cost_accrued_usd))
            w_wm = w_watermark.advance(record.ts_ms, tumbling.grace_ms)
            ws = w_series.setdefault(record.workload_id, SeriesWindows(partition=0))
            w_values = {n: getattr(record, n) for n in WorkloadSample.NUMERIC_FIELDS}
            tumbling.add(ws, ts_ms=record.ts_ms, seq=record.seq, values=w_values, watermark_ms=w_wm)
            if w_wm != last_w_wm:
                close_workloads(w_wm)
                last_w_wm = w_wm
            continue
        if not isinstance(record, ProviderSample):
            continue
        wm = watermark.advance(record.ts_ms, tumbling.grace_ms)
        s = series.setdefault(record.provider_id, SeriesWindows(partition=0))
        values = {name: getattr(record, name) for name in ProviderSample.NUMERIC_FIELDS}
        tumbling.add(s, ts_ms=record.ts_ms, seq=record.seq, values=values, watermark_ms=wm)
        if wm != last_wm:
            close(wm)
            last_wm = wm
    close(end_ms + tumbling.window_ms)
    close_workloads(end_ms + tumbling.window_ms)
    run.incidents = list(sim.incidents)
    run.provider_windows = dict(windows)
    run.workload_windows = dict(w_windows)
    run.workload_samples = {k: dict(v) for k, v in samples.items()}
    run.tenant_costs = dict(costs)
    for p in sim.providers:  # a provider with no window at all still exists
        run.provider_windows.setdefault(p.provider_id, [])
    return run
