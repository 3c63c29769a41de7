"""GPU models and regions of the simulated decentralized compute marketplace.

The numbers are chosen to be plausible for 2024-2025 peer-to-peer GPU marketplaces
(consumer cards next to datacenter parts, prices below the hyperscalers' list prices)
so that the performance-per-dollar trade-offs the optimizers see look like real ones:
an H100 is the fastest card but rarely the best value for inference, an RTX 4090 is a
bargain for rendering but cannot hold a 70 GB training job, and so on.

Throughput is expressed relative to an A100 80GB (= 1.0) per workload type and turned
into absolute units with :data:`BASE_THROUGHPUT_PER_GPU`.

>>> GPU_MODELS["RTX 4090 24GB"].vram_gb
24.0
>>> GPU_MODELS["H100 80GB"].throughput_per_gpu(WorkloadType("training")) > (
...     GPU_MODELS["A100 80GB"].throughput_per_gpu(WorkloadType("training")))
True
>>> sorted(REGIONS)
['ap-southeast', 'eu-central', 'us-east', 'us-west']
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from schemas import WorkloadType

__all__ = [
    "BASE_THROUGHPUT_PER_GPU",
    "GPU_MODELS",
    "REGIONS",
    "THROUGHPUT_UNITS",
    "GpuModel",
    "Region",
]


@dataclass(frozen=True, slots=True)
class GpuModel:
    """One GPU model as offered on the marketplace.

    Parameters
    ----------
    name : str
        Marketing name including the memory size; used as ``ProviderInfo.gpu_model``.
    vram_gb : float
        Memory per GPU in GB.
    tdp_w, idle_w : float
        Board power at full load and when idle, per GPU, in watts.
    boost_clock_mhz, idle_clock_mhz : float
        SM clock under load and at idle.
    price_usd_per_gpu_hour : tuple of float
        ``(low, high)`` range of asking prices on a decentralized marketplace.
    training, fine_tuning, inference, rendering : float
        Throughput relative to an A100 80GB (= 1.0) for each workload type.
    node_sizes : tuple of int
        GPU counts a provider of this model typically offers per machine.
    net_bandwidth_gbps : tuple of float
        ``(low, high)`` range of the provider's uplink bandwidth.

    Examples
    --------
    >>> l4 = GPU_MODELS["L4 24GB"]
    >>> l4.relative_throughput(WorkloadType("inference"))
    0.35
    >>> l4.price_usd_per_gpu_hour[0] < l4.price_usd_per_gpu_hour[1]
    True
    """

    name: str
    vram_gb: float
    tdp_w: float
    idle_w: float
    boost_clock_mhz: float
    idle_clock_mhz: float
    price_usd_per_gpu_hour: tuple[float, float]
    training: float
    fine_tuning: float
    inference: float
    rendering: float
    node_sizes: tuple[int, ...]
    net_bandwidth_gbps: tuple[float, float]

    def relative_throughput(self, workload_type: WorkloadType) -> float:
        """Throughput of one GPU for ``workload_type`` relative to an A100 80GB."""
        # Field names equal the enum values, which keeps the table below flat and
        # the dataclass hashable (a dict field would not be).
        value: float = getattr(self, WorkloadType(workload_type).value)
        return value

    def throughput_per_gpu(self, workload_type: WorkloadType) -> float:
        """Nominal throughput of one GPU, in :data:`THROUGHPUT_UNITS` of the type."""
        return BASE_THROUGHPUT_PER_GPU[WorkloadType(workload_type)] * self.relative_throughput(
            workload_type
        )


@dataclass(frozen=True, slots=True)
class Region:
    """A marketplace region.

    Parameters
    ----------
    name : str
        Region name used in ``ProviderInfo.region``.
    base_rtt_ms : float
        Typical round-trip time from the marketplace's client population to a
        provider in this region, before per-provider offsets and jitter.
    utc_offset_h : int
        Offset of local time from UTC; drives the day/night cycle of inference demand.

    Examples
    --------
    >>> REGIONS["ap-southeast"].base_rtt_ms > REGIONS["us-east"].base_rtt_ms
    True
    """

    name: str
    base_rtt_ms: float
    utc_offset_h: int


def _model(
    name: str,
    vram_gb: float,
    tdp_w: float,
    idle_w: float,
    clocks: tuple[float, float],
    price: tuple[float, float],
    rel: tuple[float, float, float, float],
    node_sizes: tuple[int, ...],
    bandwidth: tuple[float, float],
) -> GpuModel:
    return GpuModel(
        name=name,
        vram_gb=vram_gb,
        tdp_w=tdp_w,
        idle_w=idle_w,
        boost_clock_mhz=clocks[0],
        idle_clock_mhz=clocks[1],
        price_usd_per_gpu_hour=price,
        training=rel[0],
        fine_tuning=rel[1],
        inference=rel[2],
        rendering=rel[3],
        node_sizes=node_sizes,
        net_bandwidth_gbps=bandwidth,
    )


# Relative throughputs (training, fine_tuning, inference, rendering) vs A100 80GB:
# Hopper gains most on transformer training/inference; the datacenter A100/H100 have no
# RT cores, so Ada/Ampere graphics parts (L40S, RTX) beat them at path-traced rendering.
# fmt: off
_MODELS: tuple[GpuModel, ...] = (
    _model(
        "H100 80GB", 80.0, 700, 70, (1980, 345), (1.90, 3.20),
        (2.4, 2.2, 2.6, 0.9), (1, 2, 4, 8), (25.0, 100.0),
    ),
    _model(
        "A100 80GB", 80.0, 400, 55, (1410, 210), (1.00, 1.80),
        (1.0, 1.0, 1.0, 0.7), (1, 2, 4, 8), (10.0, 100.0),
    ),
    _model(
        "A100 40GB", 40.0, 400, 50, (1410, 210), (0.70, 1.30),
        (0.95, 0.9, 0.95, 0.7), (1, 2, 4, 8), (10.0, 50.0),
    ),
    _model(
        "L40S 48GB", 48.0, 350, 35, (2520, 210), (0.70, 1.20),
        (0.8, 0.9, 1.1, 2.2), (1, 2, 4, 8), (10.0, 50.0),
    ),
    _model(
        "RTX 4090 24GB", 24.0, 450, 25, (2520, 210), (0.30, 0.70),
        (0.6, 0.6, 0.7, 2.0), (1, 2, 4), (1.0, 10.0),
    ),
    _model(
        "RTX 3090 24GB", 24.0, 350, 25, (1695, 210), (0.15, 0.35),
        (0.35, 0.35, 0.4, 1.0), (1, 2, 4), (1.0, 5.0),
    ),
    _model(
        "A10G 24GB", 24.0, 150, 20, (1710, 210), (0.40, 0.80),
        (0.3, 0.3, 0.4, 0.8), (1, 4), (5.0, 25.0),
    ),
    _model(
        "L4 24GB", 24.0, 72, 15, (2040, 210), (0.30, 0.60),
        (0.25, 0.25, 0.35, 0.7), (1, 2, 4, 8), (5.0, 25.0),
    ),
)
# fmt: on

#: Every GPU model of the marketplace by name (read-only).
GPU_MODELS: MappingProxyType[str, GpuModel] = MappingProxyType({m.name: m for m in _MODELS})

#: Marketplace regions by name (read-only).
REGIONS: MappingProxyType[str, Region] = MappingProxyType(
    {
        r.name: r
        for r in (
            Region("us-east", 18.0, -5),
            Region("us-west", 30.0, -8),
            Region("eu-central", 42.0, 1),
            Region("ap-southeast", 75.0, 8),
        )
    }
)

#: Unit of ``WorkloadSample.throughput`` per workload type.
THROUGHPUT_UNITS: MappingProxyType[WorkloadType, str] = MappingProxyType(
    {
        WorkloadType("training"): "samples/s",
        WorkloadType("fine_tuning"): "tokens/s",
        WorkloadType("inference"): "tokens/s",
        WorkloadType("rendering"): "frames/s",
    }
)

#: Throughput of one A100 80GB per workload type, in :data:`THROUGHPUT_UNITS`:
#: mixed-precision vision training, LoRA fine-tuning of a 7B model, batched 7B serving,
#: and path-traced production frames (about two seconds per frame).
BASE_THROUGHPUT_PER_GPU: MappingProxyType[WorkloadType, float] = MappingProxyType(
    {
        WorkloadType("training"): 800.0,
        WorkloadType("fine_tuning"): 3500.0,
        WorkloadType("inference"): 2500.0,
        WorkloadType("rendering"): 0.5,
    }
)
