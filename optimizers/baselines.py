"""Baseline placers the CP-SAT model is measured against, under the same constraints.

Each one places workloads one at a time and never revisits a choice: ``cheapest_first``
is what marketplaces do today (lowest price per GPU-hour that fits), ``greedy_best_fit``
takes the provider with the best objective coefficient, biggest workloads first, and
``random_placement`` picks any provider that fits.

>>> from optimizers.problem import PendingWorkload, PlacementProblem, ProviderCapacity
>>> prob = PlacementProblem(
...     (ProviderCapacity("cheap", "us-east", "RTX 3090 24GB", 1, 24.0, 0.2),
...      ProviderCapacity("fast", "us-east", "H100 80GB", 1, 80.0, 2.0)),
...     (PendingWorkload("w1", "acme", 1, 24.0),),
...     [[0.2, 2.4]])
>>> cheapest_first(prob).assignments, greedy_best_fit(prob).assignments
({'w1': 'cheap'}, {'w1': 'fast'})
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

import numpy as np

from optimizers.problem import BoolArray, IntArray, PlacementProblem
from optimizers.result import PlacementResult, build_result

__all__ = [
    "cheapest_first",
    "greedy_assignments",
    "greedy_best_fit",
    "place_sequentially",
    "random_placement",
]

#: Picks one provider index among the allowed ones for workload ``i``.
Chooser = Callable[[int, BoolArray], int]


def place_sequentially(
    problem: PlacementProblem, order: Iterable[int], choose: Chooser
) -> dict[str, str]:
    """Place workloads in ``order``, each on ``choose(i, allowed)``, tracking shared limits.

    ``allowed`` marks the providers that are feasible for workload ``i`` and still have
    room, no replica of its group and a price its tenant's remaining budget covers.
    """
    free = problem.columns.free_gpus.copy()
    spent: Counter[str] = Counter()
    taken: dict[str, list[int]] = {}
    assignments: dict[str, str] = {}
    for i in order:
        w = problem.workloads[i]
        allowed = problem.feasible_mask(i) & (free >= w.gpus)
        if w.replica_group is not None:
            allowed[taken.get(w.replica_group, [])] = False
        cost = problem.cost_units(i)
        budget = problem.budget_units(w.tenant_id)
        if budget is not None:
            allowed &= cost <= budget - spent[w.tenant_id]
        if not allowed.any():
            continue
        j = choose(i, allowed)
        assignments[w.workload_id] = problem.providers[j].provider_id
        free[j] -= w.gpus
        spent[w.tenant_id] += int(cost[j])
        if w.replica_group is not None:
            taken.setdefault(w.replica_group, []).append(j)
    return assignments


def _best(scores: IntArray | np.ndarray, allowed: BoolArray) -> int:
    # argmax over the allowed entries only; ties go to the lowest index (deterministic).
    candidates = np.flatnonzero(allowed)
    return int(candidates[np.argmax(scores[candidates])])


def cheapest_first(problem: PlacementProblem) -> PlacementResult:
    """Workloads in arrival order, each on the cheapest provider per GPU-hour that fits."""
    price = problem.columns.price_usd_per_gpu_hour
    assignments = place_sequentially(
        problem, range(len(problem.workloads)), lambda _i, allowed: _best(-price, allowed)
    )
    return build_result(problem, assignments, status="HEURISTIC")


def greedy_assignments(problem: PlacementProblem) -> dict[str, str]:
    """Assignments of :func:`greedy_best_fit` (without scoring them)."""
    # Biggest first, as in first-fit-decreasing bin packing: small jobs fill the gaps.
    order = sorted(range(len(problem.workloads)), key=lambda i: -problem.workloads[i].gpus)
    return place_sequentially(
        problem, order, lambda i, allowed: _best(problem.coefficients(i), allowed)
    )


def greedy_best_fit(problem: PlacementProblem) -> PlacementResult:
    """Biggest workloads first, each on the provider with the best objective coefficient."""
    return build_result(problem, greedy_assignments(problem), status="HEURISTIC")


def random_placement(problem: PlacementProblem, *, seed: int) -> PlacementResult:
    """Workloads in a seeded random order, each on a seeded random provider that fits."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(problem.workloads)).tolist()
    assignments = place_sequentially(
        problem, order, lambda _i, allowed: int(rng.choice(np.flatnonzero(allowed)))
    )
    return build_result(problem, assignments, status="HEURISTIC")
