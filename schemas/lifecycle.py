"""Workload specifications, SLAs and lifecycle events (submitted, started, ...)."""

from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, model_validator

from schemas.base import (
    Id,
    NonNegFloat,
    PosFloat,
    Record,
    ReplicaCount,
    TsMs,
    UnitFloat,
    UsdPerGpuHour,
    VramGb,
)
from schemas.telemetry import WorkloadType

__all__ = ["SLA", "WorkloadEvent", "WorkloadEventKind", "WorkloadSpec"]


class SLA(Record):
    """Service-level objectives a placement must honour.

    Attributes
    ----------
    min_throughput : float or None
        Lowest acceptable throughput, in the workload's throughput unit.
    max_p95_latency_ms : float or None
        Highest acceptable 95th-percentile latency.
    min_availability : float
        Lowest acceptable fraction of time available, in [0, 1].

    Examples
    --------
    >>> SLA(max_p95_latency_ms=200.0).min_availability
    0.99
    """

    min_throughput: NonNegFloat | None = None
    max_p95_latency_ms: PosFloat | None = None
    min_availability: UnitFloat = 0.99


class WorkloadSpec(Record):
    """What a tenant asks for when submitting a workload.

    Attributes
    ----------
    tenant_id : Id
        Owner of the workload.
    workload_type : WorkloadType
        Kind of job.
    gpus : int
        GPUs per replica, in [1, 1024].
    vram_gb_per_gpu : float
        Minimum memory per GPU.
    allowed_gpu_models, allowed_regions : tuple[str, ...]
        Placement restrictions; empty means any.
    max_price_usd_per_gpu_hour : float or None
        Price ceiling; None means no ceiling.
    sla : SLA
        Service-level objectives.
    replicas : int
        Number of identical replicas, in [1, 1024] (``MAX_REPLICAS``).

    Examples
    --------
    >>> spec = WorkloadSpec(tenant_id="acme", workload_type="training", gpus=8,
    ...                     vram_gb_per_gpu=80.0, allowed_regions=("eu-west",))
    >>> spec.replicas, spec.sla.min_availability
    (1, 0.99)
    """

    tenant_id: Id
    workload_type: WorkloadType
    gpus: Annotated[int, Field(ge=1, le=1024)]
    vram_gb_per_gpu: VramGb
    allowed_gpu_models: tuple[str, ...] = ()
    allowed_regions: tuple[str, ...] = ()
    max_price_usd_per_gpu_hour: Annotated[UsdPerGpuHour, Field(gt=0.0)] | None = None
    sla: SLA = Field(default_factory=SLA)
    replicas: ReplicaCount = 1


class WorkloadEventKind(StrEnum):
    """Lifecycle transition recorded by a :class:`WorkloadEvent`.

    Examples
    --------
    >>> WorkloadEventKind.MIGRATED.value
    'migrated'
    """

    SUBMITTED = "submitted"
    SCHEDULED = "scheduled"
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"
    PREEMPTED = "preempted"
    MIGRATED = "migrated"


class WorkloadEvent(Record):
    """A lifecycle transition of one workload.

    Attributes
    ----------
    workload_id : Id
        Workload concerned.
    ts_ms : int
        Time of the transition, UTC epoch milliseconds.
    kind : WorkloadEventKind
        The transition.
    spec : WorkloadSpec or None
        The requested resources; required when ``kind`` is ``submitted``.
    provider_id : Id or None
        Provider involved (e.g. the one scheduled on), if any.
    reason : str
        Free-text explanation (failure cause, preemption reason, ...).

    Examples
    --------
    >>> spec = WorkloadSpec(tenant_id="acme", workload_type="inference", gpus=1,
    ...                     vram_gb_per_gpu=24.0)
    >>> WorkloadEvent(workload_id="wl-1", ts_ms=1_700_000_000_000, kind="submitted",
    ...               spec=spec).kind
    <WorkloadEventKind.SUBMITTED: 'submitted'>
    """

    workload_id: Id
    ts_ms: TsMs
    kind: WorkloadEventKind
    spec: WorkloadSpec | None = None
    provider_id: Id | None = None
    reason: str = ""

    @model_validator(mode="after")
    def _check_spec(self) -> Self:
        if self.kind is WorkloadEventKind.SUBMITTED and self.spec is None:
            raise ValueError("spec is required when kind is 'submitted'")
        return self
