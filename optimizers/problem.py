"""A placement instance: providers with free GPUs, pending workloads, and what they may use.

:func:`feasible` (and its vectorised form :meth:`PlacementProblem.feasible_mask`) is the
one definition of the hard constraints a single workload-provider pair must meet; every
solver and baseline goes through it. Constraints that couple several placements
(free-GPU capacity, anti-affinity, tenant budgets) are enforced by the solvers and
checked by :func:`optimizers.result.violations`.

>>> p = ProviderCapacity("p1", "us-east", "A100 80GB", free_gpus=8, vram_gb_per_gpu=80.0,
...                      price_usd_per_gpu_hour=1.5)
>>> w = PendingWorkload("w1", "acme", gpus=4, vram_gb_per_gpu=40.0,
...                     allowed_regions=("eu-central",))
>>> feasible(w, p), failed_constraints(w, p)
(False, ('region',))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

__all__ = [
    "HARD_CONSTRAINTS",
    "SCALE",
    "ObjectiveWeights",
    "PendingWorkload",
    "PlacementProblem",
    "ProviderCapacity",
    "ThroughputFn",
    "failed_constraints",
    "feasible",
]

#: Objective coefficients and USD amounts are integers in units of 1/SCALE, so CP-SAT,
#: the baselines and the tests all compare exactly the same numbers.
SCALE = 1000

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ThroughputFn = Callable[["PendingWorkload", "ProviderCapacity"], float]


@dataclass(frozen=True, slots=True)
class ProviderCapacity:
    """What one provider can still offer to the workloads being placed.

    Parameters
    ----------
    provider_id, region, gpu_model : str
        Identity, location and GPU model (as in ``schemas.ProviderInfo``).
    free_gpus : int
        GPUs available to this instance. GPUs held by the workloads in
        ``current_workload_ids`` count as free, because those workloads are being
        re-placed by this very instance and release them if they move.
    vram_gb_per_gpu, price_usd_per_gpu_hour : float
        Memory per GPU and asking price.
    reputation : float
        Trust score in [0, 1].
    current_workload_ids : tuple of str
        Workloads running here now (used for warm starts and stickiness).

    Examples
    --------
    >>> ProviderCapacity("p1", "us-east", "L4 24GB", 2, 24.0, 0.4).reputation
    1.0
    """

    provider_id: str
    region: str
    gpu_model: str
    free_gpus: int
    vram_gb_per_gpu: float
    price_usd_per_gpu_hour: float
    reputation: float = 1.0
    current_workload_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.free_gpus < 0 or not 0.0 <= self.reputation <= 1.0:
            raise ValueError(f"{self.provider_id}: free_gpus >= 0 and reputation in [0, 1]")


@dataclass(frozen=True, slots=True)
class PendingWorkload:
    """A workload (one replica) waiting to be placed.

    Parameters
    ----------
    workload_id, tenant_id : str
        Identity and owner.
    gpus : int
        GPUs needed on a single provider.
    vram_gb_per_gpu : float
        Minimum memory per GPU.
    allowed_gpu_models, allowed_regions : tuple of str
        Placement restrictions; empty means any.
    max_price_usd_per_gpu_hour : float or None
        Price ceiling; None means none.
    replica_group : str or None
        Replicas sharing a group never land on the same provider (anti-affinity).
    min_reputation : float
        Lowest acceptable provider reputation.

    Examples
    --------
    >>> PendingWorkload("w1", "acme", gpus=1, vram_gb_per_gpu=16.0).replica_group is None
    True
    """

    workload_id: str
    tenant_id: str
    gpus: int
    vram_gb_per_gpu: float
    allowed_gpu_models: tuple[str, ...] = ()
    allowed_regions: tuple[str, ...] = ()
    max_price_usd_per_gpu_hour: float | None = None
    replica_group: str | None = None
    min_reputation: float = 0.0

    def __post_init__(self) -> None:
        if self.gpus < 1:
            raise ValueError(f"{self.workload_id}: gpus must be >= 1")


@dataclass(frozen=True, slots=True)
class ObjectiveWeights:
    """Trade-off between predicted performance and cost, per placed workload.

    Each placement of workload ``w`` on provider ``p`` scores
    ``place + perf * t[w, p] / max_p t[w, p] - cost * c[w, p] / max_p c[w, p]``
    (maxima over the providers feasible for ``w``), plus ``stickiness`` if ``p`` is
    where ``w`` runs now. ``place`` exists because without it leaving a workload
    unplaced would beat any placement whose cost outweighs its performance; keep it
    above ``cost`` so that placing always pays.

    Examples
    --------
    >>> ObjectiveWeights().place > ObjectiveWeights().cost
    True
    """

    perf: float = 1.0
    cost: float = 1.0
    place: float = 2.0
    stickiness: float = 0.1


@dataclass(frozen=True, slots=True)
class _Columns:
    # Providers as arrays, so a workload is checked against 10,000 of them in one go.
    region: npt.NDArray[np.str_]
    gpu_model: npt.NDArray[np.str_]
    free_gpus: IntArray
    vram_gb_per_gpu: FloatArray
    price_usd_per_gpu_hour: FloatArray
    reputation: FloatArray

    @classmethod
    def of(cls, providers: tuple[ProviderCapacity, ...]) -> _Columns:
        return cls(
            region=np.array([p.region for p in providers], dtype=np.str_),
            gpu_model=np.array([p.gpu_model for p in providers], dtype=np.str_),
            free_gpus=np.array([p.free_gpus for p in providers], dtype=np.int64),
            vram_gb_per_gpu=np.array([p.vram_gb_per_gpu for p in providers], dtype=np.float64),
            price_usd_per_gpu_hour=np.array(
                [p.price_usd_per_gpu_hour for p in providers], dtype=np.float64
            ),
            reputation=np.array([p.reputation for p in providers], dtype=np.float64),
        )


def _allowed(values: npt.NDArray[np.str_], allowed: tuple[str, ...]) -> BoolArray:
    if not allowed:
        return np.ones(values.shape, dtype=np.bool_)
    return np.isin(values, np.array(allowed, dtype=np.str_))


def _max_price_ok(w: PendingWorkload, c: _Columns) -> BoolArray:
    if w.max_price_usd_per_gpu_hour is None:
        return np.ones(c.price_usd_per_gpu_hour.shape, dtype=np.bool_)
    return c.price_usd_per_gpu_hour <= w.max_price_usd_per_gpu_hour


#: Every hard constraint of one pair, by name; the names are the reasons reported for
#: workloads nothing can host.
HARD_CONSTRAINTS: Mapping[str, Callable[[PendingWorkload, _Columns], BoolArray]] = MappingProxyType(
    {
        "gpu_model": lambda w, c: _allowed(c.gpu_model, w.allowed_gpu_models),
        "region": lambda w, c: _allowed(c.region, w.allowed_regions),
        "vram": lambda w, c: c.vram_gb_per_gpu >= w.vram_gb_per_gpu,
        "max_price": _max_price_ok,
        "reputation": lambda w, c: c.reputation >= w.min_reputation,
    }
)


def failed_constraints(w: PendingWorkload, p: ProviderCapacity) -> tuple[str, ...]:
    """Names of the hard constraints that rule ``p`` out for ``w`` (empty if feasible)."""
    columns = _Columns.of((p,))
    return tuple(name for name, check in HARD_CONSTRAINTS.items() if not check(w, columns)[0])


def feasible(w: PendingWorkload, p: ProviderCapacity) -> bool:
    """Whether ``p`` meets every hard constraint of ``w`` (capacity aside)."""
    return not failed_constraints(w, p)


@dataclass(frozen=True, eq=False)
class PlacementProblem:
    """One placement instance.

    Parameters
    ----------
    providers : tuple of ProviderCapacity
        Candidate providers (ids unique).
    workloads : tuple of PendingWorkload
        Workloads to place (ids unique).
    predicted_throughput : array of shape (n_workloads, n_providers) or callable
        Predicted throughput of each workload on each provider, or a function
        ``(workload, provider) -> float`` called only for feasible pairs.
    tenant_budgets_usd_per_hour : mapping
        Spending cap per tenant; tenants not listed are uncapped.
    weights : ObjectiveWeights
        Objective trade-off.

    Examples
    --------
    >>> provs = (ProviderCapacity("cheap", "us-east", "L4 24GB", 4, 24.0, 0.4),
    ...          ProviderCapacity("fast", "us-east", "H100 80GB", 8, 80.0, 2.5))
    >>> wl = (PendingWorkload("w1", "acme", 2, 24.0),)
    >>> prob = PlacementProblem(provs, wl, np.array([[0.7, 5.2]]))
    >>> prob.feasible_mask(0).tolist(), prob.cost_units(0).tolist()
    ([True, True], [800, 5000])
    >>> prob.coefficients(0).tolist()  # place + perf - cost, in 1/SCALE units
    [1975, 2000]
    """

    providers: tuple[ProviderCapacity, ...]
    workloads: tuple[PendingWorkload, ...]
    predicted_throughput: npt.ArrayLike | ThroughputFn
    tenant_budgets_usd_per_hour: Mapping[str, float] = field(default_factory=dict)
    weights: ObjectiveWeights = field(default_factory=ObjectiveWeights)

    def __post_init__(self) -> None:
        provider_ids = [p.provider_id for p in self.providers]
        workload_ids = [w.workload_id for w in self.workloads]
        if len(set(provider_ids)) != len(provider_ids):
            raise ValueError("provider ids must be unique")
        if len(set(workload_ids)) != len(workload_ids):
            raise ValueError("workload ids must be unique")
        if not callable(self.predicted_throughput):
            matrix = np.asarray(self.predicted_throughput, dtype=np.float64)
            if matrix.shape != (len(self.workloads), len(self.providers)):
                raise ValueError(
                    f"predicted_throughput has shape {matrix.shape}, expected "
                    f"{(len(self.workloads), len(self.providers))}"
                )
            object.__setattr__(self, "predicted_throughput", matrix)
        current = {w: i for i, p in enumerate(self.providers) for w in p.current_workload_ids}
        object.__setattr__(self, "_columns", _Columns.of(self.providers))
        # Memos of per-workload results that every solver and check asks for again.
        object.__setattr__(self, "_masks", {})
        object.__setattr__(self, "_scales", {})
        object.__setattr__(
            self, "_current", np.array([current.get(w, -1) for w in workload_ids], np.int64)
        )
        object.__setattr__(
            self,
            "_budget_units",
            {t: math.floor(b * SCALE + 1e-9) for t, b in self.tenant_budgets_usd_per_hour.items()},
        )

    @property
    def columns(self) -> _Columns:
        """Provider attributes as arrays."""
        columns: _Columns = self.__dict__["_columns"]
        return columns

    def constraint_masks(self, i: int) -> dict[str, BoolArray]:
        """Per hard constraint, which providers pass it for workload ``i``."""
        w = self.workloads[i]
        return {name: check(w, self.columns) for name, check in HARD_CONSTRAINTS.items()}

    def feasible_mask(self, i: int) -> BoolArray:
        """Providers meeting every hard constraint of workload ``i``.

        The vectorised form of :func:`feasible`, built from the same checks.
        """
        masks: dict[int, BoolArray] = self.__dict__["_masks"]
        if i not in masks:
            mask = np.ones(len(self.providers), dtype=np.bool_)
            for passed in self.constraint_masks(i).values():
                mask &= passed
            # Shared between callers, hence read-only.
            mask.flags.writeable = False
            masks[i] = mask
        return masks[i]

    def current_provider(self, i: int) -> int:
        """Index of the provider workload ``i`` runs on now, or -1."""
        return int(self.__dict__["_current"][i])

    def budget_units(self, tenant_id: str) -> int | None:
        """Tenant budget in 1/SCALE USD per hour, or None if uncapped."""
        budgets: dict[str, int] = self.__dict__["_budget_units"]
        return budgets.get(tenant_id)

    def cost_units(self, i: int) -> IntArray:
        """Cost of workload ``i`` on each provider, in 1/SCALE USD per hour (rounded up)."""
        # Costs round up and budgets down, so integer budget sums never hide an overspend.
        usd = self.columns.price_usd_per_gpu_hour * self.workloads[i].gpus
        return np.ceil(usd * SCALE - 1e-9).astype(np.int64)

    def throughput(self, i: int, mask: BoolArray | None = None) -> FloatArray:
        """Predicted throughput of workload ``i`` per provider (0 outside ``mask``)."""
        if mask is None:
            mask = self.feasible_mask(i)
        source = self.predicted_throughput
        if isinstance(source, np.ndarray):
            return np.where(mask, source[i], 0.0).astype(np.float64)
        assert callable(source)
        w = self.workloads[i]
        row = np.zeros(len(self.providers), dtype=np.float64)
        for j in np.flatnonzero(mask):
            row[j] = float(source(w, self.providers[j]))
        return row

    def coefficients(self, i: int, mask: BoolArray | None = None) -> IntArray:
        """Objective value of placing workload ``i`` on each provider, in 1/SCALE units.

        Meaningful only where ``mask`` (default: the feasible providers) holds.
        """
        feasible = self.feasible_mask(i)
        if mask is None:
            mask = feasible
        coef = np.zeros(len(self.providers), dtype=np.int64)
        if not mask.any():
            return coef
        tput = self.throughput(i, mask)
        cost = self.columns.price_usd_per_gpu_hour * self.workloads[i].gpus
        t_max, c_max = self._normalizers(i, tput if mask is feasible else None)
        value = self._value(i, tput, cost, t_max, c_max)
        current = self.current_provider(i)
        if current >= 0:
            value[current] += self.weights.stickiness
        coef[mask] = np.rint(value[mask] * SCALE).astype(np.int64)
        return coef

    def coefficient(self, i: int, j: int) -> int:
        """Objective value of placing workload ``i`` on provider ``j`` (feasible), in 1/SCALE."""
        source = self.predicted_throughput
        if isinstance(source, np.ndarray):
            tput = np.array([source[i, j]], dtype=np.float64)
        else:
            assert callable(source)
            tput = np.array([float(source(self.workloads[i], self.providers[j]))])
        cost = self.columns.price_usd_per_gpu_hour[j : j + 1] * self.workloads[i].gpus
        value = self._value(i, tput, cost, *self._normalizers(i))
        if self.current_provider(i) == j:
            value[0] += self.weights.stickiness
        return int(np.rint(value[0] * SCALE))

    def _normalizers(self, i: int, tput: FloatArray | None = None) -> tuple[float, float]:
        # Maxima over the feasible providers: each workload's score lies in a fixed range
        # whatever its throughput unit (frames/s vs tokens/s) or size.
        scales: dict[int, tuple[float, float]] = self.__dict__["_scales"]
        if i not in scales:
            feasible = self.feasible_mask(i)
            if tput is None:
                tput = self.throughput(i, feasible)
            cost = self.columns.price_usd_per_gpu_hour * self.workloads[i].gpus
            t_max = float(tput[feasible].max()) if feasible.any() else 0.0
            c_max = float(cost[feasible].max()) if feasible.any() else 0.0
            scales[i] = (t_max, c_max)
        return scales[i]

    def _value(
        self, i: int, tput: FloatArray, cost: FloatArray, t_max: float, c_max: float
    ) -> FloatArray:
        wt = self.weights
        t_norm = tput / t_max if t_max > 0 else np.zeros_like(tput)
        c_norm = cost / c_max if c_max > 0 else np.zeros_like(cost)
        value: FloatArray = wt.place + wt.perf * t_norm - wt.cost * c_norm
        return value
