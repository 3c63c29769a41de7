"""CP-SAT placement of pending workloads on providers.

One boolean ``x[w, p]`` per *candidate* pair: the ``top_k`` feasible providers with room
for ``w`` by objective coefficient, plus where ``w`` runs now and where two greedy passes
(one of them the greedy baseline) put it. Pruning keeps the model to at most
``n_workloads * (top_k + 3)`` variables however many providers there are; keeping the
greedy choices means the model always contains the greedy solution, so the result is
never worse than :func:`optimizers.baselines.greedy_best_fit`.

Its pinned quality figure on a small fixed instance is in :mod:`evaluation.placement`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from optimizers.baselines import place_sequentially
from optimizers.problem import IntArray, PlacementProblem
from optimizers.result import PlacementResult, build_result, objective_units

__all__ = ["CpSatPlacer"]


def _weighted(terms: list[tuple[int, cp_model.IntVar]]) -> cp_model.LinearExpr:
    # weighted_sum builds one flat expression; sum() would nest 20,000 of them.
    return cp_model.LinearExpr.weighted_sum([v for _, v in terms], [c for c, _ in terms])


@dataclass(frozen=True, slots=True)
class CpSatPlacer:
    """Places workloads by maximising the objective with CP-SAT.

    Parameters
    ----------
    time_limit_s : float
        Wall-clock limit of the CP-SAT search (model building excluded).
    seed : int
        CP-SAT random seed.
    num_workers : int
        CP-SAT search workers.
    top_k : int
        Candidate providers kept per workload (besides its current and greedy ones).
    deterministic : bool
        Make the search reproducible for a given seed, whatever the machine load
        (interleaved search bounded by deterministic time instead of wall time, which
        still caps it).

    Examples
    --------
    >>> from optimizers.problem import PendingWorkload, ProviderCapacity
    >>> prob = PlacementProblem(
    ...     (ProviderCapacity("a", "us-east", "A100 80GB", 8, 80.0, 1.2),
    ...      ProviderCapacity("b", "eu-central", "A100 80GB", 8, 80.0, 1.6)),
    ...     (PendingWorkload("w1", "acme", 8, 40.0, replica_group="g"),
    ...      PendingWorkload("w2", "acme", 8, 40.0, replica_group="g")),
    ...     np.full((2, 2), 1000.0))
    >>> res = CpSatPlacer(time_limit_s=1.0).solve(prob)
    >>> sorted(res.assignments.values()), res.status
    (['a', 'b'], 'OPTIMAL')
    """

    time_limit_s: float = 2.0
    seed: int = 0
    num_workers: int = 2
    top_k: int = 8
    deterministic: bool = False

    def solve(self, problem: PlacementProblem) -> PlacementResult:
        """Solve ``problem``; see :class:`optimizers.result.PlacementResult`."""
        n_w = len(problem.workloads)
        rows: dict[int, IntArray] = {}
        room: dict[int, np.ndarray] = {}
        for i, w in enumerate(problem.workloads):
            feasible = problem.feasible_mask(i)
            rows[i] = problem.coefficients(i, feasible)
            room[i] = feasible & (problem.columns.free_gpus >= w.gpus)

        def best_row(i: int, allowed: np.ndarray) -> int:
            js = np.flatnonzero(allowed)
            return int(js[np.argmax(rows[i][js])])

        # Two greedy passes: biggest first packs GPUs well, smallest first fits more
        # workloads under tight budgets. Every choice of both becomes a candidate, and
        # the better one is the hint and the floor of the result.
        sizes = [w.gpus for w in problem.workloads]
        passes = [
            place_sequentially(problem, sorted(range(n_w), key=lambda i: -sizes[i]), best_row),
            place_sequentially(problem, sorted(range(n_w), key=lambda i: sizes[i]), best_row),
        ]
        greedy = max(passes, key=lambda a: objective_units(problem, a))
        index = {p.provider_id: j for j, p in enumerate(problem.providers)}
        candidates = {
            i: self._candidates(problem, i, rows[i], room[i], passes, index) for i in rows
        }
        assignments, status, bound, wall = self._solve_model(
            problem, rows, candidates, greedy, index
        )
        notes: tuple[str, ...] = ()
        if assignments is None or objective_units(problem, assignments) < objective_units(
            problem, greedy
        ):
            # The greedy solution is a candidate solution of the model, so this only
            # happens when the time limit stops CP-SAT before it even matches it.
            assignments, notes = greedy, ("greedy fallback",)
        return build_result(
            problem,
            assignments,
            status=status,
            best_bound_units=bound,
            wall_time_s=wall,
            notes=notes,
        )

    def _candidates(
        self,
        problem: PlacementProblem,
        i: int,
        coef: IntArray,
        room: np.ndarray,
        passes: list[dict[str, str]],
        index: dict[str, int],
    ) -> list[int]:
        allowed = np.flatnonzero(room)
        if allowed.size > self.top_k:
            best = np.argpartition(-coef[allowed], self.top_k - 1)[: self.top_k]
            allowed = allowed[best]
        keep = set(allowed.tolist())
        current = problem.current_provider(i)
        if current >= 0 and room[current]:
            keep.add(current)
        for assignments in passes:
            chosen = assignments.get(problem.workloads[i].workload_id)
            if chosen is not None:
                keep.add(index[chosen])
        return sorted(keep)

    def _solve_model(
        self,
        problem: PlacementProblem,
        rows: dict[int, IntArray],
        candidates: dict[int, list[int]],
        greedy: dict[str, str],
        index: dict[str, int],
    ) -> tuple[dict[str, str] | None, str, int | None, float]:
        model = cp_model.CpModel()
        x: dict[tuple[int, int], cp_model.IntVar] = {}
        load: defaultdict[int, list[tuple[int, cp_model.IntVar]]] = defaultdict(list)
        replicas: defaultdict[tuple[str, int], list[cp_model.IntVar]] = defaultdict(list)
        spend: defaultdict[str, list[tuple[int, cp_model.IntVar]]] = defaultdict(list)
        objective: list[tuple[int, cp_model.IntVar]] = []
        for i, js in candidates.items():
            if not js:
                continue
            w = problem.workloads[i]
            cost = problem.cost_units(i)
            hint = problem.current_provider(i)
            if hint not in js:
                hint = index.get(greedy.get(w.workload_id, ""), -1)
            for j in js:
                var = model.new_bool_var(f"x_{i}_{j}")
                x[(i, j)] = var
                model.add_hint(var, j == hint)
                load[j].append((w.gpus, var))
                if w.replica_group is not None:
                    replicas[(w.replica_group, j)].append(var)
                spend[w.tenant_id].append((int(cost[j]), var))
                objective.append((int(rows[i][j]), var))
            model.add_at_most_one(x[(i, j)] for j in js)
        free = problem.columns.free_gpus
        for j, terms in load.items():
            if sum(g for g, _ in terms) > free[j]:
                model.add(_weighted(terms) <= int(free[j]))
        for group in replicas.values():
            if len(group) > 1:
                model.add_at_most_one(group)
        for tenant, terms in spend.items():
            budget = problem.budget_units(tenant)
            if budget is not None:
                model.add(_weighted(terms) <= budget)
        model.maximize(_weighted(objective))

        solver = cp_model.CpSolver()
        params = solver.parameters
        params.max_time_in_seconds = self.time_limit_s
        params.random_seed = self.seed
        params.num_workers = self.num_workers
        # The capacity and budget rows are knapsacks: the full LP relaxation closes the
        # gap several times faster than the default portfolio does on two workers.
        if self.num_workers == 1:
            params.linearization_level = 2
        elif self.num_workers == 2:
            params.subsolvers.append("max_lp")
            params.subsolvers.append("default_lp")
        if self.deterministic:
            params.interleave_search = True
            # About one deterministic unit per wall second on a modern core.
            params.max_deterministic_time = self.time_limit_s
        code = solver.solve(model)
        status = solver.status_name(code)
        if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return None, status, None, solver.wall_time
        assignments = {
            problem.workloads[i].workload_id: problem.providers[j].provider_id
            for (i, j), var in x.items()
            if solver.boolean_value(var)
        }
        return assignments, status, round(solver.best_objective_bound), solver.wall_time
