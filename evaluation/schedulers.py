"""The arms of the closed-loop comparison.

:class:`EngineScheduler` is computeperf in the loop, and exactly the shipped engine: every
tick it turns the marketplace view into the live role's :class:`~optimizers.plan.Snapshot`
and calls :func:`optimizers.plan.plan_batch` (the same problem builder, CP-SAT placement,
migration rule and estimator as ``agents/recommendations.py``), with the host records its
:class:`~optimizers.reliability.HostLedger` learned from what it observed (measured vs
listed throughput, heartbeat gaps, interrupted jobs); every proposal goes through
:class:`workflow.approver.Approver` (policies, rate limits); applied actions are validated
(:mod:`workflow.validation`) and a policy whose actions under-deliver is demoted.

The others are what it is measured against:

* :class:`CheapestFirstScheduler`: what marketplaces do today (lowest price that fits);
* :class:`GreedyBestFitScheduler`: best listed value first (catalogue speed, default
  objective), biggest workloads first: a good heuristic with no learning;
* :class:`BestValueOracle`: best *true* perf per dollar now (no scheduler knows it);
* :class:`HindsightOracle`: knows every host's true speed and every outage of the whole
  day; puts each workload where its SLA is met for the rest of its life if capacity
  allows, best true perf per dollar (counting the time the host will be down) first.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import numpy as np

from optimizers.baselines import cheapest_first, greedy_assignments, place_sequentially
from optimizers.capacity import pending_replicas
from optimizers.plan import (
    BatchPlan,
    EstimatorFactory,
    Snapshot,
    estimate_feasible,
    placement_instance,
    plan_batch,
    prior_estimator,
)
from optimizers.problem import PlacementProblem, ProviderCapacity
from optimizers.reliability import HostLedger, HostRecord
from schemas import (
    SLA,
    ProviderInfo,
    ProviderStatus,
    Recommendation,
    RecommendationStatus,
    WorkloadSpec,
    WorkloadType,
)
from sim.incidents import IncidentKind
from sim.market_day import DayWorkload, MarketDay, a100_equivalent, realised_throughput
from sim.market_state import Action, MarketView
from sim.marketplace import ProviderProfile
from workflow.approver import Approver
from workflow.policy import PolicyBook
from workflow.transitions import transition
from workflow.validation import Accuracy, AppliedAction, Outcome, OutcomeTracker, PolicyDemoter

__all__ = [
    "BestValueOracle",
    "CheapestFirstScheduler",
    "EngineConfig",
    "EngineScheduler",
    "GreedyBestFitScheduler",
    "HindsightOracle",
    "snapshot_of",
    "spec_of",
]


@cache
def spec_of(w: DayWorkload) -> WorkloadSpec:
    """The lifecycle record's spec of a day's workload (what the live role would read).

    >>> from sim.market_day import generate_day
    >>> spec_of(generate_day(seed=3, providers=8, hours=1).workloads[0]).replicas
    1
    """
    return WorkloadSpec(
        tenant_id=w.tenant_id,
        workload_type=w.workload_type,
        gpus=w.gpus,
        vram_gb_per_gpu=w.vram_gb_per_gpu,
        allowed_regions=w.allowed_regions,
        max_price_usd_per_gpu_hour=w.max_price_usd_per_gpu_hour,
        sla=SLA(min_throughput=w.sla_min_throughput),
    )


def snapshot_of(
    view: MarketView, ledger: HostLedger | None = None, max_pending: int = 0
) -> Snapshot:
    """The live role's snapshot of a market view: catalogue (status, current price),
    pending and running workloads, host records; at most ``max_pending`` (0: all) of the
    oldest waiting workloads, as the live role's ``reco_batch_max`` bounds a batch.
    """
    catalog = {
        pid: ProviderInfo(
            provider_id=pid,
            ts_ms=view.now_ms,
            region=p.region.name,
            gpu_model=p.gpu.name,
            gpu_count=p.gpu_count,
            vram_gb_per_gpu=p.gpu.vram_gb,
            price_usd_per_gpu_hour=view.price_usd_per_gpu_hour[pid],
            status=ProviderStatus.ONLINE if pid in view.online else ProviderStatus.OFFLINE,
            reputation=p.reputation,
        )
        for pid, p in sorted(view.providers.items())
    }
    waiting = sorted(view.pending, key=lambda w: (w.arrival_ms, w.index))
    if max_pending > 0:
        waiting = waiting[:max_pending]
    return Snapshot(
        now_ms=view.now_ms,
        catalog=catalog,
        health={},
        pending={w.workload_id: spec_of(w) for w in waiting},
        running={wid: (pl.provider_id, spec_of(w)) for wid, (w, pl) in view.running.items()},
        hosts=ledger.records() if ledger is not None else {},
        unseen_host=ledger.fleet_record() if ledger is not None else HostRecord(),
        cohort_ratio=ledger.cohort_ratios() if ledger is not None else {},
    )


def _instance(view: MarketView) -> tuple[PlacementProblem, np.ndarray]:
    """The placement instance of all waiting workloads (oldest first) with the catalogue
    prior's throughput (the estimate of a scheduler that learns nothing)."""
    snap = snapshot_of(view)
    providers, workloads, spec_by_id = placement_instance(snap)
    order = {w.workload_id: (w.arrival_ms, w.index) for w in view.pending}
    workloads = tuple(sorted(workloads, key=lambda w: order[w.workload_id]))
    matrix, _ = estimate_feasible(prior_estimator(spec_by_id, snap), workloads, providers)
    return PlacementProblem(providers, workloads, matrix), matrix


class _Unobservant:
    """Telemetry and feedback ignored, no extra figures: schedulers that learn nothing."""

    def observe_provider(self, provider_id: str, clock_factor: float, rtt_factor: float) -> None:
        """Provider telemetry (unused)."""

    def observe(
        self, workload: DayWorkload, provider: ProviderProfile, ts_ms: int, tput: float, cost: float
    ) -> None:
        """Workload telemetry (unused)."""

    def applied(self, action: Action, ts_ms: int, ok: bool, workload: DayWorkload) -> None:
        """The marketplace's feedback on an action (nothing to learn)."""

    def figures(self) -> dict[str, object]:
        """Extra figures of this arm (none)."""
        return {}


def _places(assignments: Mapping[str, str]) -> list[Action]:
    return [Action("place", wid, pid) for wid, pid in sorted(assignments.items())]


class CheapestFirstScheduler(_Unobservant):
    """Price-only scheduler: waiting workloads on the cheapest provider that fits.

    Examples
    --------
    >>> CheapestFirstScheduler().name
    'cheapest_first'
    """

    name = "cheapest_first"

    def decide(self, view: MarketView) -> list[Action]:
        """Placements of the waiting workloads for this tick."""
        if not view.pending:
            return []
        problem, _ = _instance(view)
        return _places(cheapest_first(problem).assignments)


class GreedyBestFitScheduler(_Unobservant):
    """Best listed value first: :func:`optimizers.baselines.greedy_best_fit` on the
    catalogue prior (listings taken at face value, nothing learned).

    Examples
    --------
    >>> GreedyBestFitScheduler().name
    'greedy_best_fit'
    """

    name = "greedy_best_fit"

    def decide(self, view: MarketView) -> list[Action]:
        """Placements of the waiting workloads for this tick."""
        if not view.pending:
            return []
        problem, _ = _instance(view)
        return _places(greedy_assignments(problem))


class BestValueOracle(_Unobservant):
    """A reference, not a scheduler: best value first with the simulator's ground truth.

    Every tick each waiting workload (oldest first) goes where its *true* throughput now
    (host factor and incident effects of ``day``, no noise) per dollar is highest, SLA
    ignored. No real scheduler knows this; the closed loop reports it to show how much
    perf per dollar placement alone can buy in a given market.

    Examples
    --------
    >>> from sim.market_day import generate_day
    >>> BestValueOracle(generate_day(seed=3, providers=8, hours=1)).name
    'best_value_oracle'
    """

    name = "best_value_oracle"

    def __init__(self, day: MarketDay) -> None:
        self.day = day

    def _true(self, view: MarketView, w: DayWorkload, p: ProviderCapacity) -> float:
        fx = self.day.effects(p.provider_id, view.now_ms)
        return realised_throughput(w, view.providers[p.provider_id], fx, 0.0)

    def decide(self, view: MarketView) -> list[Action]:
        """Placements of the waiting workloads on their best true value."""
        if not view.pending:
            return []
        problem, _ = _instance(view)
        by_id = {w.workload_id: w for w in view.pending}
        value = np.array(
            [
                [
                    a100_equivalent(
                        by_id[w.workload_id].workload_type,
                        self._true(view, by_id[w.workload_id], p),
                    )
                    / max(p.price_usd_per_gpu_hour * w.gpus, 1e-9)
                    for p in problem.providers
                ]
                for w in problem.workloads
            ],
            dtype=np.float64,
        ).reshape(len(problem.workloads), len(problem.providers))

        def best(i: int, allowed: np.ndarray) -> int:
            candidates = np.flatnonzero(allowed)
            return int(candidates[np.argmax(value[i, candidates])])

        return _places(place_sequentially(problem, range(len(problem.workloads)), best))


class HindsightOracle(BestValueOracle):
    """The upper reference: true speed of every host and every outage of the whole day.

    Each waiting workload (oldest first) goes, among the hosts with room, to one where its
    true throughput meets its SLA if any does, and among those to the best true perf
    per dollar over the rest of its life (throughput x the share of that time the host
    will be up, per dollar). Placement only: it never moves a running workload.

    Examples
    --------
    >>> from sim.market_day import generate_day
    >>> HindsightOracle(generate_day(seed=3, providers=8, hours=1)).name
    'hindsight_oracle'
    """

    name = "hindsight_oracle"

    def __init__(self, day: MarketDay) -> None:
        super().__init__(day)
        self._down: dict[str, list[tuple[int, int]]] = {}
        for inc in day.incidents:
            if inc.kind is IncidentKind.PROVIDER_OUTAGE:
                self._down.setdefault(inc.provider_id, []).append((inc.start_ms, inc.end_ms))
        for spans in self._down.values():
            spans.sort()

    def up_share(self, provider_id: str, start_ms: int, end_ms: int) -> float:
        """Share of ``[start_ms, end_ms)`` the host is up (known in hindsight only)."""
        if end_ms <= start_ms:
            return 1.0
        spans = self._down.get(provider_id, [])
        down, cursor = 0, start_ms
        for a, b in spans[: bisect.bisect_left(spans, (end_ms, end_ms))]:
            a, b = max(a, cursor), min(b, end_ms)
            if b > a:
                down += b - a
                cursor = b
        return 1.0 - down / (end_ms - start_ms)

    def decide(self, view: MarketView) -> list[Action]:
        """Placements of the waiting workloads with the day's hindsight."""
        if not view.pending:
            return []
        problem, _ = _instance(view)
        by_id = {w.workload_id: w for w in view.pending}
        rows = []
        for pw in problem.workloads:
            w = by_id[pw.workload_id]
            row = []
            for p in problem.providers:
                tput = self._true(view, w, p) * self.up_share(p.provider_id, view.now_ms, w.end_ms)
                ppd = a100_equivalent(w.workload_type, tput) / max(
                    p.price_usd_per_gpu_hour * pw.gpus, 1e-9
                )
                # SLA met first (a large offset keeps it lexicographic), then value.
                row.append(ppd + (1e6 if tput >= w.sla_min_throughput else 0.0))
            rows.append(row)
        value = np.array(rows, dtype=np.float64).reshape(
            len(problem.workloads), len(problem.providers)
        )

        def best(i: int, allowed: np.ndarray) -> int:
            candidates = np.flatnonzero(allowed)
            return int(candidates[np.argmax(value[i, candidates])])

        return _places(place_sequentially(problem, range(len(problem.workloads)), best))


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Tunables of the engine in the loop: the live role's settings (``reco_*``).

    ``max_pending`` is ``reco_batch_max`` (oldest first); the CP-SAT solve runs on one
    worker in deterministic mode so the same seed gives the same day on a loaded machine.
    """

    migration_downtime_ms: int = 300_000
    migration_horizon_h: float = 4.0
    recommendation_ttl_ms: int = 600_000
    time_limit_s: float = 2.0
    max_pending: int = 20
    estimator: EstimatorFactory = prior_estimator

    def plan_kwargs(self, seed: int) -> dict[str, object]:
        """The keyword arguments of :func:`~optimizers.plan.plan_batch` for one tick."""
        return {
            "time_limit_s": self.time_limit_s,
            "ttl_ms": self.recommendation_ttl_ms,
            "seed": seed,
            "estimator": self.estimator,
            "migration_horizon_h": self.migration_horizon_h,
            "migration_downtime_s": self.migration_downtime_ms / 1000.0,
            "num_workers": 1,
            "deterministic": True,
        }


class EngineScheduler:
    """computeperf's engine and approval workflow as the scheduler's advisor.

    Parameters
    ----------
    book : PolicyBook
        Approval policies (an auto policy for ``place`` and ``migrate`` closes the loop).
    config : EngineConfig
        Engine tunables (the live role's settings).
    seed : int
        CP-SAT seed.

    Examples
    --------
    >>> from config.settings import DEFAULT_POLICIES_PATH
    >>> EngineScheduler(PolicyBook.load(DEFAULT_POLICIES_PATH)).name
    'engine'
    """

    name = "engine"

    def __init__(self, book: PolicyBook, config: EngineConfig | None = None, seed: int = 0) -> None:
        self.config = config or EngineConfig()
        self.seed = seed
        self.approver = Approver(book)
        self.ledger = HostLedger()
        self.tracker = OutcomeTracker()
        self.accuracy = Accuracy()
        self.demoter = PolicyDemoter()
        self.records: dict[str, Recommendation] = {}
        self.last_plan: BatchPlan | None = None
        self._tenant: dict[str, str] = {}
        self._pending_actions: dict[str, tuple[Action, str]] = {}

    # ------------------------------------------------------------------ telemetry in
    def observe_provider(self, provider_id: str, clock_factor: float, rtt_factor: float) -> None:
        """Provider telemetry (heartbeats are counted from the view's online set)."""

    def observe(
        self,
        workload: DayWorkload,
        provider: ProviderProfile,
        ts_ms: int,
        tput: float,
        cost_usd_per_hour: float,
    ) -> None:
        """A realised throughput (and cost) sample of a running workload."""
        pid = provider.provider_id
        # What the listing does not explain (slow or over-stated host, incidents) is the
        # host's ratio: the prediction error fed back into the estimator.
        cohort = f"{provider.gpu.name}/{workload.workload_type.value}"
        self.ledger.observe_throughput(pid, tput, _listed(workload, provider), cohort)
        for outcome in self.tracker.observe(
            workload.workload_id, pid, ts_ms, tput, cost_usd_per_hour
        ):
            self._settled(outcome)

    def interrupted(self, workload: DayWorkload, provider_id: str, ts_ms: int) -> None:
        """A job was evicted from ``provider_id`` (host down or gone)."""
        self.ledger.observe_interruption(provider_id)
        self.ended(workload, ts_ms)

    # ------------------------------------------------------------------ decisions
    def snapshot(self, view: MarketView) -> Snapshot:
        """What the live role would hold for this view (with this engine's host records)."""
        return snapshot_of(view, self.ledger, self.config.max_pending)

    def plan(self, view: MarketView) -> BatchPlan:
        """The shipped planner on this view's snapshot."""
        return plan_batch(self.snapshot(view), **self.config.plan_kwargs(self.seed))  # type: ignore[arg-type]

    def decide(self, view: MarketView) -> list[Action]:
        """The planner's proposals for this tick, and the approved ones as actions."""
        for pid in view.providers:
            self.ledger.observe_heartbeat(pid, pid in view.online)
        if not view.pending and not view.running:
            return []
        plan = self.plan(view)
        self.last_plan = plan
        tenants = {w.workload_id: w.tenant_id for w in view.pending}
        tenants |= {wid: w.tenant_id for wid, (w, _pl) in view.running.items()}
        actions = []
        for rec in [*plan.proposals, *plan.migrations]:
            actions += self._review(rec, tenants[rec.workload_id], view.now_ms)
        return actions

    def _review(self, rec: Recommendation, tenant: str, now_ms: int) -> list[Action]:
        self._record(rec)
        decision = self.approver.review(rec, tenant, now_ms)
        self._record(decision.record)
        if not decision.acted:
            return []
        action = Action(
            rec.kind.value,
            rec.workload_id,
            rec.provider_id,
            rec.from_provider_id,
            rec.expected_throughput,
            rec.cost_usd_per_hour,
            rec.recommendation_id,
        )
        policy = f"{decision.policy.tenant}/{decision.policy.kind}"
        self._pending_actions[rec.recommendation_id] = (action, policy)
        return [action]

    def _record(self, rec: Recommendation) -> None:
        self.records[rec.recommendation_id] = rec

    # ------------------------------------------------------------------ feedback
    def applied(self, action: Action, ts_ms: int, ok: bool, workload: DayWorkload) -> None:
        """The marketplace applied (or could not apply) an approved action."""
        if action.recommendation_id is None:
            return
        entry = self._pending_actions.pop(action.recommendation_id, None)
        rec = self.records.get(action.recommendation_id)
        if entry is None or rec is None:
            return
        status = RecommendationStatus.APPLIED if ok else RecommendationStatus.FAILED
        self._record(transition(rec, status, actor="scheduler", ts_ms=ts_ms))
        if not ok:
            return
        closed = self.tracker.close(workload.workload_id, ts_ms)
        if closed is not None:
            self._settled(closed)
        moved = action.kind in ("migrate", "rebalance")
        tenant_kind = entry[1].split("/", 1)
        start = ts_ms + (self.config.migration_downtime_ms if moved else 0)
        self.tracker.applied(
            AppliedAction(
                recommendation_id=action.recommendation_id,
                workload_id=workload.workload_id,
                provider_id=action.provider_id,
                policy_key=(tenant_kind[0], tenant_kind[1]),
                applied_ms=start,
                predicted_throughput=action.predicted_throughput or 0.0,
                predicted_cost_usd_per_hour=action.predicted_cost_usd_per_hour or 0.0,
                sla_min_throughput=workload.sla_min_throughput,
            )
        )

    def ended(self, workload: DayWorkload, ts_ms: int) -> None:
        """A workload ended or was evicted: settle what was being measured."""
        outcome = self.tracker.close(workload.workload_id, ts_ms)
        if outcome is not None:
            self._settled(outcome)

    def _settled(self, outcome: Outcome) -> None:
        self.accuracy.update(outcome)
        self.approver.book = self.demoter.record(outcome, self.approver.book)

    def status_counts(self) -> dict[str, int]:
        """Latest status of every recommendation, counted (``awaiting``: an operator's turn)."""
        counts: dict[str, int] = {}
        for rec in self.records.values():
            key = rec.status.value
            if rec.status is RecommendationStatus.PROPOSED and rec.reason.startswith("awaiting"):
                key = "awaiting_operator"
            counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items()))

    def figures(self) -> dict[str, object]:
        """Recommendation counts, accuracy and demotions of this arm."""
        return {
            "recommendations": self.status_counts(),
            "accuracy": self.accuracy.as_dict(),
            "demoted_policies": [f"{t}/{k}" for t, k in self.demoter.demoted],
        }


def _listed(workload: DayWorkload, provider: ProviderProfile) -> float:
    """The catalogue prior's throughput of ``workload`` on ``provider``'s listed GPU."""
    return _prior(workload.workload_type.value, workload.gpus, provider.gpu.name)


@cache
def _prior(workload_type: str, gpus: int, gpu_model: str) -> float:
    spec = WorkloadSpec(
        tenant_id="t", workload_type=WorkloadType(workload_type), gpus=gpus, vram_gb_per_gpu=1.0
    )
    (pw,) = pending_replicas([("w", spec)])
    provider = ProviderCapacity("p", "r", gpu_model, gpus, 1.0, 1.0)
    snap = Snapshot(0, {}, {}, {}, {})
    return float(prior_estimator({"w": spec}, snap)([(pw, provider)])[0].value)
