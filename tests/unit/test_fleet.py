"""FleetView: fleet figures with bounded labels, checked against a direct computation."""

from __future__ import annotations

import numpy as np
import pytest

from models.fleet import OTHER, FleetView
from schemas import (
    Alert,
    MetricStats,
    MetricWindow,
    ProviderInfo,
    Recommendation,
    alert_fingerprint,
)

T = 1_700_000_000_000
WINDOW = 60_000


def _stats(v: float) -> MetricStats:
    return MetricStats(count=1, mean=v, min=v, max=v, p50=v, p95=v, p99=v)


def _info(pid: str, region: str, gpus: int, price: float) -> ProviderInfo:
    return ProviderInfo(
        provider_id=pid, ts_ms=T, region=region, gpu_model="A100", gpu_count=gpus,
        vram_gb_per_gpu=80, price_usd_per_gpu_hour=price, status="online",
    )  # fmt: skip


def _window(pid: str, start: int, util: float, busy: float, temp: float) -> MetricWindow:
    return MetricWindow(
        entity_type="provider", entity_id=pid, window_start_ms=start,
        window_end_ms=start + WINDOW, count=1,
        metrics={"gpu_util_pct": _stats(util), "gpus_busy": _stats(busy),
                 "gpu_temp_c": _stats(temp)},
    )  # fmt: skip


def test_snapshot_matches_a_direct_computation_per_region() -> None:
    rng = np.random.default_rng(3)
    view = FleetView()
    rows = []
    for i in range(40):
        region = ["eu", "us", "ap"][i % 3]
        gpus, price = int(rng.integers(1, 9)), float(rng.uniform(0.5, 4))
        util, busy, temp = float(rng.uniform(0, 100)), float(rng.integers(0, gpus + 1)), 60.0 + i
        view.observe_catalog(_info(f"p{i}", region, gpus, price))
        view.observe_window(_window(f"p{i}", T, util, busy, temp))
        rows.append((region, gpus, price, util, busy, temp))
    snap = view.snapshot(now_ms=T + WINDOW)
    for region in ("eu", "us", "ap"):
        mine = [r for r in rows if r[0] == region]
        assert snap.providers_reporting[region] == len(mine)
        assert snap.gpu_util_pct[region] == pytest.approx(np.mean([r[3] for r in mine]))
        assert snap.gpu_temp_p95_c[region] == max(r[5] for r in mine)
        assert snap.cost_usd_per_hour[region] == pytest.approx(sum(r[4] * r[2] for r in mine))
        assert snap.idle_cost_usd_per_hour[region] == pytest.approx(
            sum((r[1] - r[4]) * r[2] for r in mine)
        )
    assert snap.gpus["busy"] + snap.gpus["idle"] == sum(r[1] for r in rows)


def test_regions_beyond_the_bound_fold_into_other_and_stale_windows_do_not_report() -> None:
    view = FleetView(max_regions=2, stale_ms=5 * WINDOW)
    for i, region in enumerate(["a", "b", "c", "d"]):
        view.observe_catalog(_info(f"p{i}", region, 4, 1.0))
        view.observe_window(_window(f"p{i}", T if i < 3 else T - 20 * WINDOW, 50, 2, 70))
    view.observe_window(_window("p0", T - WINDOW, 99, 4, 99))  # older: ignored
    snap = view.snapshot(now_ms=T + WINDOW)
    assert set(snap.providers_known) == {"a", "b", OTHER}
    assert snap.providers_known[OTHER] == 2
    assert snap.providers_reporting == {"a": 1, "b": 1, OTHER: 1}  # p3 is stale
    assert snap.gpu_util_pct["a"] == 50


def test_alerts_count_while_firing_and_recommendations_by_latest_status() -> None:
    view = FleetView()
    labels = {"alertname": "GpuHot", "provider_id": "p1"}
    fp = alert_fingerprint(labels)
    firing = Alert(fingerprint=fp, status="firing", labels=labels, starts_at_ms=T,
                   ends_at_ms=None, severity="critical")  # fmt: skip
    view.observe_alert(firing)
    assert view.snapshot(T).alerts_firing == {"critical": 1}
    view.observe_alert(
        Alert.model_validate(firing.model_dump() | {"status": "resolved", "ends_at_ms": T + 1})
    )
    assert view.snapshot(T).alerts_firing == {}

    rec = Recommendation(
        recommendation_id="r1", ts_ms=T, status="proposed", kind="place",
        workload_id="w1", provider_id="p1", expected_throughput=1.0, cost_usd_per_hour=1.0,
        perf_per_dollar_gain=0.1, sla_risk=0.1, confidence=0.9, rationale="x",
        expires_at_ms=T + 1,
    )  # fmt: skip
    view.observe_recommendation(rec)
    view.observe_recommendation(
        Recommendation.model_validate(rec.model_dump() | {"recommendation_id": "r2"})
    )
    view.observe_recommendation(
        Recommendation.model_validate(rec.model_dump() | {"status": "approved"})
    )
    assert view.snapshot(T).recommendations == {"approved": 1, "proposed": 1}
