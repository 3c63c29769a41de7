"""Fleet-level figures for dashboards, from the records on the output topics.

:class:`FleetView` keeps the latest provider window, the catalogue entry of each
provider, the state of every alert fingerprint and the latest status of every
recommendation, and summarises them with **bounded** labels (region, severity, status,
entity type), so that the Prometheus series it feeds stay few however large the fleet.
A provider whose newest window is older than ``stale_ms`` no longer counts as reporting.

>>> from schemas import MetricStats, MetricWindow, ProviderInfo
>>> T = 1_700_000_000_000
>>> view = FleetView(max_regions=4)
>>> view.observe_catalog(ProviderInfo(provider_id="p1", ts_ms=T, region="eu-west",
...     gpu_model="A100", gpu_count=8, vram_gb_per_gpu=80, price_usd_per_gpu_hour=2.0,
...     status="online"))
>>> s = lambda v: MetricStats(count=1, mean=v, min=v, max=v, p50=v, p95=v, p99=v)
>>> view.observe_window(MetricWindow(entity_type="provider", entity_id="p1",
...     window_start_ms=T, window_end_ms=T + 60_000, count=1,
...     metrics={"gpu_util_pct": s(50.0), "gpus_busy": s(6.0), "gpu_temp_c": s(70.0)}))
>>> snap = view.snapshot(now_ms=T + 60_000)
>>> snap.providers_reporting["eu-west"], snap.gpus["busy"], snap.gpus["idle"]
(1, 6.0, 2.0)
>>> snap.cost_usd_per_hour["eu-west"], snap.idle_cost_usd_per_hour["eu-west"]
(12.0, 4.0)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from schemas import (
    Alert,
    AlertStatus,
    EntityType,
    MetricWindow,
    ProviderInfo,
    Recommendation,
)

__all__ = ["OTHER", "FleetSnapshot", "FleetView"]

OTHER = "other"  # the label value regions beyond ``max_regions`` are folded into


@dataclass(frozen=True)
class FleetSnapshot:
    """Fleet figures at one moment; every mapping is keyed by a bounded label value."""

    providers_known: dict[str, int]
    providers_reporting: dict[str, int]
    gpu_util_pct: dict[str, float]
    gpu_temp_p95_c: dict[str, float]
    gpus: dict[str, float]
    cost_usd_per_hour: dict[str, float]
    idle_cost_usd_per_hour: dict[str, float]
    alerts_firing: dict[str, int]
    recommendations: dict[str, int]


@dataclass
class FleetView:
    """Latest known state of the fleet, folded from output records (see module doc)."""

    max_regions: int = 32
    stale_ms: int = 10 * 60_000
    _catalog: dict[str, ProviderInfo] = field(default_factory=dict)
    _windows: dict[str, MetricWindow] = field(default_factory=dict)
    _alerts: dict[str, Alert] = field(default_factory=dict)
    _recommendations: dict[str, str] = field(default_factory=dict)
    _regions: list[str] = field(default_factory=list)

    def observe_catalog(self, info: ProviderInfo) -> None:
        """Remember a provider's catalogue entry (the newest wins)."""
        self._catalog[info.provider_id] = info
        if info.region not in self._regions and len(self._regions) < self.max_regions:
            self._regions.append(info.region)

    def observe_window(self, window: MetricWindow) -> None:
        """Keep the newest provider window per provider (other entity types are ignored)."""
        if window.entity_type != EntityType.PROVIDER:
            return
        old = self._windows.get(window.entity_id)
        if old is None or old.window_start_ms <= window.window_start_ms:
            self._windows[window.entity_id] = window

    def observe_alert(self, alert: Alert) -> None:
        """Track each fingerprint's latest notification (resolved ones are dropped)."""
        if alert.status == AlertStatus.FIRING:
            self._alerts[alert.fingerprint] = alert
        else:
            self._alerts.pop(alert.fingerprint, None)

    def observe_recommendation(self, rec: Recommendation) -> None:
        """Track each recommendation's latest status."""
        self.observe_status(rec.recommendation_id, rec.status.value)

    def observe_status(self, recommendation_id: str, status: str) -> None:
        """Track a recommendation's latest status (as kept in a table)."""
        self._recommendations[recommendation_id] = status

    def region_label(self, provider_id: str) -> str:
        """The bounded region label of a provider (``unknown`` before its catalogue entry).

        >>> FleetView().region_label("nobody")
        'unknown'
        """
        info = self._catalog.get(provider_id)
        if info is None:
            return "unknown"
        return info.region if info.region in self._regions else OTHER

    def snapshot(self, now_ms: int) -> FleetSnapshot:
        """Summarise; windows that ended more than ``stale_ms`` before ``now_ms`` are stale."""
        known: Counter[str] = Counter(self.region_label(p) for p in self._catalog)
        reporting: Counter[str] = Counter()
        util: dict[str, list[float]] = {}
        temp: dict[str, float] = {}
        cost: dict[str, float] = {}
        idle_cost: dict[str, float] = {}
        gpus = {"busy": 0.0, "idle": 0.0}
        for provider_id, window in self._windows.items():
            if now_ms - window.window_end_ms > self.stale_ms:
                continue
            region = self.region_label(provider_id)
            reporting[region] += 1
            stats = window.metrics
            if "gpu_util_pct" in stats:
                util.setdefault(region, []).append(stats["gpu_util_pct"].mean)
            if "gpu_temp_c" in stats:
                temp[region] = max(temp.get(region, float("-inf")), stats["gpu_temp_c"].p95)
            info = self._catalog.get(provider_id)
            if info is None or "gpus_busy" not in stats:
                continue
            busy = min(float(info.gpu_count), stats["gpus_busy"].mean)
            gpus["busy"] += busy
            gpus["idle"] += info.gpu_count - busy
            price = info.price_usd_per_gpu_hour
            cost[region] = cost.get(region, 0.0) + busy * price
            idle_cost[region] = idle_cost.get(region, 0.0) + (info.gpu_count - busy) * price
        firing = Counter(a.severity.value for a in self._alerts.values())
        return FleetSnapshot(
            providers_known=dict(known),
            providers_reporting=dict(reporting),
            gpu_util_pct={r: sum(v) / len(v) for r, v in util.items()},
            gpu_temp_p95_c=temp,
            gpus=gpus,
            cost_usd_per_hour=cost,
            idle_cost_usd_per_hour=idle_cost,
            alerts_firing=dict(firing),
            recommendations=dict(Counter(self._recommendations.values())),
        )
