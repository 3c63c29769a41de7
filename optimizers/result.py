"""What a placement run returns, how it scores, and why a workload stayed unplaced.

Every solver and baseline returns a :class:`PlacementResult` built by :func:`build_result`,
so objective values, constraint checks and unplaced reasons mean the same thing
whichever produced the assignment.

>>> from optimizers.problem import PendingWorkload, PlacementProblem, ProviderCapacity
>>> prob = PlacementProblem(
...     (ProviderCapacity("p1", "us-east", "L4 24GB", 1, 24.0, 0.4),),
...     (PendingWorkload("w1", "acme", 1, 24.0), PendingWorkload("w2", "acme", 1, 80.0)),
...     [[1.0], [1.0]])
>>> res = build_result(prob, {"w1": "p1"}, status="HEURISTIC")
>>> res.objective_value, [(u.workload_id, u.reason) for u in res.unplaced]
(2.0, [('w2', 'vram')])
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from optimizers.problem import SCALE, PlacementProblem

__all__ = ["PlacementResult", "Unplaced", "build_result", "objective_units", "violations"]


@dataclass(frozen=True, slots=True)
class Unplaced:
    """A workload left without a provider, and why.

    Parameters
    ----------
    workload_id : str
        The workload.
    reason : str
        ``no_providers``; the name of a hard constraint (``gpu_model``, ``region``,
        ``vram``, ``max_price``, ``reputation``) that rules out every provider;
        ``constraints`` when only their combination does; ``capacity`` when every
        feasible provider is full; ``anti_affinity`` or ``tenant_budget`` when those
        block the providers with room; ``not_selected`` otherwise (pruned or time limit).
    detail : str
        Human-readable explanation.

    Examples
    --------
    >>> Unplaced("w1", "capacity", "all 3 feasible providers are full").reason
    'capacity'
    """

    workload_id: str
    reason: str
    detail: str


@dataclass(frozen=True)
class PlacementResult:
    """Assignments and solver statistics.

    Parameters
    ----------
    assignments : mapping of str to str
        Workload id to provider id, for placed workloads.
    objective_value : float
        Objective of ``assignments`` (see :class:`optimizers.problem.ObjectiveWeights`).
    best_bound : float
        Proven upper bound on the objective (NaN for heuristics).
    status : str
        ``OPTIMAL``, ``FEASIBLE``, ``INFEASIBLE``, ``UNKNOWN`` (CP-SAT) or ``HEURISTIC``.
    unplaced : tuple of Unplaced
        Workloads left out, with reasons.
    wall_time_s : float
        Solver-reported wall time (0 for heuristics); ignored by ``==``.
    notes : tuple of str
        Remarks, e.g. ``"greedy fallback"`` when CP-SAT ran out of time below greedy.

    Examples
    --------
    >>> PlacementResult({}, 9.9, 10.0, "FEASIBLE", ()).gap
    0.01
    """

    assignments: Mapping[str, str]
    objective_value: float
    best_bound: float
    status: str
    unplaced: tuple[Unplaced, ...]
    # Timing varies run to run; two results are equal when their decisions are.
    wall_time_s: float = field(default=0.0, compare=False)
    notes: tuple[str, ...] = ()

    @property
    def gap(self) -> float:
        """Relative gap between the objective and the best bound (0 when proven optimal)."""
        if math.isnan(self.best_bound):
            return math.nan
        return round((self.best_bound - self.objective_value) / max(abs(self.best_bound), 1e-9), 9)


def objective_units(problem: PlacementProblem, assignments: Mapping[str, str]) -> int:
    """Objective of ``assignments`` in 1/SCALE units (exact, for comparisons)."""
    index = {p.provider_id: j for j, p in enumerate(problem.providers)}
    total = 0
    for i, w in enumerate(problem.workloads):
        if w.workload_id in assignments:
            total += problem.coefficient(i, index[assignments[w.workload_id]])
    return total


def violations(problem: PlacementProblem, assignments: Mapping[str, str]) -> list[str]:
    """Every constraint ``assignments`` breaks (empty when it is a valid placement)."""
    index = {p.provider_id: j for j, p in enumerate(problem.providers)}
    by_id = {w.workload_id: i for i, w in enumerate(problem.workloads)}
    found: list[str] = []
    used = np.zeros(len(problem.providers), dtype=np.int64)
    spent: defaultdict[str, float] = defaultdict(float)
    groups: Counter[tuple[str, str]] = Counter()
    for wid, pid in assignments.items():
        if wid not in by_id or pid not in index:
            found.append(f"{wid}->{pid}: unknown id")
            continue
        i, j = by_id[wid], index[pid]
        w = problem.workloads[i]
        if not problem.feasible_mask(i)[j]:
            found.append(f"{wid}->{pid}: hard constraint")
        used[j] += w.gpus
        spent[w.tenant_id] += w.gpus * problem.providers[j].price_usd_per_gpu_hour
        if w.replica_group is not None:
            groups[(w.replica_group, pid)] += 1
    found.extend(
        f"{problem.providers[j].provider_id}: capacity"
        for j in np.flatnonzero(used > problem.columns.free_gpus).tolist()
    )
    for tenant, usd in spent.items():
        budget = problem.tenant_budgets_usd_per_hour.get(tenant)
        if budget is not None and usd > budget + 1e-9:
            found.append(f"{tenant}: budget {usd:.3f} > {budget:.3f}")
    found.extend(f"{g} on {p}: anti-affinity" for (g, p), n in groups.items() if n > 1)
    return found


def _explain(problem: PlacementProblem, i: int, state: _State) -> Unplaced:
    w = problem.workloads[i]
    n = len(problem.providers)
    if n == 0:
        return Unplaced(w.workload_id, "no_providers", "there are no providers")
    masks = problem.constraint_masks(i)
    feasible = problem.feasible_mask(i)
    if not feasible.any():
        for name, passed in masks.items():
            if not passed.any():
                return Unplaced(w.workload_id, name, f"{name} rules out all {n} providers")
        counts = ", ".join(f"{k} {int((~v).sum())}" for k, v in masks.items() if not v.all())
        return Unplaced(
            w.workload_id,
            "constraints",
            f"no provider meets all constraints together (ruled out: {counts} of {n})",
        )
    n_feasible = int(feasible.sum())
    room = feasible & (state.free >= w.gpus)
    if not room.any():
        return Unplaced(w.workload_id, "capacity", f"all {n_feasible} feasible providers are full")
    if w.replica_group is not None:
        room &= ~state.group_members(w.replica_group, n)
        if not room.any():
            return Unplaced(
                w.workload_id,
                "anti_affinity",
                f"every feasible provider with room hosts a replica of {w.replica_group}",
            )
    budget = problem.budget_units(w.tenant_id)
    if budget is not None:
        left = budget - state.spent[w.tenant_id]
        if int(problem.cost_units(i)[room].min()) > left:
            return Unplaced(
                w.workload_id,
                "tenant_budget",
                f"tenant {w.tenant_id} has {left / SCALE:.3f} USD/h left, too little for "
                "any feasible provider with room",
            )
    return Unplaced(
        w.workload_id,
        "not_selected",
        "feasible providers had room; pruned from the candidates or not reached in time",
    )


@dataclass
class _State:
    free: np.ndarray
    spent: Counter[str]
    groups: dict[str, set[int]]

    def group_members(self, group: str, n: int) -> np.ndarray:
        mask = np.zeros(n, dtype=np.bool_)
        mask[list(self.groups.get(group, ()))] = True
        return mask


def build_result(
    problem: PlacementProblem,
    assignments: Mapping[str, str],
    *,
    status: str,
    best_bound_units: int | None = None,
    wall_time_s: float = 0.0,
    notes: tuple[str, ...] = (),
) -> PlacementResult:
    """Score ``assignments`` and explain every unplaced workload."""
    index = {p.provider_id: j for j, p in enumerate(problem.providers)}
    state = _State(problem.columns.free_gpus.copy(), Counter(), {})
    for i, w in enumerate(problem.workloads):
        pid = assignments.get(w.workload_id)
        if pid is None:
            continue
        j = index[pid]
        state.free[j] -= w.gpus
        state.spent[w.tenant_id] += int(problem.cost_units(i)[j])
        if w.replica_group is not None:
            state.groups.setdefault(w.replica_group, set()).add(j)
    unplaced = tuple(
        _explain(problem, i, state)
        for i, w in enumerate(problem.workloads)
        if w.workload_id not in assignments
    )
    objective = objective_units(problem, assignments)
    return PlacementResult(
        assignments=dict(assignments),
        objective_value=objective / SCALE,
        best_bound=math.nan if best_bound_units is None else best_bound_units / SCALE,
        status=status,
        unplaced=unplaced,
        wall_time_s=wall_time_s,
        notes=notes,
    )
