"""Placement optimisation: CP-SAT placement of pending workloads, and the baselines it beats.

Also migration of running workloads (:mod:`optimizers.migration`), LP allocation of GPU
pools across tenants or classes (:mod:`optimizers.allocation`) and the cost/time Pareto
options of one workload (:mod:`optimizers.pareto`).

Pure computation (numpy, OR-Tools, :mod:`schemas`); no I/O and no clock. Build a
:class:`PlacementProblem`, solve it with :class:`CpSatPlacer`, compare with
:func:`cheapest_first` or :func:`greedy_best_fit`. :mod:`evaluation.placement` generates
synthetic instances and measures quality and solve time.
"""

from optimizers.baselines import cheapest_first, greedy_best_fit, random_placement
from optimizers.migration import MigrationDecision, RunningWorkload, plan_migrations
from optimizers.placement import CpSatPlacer
from optimizers.problem import (
    ObjectiveWeights,
    PendingWorkload,
    PlacementProblem,
    ProviderCapacity,
    feasible,
)
from optimizers.result import PlacementResult, Unplaced, violations

__all__ = [
    "CpSatPlacer",
    "MigrationDecision",
    "ObjectiveWeights",
    "PendingWorkload",
    "PlacementProblem",
    "PlacementResult",
    "ProviderCapacity",
    "RunningWorkload",
    "Unplaced",
    "cheapest_first",
    "feasible",
    "greedy_best_fit",
    "plan_migrations",
    "random_placement",
    "violations",
]
