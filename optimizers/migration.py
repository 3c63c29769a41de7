"""Migration and rebalancing: move a running workload only when the move pays for itself.

A workload on a degraded provider (lower throughput than it should get) or an overpriced
one (a better price for the same work exists) is worth moving when, over ``horizon_h``
hours, what it gains exceeds what the move costs:

* **value rate** on a provider: ``value * throughput - price * gpus`` (USD/hour), where
  ``value`` is what a unit of throughput-hour is worth to the tenant. When unknown it is
  what the tenant pays for it now (``current cost / current throughput``), so the current
  value rate is zero and a move gains exactly when performance per dollar improves;
* **gain** = ``horizon_h * (value rate after - value rate now)``;
* **migration cost** = ``downtime_h * value * current throughput`` (the work lost while
  checkpointing, transferring and restarting) ``+ transfer_cost_usd``;
* move when ``gain - migration cost > min_net_gain_usd``.

Targets must meet the workload's hard constraints (:func:`optimizers.problem.feasible`),
have free GPUs and host no other replica of its group. Workloads are settled best net gain
first, each taking its best target that still has room (a greedy pass: moves are few and
each is reviewed by an operator, so an exact assignment is not worth its solve time).
Tenant budgets are not re-checked here: with the default value a move never raises cost
unless it raises throughput more.

>>> from optimizers.problem import PendingWorkload, ProviderCapacity
>>> provs = (ProviderCapacity("hot", "us-east", "A100 80GB", 0, 80.0, 2.0),
...          ProviderCapacity("cool", "us-east", "A100 80GB", 4, 80.0, 2.0))
>>> w = RunningWorkload(PendingWorkload("w1", "acme", 2, 40.0), "hot", throughput=0.5,
...                     downtime_s=600.0)
>>> [d.move for d in plan_migrations([w], provs, lambda w, p: 1.0, horizon_h=1.0)]
[True]
>>> [d.reason for d in plan_migrations([w], provs, lambda w, p: 1.0, horizon_h=0.1)]
['no_net_gain']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from optimizers.problem import PendingWorkload, ProviderCapacity, ThroughputFn, feasible

__all__ = ["MigrationDecision", "RunningWorkload", "plan_migrations"]


@dataclass(frozen=True, slots=True)
class RunningWorkload:
    """A workload running on ``provider_id``, with what moving it would cost.

    Parameters
    ----------
    spec : PendingWorkload
        Its requirements (the constraints a new provider must meet).
    provider_id : str
        Where it runs now.
    throughput : float
        Its (predicted or observed) throughput where it runs now, degradation included.
    downtime_s : float
        Time a move takes (checkpoint, transfer, restart), during which no work is done.
    transfer_cost_usd : float
        Money a move costs (egress and storage of the checkpoint).
    value_usd_per_unit_hour : float or None
        Worth of one unit of throughput for an hour; None: what it costs now.

    Examples
    --------
    >>> RunningWorkload(PendingWorkload("w1", "acme", 1, 16.0), "p1", 3.0).downtime_s
    300.0
    """

    spec: PendingWorkload
    provider_id: str
    throughput: float
    downtime_s: float = 300.0
    transfer_cost_usd: float = 0.0
    value_usd_per_unit_hour: float | None = None

    def __post_init__(self) -> None:
        if self.throughput < 0 or self.downtime_s < 0 or self.transfer_cost_usd < 0:
            raise ValueError(
                f"{self.spec.workload_id}: throughput, downtime_s and transfer_cost_usd "
                "must be >= 0"
            )


@dataclass(frozen=True, slots=True)
class MigrationDecision:
    """Whether to move one running workload, and the numbers behind it.

    ``reason`` is ``move``, ``no_net_gain`` (the best target does not pay for the move),
    ``no_target`` (no other provider meets the constraints with room) or
    ``unknown_provider`` (the current provider is not in the list). Money is in USD over
    the horizon, costs per hour in USD/hour.

    Examples
    --------
    >>> d = MigrationDecision("w1", "p1", "p2", True, "move", 10.0, 4.0, 1.0, 2.0, 3.0, 3.0)
    >>> d.net_gain_usd
    6.0
    """

    workload_id: str
    from_provider_id: str
    to_provider_id: str | None
    move: bool
    reason: str
    gain_usd: float
    migration_cost_usd: float
    throughput_before: float
    throughput_after: float
    cost_before_usd_per_hour: float
    cost_after_usd_per_hour: float

    @property
    def net_gain_usd(self) -> float:
        """Gain over the horizon minus the cost of moving."""
        return self.gain_usd - self.migration_cost_usd


@dataclass(frozen=True, slots=True)
class _Option:
    provider: ProviderCapacity
    throughput: float
    gain_usd: float


def _value(w: RunningWorkload, cost_now: float) -> float:
    if w.value_usd_per_unit_hour is not None:
        return w.value_usd_per_unit_hour
    return cost_now / w.throughput if w.throughput > 0 else 0.0


def _migration_cost(w: RunningWorkload, value: float) -> float:
    return w.downtime_s / 3600.0 * value * w.throughput + w.transfer_cost_usd


def _options(
    w: RunningWorkload,
    providers: Sequence[ProviderCapacity],
    predict: ThroughputFn,
    horizon_h: float,
    value: float,
    cost_now: float,
) -> list[_Option]:
    rate_now = value * w.throughput - cost_now
    options = []
    for p in providers:
        if p.provider_id == w.provider_id or p.free_gpus < w.spec.gpus or not feasible(w.spec, p):
            continue
        tput = float(predict(w.spec, p))
        rate = value * tput - p.price_usd_per_gpu_hour * w.spec.gpus
        options.append(_Option(p, tput, horizon_h * (rate - rate_now)))
    options.sort(key=lambda o: (-o.gain_usd, o.provider.provider_id))
    return options


def plan_migrations(
    running: Iterable[RunningWorkload],
    providers: Sequence[ProviderCapacity],
    predict: ThroughputFn,
    *,
    horizon_h: float,
    min_net_gain_usd: float = 0.0,
) -> list[MigrationDecision]:
    """One decision per running workload (in input order); moves respect capacity.

    ``providers`` carry their *free* GPUs (what running workloads leave); the GPUs a
    moved workload releases are not reused by another move in the same plan.
    ``predict(spec, provider)`` is the predicted throughput on a target.
    """
    if horizon_h <= 0:
        raise ValueError(f"horizon_h must be > 0, got {horizon_h}")
    workloads = list(running)
    by_id = {p.provider_id: p for p in providers}
    free = {p.provider_id: p.free_gpus for p in providers}
    replicas: dict[str, set[str]] = {}
    for w in workloads:
        if w.spec.replica_group is not None:
            replicas.setdefault(w.spec.replica_group, set()).add(w.provider_id)
    decisions: dict[str, MigrationDecision] = {}
    pending: list[tuple[float, int, RunningWorkload, list[_Option], float, float]] = []
    for k, w in enumerate(workloads):
        current = by_id.get(w.provider_id)
        if current is None:
            decisions[w.spec.workload_id] = _stay(w, "unknown_provider", 0.0, 0.0)
            continue
        cost_now = current.price_usd_per_gpu_hour * w.spec.gpus
        value = _value(w, cost_now)
        options = _options(w, providers, predict, horizon_h, value, cost_now)
        best = options[0].gain_usd if options else float("-inf")
        pending.append((best, k, w, options, _migration_cost(w, value), cost_now))
    # Most valuable moves first: they get the scarce free GPUs.
    for _best, _k, w, options, move_cost, cost_now in sorted(pending, key=lambda t: (-t[0], t[1])):
        group = replicas.get(w.spec.replica_group or "", set())
        usable = [
            o
            for o in options
            if free[o.provider.provider_id] >= w.spec.gpus and o.provider.provider_id not in group
        ]
        if not usable:
            decisions[w.spec.workload_id] = _stay(w, "no_target", move_cost, cost_now)
            continue
        o = usable[0]
        move = o.gain_usd - move_cost > min_net_gain_usd
        if move:
            free[o.provider.provider_id] -= w.spec.gpus
            if w.spec.replica_group is not None:
                group.discard(w.provider_id)
                group.add(o.provider.provider_id)
        decisions[w.spec.workload_id] = MigrationDecision(
            workload_id=w.spec.workload_id,
            from_provider_id=w.provider_id,
            to_provider_id=o.provider.provider_id,
            move=move,
            reason="move" if move else "no_net_gain",
            gain_usd=o.gain_usd,
            migration_cost_usd=move_cost,
            throughput_before=w.throughput,
            throughput_after=o.throughput,
            cost_before_usd_per_hour=cost_now,
            cost_after_usd_per_hour=o.provider.price_usd_per_gpu_hour * w.spec.gpus,
        )
    return [decisions[w.spec.workload_id] for w in workloads]


def _stay(w: RunningWorkload, reason: str, move_cost: float, cost_now: float) -> MigrationDecision:
    return MigrationDecision(
        workload_id=w.spec.workload_id,
        from_provider_id=w.provider_id,
        to_provider_id=None,
        move=False,
        reason=reason,
        gain_usd=0.0,
        migration_cost_usd=move_cost,
        throughput_before=w.throughput,
        throughput_after=w.throughput,
        cost_before_usd_per_hour=cost_now,
        cost_after_usd_per_hour=cost_now,
    )
