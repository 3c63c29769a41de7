"""Issue 17 (found by the fuzz): money and capacity fields are bounded, so sums stay finite."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from schemas import ProviderInfo, WorkloadSample, WorkloadSpec
from schemas.base import MAX_REPLICAS

T0 = 1_793_491_200_000


def provider(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "provider_id": "prov-001",
        "ts_ms": T0,
        "region": "eu-west",
        "gpu_model": "A100",
        "gpu_count": 8,
        "vram_gb_per_gpu": 80.0,
        "price_usd_per_gpu_hour": 1.8,
        "status": "online",
    }
    return {**fields, **overrides}


@pytest.mark.parametrize(
    "field, value",
    [("price_usd_per_gpu_hour", 1e308), ("gpu_count", 10**9), ("vram_gb_per_gpu", 1e308)],
)
def test_a_catalogue_entry_no_placement_can_price_is_refused(field: str, value: object) -> None:
    ProviderInfo(**provider())  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=field):
        ProviderInfo(**provider(**{field: value}))  # type: ignore[arg-type]


def test_a_workload_price_cap_and_a_sample_cost_near_float_max_are_refused() -> None:
    spec = {"tenant_id": "acme", "workload_type": "inference", "gpus": 1, "vram_gb_per_gpu": 24.0}
    WorkloadSpec(**spec, max_price_usd_per_gpu_hour=3.0)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="max_price_usd_per_gpu_hour"):
        WorkloadSpec(**spec, max_price_usd_per_gpu_hour=1e308)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="max_price_usd_per_gpu_hour"):
        WorkloadSpec(**spec, max_price_usd_per_gpu_hour=0.0)  # type: ignore[arg-type]
    sample = {
        "workload_id": "wl-1",
        "tenant_id": "acme",
        "throughput_unit": "tokens/s",
        "provider_id": "prov-001",
        "ts_ms": T0,
        "seq": 0,
        "workload_type": "inference",
        "throughput": 10.0,
        "gpu_util_pct": 50.0,
        "requests": 100,
        "errors": 1,
    }
    WorkloadSample(**sample, cost_accrued_usd=0.02)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="cost_accrued_usd"):
        WorkloadSample(**sample, cost_accrued_usd=1e308)  # type: ignore[arg-type]


def test_a_workload_with_more_replicas_than_any_placement_can_hold_is_refused() -> None:
    """A fuzzed spec of 988,726,729 replicas held the recommendations role's loop for 69 s.

    The role walks a running workload's replica ids on the event loop and expands a
    pending one into one placement per replica: both are linear in ``replicas``.
    """
    spec = {"tenant_id": "acme", "workload_type": "inference", "gpus": 1, "vram_gb_per_gpu": 24.0}
    assert WorkloadSpec(**spec, replicas=MAX_REPLICAS).replicas == 1024  # type: ignore[arg-type]
    for replicas in (MAX_REPLICAS + 1, 988_726_729, 0):
        with pytest.raises(ValidationError, match="replicas"):
            WorkloadSpec(**spec, replicas=replicas)  # type: ignore[arg-type]
