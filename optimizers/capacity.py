"""From topic records to a placement instance: providers' free GPUs and pending replicas.

The recommendation agent keeps the latest :class:`~schemas.ProviderInfo` per provider,
what recent ``perf.metrics`` windows say about each provider, the pending workloads'
:class:`~schemas.WorkloadSpec` and the GPUs of workloads known to run on each provider;
these functions turn that snapshot into :class:`~optimizers.problem.ProviderCapacity` and
:class:`~optimizers.problem.PendingWorkload` values. Rules (kept simple on purpose):

* providers ``offline`` or in ``maintenance``, or whose last window shows availability
  below ``min_availability``, offer nothing; ``degraded`` ones keep offering but with
  their reputation halved (the placement's reputation floors then steer away);
* free GPUs = ``gpu_count`` - max(busy GPUs of the last window, GPUs of the workloads we
  know run there): telemetry can lag a start, and our own bookkeeping misses foreign jobs;
* a spec with ``replicas > 1`` becomes one workload per replica (``<id>.r<k>``) in one
  anti-affinity group.

>>> from schemas import ProviderInfo
>>> info = ProviderInfo(provider_id="p1", ts_ms=10**12, region="us-east", gpu_model="L4 24GB",
...                     gpu_count=8, vram_gb_per_gpu=24.0, price_usd_per_gpu_hour=0.4,
...                     status="online")
>>> [p.free_gpus for p in provider_capacities({"p1": info}, {"p1": ProviderHealth(6.0)}, {})]
[2]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from optimizers.problem import PendingWorkload, ProviderCapacity
from schemas import MetricWindow, ProviderInfo, ProviderStatus, WorkloadSpec

__all__ = [
    "ProviderHealth",
    "health_from_window",
    "pending_replicas",
    "provider_capacities",
    "replica_ids",
]


@dataclass(frozen=True, slots=True)
class ProviderHealth:
    """What the last closed window of a provider says (None: not measured).

    Examples
    --------
    >>> ProviderHealth(busy_gpus=3.0).availability is None
    True
    """

    busy_gpus: float | None = None
    availability: float | None = None
    error_rate: float | None = None
    window_end_ms: int = 0


def health_from_window(window: MetricWindow) -> ProviderHealth:
    """Health of a provider from one of its ``perf.metrics`` windows (max busy GPUs).

    >>> from schemas import MetricStats
    >>> w = MetricWindow(entity_type="provider", entity_id="p1", window_start_ms=10**12,
    ...     window_end_ms=10**12 + 60_000, count=2, metrics={"gpus_busy": MetricStats(
    ...     count=2, mean=3.5, min=3, max=4, p50=3.5, p95=4, p99=4)})
    >>> health_from_window(w).busy_gpus
    4.0
    """
    busy = window.metrics.get("gpus_busy")
    return ProviderHealth(
        busy_gpus=float(busy.max) if busy is not None and busy.count > 0 else None,
        availability=window.availability,
        error_rate=window.error_rate,
        window_end_ms=window.window_end_ms,
    )


def provider_capacities(
    catalog: Mapping[str, ProviderInfo],
    health: Mapping[str, ProviderHealth],
    running_gpus: Mapping[str, int],
    *,
    min_availability: float = 0.9,
) -> tuple[ProviderCapacity, ...]:
    """Capacities of the providers that can take work now, sorted by provider id."""
    out = []
    for pid in sorted(catalog):
        info = catalog[pid]
        if info.status in (ProviderStatus.OFFLINE, ProviderStatus.MAINTENANCE):
            continue
        h = health.get(pid, ProviderHealth())
        if h.availability is not None and h.availability < min_availability:
            continue
        busy = max(h.busy_gpus or 0.0, float(running_gpus.get(pid, 0)))
        free = max(0, info.gpu_count - round(busy))
        reputation = info.reputation
        if info.status is ProviderStatus.DEGRADED:
            reputation /= 2.0
        out.append(
            ProviderCapacity(
                provider_id=pid,
                region=info.region,
                gpu_model=info.gpu_model,
                free_gpus=free,
                vram_gb_per_gpu=info.vram_gb_per_gpu,
                price_usd_per_gpu_hour=info.price_usd_per_gpu_hour,
                reputation=reputation,
            )
        )
    return tuple(out)


def replica_ids(workload_id: str, replicas: int) -> list[str]:
    """Ids of a workload's replicas (the workload's own id when it has one).

    >>> replica_ids("w1", 1), replica_ids("w1", 2)
    (['w1'], ['w1.r0', 'w1.r1'])
    """
    if replicas <= 1:
        return [workload_id]
    return [f"{workload_id}.r{k}" for k in range(replicas)]


def pending_replicas(specs: Iterable[tuple[str, WorkloadSpec]]) -> tuple[PendingWorkload, ...]:
    """One :class:`PendingWorkload` per replica of each ``(workload_id, spec)``."""
    out = []
    for workload_id, spec in specs:
        ids = replica_ids(workload_id, spec.replicas)
        for rid in ids:
            out.append(
                PendingWorkload(
                    workload_id=rid,
                    tenant_id=spec.tenant_id,
                    gpus=spec.gpus,
                    vram_gb_per_gpu=spec.vram_gb_per_gpu,
                    allowed_gpu_models=spec.allowed_gpu_models,
                    allowed_regions=spec.allowed_regions,
                    max_price_usd_per_gpu_hour=spec.max_price_usd_per_gpu_hour,
                    replica_group=workload_id if len(ids) > 1 else None,
                )
            )
    return tuple(out)
