"""Capacity allocation with a linear program (OR-Tools GLOP): GPUs across tenants or classes.

Before individual workloads are placed, the marketplace decides how much of each GPU pool
(GPU model or region) each tenant or workload class may use. With ``x[d, k]`` the GPUs of
pool ``k`` given to demand ``d`` (continuous: a share, rounded by the placer later):

* maximise ``sum weight[d] * throughput_per_gpu[d, k] * x[d, k]``
* each pool's GPUs: ``sum_d x[d, k] <= pool.gpus``
* each demand's need: ``sum_k x[d, k] <= demand.max_gpus``
* each demand's budget: ``sum_k pool.price * x[d, k] <= demand.budget_usd_per_hour``
* fairness floor: ``sum_k x[d, k] >= demand.min_share * demand.max_gpus``

Floors that capacity or budgets cannot honour make the program infeasible; the result
says so (``status``) instead of raising. The dual values of the pool rows are reported as
``shadow_prices``: the weighted throughput one more GPU of that pool would add.

>>> pools = (GpuPool("h100", gpus=8, price_usd_per_gpu_hour=2.5),
...          GpuPool("l4", gpus=16, price_usd_per_gpu_hour=0.5))
>>> demands = (Demand("train", max_gpus=16, weight=1.0),
...            Demand("serve", max_gpus=8, weight=1.0, budget_usd_per_hour=4.0))
>>> r = allocate(pools, demands, [[2.4, 0.4], [1.0, 0.6]])
>>> r.status, round(r.objective, 2), r.gpus_of("serve")
('OPTIMAL', 27.2, 8.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from ortools.linear_solver import pywraplp

__all__ = ["Allocation", "Demand", "GpuPool", "allocate"]


@dataclass(frozen=True, slots=True)
class GpuPool:
    """GPUs of one kind (a GPU model, a region, ...) available to share out.

    Examples
    --------
    >>> GpuPool("a100", 8, 1.8).gpus
    8
    """

    name: str
    gpus: float
    price_usd_per_gpu_hour: float

    def __post_init__(self) -> None:
        if self.gpus < 0 or self.price_usd_per_gpu_hour < 0:
            raise ValueError(f"pool {self.name}: gpus and price must be >= 0")


@dataclass(frozen=True, slots=True)
class Demand:
    """A tenant or workload class asking for GPUs.

    Parameters
    ----------
    name : str
        Tenant or class.
    max_gpus : float
        GPUs it can use at most.
    weight : float
        Priority of its throughput in the objective.
    budget_usd_per_hour : float or None
        Spending cap; None means uncapped.
    min_share : float
        Fairness floor: the fraction of ``max_gpus`` it must get, in [0, 1].

    Examples
    --------
    >>> Demand("acme", 4).min_share
    0.0
    """

    name: str
    max_gpus: float
    weight: float = 1.0
    budget_usd_per_hour: float | None = None
    min_share: float = 0.0

    def __post_init__(self) -> None:
        if self.max_gpus < 0 or self.weight < 0 or not 0.0 <= self.min_share <= 1.0:
            raise ValueError(f"demand {self.name}: max_gpus, weight >= 0, min_share in [0, 1]")
        if self.budget_usd_per_hour is not None and self.budget_usd_per_hour < 0:
            raise ValueError(f"demand {self.name}: budget must be >= 0")


@dataclass(frozen=True)
class Allocation:
    """GPUs per (demand, pool) and the solver's verdict.

    ``gpus`` has one row per demand and one column per pool (zeros unless ``OPTIMAL``).

    Examples
    --------
    >>> a = Allocation("OPTIMAL", 1.0, ("d",), ("p",), np.array([[2.0]]), np.array([0.5]))
    >>> a.gpus_of("d")
    2.0
    """

    status: str
    objective: float
    demands: tuple[str, ...]
    pools: tuple[str, ...]
    gpus: npt.NDArray[np.float64]
    shadow_prices: npt.NDArray[np.float64]

    def gpus_of(self, demand: str) -> float:
        """Total GPUs given to ``demand``."""
        return round(float(self.gpus[self.demands.index(demand)].sum()), 9)


def allocate(
    pools: Sequence[GpuPool],
    demands: Sequence[Demand],
    throughput_per_gpu: npt.ArrayLike,
) -> Allocation:
    """Solve the allocation LP; ``throughput_per_gpu[d][k]`` is demand d's rate on pool k."""
    rate = np.asarray(throughput_per_gpu, dtype=np.float64)
    if rate.size == 0:
        rate = rate.reshape(len(demands), len(pools))
    if rate.shape != (len(demands), len(pools)):
        raise ValueError(
            f"throughput_per_gpu has shape {rate.shape}, expected {(len(demands), len(pools))}"
        )
    if not np.all(np.isfinite(rate)) or (rate < 0).any():
        raise ValueError("throughput_per_gpu must be finite and >= 0")
    names = tuple(d.name for d in demands)
    pool_names = tuple(p.name for p in pools)
    solver = pywraplp.Solver.CreateSolver("GLOP")
    inf = solver.infinity()
    x = [[solver.NumVar(0.0, inf, f"x_{d}_{k}") for k in range(len(pools))] for d in demands]
    pool_rows = []
    for k, pool in enumerate(pools):
        row = solver.Constraint(-inf, float(pool.gpus), f"pool_{k}")
        for d in range(len(demands)):
            row.SetCoefficient(x[d][k], 1.0)
        pool_rows.append(row)
    for d, demand in enumerate(demands):
        floor = demand.min_share * demand.max_gpus
        need = solver.Constraint(floor, float(demand.max_gpus), f"need_{d}")
        for k in range(len(pools)):
            need.SetCoefficient(x[d][k], 1.0)
        if demand.budget_usd_per_hour is not None:
            budget = solver.Constraint(-inf, demand.budget_usd_per_hour, f"budget_{d}")
            for k, pool in enumerate(pools):
                budget.SetCoefficient(x[d][k], pool.price_usd_per_gpu_hour)
    objective = solver.Objective()
    for d, demand in enumerate(demands):
        for k in range(len(pools)):
            objective.SetCoefficient(x[d][k], demand.weight * float(rate[d, k]))
    objective.SetMaximization()
    code = solver.Solve()
    status = {
        pywraplp.Solver.OPTIMAL: "OPTIMAL",
        pywraplp.Solver.INFEASIBLE: "INFEASIBLE",
        pywraplp.Solver.UNBOUNDED: "UNBOUNDED",
    }.get(code, "ERROR")
    shape = (len(demands), len(pools))
    if status != "OPTIMAL":
        return Allocation(status, 0.0, names, pool_names, np.zeros(shape), np.zeros(len(pools)))
    gpus = np.array([[v.solution_value() for v in row] for row in x], dtype=np.float64).reshape(
        shape
    )
    # GLOP's tolerances leave values like -1e-12 or 3.9999999999; clean them for callers.
    gpus = np.clip(np.round(gpus, 9), 0.0, None)
    shadow = np.array([row.dual_value() for row in pool_rows], dtype=np.float64)
    return Allocation(status, float(objective.Value()), names, pool_names, gpus, shadow)
