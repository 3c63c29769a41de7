"""Provider catalogue entries: what hardware a provider offers, where and at what price."""

from enum import StrEnum

from schemas.base import GpuCount, Id, NonEmptyStr, Record, TsMs, UnitFloat, UsdPerGpuHour, VramGb

__all__ = ["ProviderInfo", "ProviderStatus"]


class ProviderStatus(StrEnum):
    """Availability state of a provider.

    Examples
    --------
    >>> ProviderStatus("degraded") is ProviderStatus.DEGRADED
    True
    """

    ONLINE = "online"
    DEGRADED = "degraded"
    OFFLINE = "offline"
    MAINTENANCE = "maintenance"


class ProviderInfo(Record):
    """Catalogue snapshot of one provider (latest value per provider wins).

    Attributes
    ----------
    provider_id : Id
        Provider described.
    ts_ms : int
        Snapshot time, UTC epoch milliseconds.
    region, gpu_model : str
        Location and GPU model name.
    gpu_count : int
        GPUs offered.
    vram_gb_per_gpu : float
        Memory per GPU.
    price_usd_per_gpu_hour : float
        Asking price.
    status : ProviderStatus
        Availability state.
    reputation : float
        Trust score in [0, 1].

    Examples
    --------
    >>> p = ProviderInfo(provider_id="prov-1", ts_ms=1_700_000_000_000, region="us-east",
    ...                  gpu_model="A100", gpu_count=8, vram_gb_per_gpu=80.0,
    ...                  price_usd_per_gpu_hour=1.8, status="online")
    >>> p.reputation
    1.0
    """

    provider_id: Id
    ts_ms: TsMs
    region: NonEmptyStr
    gpu_model: NonEmptyStr
    gpu_count: GpuCount
    vram_gb_per_gpu: VramGb
    price_usd_per_gpu_hour: UsdPerGpuHour
    status: ProviderStatus
    reputation: UnitFloat = 1.0
