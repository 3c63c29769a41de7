"""Cost/performance trade-off of one workload: the Pareto set of (cost, completion time).

Every feasible provider with enough free GPUs, at every GPU count asked about, is an
option: predicted throughput ``t`` (from a :data:`~optimizers.problem.ThroughputFn`
queried with the workload at that GPU count), completion time ``work / t`` hours and cost
``time * price * gpus``. An option is kept when no other is at least as good on both and
strictly better on one. The tenant (or an SLA) then picks a point: fastest within a
budget, cheapest within a deadline.

>>> from optimizers.problem import PendingWorkload, ProviderCapacity
>>> provs = (ProviderCapacity("l4", "us-east", "L4 24GB", 4, 24.0, 0.5),
...          ProviderCapacity("h100", "us-east", "H100 80GB", 8, 80.0, 2.5))
>>> speed = {"l4": 0.6, "h100": 2.4}  # per GPU; 2 GPUs give 1.8x, 4 give 3.2x
>>> scale = {1: 1.0, 2: 1.8, 4: 3.2}
>>> w = PendingWorkload("w1", "acme", gpus=1, vram_gb_per_gpu=16.0)
>>> front = pareto_options(w, provs, lambda w, p: speed[p.provider_id] * scale[w.gpus],
...                        work_units=24.0, gpu_counts=(1, 2, 4))
>>> for o in front:
...     print(o.provider_id, o.gpus, round(o.cost_usd, 1), round(o.completion_h, 1))
l4 1 20.0 40.0
l4 2 22.2 22.2
h100 1 25.0 10.0
h100 2 27.8 5.6
h100 4 31.2 3.1
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from optimizers.problem import PendingWorkload, ProviderCapacity, ThroughputFn, feasible

__all__ = ["Option", "dominates", "pareto_options"]


@dataclass(frozen=True, slots=True)
class Option:
    """One way to run the workload: where, on how many GPUs, at what cost and speed.

    Examples
    --------
    >>> Option("p1", 2, 1.5, 3.0, 4.0).cost_usd
    4.0
    """

    provider_id: str
    gpus: int
    throughput: float
    completion_h: float
    cost_usd: float


def dominates(a: Option, b: Option) -> bool:
    """Whether ``a`` is no worse than ``b`` on cost and time and better on one.

    >>> dominates(Option("a", 1, 1.0, 2.0, 3.0), Option("b", 1, 1.0, 2.0, 4.0))
    True
    """
    return (
        a.cost_usd <= b.cost_usd
        and a.completion_h <= b.completion_h
        and (a.cost_usd < b.cost_usd or a.completion_h < b.completion_h)
    )


def pareto_options(
    workload: PendingWorkload,
    providers: Sequence[ProviderCapacity],
    predict: ThroughputFn,
    *,
    work_units: float,
    gpu_counts: Sequence[int] = (),
) -> list[Option]:
    """Non-dominated options, cheapest first (so completion time decreases along the list).

    ``work_units`` is the total work in the throughput's unit times hours;
    ``gpu_counts`` defaults to the workload's own count. Options with zero predicted
    throughput never complete and are left out; equal options are reported once.
    """
    if not work_units > 0:
        raise ValueError(f"work_units must be > 0, got {work_units}")
    counts = sorted(set(gpu_counts or (workload.gpus,)))
    if counts[0] < 1:
        raise ValueError("gpu counts must be >= 1")
    options = []
    for g in counts:
        sized = dataclasses.replace(workload, gpus=g)
        for p in providers:
            if p.free_gpus < g or not feasible(sized, p):
                continue
            tput = float(predict(sized, p))
            if not tput > 0:
                continue
            hours = work_units / tput
            options.append(
                Option(p.provider_id, g, tput, hours, hours * p.price_usd_per_gpu_hour * g)
            )
    # Sweep by cost (then time): an option is on the front when it is faster than every
    # cheaper one. O(n log n) instead of comparing all pairs.
    options.sort(key=lambda o: (o.cost_usd, o.completion_h, o.provider_id, o.gpus))
    front: list[Option] = []
    for o in options:
        # Same cost sorts faster first, so an equal or slower one at that cost is dominated.
        if not front or o.completion_h < front[-1].completion_h:
            front.append(o)
    return front
