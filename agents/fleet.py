"""Agents of the ``fleet`` role: fold the output topics into domain gauges for Prometheus.

Four small agents (``providers.catalog``, ``perf.metrics``, ``perf.alerts``,
``perf.recommendations``, plus ``perf.anomalies`` counted) feed one pure
:class:`models.fleet.FleetView`; :func:`export_snapshot` copies its snapshot into the
gauges of :class:`FleetMetrics` whenever ``/metrics`` is scraped. Labels are bounded:
region (at most ``max_regions`` values, the rest ``other``), severity, status, entity type.

The catalogue, the firing alerts and the recommendation statuses are kept in tables
(``fleet_catalog``, ``fleet_alerts``, ``fleet_recommendations``), so a restarted worker
rebuilds the view from their changelogs; the latest provider windows are kept in memory
only (a new one arrives every window). These gauges describe, they decide nothing, so the
table writes are Faust's ordinary buffered ones. Run one ``fleet`` worker: with several,
each sees its share of partitions (sum the gauges across instances in PromQL).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import faust
from faust.types import StreamT, TableT, TopicT
from prometheus_client import CollectorRegistry, Counter, Gauge

from config.metrics import PipelineMetrics
from models.fleet import FleetSnapshot, FleetView
from schemas import (
    Alert,
    AlertStatus,
    Anomaly,
    DecodeError,
    MetricWindow,
    ProviderInfo,
    Recommendation,
    Record,
    decode,
)

log = logging.getLogger(__name__)

__all__ = ["FleetMetrics", "export_snapshot", "register_fleet_agents"]


class FleetMetrics:
    """Domain gauges (``computeperf_fleet_*``, ``computeperf_alerts_firing``, ...)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.providers_known = Gauge(
            "computeperf_fleet_providers_known",
            "Providers in the catalogue",
            ["region"],
            registry=r,
        )
        self.providers_reporting = Gauge(
            "computeperf_fleet_providers_reporting",
            "Providers whose latest window is recent",
            ["region"],
            registry=r,
        )
        self.gpu_util = Gauge(
            "computeperf_fleet_gpu_util_pct",
            "Mean GPU utilisation of reporting providers",
            ["region"],
            registry=r,
        )
        self.gpu_temp = Gauge(
            "computeperf_fleet_gpu_temp_p95_celsius",
            "Hottest provider's p95 GPU temperature in the latest windows",
            ["region"],
            registry=r,
        )
        self.gpus = Gauge(
            "computeperf_fleet_gpus",
            "GPUs of reporting providers, busy or idle",
            ["state"],
            registry=r,
        )
        self.cost = Gauge(
            "computeperf_fleet_cost_usd_per_hour",
            "Spend rate of busy GPUs at catalogue prices",
            ["region"],
            registry=r,
        )
        self.idle_cost = Gauge(
            "computeperf_fleet_idle_cost_usd_per_hour",
            "Catalogue price of idle GPUs (capacity paid for or offered, not used)",
            ["region"],
            registry=r,
        )
        self.alerts_firing = Gauge(
            "computeperf_alerts_firing", "Alerts currently firing", ["severity"], registry=r
        )
        self.recommendations = Gauge(
            "computeperf_recommendations",
            "Recommendations by latest status",
            ["status"],
            registry=r,
        )
        self.anomalies = Counter(
            "computeperf_anomalies",
            "Anomalies seen on perf.anomalies",
            ["entity_type"],
            registry=r,
        )
        self.anomalies.labels(entity_type="provider")  # 0 before the first one


def _set_all(gauge: Gauge, label: str, values: dict[str, float] | dict[str, int]) -> None:
    # Series of label values that disappeared are removed, so a gauge never shows a
    # region or status that is no longer there.
    gauge.clear()
    for value_label, value in values.items():
        gauge.labels(**{label: value_label}).set(value)


def export_snapshot(snap: FleetSnapshot, gauges: FleetMetrics) -> None:
    """Copy a fleet snapshot into the gauges."""
    _set_all(gauges.providers_known, "region", snap.providers_known)
    _set_all(gauges.providers_reporting, "region", snap.providers_reporting)
    _set_all(gauges.gpu_util, "region", snap.gpu_util_pct)
    _set_all(gauges.gpu_temp, "region", snap.gpu_temp_p95_c)
    _set_all(gauges.gpus, "state", snap.gpus)
    _set_all(gauges.cost, "region", snap.cost_usd_per_hour)
    _set_all(gauges.idle_cost, "region", snap.idle_cost_usd_per_hour)
    # Zero series for the statuses and severities operators look for, so a dashboard
    # shows 0 rather than "no data" before the first alert.
    _set_all(gauges.alerts_firing, "severity", {"critical": 0, "warning": 0} | snap.alerts_firing)
    _set_all(gauges.recommendations, "status", {"proposed": 0} | snap.recommendations)


def register_fleet_agents(
    app: faust.App,
    *,
    view: FleetView,
    metrics: PipelineMetrics,
    topic: Callable[[str], TopicT],
    table: Callable[[str], TableT[Any, Any]],
) -> Callable[[], None]:
    """Wire the fleet agents; return the function that refreshes the gauges."""
    gauges = FleetMetrics(metrics.registry)
    catalog, alerts, recs = (
        table("fleet_catalog"),
        table("fleet_alerts"),
        table("fleet_recommendations"),
    )

    def rebuild() -> None:
        for value in catalog.values():
            view.observe_catalog(ProviderInfo.model_validate(value))
        for value in alerts.values():
            view.observe_alert(Alert.model_validate(value))
        for rec_id, status in recs.items():
            view.observe_status(rec_id, status)

    async def on_recovered() -> None:
        rebuild()

    catalog.on_recover(on_recovered)

    def consume(
        name: str, record_type: type[Record], fold: Callable[[Any], None]
    ) -> Callable[[StreamT[Any]], Any]:
        async def agent(stream: StreamT[Any]) -> None:
            async for event in stream.events():
                try:
                    fold(decode(record_type, event.message.value or b""))
                except DecodeError as exc:
                    # Not ours to dead-letter: the producing agent owns its topic's records.
                    log.warning("fleet: skipping %s record: %s", name, exc.reason)

        agent.__name__ = f"fleet_{name.replace('.', '_')}"
        return agent

    def fold_catalog(info: ProviderInfo) -> None:
        view.observe_catalog(info)
        catalog[info.provider_id] = info.model_dump(mode="json")

    def fold_alert(alert: Alert) -> None:
        view.observe_alert(alert)
        if alert.status == AlertStatus.FIRING:
            alerts[alert.fingerprint] = alert.model_dump(mode="json")
        elif alert.fingerprint in alerts:
            del alerts[alert.fingerprint]

    def fold_recommendation(rec: Recommendation) -> None:
        view.observe_recommendation(rec)
        recs[rec.recommendation_id] = rec.status.value

    def fold_anomaly(anomaly: Anomaly) -> None:
        gauges.anomalies.labels(entity_type=anomaly.entity_type.value).inc()

    for name, record_type, fold in (
        ("providers.catalog", ProviderInfo, fold_catalog),
        ("perf.metrics", MetricWindow, view.observe_window),
        ("perf.alerts", Alert, fold_alert),
        ("perf.recommendations", Recommendation, fold_recommendation),
        ("perf.anomalies", Anomaly, fold_anomaly),
    ):
        agent = consume(name, record_type, fold)
        app.agent(topic(name), name=agent.__name__)(agent)

    def refresh() -> None:
        export_snapshot(view.snapshot(time.time_ns() // 1_000_000), gauges)

    return refresh
