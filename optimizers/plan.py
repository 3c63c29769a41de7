"""The recommendation role's planning step, pure: snapshot in, proposals and reasons out.

:func:`plan_batch` is what the agent (:mod:`agents.recommendations`) runs in an executor:
turn a :class:`Snapshot` of the tables into a placement instance
(:mod:`optimizers.capacity`), estimate every feasible pair in one call (an
:data:`EstimatorFactory`: the GPU catalogue prior, or a saved
:class:`~models.prediction.PerformancePredictor`), solve with CP-SAT, build
``place`` proposals against cheapest-first, then ``migrate`` proposals for running
workloads on degraded or overpriced hosts (:func:`plan_migrations_of`). No Faust, no
clock: time comes in the snapshot.

>>> from schemas import ProviderInfo, WorkloadSpec
>>> info = ProviderInfo(provider_id="p1", ts_ms=10**12, region="us-east",
...     gpu_model="L4 24GB", gpu_count=4, vram_gb_per_gpu=24.0, price_usd_per_gpu_hour=0.5,
...     status="online")
>>> spec = WorkloadSpec(tenant_id="t", workload_type="inference", gpus=1, vram_gb_per_gpu=16.0)
>>> plan = plan_batch(Snapshot(10**12, {"p1": info}, {}, {"w1": spec}, {}),
...                   time_limit_s=0.5, ttl_ms=60_000)
>>> [(r.workload_id, r.provider_id, r.kind.value) for r in plan.proposals]
[('w1', 'p1', 'place')]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from optimizers.baselines import cheapest_first
from optimizers.capacity import ProviderHealth, pending_replicas, provider_capacities, replica_ids
from optimizers.migration import RunningWorkload, plan_migrations
from optimizers.placement import CpSatPlacer
from optimizers.problem import ObjectiveWeights, PendingWorkload, PlacementProblem, ProviderCapacity
from optimizers.recommend import (
    Estimate,
    Interval,
    migration_recommendations,
    placement_recommendations,
)
from optimizers.reliability import HostRecord
from optimizers.result import Unplaced
from schemas import SLA, ProviderInfo, ProviderStatus, Recommendation, WorkloadSpec
from schemas.gpus import BASE_THROUGHPUT_PER_GPU

__all__ = [
    "PRIOR_SPREAD",
    "BatchPlan",
    "EstimateMany",
    "EstimatorFactory",
    "Snapshot",
    "estimate_feasible",
    "health_factor",
    "model_estimator",
    "placement_instance",
    "plan_batch",
    "plan_migrations_of",
    "prior_estimator",
    "score_options",
    "with_hosts",
]

#: A host whose observed factor (:class:`HostRecord`) is below this counts as degraded.
UNDER_DELIVERING = 0.85

#: Relative half-width of the prior's interval (the prior knows the GPU, not the host).
PRIOR_SPREAD = 1.5

Pair = tuple[PendingWorkload, ProviderCapacity]
#: Estimates of many (workload, provider) pairs at once (one model call, not one per pair).
EstimateMany = Callable[[Sequence[Pair]], list[Interval]]
#: Builds an :data:`EstimateMany` for one batch from the replicas' specs and the snapshot.
EstimatorFactory = Callable[[Mapping[str, WorkloadSpec], "Snapshot"], EstimateMany]


@dataclass
class Snapshot:
    """Everything one solve needs, copied from the tables on the event loop."""

    now_ms: int
    catalog: dict[str, ProviderInfo]
    health: dict[str, ProviderHealth]
    pending: dict[str, WorkloadSpec]
    running: dict[str, tuple[str, WorkloadSpec]]  # workload id -> (provider id, spec)
    # What was observed of each host (measured vs listed speed, reliability); none: face value.
    hosts: dict[str, HostRecord] = field(default_factory=dict)
    # What a host not in ``hosts`` is taken for (the fleet's observed error; default: none).
    unseen_host: HostRecord = field(default_factory=HostRecord)
    # Measured / estimated throughput per "<gpu model>/<workload type>" (none: 1).
    cohort_ratio: dict[str, float] = field(default_factory=dict)

    @property
    def running_gpus(self) -> dict[str, int]:
        """GPUs held per provider by the workloads known to run there."""
        gpus: dict[str, int] = {}
        for pid, spec in self.running.values():
            gpus[pid] = gpus.get(pid, 0) + spec.gpus * spec.replicas
        return gpus


@dataclass
class BatchPlan:
    """What one solve proposes, and what it could not place."""

    proposals: list[Recommendation]
    unplaced: list[Unplaced]
    migrations: list[Recommendation] = field(default_factory=list)
    running: frozenset[str] = frozenset()
    status: str = ""
    wall_time_s: float = 0.0
    workloads: int = 0
    providers: int = 0
    notes: tuple[str, ...] = field(default=())


def prior_estimator(spec_by_id: Mapping[str, WorkloadSpec], snapshot: Snapshot) -> EstimateMany:
    """Estimates from the GPU catalogue prior, in the workload type's throughput unit
    (relative speed x the A100 80GB's throughput per GPU x ``gpus ** 0.92``), so they
    compare with SLAs and with a saved model's estimates."""
    from models.prediction_features import default_feature_spec

    prior = default_feature_spec().gpu_prior

    def estimate(pairs: Sequence[Pair]) -> list[Interval]:
        out: list[Interval] = []
        for w, p in pairs:
            kind = spec_by_id[w.workload_id].workload_type
            relative = prior.get(p.gpu_model, {}).get(kind.value, 0.0)
            value = relative * BASE_THROUGHPUT_PER_GPU[kind] * w.gpus**0.92
            out.append(Estimate(value, value / PRIOR_SPREAD, value * PRIOR_SPREAD))
        return out

    return estimate


def model_estimator(path: Path) -> EstimatorFactory:
    """Estimates from a saved throughput :class:`~models.prediction.PerformancePredictor`.

    Features come from the catalogue entry of each provider (GPU model, count, VRAM,
    region) and the workload's spec, at the snapshot's time; all pairs of a batch go
    through the model in one call (:meth:`~models.prediction.PerformancePredictor.predict_many`).
    """
    from models.prediction import PerformancePredictor
    from models.prediction_features import featurize

    model = PerformancePredictor.load(path, expected_target="throughput")

    def factory(spec_by_id: Mapping[str, WorkloadSpec], snapshot: Snapshot) -> EstimateMany:
        def estimate(pairs: Sequence[Pair]) -> list[Interval]:
            rows, keys, groups = [], [], []
            for w, p in pairs:
                kind = spec_by_id[w.workload_id].workload_type.value
                info = snapshot.catalog.get(p.provider_id)
                rows.append(
                    featurize(
                        model.spec, kind, w.gpus, w.vram_gb_per_gpu, info, None, snapshot.now_ms
                    )
                )
                keys.append(p.provider_id)
                groups.append(kind)
            x = np.asarray(rows, dtype=np.float64).reshape(len(rows), len(model.spec.feature_names))
            return list(model.predict_many(x, keys, groups))

        return estimate

    return factory


def with_hosts(estimator: EstimatorFactory) -> EstimatorFactory:
    """``estimator`` corrected by what was observed: each estimate (value and interval)
    times its cohort's ratio (GPU model and workload type, :attr:`Snapshot.cohort_ratio`)
    and the host's measured / expected throughput ratio (:class:`HostRecord`): a listing
    that over-states its hardware is worth less than its GPU model says.
    """

    def factory(spec_by_id: Mapping[str, WorkloadSpec], snapshot: Snapshot) -> EstimateMany:
        inner = estimator(spec_by_id, snapshot)
        if (
            not snapshot.hosts
            and not snapshot.cohort_ratio
            and snapshot.unseen_host == HostRecord()
        ):
            return inner

        def estimate(pairs: Sequence[Pair]) -> list[Interval]:
            out: list[Interval] = []
            for (w, p), est in zip(pairs, inner(pairs), strict=True):
                kind = spec_by_id[w.workload_id].workload_type.value
                f = snapshot.cohort_ratio.get(f"{p.gpu_model}/{kind}", 1.0)
                f *= snapshot.hosts.get(p.provider_id, snapshot.unseen_host).throughput_ratio
                out.append(Estimate(est.value * f, est.low * f, est.high * f))
            return out

        return estimate

    return factory


def placement_instance(
    snapshot: Snapshot,
) -> tuple[tuple[ProviderCapacity, ...], tuple[PendingWorkload, ...], dict[str, WorkloadSpec]]:
    """Providers with room, pending replicas (by workload id) and each replica's spec.

    The one place a snapshot becomes a placement instance: the planner and the closed
    loop's reference arms all build on it.
    """
    providers = provider_capacities(snapshot.catalog, snapshot.health, snapshot.running_gpus)
    pending = sorted(snapshot.pending.items())
    workloads = pending_replicas(pending)
    spec_by_id = {rid: spec for wid, spec in pending for rid in replica_ids(wid, spec.replicas)}
    return providers, workloads, spec_by_id


#: Perf per dollar, placements scored: an option predicted below the workload's SLA
#: throughput counts at this share of its perf per dollar (steers away, still places).
SLA_PENALTY = 0.2
#: The solver maximises the score (perf per dollar, cost already inside) + a placement bonus.
PLAN_WEIGHTS = ObjectiveWeights(perf=1.0, cost=0.0, place=2.0)


def score_options(
    problem: PlacementProblem,
    matrix: np.ndarray,
    slas: Mapping[str, SLA],
    reliability: np.ndarray | None = None,
) -> np.ndarray:
    """Predicted perf per dollar of each option, the SLA as a penalty (see :data:`SLA_PENALTY`),
    times each provider's reliability (the share of the time a job is expected to keep
    running there: an interrupted job pays for work it loses).

    >>> p = PlacementProblem((ProviderCapacity("a", "r", "g", 1, 80.0, 2.0),),
    ...     (PendingWorkload("w", "t", 1, 8.0),), [[4.0]])
    >>> score_options(p, np.array([[4.0]]), {"w": SLA(min_throughput=5.0)}).tolist()
    [[0.4]]
    """
    sla = np.array(
        [(slas.get(w.workload_id) or SLA()).min_throughput or 0.0 for w in problem.workloads]
    )[:, None]
    gpus = np.array([w.gpus for w in problem.workloads], dtype=np.float64)[:, None]
    cost = gpus * problem.columns.price_usd_per_gpu_hour[None, :]
    ppd = matrix / np.maximum(cost, 1e-9)
    if reliability is not None:
        ppd = ppd * reliability[None, :]
    scored: np.ndarray = np.where(matrix >= sla, ppd, ppd * SLA_PENALTY)
    return scored


def estimate_feasible(
    estimate: EstimateMany,
    workloads: tuple[PendingWorkload, ...],
    providers: tuple[ProviderCapacity, ...],
) -> tuple[np.ndarray, dict[tuple[str, str], Interval]]:
    """Estimates of every feasible pair with room, as a matrix and by ``(workload, provider)``.

    Infeasible pairs are never estimated (0 in the matrix): the solver never uses them.
    """
    shell = PlacementProblem(providers, workloads, np.zeros((len(workloads), len(providers))))
    free = shell.columns.free_gpus
    pairs = [
        (i, int(j))
        for i, w in enumerate(workloads)
        for j in np.flatnonzero(shell.feasible_mask(i) & (free >= w.gpus))
    ]
    found = estimate([(workloads[i], providers[j]) for i, j in pairs])
    matrix = np.zeros((len(workloads), len(providers)), dtype=np.float64)
    table: dict[tuple[str, str], Interval] = {}
    for (i, j), est in zip(pairs, found, strict=True):
        matrix[i, j] = est.value
        table[(workloads[i].workload_id, providers[j].provider_id)] = est
    return matrix, table


def _lookup(
    table: dict[tuple[str, str], Interval], estimate: EstimateMany
) -> Callable[[PendingWorkload, ProviderCapacity], Interval]:
    def one(w: PendingWorkload, p: ProviderCapacity) -> Interval:
        found = table.get((w.workload_id, p.provider_id))
        return found if found is not None else estimate([(w, p)])[0]

    return one


def health_factor(info: ProviderInfo, health: ProviderHealth | None) -> float:
    """Share of its healthy throughput a provider delivers now (a simple, stated rule).

    Offline or in maintenance: 0; otherwise the availability of its last window (1 when
    unknown), halved when the catalogue says ``degraded``.

    >>> from schemas import ProviderInfo
    >>> info = ProviderInfo(provider_id="p", ts_ms=10**12, region="r", gpu_model="g",
    ...     gpu_count=1, vram_gb_per_gpu=8.0, price_usd_per_gpu_hour=1.0, status="degraded")
    >>> health_factor(info, ProviderHealth(availability=0.8))
    0.4
    """
    if info.status in (ProviderStatus.OFFLINE, ProviderStatus.MAINTENANCE):
        return 0.0
    factor = 1.0
    if health is not None and health.availability is not None:
        factor = health.availability
    if info.status is ProviderStatus.DEGRADED:
        factor *= 0.5
    return factor


def plan_migrations_of(
    snapshot: Snapshot,
    targets: tuple[ProviderCapacity, ...],
    estimator: EstimatorFactory,
    *,
    ttl_ms: int,
    horizon_h: float,
    downtime_s: float,
) -> list[Recommendation]:
    """``migrate`` proposals for running workloads whose move pays (single replicas only).

    A workload's current throughput is its healthy estimate on its provider times
    :func:`health_factor`; a unit of throughput is worth what it costs there when
    healthy, so an offline or degraded provider, or a price rise, makes moving pay.
    """
    cheapest: dict[str, float] = {}
    for info in snapshot.catalog.values():
        if info.status is ProviderStatus.ONLINE:
            model, price = info.gpu_model, info.price_usd_per_gpu_hour
            cheapest[model] = min(cheapest.get(model, price), price)
    running = {}
    for wid, (pid, spec) in sorted(snapshot.running.items()):
        home = snapshot.catalog.get(pid)
        if spec.replicas != 1 or home is None:
            continue
        # Only degraded, under-delivering or overpriced hosts are looked at: a move off a
        # healthy host at
        # its GPU model's best price is rebalancing, which placement does for new work.
        unhealthy = (
            health_factor(home, snapshot.health.get(pid)) < 1.0
            or snapshot.hosts.get(pid, snapshot.unseen_host).factor < UNDER_DELIVERING
        )
        overpriced = home.price_usd_per_gpu_hour > cheapest.get(home.gpu_model, math.inf)
        if unhealthy or overpriced:
            running[wid] = (pid, spec)
    if not running:
        return []
    specs = {wid: spec for wid, (_pid, spec) in running.items()}
    estimate = with_hosts(estimator)(specs, snapshot)
    homes = []
    for wid, (pid, spec) in running.items():
        info = snapshot.catalog[pid]
        (w,) = pending_replicas([(wid, spec)])
        homes.append(
            (
                w,
                ProviderCapacity(
                    pid,
                    info.region,
                    info.gpu_model,
                    0,
                    info.vram_gb_per_gpu,
                    info.price_usd_per_gpu_hour,
                    info.reputation,
                ),
            )
        )
    healthy_here = estimate(homes)
    mover_specs = tuple(w for w, _ in homes)
    _matrix, table = estimate_feasible(estimate, mover_specs, targets)
    lookup = _lookup(table, estimate)
    movers = []
    for (w, here), healthy_est in zip(homes, healthy_here, strict=True):
        info = snapshot.catalog[here.provider_id]
        pid = here.provider_id
        spec = specs[w.workload_id]
        healthy = float(healthy_est.value)
        cost_now = info.price_usd_per_gpu_hour * spec.gpus
        movers.append(
            RunningWorkload(
                w,
                pid,
                healthy * health_factor(info, snapshot.health.get(pid)),
                downtime_s=downtime_s,
                value_usd_per_unit_hour=cost_now / healthy if healthy > 0 else 0.0,
            )
        )
    current = tuple(
        ProviderCapacity(
            pid,
            i.region,
            i.gpu_model,
            0,
            i.vram_gb_per_gpu,
            i.price_usd_per_gpu_hour,
            i.reputation,
        )
        for pid, i in snapshot.catalog.items()
        if pid not in {t.provider_id for t in targets}
    )
    decisions = plan_migrations(
        movers, targets + current, lambda w, p: float(lookup(w, p).value), horizon_h=horizon_h
    )
    by_target = {p.provider_id: p for p in targets}
    estimates = {
        d.workload_id: lookup(m.spec, by_target[d.to_provider_id])
        for d, m in zip(decisions, movers, strict=True)
        if d.move and d.to_provider_id is not None
    }
    slas = {wid: spec.sla for wid, spec in specs.items()}
    return migration_recommendations(
        decisions,
        estimates,
        now_ms=snapshot.now_ms,
        ttl_ms=ttl_ms,
        horizon_h=horizon_h,
        slas=slas,
    )


def plan_batch(
    snapshot: Snapshot,
    *,
    time_limit_s: float,
    ttl_ms: int,
    seed: int = 0,
    estimator: EstimatorFactory = prior_estimator,
    migration_horizon_h: float = 4.0,
    migration_downtime_s: float = 300.0,
    num_workers: int = 2,
    deterministic: bool = False,
) -> BatchPlan:
    """Place the snapshot's pending workloads; build proposals and unplaced reasons; then
    propose migrations of running workloads onto the GPUs the placements leave free.

    Estimates are corrected by the snapshot's host records (:func:`with_hosts`); CP-SAT
    maximises predicted perf per dollar with the SLA as a penalty (:func:`score_options`).
    Pure and blocking: the agent runs it in an executor; the closed loop
    (:mod:`evaluation.schedulers`) calls it as it is.
    """
    providers, workloads, spec_by_id = placement_instance(snapshot)

    def migrations(targets: tuple[ProviderCapacity, ...]) -> list[Recommendation]:
        return plan_migrations_of(
            snapshot,
            targets,
            estimator,
            ttl_ms=ttl_ms,
            horizon_h=migration_horizon_h,
            downtime_s=migration_downtime_s,
        )

    if not workloads:
        return BatchPlan(
            proposals=[],
            unplaced=[],
            migrations=migrations(providers),
            providers=len(providers),
            running=frozenset(snapshot.running),
        )
    estimate = with_hosts(estimator)(spec_by_id, snapshot)
    matrix, table = estimate_feasible(estimate, workloads, providers)
    slas: dict[str, SLA] = {rid: spec.sla for rid, spec in spec_by_id.items()}
    shell = PlacementProblem(providers, workloads, matrix)
    reliability = np.array(
        [snapshot.hosts.get(p.provider_id, snapshot.unseen_host).reliability for p in providers]
    )
    problem = PlacementProblem(
        providers, workloads, score_options(shell, matrix, slas, reliability), weights=PLAN_WEIGHTS
    )
    placer = CpSatPlacer(
        time_limit_s=time_limit_s,
        seed=seed,
        num_workers=num_workers,
        deterministic=deterministic,
    )
    result = placer.solve(problem)
    baseline = cheapest_first(problem).assignments
    proposals = placement_recommendations(
        shell,
        result.assignments,
        baseline,
        _lookup(table, estimate),
        now_ms=snapshot.now_ms,
        ttl_ms=ttl_ms,
        slas=slas,
    )
    taken: dict[str, int] = {}
    for w in workloads:
        pid = result.assignments.get(w.workload_id)
        if pid is not None:
            taken[pid] = taken.get(pid, 0) + w.gpus
    left = tuple(
        dataclasses.replace(p, free_gpus=p.free_gpus - taken.get(p.provider_id, 0))
        for p in providers
    )
    return BatchPlan(
        proposals=proposals,
        unplaced=list(result.unplaced),
        migrations=migrations(left),
        running=frozenset(snapshot.running),
        status=result.status,
        wall_time_s=result.wall_time_s,
        workloads=len(workloads),
        providers=len(providers),
        notes=result.notes,
    )
