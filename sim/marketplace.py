"""Deterministic simulator of a decentralized GPU marketplace (the pure core).

:class:`MarketplaceSim` invents a fleet of providers (GPU model, region, price, ...)
and a set of tenant workloads placed on compatible providers, then generates the
telemetry they would emit, interval by interval, as :class:`SimRecord` values ready to
be produced to Kafka by :mod:`streams.publish`.

Design rules, and why:

* **No clock, no global RNG.** Every time is passed in and every random draw comes
  from generators seeded from ``seed``, so the same arguments always give the same
  records: tests, benchmarks and bug reports can replay a run exactly.
* **One random stream per entity.** Each provider and workload draws a fixed number
  of values per interval from its own generator, so injecting an incident on one
  provider (or changing the run length) does not perturb any other entity's numbers;
  only the incident's effects differ, which keeps the ground truth clean.
* **Ground truth is explicit.** :attr:`MarketplaceSim.incidents` lists every injected
  incident with its exact interval; nothing else is abnormal.

Random incidents need a time span, so they are drawn when :meth:`MarketplaceSim.records`
is called, inside ``[start_ms, end_ms)`` (or inside ``random_incident_horizon_ms`` from
``start_ms`` for an unbounded run), from a generator seeded by ``seed`` only: the same
``(seed, start_ms, end_ms)`` always yields the same incidents.
:meth:`MarketplaceSim.incidents_between` returns them without generating records.

>>> sim = MarketplaceSim(seed=7, providers=3, workloads=4)
>>> recs = list(sim.records(1_700_000_000_000, 1_700_000_002_000))
>>> [r.topic for r in recs[:3]]
['providers.catalog', 'providers.catalog', 'providers.catalog']
>>> sum(r.topic == "telemetry.provider" for r in recs)  # 3 providers x 2 intervals
6
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

from schemas import (
    SLA,
    ProviderInfo,
    ProviderSample,
    ProviderStatus,
    WorkloadEvent,
    WorkloadEventKind,
    WorkloadSample,
    WorkloadSpec,
    WorkloadType,
)
from schemas.base import ID_PATTERN, TS_MAX_MS, TS_MIN_MS
from schemas.gpus import GPU_MODELS, REGIONS, THROUGHPUT_UNITS, GpuModel, Region
from sim.bottlenecks import WorkloadFault, host_metrics
from sim.incidents import (
    NO_EFFECTS,
    Effects,
    Incident,
    IncidentKind,
    effects_at,
    random_incidents,
)

__all__ = [
    "TOPIC_CATALOG",
    "TOPIC_LIFECYCLE",
    "TOPIC_PROVIDER",
    "TOPIC_WORKLOAD",
    "MarketplaceSim",
    "Payload",
    "ProviderProfile",
    "SimRecord",
    "WorkloadProfile",
]

TOPIC_CATALOG = "providers.catalog"
TOPIC_LIFECYCLE = "workloads.lifecycle"
TOPIC_PROVIDER = "telemetry.provider"
TOPIC_WORKLOAD = "telemetry.workload"

#: The record types the simulator emits (all carry ``ts_ms``).
Payload = ProviderInfo | WorkloadEvent | ProviderSample | WorkloadSample

# Event time of the :attr:`MarketplaceSim.providers` template (the schema's minimum).
_TEMPLATE_TS_MS = TS_MIN_MS
_HOUR_MS = 3_600_000
# GPU temperature follows its target with this time constant (heat-sink inertia), so a
# cooling failure shows as a climb over tens of seconds rather than a step.
_THERMAL_TAU_MS = 12_000.0
_AMBIENT_C = 30.0  # powered-off GPUs during an outage cool towards the room temperature
_AR_PHI = 0.95  # persistence of per-workload load fluctuations between intervals
_N_NORMAL = 8  # normal draws per entity per interval (fixed: see module docstring)
_N_UNIFORM = 2
_NOISE_BLOCK = 256
_STD_NORMAL = NormalDist()

_TYPE_WEIGHTS: tuple[tuple[WorkloadType, float], ...] = (
    (WorkloadType.INFERENCE, 0.40),
    (WorkloadType.TRAINING, 0.25),
    (WorkloadType.FINE_TUNING, 0.20),
    (WorkloadType.RENDERING, 0.15),
)
_GPU_CHOICES: dict[WorkloadType, tuple[int, ...]] = {
    WorkloadType.TRAINING: (1, 2, 4, 8),
    WorkloadType.FINE_TUNING: (1, 2, 4),
    WorkloadType.INFERENCE: (1, 1, 2, 4),
    WorkloadType.RENDERING: (1, 2, 4),
}
# GB of memory per GPU a workload asks for: large training jobs only fit 40-80 GB cards.
_VRAM_NEED_GB: dict[WorkloadType, tuple[float, float]] = {
    WorkloadType.TRAINING: (30.0, 78.0),
    WorkloadType.FINE_TUNING: (16.0, 44.0),
    WorkloadType.INFERENCE: (8.0, 40.0),
    WorkloadType.RENDERING: (6.0, 20.0),
}
# Mean GPU utilisation of a healthy compute-bound job (inference follows demand instead).
_NOMINAL_UTIL: dict[WorkloadType, tuple[float, float]] = {
    WorkloadType.TRAINING: (93.0, 2.0),
    WorkloadType.FINE_TUNING: (88.0, 3.0),
    WorkloadType.INFERENCE: (0.0, 0.0),
    WorkloadType.RENDERING: (96.0, 1.5),
}
_WORK_PER_STEP_PER_GPU: dict[WorkloadType, float] = {
    WorkloadType.TRAINING: 256.0,  # samples per optimizer step per GPU
    WorkloadType.FINE_TUNING: 8192.0,  # tokens per optimizer step per GPU
    WorkloadType.RENDERING: 1.0,  # one frame per GPU
}
_INFERENCE_MEAN_LOAD = 0.55


class SimRecord(NamedTuple):
    """One record to produce: logical topic, message key and the record itself.

    Examples
    --------
    >>> sim = MarketplaceSim(seed=1, providers=1, workloads=1)
    >>> first = next(iter(sim.records(1_700_000_000_000, 1_700_000_001_000)))
    >>> first.topic, first.key, first.ts_ms
    ('providers.catalog', 'prov-000', 1700000000000)
    """

    topic: str
    key: str
    record: Payload

    @property
    def ts_ms(self) -> int:
        """Event time of the record (UTC epoch milliseconds)."""
        return self.record.ts_ms


@dataclass(frozen=True, slots=True)
class ProviderProfile:
    """Static description of a simulated provider (what does not change per sample).

    Examples
    --------
    >>> p = MarketplaceSim(seed=3, providers=2, workloads=0).provider_profiles[0]
    >>> p.provider_id, p.gpu.name in GPU_MODELS, p.gpu_count >= 1
    ('prov-000', True, True)
    """

    provider_id: str
    index: int
    gpu: GpuModel
    region: Region
    gpu_count: int
    price_usd_per_gpu_hour: float
    reputation: float
    rtt_offset_ms: float
    bandwidth_gbps: float
    idle_temp_c: float
    load_temp_c: float
    perf_factor: float  # silicon / cooling / driver quality of this particular host

    @property
    def base_rtt_ms(self) -> float:
        """Healthy round-trip time of this provider (region base + own offset)."""
        return self.region.base_rtt_ms + self.rtt_offset_ms

    @property
    def mem_total_gb(self) -> float:
        """Memory of all GPUs of the host, as reported in ``gpu_mem_total_gb``."""
        return self.gpu.vram_gb * self.gpu_count


@dataclass(frozen=True, slots=True)
class WorkloadProfile:
    """Static description of a simulated workload and where it runs.

    Examples
    --------
    >>> sim = MarketplaceSim(seed=3, providers=2, workloads=1)
    >>> w = sim.workload_profiles[0]
    >>> w.workload_id, w.provider_id in {p.provider_id for p in sim.provider_profiles}
    ('wl-0000', True)
    """

    workload_id: str
    index: int
    provider_id: str
    provider_index: int
    spec: WorkloadSpec
    capacity: float  # healthy throughput at full load, in the type's unit
    compute_latency_ms: float  # inference service time at zero load (no network)
    mem_fill: float  # fraction of the requested memory actually resident
    tokens_per_request: float

    @property
    def workload_type(self) -> WorkloadType:
        """The workload's type (from its spec)."""
        return self.spec.workload_type

    @property
    def gpus(self) -> int:
        """GPUs the workload occupies."""
        return self.spec.gpus


class _Noise:
    """Per-entity random stream handing out a fixed-size row of draws per interval."""

    __slots__ = ("_i", "_normals", "_rng", "_uniforms")

    def __init__(self, rng: np.random.Generator) -> None:
        self._rng = rng
        self._normals: list[list[float]] = []
        self._uniforms: list[list[float]] = []
        self._i = 0

    def next(self) -> tuple[list[float], list[float]]:
        if self._i >= len(self._normals):
            # Fixed block sizes keep the stream identical whatever the run length.
            self._normals = self._rng.standard_normal((_NOISE_BLOCK, _N_NORMAL)).tolist()
            self._uniforms = self._rng.random((_NOISE_BLOCK, _N_UNIFORM)).tolist()
            self._i = 0
        i = self._i
        self._i += 1
        return self._normals[i], self._uniforms[i]


def _poisson(lam: float, u: float) -> int:
    """Poisson draw by inverse CDF from one uniform (fixed consumption of randomness)."""
    if lam <= 0.0:
        return 0
    if lam > 30.0:
        return max(
            0, round(lam + math.sqrt(lam) * _STD_NORMAL.inv_cdf(min(max(u, 1e-12), 1 - 1e-12)))
        )
    k = 0
    p = math.exp(-lam)
    c = p
    while u > c and k < 1000:
        k += 1
        p *= lam / k
        c += p
    return k


def _clip(x: float, lo: float, hi: float) -> float:
    return lo if x < lo else hi if x > hi else x


class MarketplaceSim:
    """Deterministic generator of marketplace catalog, lifecycle and telemetry records.

    Parameters
    ----------
    seed : int
        Seed of every random choice (non-negative). Same seed, same arguments, same
        records.
    providers : int
        Number of providers (>= 1). GPU models and regions are dealt round-robin from
        shuffled lists, so 8 or more providers cover every GPU model.
    workloads : int
        Number of workloads (>= 0), each placed on a compatible provider with free GPUs.
        Provider sizes are grown (up to 8 GPUs) so that every workload gets at least one
        GPU when possible; past that, workloads share GPUs (utilisation is capped).
    interval_ms : int
        Sampling interval of every provider and workload.
    incidents : sequence of Incident, optional
        Explicit incidents to inject (their ``provider_id`` must be one of the fleet's).
    random_incidents : int
        Number of extra incidents drawn when :meth:`records` is called (see the module
        docstring for how their times are chosen).
    random_incident_horizon_ms : int
        Span from ``start_ms`` used to place random incidents when ``end_ms`` is None.
    id_prefix : str
        Prepended to every provider, workload and tenant id, so that several runs can
        share topics without their per-key sequence numbers colliding.
    workload_faults : sequence of WorkloadFault, optional
        Bottlenecks injected into single workloads (ground truth for bottleneck and
        root-cause analysis; see :mod:`sim.bottlenecks`).

    Examples
    --------
    >>> sim = MarketplaceSim(seed=42, providers=4, workloads=6, interval_ms=500)
    >>> [p.provider_id for p in sim.providers]
    ['prov-000', 'prov-001', 'prov-002', 'prov-003']
    >>> recs = list(sim.records(1_700_000_000_000, 1_700_000_010_000))
    >>> recs == list(MarketplaceSim(seed=42, providers=4, workloads=6,
    ...                             interval_ms=500).records(1_700_000_000_000,
    ...                                                      1_700_000_010_000))
    True
    >>> len([r for r in recs if r.topic == "telemetry.workload"])  # 6 x 20 intervals
    120
    >>> inc = Incident("provider_outage", "prov-001", 1_700_000_002_000, 1_700_000_004_000)
    >>> sim2 = MarketplaceSim(seed=42, providers=4, workloads=6, incidents=[inc])
    >>> sim2.incidents == [inc]
    True
    """

    def __init__(
        self,
        seed: int,
        providers: int = 12,
        workloads: int = 24,
        interval_ms: int = 1000,
        incidents: Sequence[Incident] | None = None,
        random_incidents: int = 0,
        *,
        random_incident_horizon_ms: int = _HOUR_MS,
        id_prefix: str = "",
        workload_faults: Sequence[WorkloadFault] | None = None,
    ) -> None:
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if providers < 1:
            raise ValueError(f"providers must be >= 1, got {providers}")
        if workloads < 0:
            raise ValueError(f"workloads must be >= 0, got {workloads}")
        if interval_ms < 1:
            raise ValueError(f"interval_ms must be >= 1, got {interval_ms}")
        if random_incidents < 0:
            raise ValueError(f"random_incidents must be >= 0, got {random_incidents}")
        if random_incident_horizon_ms < 2:
            raise ValueError("random_incident_horizon_ms must be >= 2")
        if id_prefix and not re.match(ID_PATTERN, f"{id_prefix}prov-000"):
            raise ValueError(f"id_prefix {id_prefix!r} does not make valid ids")
        self.seed = seed
        self.interval_ms = interval_ms
        self.random_incidents = random_incidents
        self.random_incident_horizon_ms = random_incident_horizon_ms
        self.id_prefix = id_prefix
        rng = np.random.default_rng([seed, 0])
        self._providers = self._make_providers(rng, providers, workloads)
        self._workloads = self._make_workloads(rng, workloads)
        ids = {p.provider_id for p in self._providers}
        explicit = list(incidents or ())
        for inc in explicit:
            if inc.provider_id not in ids:
                raise ValueError(f"incident on unknown provider {inc.provider_id!r}")
        self._explicit = sorted(explicit, key=lambda i: (i.start_ms, i.provider_id))
        self._incidents: list[Incident] = list(self._explicit)
        workload_ids = {w.workload_id for w in self._workloads}
        faults = list(workload_faults or ())
        for fault in faults:
            if fault.workload_id not in workload_ids:
                raise ValueError(f"fault on unknown workload {fault.workload_id!r}")
        self._faults = sorted(faults, key=lambda f: (f.start_ms, f.workload_id))

    # ------------------------------------------------------------------ fleet
    def _make_providers(
        self, rng: np.random.Generator, n: int, workloads: int
    ) -> list[ProviderProfile]:
        models = list(GPU_MODELS.values())
        regions = list(REGIONS.values())
        gpus: list[GpuModel] = []
        regs: list[Region] = []
        while len(gpus) < n:
            gpus.extend(models[int(i)] for i in rng.permutation(len(models)))
        while len(regs) < n:
            regs.extend(regions[int(i)] for i in rng.permutation(len(regions)))
        counts = [
            int(gpus[i].node_sizes[int(rng.integers(len(gpus[i].node_sizes)))]) for i in range(n)
        ]
        # Grow the smallest hosts until every workload can have a GPU of its own.
        while sum(counts) < workloads and min(counts) < 8:
            i = counts.index(min(counts))
            counts[i] = min(8, counts[i] * 2)
        out = []
        for i in range(n):
            gpu = gpus[i]
            lo, hi = gpu.price_usd_per_gpu_hour
            bw_lo, bw_hi = gpu.net_bandwidth_gbps
            out.append(
                ProviderProfile(
                    provider_id=f"{self.id_prefix}prov-{i:03d}",
                    index=i,
                    gpu=gpu,
                    region=regs[i],
                    gpu_count=counts[i],
                    price_usd_per_gpu_hour=round(float(rng.uniform(lo, hi)), 2),
                    reputation=round(float(rng.uniform(0.85, 1.0)), 3),
                    rtt_offset_ms=round(float(rng.uniform(0.0, 8.0)), 2),
                    bandwidth_gbps=round(float(rng.uniform(bw_lo, bw_hi)), 1),
                    idle_temp_c=float(rng.uniform(50.0, 56.0)),
                    load_temp_c=float(rng.uniform(66.0, 74.0)),
                    perf_factor=float(np.clip(np.exp(rng.normal(0.0, 0.05)), 0.88, 1.10)),
                )
            )
        return out

    def _make_workloads(self, rng: np.random.Generator, n: int) -> list[WorkloadProfile]:
        types = [t for t, _ in _TYPE_WEIGHTS]
        weights = np.array([w for _, w in _TYPE_WEIGHTS])
        n_tenants = max(1, math.ceil(n / 4))
        free = [p.gpu_count for p in self._providers]
        out = []
        for j in range(n):
            wt = types[int(rng.choice(len(types), p=weights))]
            lo, hi = _VRAM_NEED_GB[wt]
            need = float(rng.uniform(lo, hi))
            choices = _GPU_CHOICES[wt]
            desired = choices[int(rng.integers(len(choices)))]
            fits = [
                i for i, p in enumerate(self._providers) if free[i] > 0 and p.gpu.vram_gb >= need
            ]
            if not fits:
                # Nothing big enough has room: shrink the job to what a free host holds.
                fits = [i for i in range(len(self._providers)) if free[i] > 0]
            if fits:
                w = np.array([free[i] for i in fits], dtype=float)
                pi = fits[int(rng.choice(len(fits), p=w / w.sum()))]
            else:  # the fleet is full: share the least-loaded host
                pi = max(range(len(self._providers)), key=lambda i: (free[i], -i))
            prov = self._providers[pi]
            need = min(need, prov.gpu.vram_gb * float(rng.uniform(0.5, 0.95)))
            vram = float(max(1, round(need)))
            # Leave one free GPU for each workload still to place, so nobody has to share
            # while the fleet is big enough; data-parallel jobs use powers of two.
            room = min(desired, free[pi], sum(free) - (n - j - 1))
            gpus = 1 << (max(1, room).bit_length() - 1)
            free[pi] -= gpus
            out.append(self._make_workload(rng, j, wt, prov, gpus, vram, n_tenants))
        # Only a fleet too small for one GPU per workload gets here with free < 0: the
        # hosts then time-slice, so each job gets a proportional share of the compute.
        for i, left in enumerate(free):
            if left < 0:
                share = self._providers[i].gpu_count / (self._providers[i].gpu_count - left)
                out = [
                    replace(w, capacity=w.capacity * share) if w.provider_index == i else w
                    for w in out
                ]
        return out

    def _make_workload(
        self,
        rng: np.random.Generator,
        j: int,
        wt: WorkloadType,
        prov: ProviderProfile,
        gpus: int,
        vram: float,
        n_tenants: int,
    ) -> WorkloadProfile:
        gpu = prov.gpu
        # Data-parallel scaling is sub-linear (communication overhead).
        capacity = gpu.throughput_per_gpu(wt) * gpus**0.92 * prov.perf_factor
        compute_latency = 40.0 / math.sqrt(gpu.relative_throughput(wt))
        allowed_models: tuple[str, ...] = ()
        if rng.random() < 0.3:
            allowed_models = tuple(sorted(m.name for m in GPU_MODELS.values() if m.vram_gb >= vram))
        allowed_regions: tuple[str, ...] = ()
        if rng.random() < 0.2:
            allowed_regions = (prov.region.name,)
        max_price = None
        if rng.random() < 0.5:
            max_price = round(prov.price_usd_per_gpu_hour * float(rng.uniform(1.15, 2.0)), 2)
        if wt is WorkloadType.INFERENCE:
            # Demand, not capacity, drives serving throughput, so the SLA is on latency:
            # met at the daily peak with margin, broken by a multi-x RTT increase.
            p95_budget = 1.3 * (compute_latency * 1.9 + prov.base_rtt_ms) + 10.0
            sla = SLA(
                min_throughput=None, max_p95_latency_ms=round(p95_budget, 1), min_availability=0.995
            )
        else:
            nominal = _NOMINAL_UTIL[wt][0] / 100.0
            sla = SLA(min_throughput=round(0.7 * capacity * nominal, 3), max_p95_latency_ms=None)
        spec = WorkloadSpec(
            tenant_id=f"{self.id_prefix}tenant-{int(rng.integers(n_tenants)):02d}",
            workload_type=wt,
            gpus=gpus,
            vram_gb_per_gpu=vram,
            allowed_gpu_models=allowed_models,
            allowed_regions=allowed_regions,
            max_price_usd_per_gpu_hour=max_price,
            sla=sla,
        )
        return WorkloadProfile(
            workload_id=f"{self.id_prefix}wl-{j:04d}",
            index=j,
            provider_id=prov.provider_id,
            provider_index=prov.index,
            spec=spec,
            capacity=capacity,
            compute_latency_ms=compute_latency,
            mem_fill=float(rng.uniform(0.8, 0.97)),
            tokens_per_request=float(rng.uniform(150.0, 600.0)),
        )

    # ------------------------------------------------------------------ views
    @property
    def provider_profiles(self) -> list[ProviderProfile]:
        """Static provider descriptions, in provider-index order."""
        return list(self._providers)

    @property
    def workload_profiles(self) -> list[WorkloadProfile]:
        """Static workload descriptions and placements, in workload-index order."""
        return list(self._workloads)

    @property
    def providers(self) -> list[ProviderInfo]:
        """Catalog entries of the fleet at the template time (2000-01-01, normal prices).

        :meth:`provider_info` gives them at any other time.
        """
        return [self.provider_info(p, _TEMPLATE_TS_MS) for p in self._providers]

    @property
    def workload_faults(self) -> list[WorkloadFault]:
        """Ground truth: the injected workload faults."""
        return list(self._faults)

    @property
    def incidents(self) -> list[Incident]:
        """Ground truth: every incident of the latest :meth:`records` call.

        Before the first call this holds only the explicit incidents.
        """
        return list(self._incidents)

    def provider_id(self, index: int) -> str:
        """Id of the provider with index ``index`` (raises IndexError when out of range)."""
        if not 0 <= index < len(self._providers):
            raise IndexError(f"provider index {index} out of range 0..{len(self._providers) - 1}")
        return self._providers[index].provider_id

    def provider_info(
        self, provider: ProviderProfile, ts_ms: int, price_factor: float = 1.0
    ) -> ProviderInfo:
        """Catalog record of ``provider`` at ``ts_ms`` with its price scaled by ``price_factor``."""
        return ProviderInfo(
            provider_id=provider.provider_id,
            ts_ms=ts_ms,
            region=provider.region.name,
            gpu_model=provider.gpu.name,
            gpu_count=provider.gpu_count,
            vram_gb_per_gpu=provider.gpu.vram_gb,
            price_usd_per_gpu_hour=round(provider.price_usd_per_gpu_hour * price_factor, 4),
            status=ProviderStatus.ONLINE,
            reputation=provider.reputation,
        )

    def incidents_between(self, start_ms: int, end_ms: int | None) -> list[Incident]:
        """Explicit incidents plus the random ones drawn for a run over ``[start_ms, end_ms)``.

        Pure: does not change :attr:`incidents`.
        """
        horizon_end = end_ms if end_ms is not None else start_ms + self.random_incident_horizon_ms
        drawn = random_incidents(
            np.random.default_rng([self.seed, 3]),
            [p.provider_id for p in self._providers],
            self.random_incidents,
            start_ms,
            horizon_end,
            existing=self._explicit,
        )
        return sorted([*self._explicit, *drawn], key=lambda i: (i.start_ms, i.provider_id))

    # ------------------------------------------------------------------ records
    def records(self, start_ms: int, end_ms: int | None = None) -> Iterator[SimRecord]:
        """Generate the run's records over ``[start_ms, end_ms)`` in event-time order.

        First the catalog (one ``ProviderInfo`` per provider) and the lifecycle events
        (``submitted`` then ``started`` per workload), all at ``start_ms``; then, at
        ``start_ms + k * interval_ms`` for ``k = 0, 1, ...``, one ``ProviderSample`` per
        online provider followed by one ``WorkloadSample`` per workload of an online
        provider. Price-spike catalog updates appear at their own times. With
        ``end_ms=None`` the iterator never ends.

        Random incidents are drawn here (see :meth:`incidents_between`) and exposed by
        :attr:`incidents` as soon as this method returns.

        Examples
        --------
        >>> sim = MarketplaceSim(seed=5, providers=2, workloads=2)
        >>> recs = list(sim.records(1_700_000_000_000, 1_700_000_003_000))
        >>> [r.record.seq for r in recs if r.key == "prov-000" and r.topic.startswith("tele")]
        [0, 1, 2]
        """
        if not TS_MIN_MS <= start_ms <= TS_MAX_MS:
            raise ValueError(f"start_ms {start_ms} outside the schema's time range")
        if end_ms is not None and not start_ms <= end_ms <= TS_MAX_MS:
            raise ValueError(f"end_ms {end_ms} must be in [start_ms, 2100-01-01]")
        incidents = self.incidents_between(start_ms, end_ms)
        self._incidents = incidents
        return self._generate(start_ms, end_ms, incidents)

    def _generate(
        self, start_ms: int, end_ms: int | None, incidents: list[Incident]
    ) -> Iterator[SimRecord]:
        providers = self._providers
        workloads = self._workloads
        interval = self.interval_ms
        by_provider: list[list[Incident]] = [[] for _ in providers]
        index = {p.provider_id: p.index for p in providers}
        for inc in incidents:
            by_provider[index[inc.provider_id]].append(inc)

        def fx_at(pi: int, ts: int) -> Effects:
            return effects_at(by_provider[pi], ts) if by_provider[pi] else NO_EFFECTS

        # Catalog updates of price spikes (start and end) strictly after the run start;
        # the initial catalog already shows a spike in progress at start_ms.
        updates: list[tuple[int, int]] = sorted(
            (ts, index[inc.provider_id])
            for inc in incidents
            if inc.kind is IncidentKind.PRICE_SPIKE
            for ts in (inc.start_ms, inc.end_ms)
            if start_ms < ts and (end_ms is None or ts < end_ms)
        )
        for p in providers:
            info = self.provider_info(p, start_ms, fx_at(p.index, start_ms).price_factor)
            yield SimRecord(TOPIC_CATALOG, p.provider_id, info)
        for w in workloads:
            yield SimRecord(
                TOPIC_LIFECYCLE,
                w.workload_id,
                WorkloadEvent(
                    workload_id=w.workload_id,
                    ts_ms=start_ms,
                    kind=WorkloadEventKind.SUBMITTED,
                    spec=w.spec,
                ),
            )
            yield SimRecord(
                TOPIC_LIFECYCLE,
                w.workload_id,
                WorkloadEvent(
                    workload_id=w.workload_id,
                    ts_ms=start_ms,
                    kind=WorkloadEventKind.STARTED,
                    provider_id=w.provider_id,
                    reason="placed by simulator",
                ),
            )

        p_noise = [_Noise(np.random.default_rng([self.seed, 1, i])) for i in range(len(providers))]
        w_noise = [_Noise(np.random.default_rng([self.seed, 2, j])) for j in range(len(workloads))]
        # Host metrics draw from streams of their own: every older field stays identical.
        h_noise = [_Noise(np.random.default_rng([self.seed, 4, j])) for j in range(len(workloads))]
        faults_of: list[list[WorkloadFault]] = [[] for _ in workloads]
        w_index = {w.workload_id: w.index for w in workloads}
        for injected in self._faults:
            faults_of[w_index[injected.workload_id]].append(injected)
        p_seq = [0] * len(providers)
        w_seq = [0] * len(workloads)
        temps: list[float | None] = [None] * len(providers)
        ar = [0.0] * len(workloads)
        on_provider: list[list[WorkloadProfile]] = [[] for _ in providers]
        for w in workloads:
            on_provider[w.provider_index].append(w)
        alpha = 1.0 - math.exp(-interval / _THERMAL_TAU_MS)
        u_next = 0
        k = 0
        while True:
            ts = start_ms + k * interval
            if end_ms is not None and ts >= end_ms:
                break
            if ts > TS_MAX_MS:
                return
            while u_next < len(updates) and updates[u_next][0] <= ts:
                uts, pi = updates[u_next]
                info = self.provider_info(providers[pi], uts, fx_at(pi, uts).price_factor)
                yield SimRecord(TOPIC_CATALOG, providers[pi].provider_id, info)
                u_next += 1
            fxs = [fx_at(i, ts) for i in range(len(providers))]
            w_out: list[SimRecord] = []
            util_sum = [0.0] * len(providers)
            for w in workloads:
                j = w.index
                fx = fxs[w.provider_index]
                z, u = w_noise[j].next()
                hz, _ = h_noise[j].next()
                fault = next((f for f in faults_of[j] if f.active(ts)), None)
                ar[j] = _AR_PHI * ar[j] + math.sqrt(1.0 - _AR_PHI**2) * z[0]
                sample, util = self._workload_sample(
                    w, ts, fx, ar[j], z, u, w_seq[j], fault=fault, hz=hz
                )
                util_sum[w.provider_index] += util * w.gpus
                if sample is not None:
                    w_out.append(SimRecord(TOPIC_WORKLOAD, w.workload_id, sample))
                    w_seq[j] += 1
            for p in providers:
                i = p.index
                z, u = p_noise[i].next()
                fx = fxs[i]
                sample_p, temps[i] = self._provider_sample(
                    p, ts, fx, util_sum[i], on_provider[i], temps[i], alpha, z, u, p_seq[i]
                )
                if sample_p is not None:
                    yield SimRecord(TOPIC_PROVIDER, p.provider_id, sample_p)
                    p_seq[i] += 1
            yield from w_out
            k += 1
        # Catalog updates between the last interval and end_ms.
        for uts, pi in updates[u_next:]:
            info = self.provider_info(providers[pi], uts, fx_at(pi, uts).price_factor)
            yield SimRecord(TOPIC_CATALOG, providers[pi].provider_id, info)

    def _workload_sample(
        self,
        w: WorkloadProfile,
        ts: int,
        fx: Effects,
        ar: float,
        z: list[float],
        u: list[float],
        seq: int,
        *,
        fault: WorkloadFault | None = None,
        hz: Sequence[float] = (0.0, 0.0, 0.0),
    ) -> tuple[WorkloadSample | None, float]:
        """One workload sample (None while its provider is down) and its GPU utilisation."""
        prov = self._providers[w.provider_index]
        wt = w.workload_type
        interval_s = self.interval_ms / 1000.0
        if fx.offline:
            return None, 0.0
        load = 1.0
        if wt is WorkloadType.INFERENCE:
            # Demand follows the provider region's day: low at night, peak mid-afternoon.
            hour = (ts / _HOUR_MS + prov.region.utc_offset_h) % 24.0
            diurnal = _INFERENCE_MEAN_LOAD + 0.2 * math.sin(2.0 * math.pi * (hour - 10.0) / 24.0)
            load = _clip(diurnal + 0.06 * ar, 0.1, 0.95)
            util = 15.0 + 75.0 * load + 1.5 * z[1]
        else:
            mean, sd = _NOMINAL_UTIL[wt]
            util = mean + sd * ar + 0.5 * z[1]
        util = _clip(util + fx.util_jitter_pct * z[2], 0.0, 100.0)
        factor = fx.clock_factor * fx.throughput_factor
        if fault is not None:
            util *= fault.util_factor
            factor *= fault.throughput_factor
            if wt is WorkloadType.INFERENCE:  # its throughput follows demand, not util
                factor *= fault.util_factor
        if wt in (WorkloadType.TRAINING, WorkloadType.FINE_TUNING):
            factor *= fx.sync_factor
        if wt is WorkloadType.INFERENCE:
            throughput = w.capacity * load * factor
        else:
            throughput = w.capacity * (util / 100.0) * factor
        throughput = max(1e-6, throughput * math.exp(0.03 * z[3]))
        latency = step_time = None
        requests = 0
        if wt is WorkloadType.INFERENCE:
            compute = w.compute_latency_ms * (1.0 + load * load) * fx.latency_factor
            compute = compute / fx.clock_factor * math.exp(0.08 * z[4])
            rtt = prov.base_rtt_ms * fx.rtt_factor + abs(z[5]) * 2.0 * fx.rtt_factor
            latency = round(compute + rtt, 3)
            requests = round(throughput * interval_s / w.tokens_per_request)
            err_rate = 0.0005 * (
                1.0 + 2.5 * (fx.rtt_factor - 1.0) + 5.0 * (fx.latency_factor - 1.0)
            )
            lam = requests * err_rate
        else:
            work = _WORK_PER_STEP_PER_GPU[wt] * w.gpus
            step_time = round(1000.0 * work / throughput, 3)
            lam = 0.001 + 0.5 * fx.extra_errors
        if fx.mem_fill > 0.95:  # GPUs nearly full: allocations start failing (OOM)
            lam += 2.0
        cpu, mem_bw, io_wait = host_metrics(wt, util, fx, fault, hz)
        sample = WorkloadSample(
            workload_id=w.workload_id,
            ts_ms=ts,
            seq=seq,
            provider_id=w.provider_id,
            tenant_id=w.spec.tenant_id,
            workload_type=wt,
            throughput=round(throughput, 3),
            throughput_unit=THROUGHPUT_UNITS[wt],
            latency_ms=latency,
            step_time_ms=step_time,
            gpu_util_pct=round(util, 2),
            requests=requests,
            errors=_poisson(lam, u[0]),
            cost_accrued_usd=round(
                prov.price_usd_per_gpu_hour
                * fx.price_factor
                * w.gpus
                * self.interval_ms
                / _HOUR_MS,
                8,
            ),
            cpu_util_pct=cpu,
            mem_bw_util_pct=mem_bw,
            io_wait_pct=io_wait,
        )
        return sample, util

    def _provider_sample(
        self,
        p: ProviderProfile,
        ts: int,
        fx: Effects,
        util_sum: float,
        hosted: list[WorkloadProfile],
        temp: float | None,
        alpha: float,
        z: list[float],
        u: list[float],
        seq: int,
    ) -> tuple[ProviderSample | None, float]:
        """One provider sample (None while offline) and the updated GPU temperature."""
        gpu = p.gpu
        util = _clip(util_sum / p.gpu_count + 0.8 * z[0] + fx.util_jitter_pct * z[1], 0.0, 100.0)
        if fx.offline:
            target = _AMBIENT_C
        elif fx.temp_target_c is not None:
            target = fx.temp_target_c
        else:
            target = p.idle_temp_c + (p.load_temp_c - p.idle_temp_c) * util / 100.0
        temp = target if temp is None else temp + (target - temp) * alpha
        if fx.offline:
            return None, temp
        busy = min(p.gpu_count, sum(w.gpus for w in hosted))
        clock = gpu.idle_clock_mhz + (gpu.boost_clock_mhz - gpu.idle_clock_mhz) * min(
            1.0, util / 35.0
        )
        clock *= fx.clock_factor * (1.0 + 0.005 * z[3])
        # Dynamic power scales with clock (voltage drops too); idle power does not.
        power = p.gpu_count * (
            gpu.idle_w + (gpu.tdp_w - gpu.idle_w) * util / 100.0 * fx.clock_factor
        )
        power *= 1.0 + 0.02 * z[4]
        rtt = p.base_rtt_ms * fx.rtt_factor + abs(z[5]) * 1.5 * fx.rtt_factor
        bandwidth = p.bandwidth_gbps * fx.bandwidth_factor * (1.0 - 0.03 * abs(z[6]))
        total = p.mem_total_gb
        used = 0.4 * p.gpu_count + sum(
            w.spec.vram_gb_per_gpu * w.gpus * w.mem_fill for w in hosted
        ) * (1.0 + 0.01 * z[7])
        used = min(used, 0.98 * total)
        used += (0.995 * total - used) * max(0.0, fx.mem_fill)
        lam = 0.002 + fx.extra_errors + (1.0 if fx.mem_fill > 0.95 else 0.0)
        sample = ProviderSample(
            provider_id=p.provider_id,
            ts_ms=ts,
            seq=seq,
            gpu_util_pct=round(util, 2),
            gpu_mem_used_gb=round(_clip(used, 0.0, total), 3),
            gpu_mem_total_gb=total,
            gpu_temp_c=round(_clip(temp + 0.6 * z[2], -40.0, 150.0), 2),
            power_w=round(max(0.0, power), 1),
            sm_clock_mhz=round(max(0.0, clock), 1),
            net_rtt_ms=round(max(0.0, rtt), 3),
            net_bandwidth_gbps=round(max(0.0, bandwidth), 3),
            gpus_busy=busy,
            gpus_total=p.gpu_count,
            error_count=_poisson(lam, u[0]),
        )
        return sample, temp
