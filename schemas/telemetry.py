"""Raw telemetry samples emitted by GPU providers and by running workloads."""

from enum import StrEnum
from typing import Annotated, ClassVar, Self

from pydantic import Field, model_validator

from schemas.base import (
    Id,
    NonEmptyStr,
    NonNegFloat,
    NonNegInt,
    Pct,
    PosFloat,
    Record,
    TsMs,
    UsdPerSample,
)

__all__ = ["ProviderSample", "WorkloadSample", "WorkloadType"]


class WorkloadType(StrEnum):
    """Kind of job a workload runs.

    Examples
    --------
    >>> WorkloadType("inference") is WorkloadType.INFERENCE
    True
    """

    TRAINING = "training"
    FINE_TUNING = "fine_tuning"
    INFERENCE = "inference"
    RENDERING = "rendering"


class ProviderSample(Record):
    """One telemetry sample of a provider's GPUs and network.

    Attributes
    ----------
    provider_id : Id
        Provider that produced the sample.
    ts_ms : int
        Sample time, UTC epoch milliseconds.
    seq : int
        Per-provider sequence number, increasing by 1 per sample; gaps and
        repeats let consumers detect loss and duplicates.
    gpu_util_pct, gpu_mem_used_gb, gpu_mem_total_gb, gpu_temp_c, power_w, sm_clock_mhz : float
        GPU metrics; memory used may not exceed memory total.
    net_rtt_ms, net_bandwidth_gbps : float
        Network metrics.
    gpus_busy, gpus_total : int
        Allocated and installed GPUs; ``gpus_busy <= gpus_total``.
    error_count : int
        Errors observed since the previous sample.
    NUMERIC_FIELDS : ClassVar[tuple[str, ...]]
        Metric fields that window aggregation summarises.

    Examples
    --------
    >>> s = ProviderSample(
    ...     provider_id="prov-1", ts_ms=1_700_000_000_000, seq=0, gpu_util_pct=75.0,
    ...     gpu_mem_used_gb=20.0, gpu_mem_total_gb=80.0, gpu_temp_c=65.0, power_w=300.0,
    ...     sm_clock_mhz=1410.0, net_rtt_ms=2.5, net_bandwidth_gbps=100.0,
    ...     gpus_busy=6, gpus_total=8, error_count=0)
    >>> s.gpus_total - s.gpus_busy
    2
    """

    NUMERIC_FIELDS: ClassVar[tuple[str, ...]] = (
        "gpu_util_pct",
        "gpu_mem_used_gb",
        "gpu_temp_c",
        "power_w",
        "sm_clock_mhz",
        "net_rtt_ms",
        "net_bandwidth_gbps",
        "gpus_busy",
        "error_count",
    )

    provider_id: Id
    ts_ms: TsMs
    seq: NonNegInt
    gpu_util_pct: Pct
    gpu_mem_used_gb: NonNegFloat
    gpu_mem_total_gb: PosFloat
    gpu_temp_c: Annotated[float, Field(ge=-40.0, le=150.0)]
    power_w: NonNegFloat
    sm_clock_mhz: NonNegFloat
    net_rtt_ms: NonNegFloat
    net_bandwidth_gbps: NonNegFloat
    gpus_busy: NonNegInt
    gpus_total: Annotated[int, Field(ge=1)]
    error_count: NonNegInt

    @model_validator(mode="after")
    def _check_capacity(self) -> Self:
        if self.gpus_busy > self.gpus_total:
            raise ValueError(
                f"gpus_busy ({self.gpus_busy}) must not exceed gpus_total ({self.gpus_total})"
            )
        if self.gpu_mem_used_gb > self.gpu_mem_total_gb:
            raise ValueError(
                f"gpu_mem_used_gb ({self.gpu_mem_used_gb}) must not exceed "
                f"gpu_mem_total_gb ({self.gpu_mem_total_gb})"
            )
        return self


class WorkloadSample(Record):
    """One performance sample reported by a running workload.

    Attributes
    ----------
    workload_id, provider_id, tenant_id : Id
        The workload, the provider it runs on and the tenant that owns it.
    ts_ms : int
        Sample time, UTC epoch milliseconds.
    seq : int
        Per-workload sequence number, increasing by 1 per sample.
    workload_type : WorkloadType
        Kind of job.
    throughput : float
        Work rate in ``throughput_unit`` (e.g. ``"samples/s"``, ``"tokens/s"``).
    latency_ms, step_time_ms : float or None
        Request latency (serving) or step time (training); None when not applicable.
    gpu_util_pct : float
        GPU utilisation seen by the workload.
    requests, errors : int
        Requests served and errors raised during the sample interval.
    cost_accrued_usd : float
        Cost accrued during this sample's interval (not cumulative).
    cpu_util_pct, mem_bw_util_pct, io_wait_pct : float or None
        Optional host-side evidence for bottleneck analysis: CPU utilisation of the
        workload's input pipeline, GPU memory-bandwidth utilisation, and the share of
        time spent waiting on network or storage I/O. None when not reported.
    NUMERIC_FIELDS : ClassVar[tuple[str, ...]]
        Metric fields that window aggregation summarises.

    Examples
    --------
    >>> w = WorkloadSample(
    ...     workload_id="wl-1", ts_ms=1_700_000_000_000, seq=3, provider_id="prov-1",
    ...     tenant_id="acme", workload_type="inference", throughput=1200.0,
    ...     throughput_unit="tokens/s", latency_ms=45.0, gpu_util_pct=80.0,
    ...     requests=100, errors=1, cost_accrued_usd=0.02)
    >>> w.workload_type is WorkloadType.INFERENCE, w.step_time_ms is None
    (True, True)
    """

    NUMERIC_FIELDS: ClassVar[tuple[str, ...]] = (
        "throughput",
        "latency_ms",
        "step_time_ms",
        "gpu_util_pct",
        "requests",
        "errors",
        "cost_accrued_usd",
        "cpu_util_pct",
        "mem_bw_util_pct",
        "io_wait_pct",
    )

    workload_id: Id
    ts_ms: TsMs
    seq: NonNegInt
    provider_id: Id
    tenant_id: Id
    workload_type: WorkloadType
    throughput: NonNegFloat
    throughput_unit: NonEmptyStr
    latency_ms: NonNegFloat | None = None
    step_time_ms: NonNegFloat | None = None
    gpu_util_pct: Pct
    requests: NonNegInt
    errors: NonNegInt
    cost_accrued_usd: UsdPerSample
    cpu_util_pct: Pct | None = None
    mem_bw_util_pct: Pct | None = None
    io_wait_pct: Pct | None = None
