"""One simulated marketplace day: providers, arriving workloads with SLAs, incidents.

The closed-loop evaluation (:mod:`evaluation.closed_loop`) runs the same :class:`MarketDay`
once per scheduler, so every arm sees identical providers, arrivals, incidents and noise.
Everything comes from the simulator's data, never from the schedulers:

* providers are :class:`sim.marketplace.MarketplaceSim`'s fleet (GPU model, count,
  region, price, reputation and the host's own ``perf_factor``);
* incidents are :class:`sim.incidents.Incident` values and act through
  :func:`sim.incidents.effects_at` (clock and contention factors, network sync for
  training, outages, price spikes);
* a workload's realised throughput is the simulator's model: the GPU's throughput for
  its type (:mod:`schemas.gpus`), sub-linear data-parallel scaling (``gpus ** 0.92``), the
  host's ``perf_factor``, nominal utilisation, incident effects and 3 % noise.

Workloads arrive through the day (Poisson, load ``load`` of the fleet's GPUs), each with a
minimum throughput (its SLA) of 30-80 % of what the same job does on A100 80GB, and leave
after a fixed wall-clock lifetime; time spent waiting counts against the SLA.

>>> day = generate_day(seed=3, providers=12, hours=2)
>>> len(day.providers), day.end_ms - day.start_ms
(12, 7200000)
>>> w = day.workloads[0]
>>> realised_throughput(w, day.providers[0], NO_EFFECTS, 0.0) > 0
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from schemas import WorkloadType
from schemas.gpus import BASE_THROUGHPUT_PER_GPU, GPU_MODELS, GpuModel
from sim.incidents import NO_EFFECTS, Effects, Incident, IncidentKind, effects_at
from sim.marketplace import MarketplaceSim, ProviderProfile
from sim.scenario import Scenario, apply_scenario

__all__ = [
    "DAY_START_MS",
    "NO_EFFECTS",
    "DayWorkload",
    "MarketDay",
    "a100_equivalent",
    "generate_day",
    "nominal_throughput",
    "realised_throughput",
]

#: 2026-11-01T00:00:00Z: the simulated day starts here (any time works; fixed for replay).
DAY_START_MS = 1_793_491_200_000
MINUTE_MS = 60_000

# Mean utilisation of a healthy job (serving measured at saturation, as batched servers run).
_NOMINAL_UTIL = {
    WorkloadType.TRAINING: 0.93,
    WorkloadType.FINE_TUNING: 0.88,
    WorkloadType.INFERENCE: 0.85,
    WorkloadType.RENDERING: 0.96,
}
_TYPES = (
    (WorkloadType.INFERENCE, 0.40),
    (WorkloadType.TRAINING, 0.25),
    (WorkloadType.FINE_TUNING, 0.20),
    (WorkloadType.RENDERING, 0.15),
)
_GPUS = {
    WorkloadType.TRAINING: (1, 2, 4, 8),
    WorkloadType.FINE_TUNING: (1, 2, 4),
    WorkloadType.INFERENCE: (1, 1, 2, 4),
    WorkloadType.RENDERING: (1, 2, 4),
}
_VRAM_GB = {
    WorkloadType.TRAINING: (30.0, 78.0),
    WorkloadType.FINE_TUNING: (16.0, 44.0),
    WorkloadType.INFERENCE: (8.0, 40.0),
    WorkloadType.RENDERING: (6.0, 20.0),
}


@dataclass(frozen=True, slots=True)
class DayWorkload:
    """A workload of the day: what it needs, when it lives, what its SLA asks.

    ``sla_min_throughput`` is in the type's unit (see :data:`schemas.gpus.THROUGHPUT_UNITS`);
    the workload lives in ``[arrival_ms, end_ms)`` whether it runs or waits.
    """

    workload_id: str
    index: int
    tenant_id: str
    workload_type: WorkloadType
    gpus: int
    vram_gb_per_gpu: float
    arrival_ms: int
    end_ms: int
    sla_min_throughput: float
    max_price_usd_per_gpu_hour: float | None = None
    allowed_regions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MarketDay:
    """Providers, workloads (by arrival) and incidents of one simulated day."""

    seed: int
    start_ms: int
    end_ms: int
    providers: tuple[ProviderProfile, ...]
    workloads: tuple[DayWorkload, ...]
    incidents: tuple[Incident, ...]

    def effects(self, provider_id: str, ts_ms: int) -> Effects:
        """Incident effects on ``provider_id`` at ``ts_ms``."""
        return effects_at((i for i in self.incidents if i.provider_id == provider_id), ts_ms)

    def noise(self, workload: DayWorkload) -> np.ndarray:
        """Standard normal draws of ``workload``, one per minute of the day (same in every arm)."""
        minutes = (self.end_ms - self.start_ms) // MINUTE_MS + 1
        return np.random.default_rng([self.seed, 7, workload.index]).standard_normal(minutes)


def nominal_throughput(workload_type: WorkloadType, gpus: int, gpu: GpuModel) -> float:
    """Healthy throughput of a job on an average host of ``gpu`` (no host factor, no incident).

    >>> a100 = GPU_MODELS["A100 80GB"]
    >>> round(nominal_throughput(WorkloadType.TRAINING, 1, a100), 1)
    744.0
    """
    per_gpu = gpu.throughput_per_gpu(workload_type)
    return float(per_gpu * gpus**0.92 * _NOMINAL_UTIL[workload_type])


def realised_throughput(
    workload: DayWorkload, provider: ProviderProfile, fx: Effects, z: float
) -> float:
    """Throughput ``workload`` delivers on ``provider`` under effects ``fx`` (0 when offline)."""
    if fx.offline:
        return 0.0
    factor = fx.clock_factor * fx.throughput_factor
    if workload.workload_type in (WorkloadType.TRAINING, WorkloadType.FINE_TUNING):
        factor *= fx.sync_factor
    base = nominal_throughput(workload.workload_type, workload.gpus, provider.gpu)
    return base * provider.perf_factor * factor * math.exp(0.03 * z)


def a100_equivalent(workload_type: WorkloadType, throughput: float) -> float:
    """Throughput in A100 80GB GPUs' worth, so different workload types add up.

    >>> a100_equivalent(WorkloadType.RENDERING, 0.5)
    1.0
    """
    return throughput / BASE_THROUGHPUT_PER_GPU[workload_type]


def generate_day(
    seed: int,
    providers: int = 40,
    hours: int = 24,
    load: float = 0.7,
    incidents_per_provider: float = 0.75,
    start_ms: int = DAY_START_MS,
    scenario: Scenario | None = None,
) -> MarketDay:
    """A reproducible day: same arguments, same day.

    Parameters
    ----------
    seed : int
        Seed of every draw.
    providers : int
        Fleet size (the simulator's provider generation).
    hours : int
        Length of the day.
    load : float
        Mean fraction of the fleet's GPUs the arriving workloads ask for.
    incidents_per_provider : float
        Expected incidents per provider over the day (20 min to 4 h each, any kind).
    start_ms : int
        Start of the day, UTC epoch milliseconds.
    scenario : Scenario or None
        Host speed, prices and outages of the market (:mod:`sim.scenario`); None: the
        simulator's fleet as it is (the ``uniform`` scenario). Load and incident rate are
        the arguments above (the caller takes them from the scenario).
    """
    fleet = tuple(MarketplaceSim(seed=seed, providers=providers, workloads=0).provider_profiles)
    end_ms = start_ms + hours * 3_600_000
    outages: tuple[Incident, ...] = ()
    if scenario is not None:
        fleet, outages = apply_scenario(scenario, fleet, seed, start_ms, end_ms)
    rng = np.random.default_rng([seed, 99])
    workloads = _workloads(rng, fleet, start_ms, end_ms, load)
    incidents = _incidents(rng, fleet, start_ms, end_ms, incidents_per_provider)
    if outages:
        incidents = tuple(sorted(incidents + outages, key=lambda i: (i.start_ms, i.provider_id)))
    return MarketDay(seed, start_ms, end_ms, fleet, workloads, incidents)


def _workloads(
    rng: np.random.Generator,
    fleet: tuple[ProviderProfile, ...],
    start_ms: int,
    end_ms: int,
    load: float,
) -> tuple[DayWorkload, ...]:
    total_gpus = sum(p.gpu_count for p in fleet)
    regions = sorted({p.region.name for p in fleet})
    mean_gpus, mean_life_h = 2.0, 4.0
    per_hour = load * total_gpus / (mean_gpus * mean_life_h)
    # The day starts with the fleet already busy: a backlog arrives at the start.
    arrivals = [start_ms] * round(per_hour * mean_life_h)
    t = float(start_ms)
    while True:
        t += rng.exponential(3_600_000 / per_hour)
        if t >= end_ms:
            break
        arrivals.append(int(t))
    types = [t for t, _ in _TYPES]
    weights = np.array([w for _, w in _TYPES])
    models = sorted(GPU_MODELS.values(), key=lambda m: m.name)
    out = []
    for i, arrival in enumerate(arrivals):
        wt = types[int(rng.choice(len(types), p=weights))]
        gpus = int(rng.choice(_GPUS[wt]))
        lo, hi = _VRAM_GB[wt]
        life_ms = int(rng.uniform(0.5, 7.5) * 3_600_000)
        vram = float(round(rng.uniform(lo, hi)))
        max_price = round(float(rng.uniform(1.0, 3.5)), 2) if rng.random() < 0.3 else None
        region = (regions[int(rng.integers(len(regions)))],) if rng.random() < 0.15 else ()
        # The marketplace accepts only jobs some host of the fleet could run: a request
        # larger than every fitting host shrinks to the largest, restrictions relax.
        fitting = [
            p.gpu_count
            for p in fleet
            if p.gpu.vram_gb >= vram
            and (not region or p.region.name in region)
            and (max_price is None or p.price_usd_per_gpu_hour <= max_price)
        ]
        if not fitting:
            region, max_price = (), None
            fitting = [p.gpu_count for p in fleet if p.gpu.vram_gb >= vram] or [1]
        gpus = min(gpus, max(fitting))
        # As sim.marketplace sets SLAs (70 % of the nominal throughput where the job
        # runs), relative to a GPU model the tenant had in mind: any model that fits.
        fits = [m for m in models if m.vram_gb >= vram]
        reference = fits[int(rng.integers(len(fits)))]
        sla = 0.7 * nominal_throughput(wt, gpus, reference)
        out.append(
            DayWorkload(
                workload_id=f"wl-{i:04d}",
                index=i,
                tenant_id=f"tenant-{int(rng.integers(8)):02d}",
                workload_type=wt,
                gpus=gpus,
                vram_gb_per_gpu=vram,
                arrival_ms=arrival,
                end_ms=min(end_ms, arrival + life_ms),
                sla_min_throughput=round(sla, 3),
                max_price_usd_per_gpu_hour=max_price,
                allowed_regions=region,
            )
        )
    return tuple(out)


def _incidents(
    rng: np.random.Generator,
    fleet: tuple[ProviderProfile, ...],
    start_ms: int,
    end_ms: int,
    per_provider: float,
) -> tuple[Incident, ...]:
    kinds = list(IncidentKind)
    out: list[Incident] = []
    for p in fleet:
        for _ in range(int(rng.poisson(per_provider))):
            kind = kinds[int(rng.integers(len(kinds)))]
            duration = int(rng.uniform(20, 240) * MINUTE_MS)
            begin = int(rng.integers(start_ms, max(start_ms + 1, end_ms - duration)))
            severity = round(float(rng.uniform(0.5, 1.0)), 3)
            out.append(Incident(kind, p.provider_id, begin, begin + duration, severity))
    out.sort(key=lambda i: (i.start_ms, i.provider_id))
    return tuple(out)
