"""The two schedulers of the closed-loop comparison.

:class:`CheapestFirstScheduler` is what marketplaces do today: every tick, each waiting
workload goes to the cheapest provider per GPU-hour that fits
(:func:`optimizers.baselines.cheapest_first`); running workloads are never moved.

:class:`EngineScheduler` is computeperf in the loop: it predicts throughput from the GPU
catalogue, provider telemetry (SM clock, round-trip time) and the realised throughput it
observes (an exponentially weighted host factor per provider: the feedback of errors into
the predictor), places waiting workloads with :class:`optimizers.placement.CpSatPlacer`
(the SLA as a penalty: options predicted below a workload's minimum throughput count at
a fifth of their throughput), proposes moving workloads off degraded or repriced
providers when the gain after the migration's downtime beats the policy's threshold,
and sends every recommendation through the approval workflow
(:class:`workflow.approver.Approver`: policies, rate limits). Applied actions are
validated (:mod:`workflow.validation`) and a policy whose actions under-deliver is demoted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from statistics import NormalDist

import numpy as np

from optimizers.baselines import cheapest_first, place_sequentially
from optimizers.placement import CpSatPlacer
from optimizers.problem import ObjectiveWeights, PendingWorkload, PlacementProblem, ProviderCapacity
from schemas import Recommendation, RecommendationKind, RecommendationStatus, WorkloadType
from sim.market_day import (
    DayWorkload,
    MarketDay,
    a100_equivalent,
    nominal_throughput,
    realised_throughput,
)
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
    "build_problem",
]

_SYNC_BOUND = (WorkloadType.TRAINING, WorkloadType.FINE_TUNING)
_STD_NORMAL = NormalDist()


def build_problem(
    view: MarketView,
    workloads: tuple[DayWorkload, ...],
    throughput: np.ndarray | None = None,
    exclude: frozenset[str] = frozenset(),
    weights: ObjectiveWeights | None = None,
) -> PlacementProblem:
    """The placement instance of ``workloads`` on the online providers with free GPUs.

    ``throughput`` defaults to the catalogue's nominal throughput (what a price-only
    scheduler needs to build an instance; it does not use it).
    """
    providers = tuple(
        ProviderCapacity(
            provider_id=pid,
            region=p.region.name,
            gpu_model=p.gpu.name,
            free_gpus=view.free_gpus[pid],
            vram_gb_per_gpu=p.gpu.vram_gb,
            price_usd_per_gpu_hour=view.price_usd_per_gpu_hour[pid],
            reputation=p.reputation,
        )
        for pid, p in sorted(view.providers.items())
        if pid in view.online and pid not in exclude and view.free_gpus[pid] > 0
    )
    pending = tuple(
        PendingWorkload(
            workload_id=w.workload_id,
            tenant_id=w.tenant_id,
            gpus=w.gpus,
            vram_gb_per_gpu=w.vram_gb_per_gpu,
            allowed_regions=w.allowed_regions,
            max_price_usd_per_gpu_hour=w.max_price_usd_per_gpu_hour,
        )
        for w in workloads
    )
    if throughput is None:
        throughput = np.array(
            [
                [
                    nominal_throughput(w.workload_type, w.gpus, view.providers[p.provider_id].gpu)
                    for p in providers
                ]
                for w in workloads
            ],
            dtype=np.float64,
        ).reshape(len(workloads), len(providers))
    return PlacementProblem(providers, pending, throughput, weights=weights or ObjectiveWeights())


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
        result = cheapest_first(build_problem(view, view.pending))
        return [Action("place", wid, pid) for wid, pid in result.assignments.items()]


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

    def decide(self, view: MarketView) -> list[Action]:
        """Placements of the waiting workloads on their best true value."""
        if not view.pending:
            return []
        pending = tuple(sorted(view.pending, key=lambda w: (w.arrival_ms, w.index)))
        problem = build_problem(view, pending)
        value = np.array(
            [
                [
                    a100_equivalent(
                        w.workload_type,
                        realised_throughput(
                            w,
                            view.providers[p.provider_id],
                            self.day.effects(p.provider_id, view.now_ms),
                            0.0,
                        ),
                    )
                    / max(p.price_usd_per_gpu_hour * w.gpus, 1e-9)
                    for p in problem.providers
                ]
                for w in pending
            ],
            dtype=np.float64,
        ).reshape(len(pending), len(problem.providers))

        def best(i: int, allowed: np.ndarray) -> int:
            candidates = np.flatnonzero(allowed)
            return int(candidates[np.argmax(value[i, candidates])])

        assignments = place_sequentially(problem, range(len(pending)), best)
        return [Action("place", wid, pid) for wid, pid in assignments.items()]


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Tunables of the engine in the loop (the product's knobs, not the market's).

    ``horizon_ms`` is how long the engine assumes a degradation lasts when weighing a
    move against its downtime; ``cooldown_ms`` keeps a workload from moving again soon.
    """

    migration_downtime_ms: int = 300_000
    horizon_ms: int = 2 * 3_600_000
    cooldown_ms: int = 3_600_000
    degraded_below: float = 0.85
    repriced_above: float = 1.2
    sla_penalty: float = 0.2
    rebalance: bool = True
    host_alpha: float = 0.2
    recommendation_ttl_ms: int = 600_000
    # Score each option by predicted throughput per dollar (the figure the fleet is judged
    # on) instead of the default throughput-minus-cost trade-off: cost is already inside.
    weights: ObjectiveWeights = field(
        default_factory=lambda: ObjectiveWeights(perf=1.0, cost=0.0, place=2.0)
    )
    time_limit_s: float = 2.0
    max_batch: int = 20


class EngineScheduler:
    """computeperf's engine and approval workflow as the scheduler's advisor.

    Parameters
    ----------
    book : PolicyBook
        Approval policies (an auto policy for ``place`` and ``migrate`` closes the loop).
    config : EngineConfig
        Engine tunables.
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
        self.approver = Approver(book)
        self.placer = CpSatPlacer(
            time_limit_s=self.config.time_limit_s, seed=seed, num_workers=1, deterministic=True
        )
        self.tracker = OutcomeTracker()
        self.accuracy = Accuracy()
        self.demoter = PolicyDemoter()
        self.records: dict[str, Recommendation] = {}
        self._host: dict[str, float] = {}  # realised / (nominal x telemetry health), EWMA
        self._clock: dict[str, float] = {}
        self._rtt: dict[str, float] = {}
        self._own: dict[str, float] = {}  # each running workload's recent realised throughput
        self._moved_ms: dict[str, int] = {}
        self._pending_actions: dict[str, tuple[Action, str]] = {}
        self._n = 0

    # ------------------------------------------------------------------ telemetry in
    def observe_provider(self, provider_id: str, clock_factor: float, rtt_factor: float) -> None:
        """Provider telemetry: SM clock relative to boost, RTT relative to healthy."""
        self._clock[provider_id] = clock_factor
        self._rtt[provider_id] = rtt_factor

    def observe(
        self,
        workload: DayWorkload,
        provider: ProviderProfile,
        ts_ms: int,
        tput: float,
        cost_usd_per_hour: float,
    ) -> None:
        """A realised throughput (and cost) sample of a running workload."""
        own = self._own.get(workload.workload_id)
        self._own[workload.workload_id] = tput if own is None else 0.5 * own + 0.5 * tput
        pid = provider.provider_id
        expected = nominal_throughput(workload.workload_type, workload.gpus, provider.gpu)
        expected *= self._telemetry_health(pid, workload.workload_type)
        if expected > 0 and math.isfinite(tput):
            # What telemetry and the catalogue do not explain is the host's own factor
            # (silicon, cooling, noisy neighbours): the prediction error fed back.
            old = self._host.get(pid, 1.0)
            self._host[pid] = old + self.config.host_alpha * (tput / expected - old)
        for outcome in self.tracker.observe(
            workload.workload_id, pid, ts_ms, tput, cost_usd_per_hour
        ):
            self._settled(outcome)

    # ------------------------------------------------------------------ prediction

    def _telemetry_health(self, provider_id: str, workload_type: WorkloadType) -> float:
        health = self._clock.get(provider_id, 1.0)
        if workload_type in _SYNC_BOUND:
            # Gradient sync slows down with the round-trip time (seen in provider telemetry).
            rtt = self._rtt.get(provider_id, 1.0)
            health *= 1.0 - 0.25 * min(1.0, max(0.0, (rtt - 3.0) / 7.0)) if rtt > 1.5 else 1.0
        return health

    def predict(self, workload: DayWorkload, provider: ProviderProfile) -> float:
        """Predicted throughput of ``workload`` on ``provider`` now."""
        nominal = nominal_throughput(workload.workload_type, workload.gpus, provider.gpu)
        health = self._telemetry_health(provider.provider_id, workload.workload_type)
        return nominal * health * self._host.get(provider.provider_id, 1.0)

    def _sigma(self) -> float:
        mape = self.accuracy.mape
        return max(0.05, 1.25 * mape) if mape is not None else 0.1

    def _sla_risk(self, workload: DayWorkload, predicted: float) -> float:
        if predicted <= 0:
            return 1.0
        z = (workload.sla_min_throughput / predicted - 1.0) / self._sigma()
        return min(1.0, max(0.0, _STD_NORMAL.cdf(z)))

    # ------------------------------------------------------------------ decisions
    def decide(self, view: MarketView) -> list[Action]:
        """Recommendations for this tick, and the approved ones as actions.

        Waiting workloads first (waiting breaks their SLA for sure), then moves into
        what capacity is left.
        """
        actions = self._placements(view)
        free = dict(view.free_gpus)
        sizes = {w.workload_id: w.gpus for w in view.pending}
        for a in actions:
            free[a.provider_id] -= sizes[a.workload_id]
        left = MarketView(
            view.now_ms,
            view.providers,
            view.online,
            view.price_usd_per_gpu_hour,
            free,
            (),
            view.running,
        )
        return actions + self._migrations(left)

    def _placements(self, view: MarketView) -> list[Action]:
        if not view.pending:
            return []
        # Oldest first, a bounded batch per tick: small models solve to optimality well
        # inside the time limit, so the same seed gives the same day on a loaded machine.
        batch = tuple(sorted(view.pending, key=lambda w: (w.arrival_ms, w.index)))
        view = replace(view, pending=batch[: self.config.max_batch])
        problem = build_problem(view, view.pending, weights=self.config.weights)
        predicted = np.array(
            [
                [self.predict(w, view.providers[p.provider_id]) for p in problem.providers]
                for w in view.pending
            ],
            dtype=np.float64,
        ).reshape(len(view.pending), len(problem.providers))
        scored = self._score(problem, view.pending, predicted)
        problem = build_problem(view, view.pending, scored, weights=self.config.weights)
        result = self.placer.solve(problem)
        by_id = {w.workload_id: (i, w) for i, w in enumerate(view.pending)}
        col = {p.provider_id: j for j, p in enumerate(problem.providers)}
        actions = []
        for wid, pid in sorted(result.assignments.items()):
            i, w = by_id[wid]
            j = col[pid]
            t = float(predicted[i, j])
            cost = view.price_usd_per_gpu_hour[pid] * w.gpus
            baseline = self._cheapest_ppd(problem, i, predicted)
            gain = (t / cost) / baseline - 1.0 if baseline > 0 and cost > 0 else 0.0
            actions += self._propose(view, "place", w, pid, None, t, cost, gain, "CP-SAT placement")
        return actions

    def _score(
        self, problem: PlacementProblem, workloads: tuple[DayWorkload, ...], predicted: np.ndarray
    ) -> np.ndarray:
        # Predicted perf per dollar of each option, with the SLA as a penalty: an option
        # predicted below the workload's minimum throughput counts a fraction of it.
        sla = np.array([w.sla_min_throughput for w in workloads])[:, None]
        gpus = np.array([w.gpus for w in workloads], dtype=np.float64)[:, None]
        cost = gpus * problem.columns.price_usd_per_gpu_hour[None, :]
        ppd = predicted / np.maximum(cost, 1e-9)
        scored: np.ndarray = np.where(predicted >= sla, ppd, ppd * self.config.sla_penalty)
        return scored

    @staticmethod
    def _cheapest_ppd(problem: PlacementProblem, i: int, predicted: np.ndarray) -> float:
        mask = problem.feasible_mask(i)
        if not mask.any():
            return 0.0
        price = problem.columns.price_usd_per_gpu_hour
        j = int(np.flatnonzero(mask)[np.argmin(price[mask])])
        cost = price[j] * problem.workloads[i].gpus
        return float(predicted[i, j]) / cost if cost > 0 else 0.0

    def _migrations(self, view: MarketView) -> list[Action]:
        cfg = self.config
        degraded = frozenset(
            pid
            for pid, p in view.providers.items()
            if pid in view.online
            and (
                self._clock.get(pid, 1.0) * self._host.get(pid, 1.0) < cfg.degraded_below
                or view.price_usd_per_gpu_hour[pid] > cfg.repriced_above * p.price_usd_per_gpu_hour
            )
        )
        movers = tuple(
            w
            for w, pl in view.running.values()
            if (cfg.rebalance or pl.provider_id in degraded)
            and view.now_ms >= pl.down_until_ms
            and view.now_ms - self._moved_ms.get(w.workload_id, -(10**15)) >= cfg.cooldown_ms
            and w.end_ms - view.now_ms > 3 * cfg.migration_downtime_ms
        )

        # Workloads on degraded providers first, then those below their SLA; a bounded
        # batch, as for placements.
        def urgency(w: DayWorkload) -> tuple[bool, bool]:
            on_degraded = view.running[w.workload_id][1].provider_id in degraded
            below_sla = self._own.get(w.workload_id, 0.0) < w.sla_min_throughput
            return (not on_degraded, not below_sla)

        movers = tuple(sorted(movers, key=urgency))[: cfg.max_batch]
        if not movers:
            return []
        problem = build_problem(view, movers, exclude=degraded, weights=cfg.weights)
        if not problem.providers:
            return []
        predicted = np.array(
            [
                [self.predict(w, view.providers[p.provider_id]) for p in problem.providers]
                for w in movers
            ],
            dtype=np.float64,
        ).reshape(len(movers), len(problem.providers))
        scored = self._score(problem, movers, predicted)
        problem = build_problem(view, movers, scored, exclude=degraded, weights=cfg.weights)
        result = self.placer.solve(problem)
        col = {p.provider_id: j for j, p in enumerate(problem.providers)}
        actions = []
        for i, w in enumerate(movers):
            target = result.assignments.get(w.workload_id)
            source = view.running[w.workload_id][1].provider_id
            if target is None or target == source:
                continue  # staying put is no recommendation
            t_new = float(predicted[i, col[target]])
            c_new = view.price_usd_per_gpu_hour[target] * w.gpus
            t_cur = self._own.get(w.workload_id, 0.0)
            c_cur = view.price_usd_per_gpu_hour[source] * w.gpus
            horizon = min(cfg.horizon_ms, w.end_ms - view.now_ms)
            useful = max(0.0, 1.0 - cfg.migration_downtime_ms / horizon)
            # Perf per dollar over the horizon, the move paying its downtime.
            stay = t_cur / c_cur if c_cur > 0 else 0.0
            move = t_new * useful / c_new if c_new > 0 else 0.0
            gain = move / stay - 1.0 if stay > 0 else (1.0 if move > 0 else 0.0)
            health = self._clock.get(source, 1.0) * self._host.get(source, 1.0)
            why = (
                f"{source}: health {health:.2f}, "
                f"price {view.price_usd_per_gpu_hour[source]:.2f}/GPU-h; after "
                f"{cfg.migration_downtime_ms // 60_000} min downtime {gain:+.0%} perf/$"
            )
            kind = "migrate"
            if t_cur < w.sla_min_throughput <= t_new:
                # A move that brings the workload back within its SLA is a rebalance: its
                # own policy may accept some loss of perf per dollar for it.
                kind = "rebalance"
                sla = w.sla_min_throughput
                why += f"; back within SLA ({t_cur:.0f} -> {t_new:.0f}, min {sla:.0f})"
            elif gain <= 0:
                continue  # not worth a recommendation at all
            actions += self._propose(view, kind, w, target, source, t_new, c_new, gain, why)
        return actions

    def _propose(
        self,
        view: MarketView,
        kind: str,
        w: DayWorkload,
        provider_id: str,
        source: str | None,
        predicted: float,
        cost: float,
        gain: float,
        rationale: str,
    ) -> list[Action]:
        self._n += 1
        rid = f"rec-{kind}-{w.workload_id}-{self._n}"
        risk = self._sla_risk(w, predicted)
        rec = Recommendation(
            recommendation_id=rid,
            ts_ms=view.now_ms,
            status=RecommendationStatus.PROPOSED,
            kind=RecommendationKind(kind),
            workload_id=w.workload_id,
            provider_id=provider_id,
            from_provider_id=source,
            expected_throughput=max(0.0, predicted),
            cost_usd_per_hour=max(0.0, cost),
            perf_per_dollar_gain=gain if math.isfinite(gain) else 0.0,
            sla_risk=risk,
            confidence=max(0.0, 1.0 - self._sigma()),
            rationale=rationale,
            expires_at_ms=view.now_ms + self.config.recommendation_ttl_ms,
        )
        self._record(rec)
        decision = self.approver.review(rec, w.tenant_id, view.now_ms)
        self._record(decision.record)
        if not decision.acted:
            return []
        action = Action(kind, w.workload_id, provider_id, source, predicted, cost, rid)
        self._pending_actions[rid] = (action, f"{decision.policy.tenant}/{decision.policy.kind}")
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
        self._own.pop(workload.workload_id, None)
        moved = action.kind in ("migrate", "rebalance")
        if moved:
            self._moved_ms[workload.workload_id] = ts_ms
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
        self._own.pop(workload.workload_id, None)

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
