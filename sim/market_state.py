"""What a scheduler sees of the marketplace at a tick, and the actions it may take.

>>> a = Action("place", "wl-1", "prov-002", predicted_throughput=10.0)
>>> a.kind, a.from_provider_id
('place', None)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sim.market_day import DayWorkload
from sim.marketplace import ProviderProfile

__all__ = ["Action", "MarketView", "Placement"]


@dataclass(frozen=True, slots=True)
class Action:
    """A placement (``place``) or move (``migrate``) a scheduler asks the marketplace for."""

    kind: str
    workload_id: str
    provider_id: str
    from_provider_id: str | None = None
    predicted_throughput: float | None = None
    predicted_cost_usd_per_hour: float | None = None
    recommendation_id: str | None = None


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a running workload is; it produces nothing before ``down_until_ms``."""

    provider_id: str
    since_ms: int
    down_until_ms: int


@dataclass(frozen=True, slots=True)
class MarketView:
    """A snapshot at ``now_ms``: catalog (online providers, current prices), free GPUs,
    waiting and running workloads. Schedulers get nothing else from the marketplace
    (realised throughput and provider telemetry come through their ``observe`` calls)."""

    now_ms: int
    providers: Mapping[str, ProviderProfile]
    online: frozenset[str]
    price_usd_per_gpu_hour: Mapping[str, float]
    free_gpus: Mapping[str, int]
    pending: tuple[DayWorkload, ...]
    running: Mapping[str, tuple[DayWorkload, Placement]]
