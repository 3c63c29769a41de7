"""Ranked placement options for a workload spec (``POST /api/v1/optimize/placement``).

Which providers may host the workload is decided by the optimizer's own hard constraints
(:func:`optimizers.problem.failed_constraints`) plus free GPUs. Predicted throughput is
the GPU model's nominal throughput for the workload type (``schemas.gpus``, A100 80GB = 1)
times the GPUs asked for, scaled by the provider's measured health (latest window's mean
SM clock against the model's boost clock, capped at 1). Options are ranked by predicted
throughput per dollar. Confidence: 0.5 for the nominal figure alone, 0.8 when a recent
window backs the health factor, times the measured availability. The trained
``ThroughputPredictor`` replaces the nominal figure once a worker holds a fitted model
(not yet: no agent trains one).

>>> info = {"provider_id": "p1", "region": "us-east", "gpu_model": "A100 80GB",
...         "gpu_count": 8, "vram_gb_per_gpu": 80.0, "price_usd_per_gpu_hour": 2.0,
...         "status": "online", "reputation": 1.0}
>>> spec = WorkloadSpec(tenant_id="t", workload_type="training", gpus=2, vram_gb_per_gpu=40.0)
>>> answer = rank_placements(spec, {"p1": info}, {})
>>> [(o.provider_id, o.cost_usd_per_hour, o.confidence) for o in answer.options]
[('p1', 4.0, 0.5)]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.resources import PlacementAnswer, PlacementOption
from optimizers.problem import PendingWorkload, ProviderCapacity, failed_constraints
from schemas import ProviderStatus, WorkloadSpec
from schemas.gpus import GPU_MODELS, THROUGHPUT_UNITS

Value = dict[str, Any]
HOSTING = (ProviderStatus.ONLINE.value, ProviderStatus.DEGRADED.value)


def _free_gpus(info: Value, latest: Value | None) -> int:
    busy = 0.0
    if latest is not None and "gpus_busy" in latest["metrics"]:
        busy = latest["metrics"]["gpus_busy"]["mean"]
    return max(0, int(info["gpu_count"]) - round(busy))


def _health(gpu_model: str, latest: Value | None) -> float | None:
    if latest is None or "sm_clock_mhz" not in latest["metrics"]:
        return None
    boost = GPU_MODELS[gpu_model].boost_clock_mhz
    return min(1.0, latest["metrics"]["sm_clock_mhz"]["mean"] / boost) if boost > 0 else None


def rank_placements(
    spec: WorkloadSpec,
    infos: Mapping[str, Value],
    metrics: Mapping[str, Value],
    limit: int = 10,
) -> PlacementAnswer:
    """Placement options for one replica of ``spec``, best perf per dollar first.

    ``infos``/``metrics`` are read-model values (``api.readmodel``). ``excluded`` maps
    each provider left out to the reasons (the optimizer's constraint names, ``status``,
    ``capacity`` or ``unknown_gpu_model``).
    """
    workload = PendingWorkload(
        workload_id="query",
        tenant_id=spec.tenant_id,
        gpus=spec.gpus,
        vram_gb_per_gpu=spec.vram_gb_per_gpu,
        allowed_gpu_models=spec.allowed_gpu_models,
        allowed_regions=spec.allowed_regions,
        max_price_usd_per_gpu_hour=spec.max_price_usd_per_gpu_hour,
    )
    unit = THROUGHPUT_UNITS[spec.workload_type]
    options: list[PlacementOption] = []
    excluded: dict[str, list[str]] = {}
    for pid in sorted(infos):
        info = infos[pid]
        metric_value = metrics.get(f"provider:{pid}")
        latest = metric_value["latest"] if metric_value else None
        capacity = ProviderCapacity(
            provider_id=pid,
            region=info["region"],
            gpu_model=info["gpu_model"],
            free_gpus=_free_gpus(info, latest),
            vram_gb_per_gpu=info["vram_gb_per_gpu"],
            price_usd_per_gpu_hour=info["price_usd_per_gpu_hour"],
            reputation=info.get("reputation", 1.0),
        )
        reasons = list(failed_constraints(workload, capacity))
        if info["status"] not in HOSTING:
            reasons.append("status")
        if capacity.free_gpus < spec.gpus:
            reasons.append("capacity")
        if info["gpu_model"] not in GPU_MODELS:
            reasons.append("unknown_gpu_model")
        if reasons:
            excluded[pid] = reasons
            continue
        health = _health(info["gpu_model"], latest)
        per_gpu = GPU_MODELS[info["gpu_model"]].throughput_per_gpu(spec.workload_type)
        throughput = per_gpu * spec.gpus * (1.0 if health is None else health)
        cost = capacity.price_usd_per_gpu_hour * spec.gpus
        availability = latest.get("availability") if latest else None
        confidence = (0.5 if health is None else 0.8) * (
            1.0 if availability is None else availability
        )
        options.append(
            PlacementOption(
                rank=0,
                provider_id=pid,
                region=capacity.region,
                gpu_model=capacity.gpu_model,
                predicted_throughput=round(throughput, 6),
                throughput_unit=unit,
                cost_usd_per_hour=round(cost, 6),
                perf_per_dollar=round(throughput / cost, 6) if cost > 0 else 0.0,
                confidence=round(confidence, 6),
                basis="gpu_prior" if health is None else "gpu_prior*measured_clock",
            )
        )
    options.sort(key=lambda o: (-o.perf_per_dollar, o.cost_usd_per_hour, o.provider_id))
    ranked = [o.model_copy(update={"rank": i + 1}) for i, o in enumerate(options[:limit])]
    return PlacementAnswer(options=ranked, excluded=excluded)


__all__ = ["rank_placements"]
