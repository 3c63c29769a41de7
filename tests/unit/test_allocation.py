"""LP allocation (GLOP) against an independent LP solver and brute-force integer search."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from optimizers.allocation import Demand, GpuPool, allocate


def _oracle(pools: list[GpuPool], demands: list[Demand], rate: np.ndarray) -> float | None:
    """The same LP written independently for scipy's HiGHS; None when infeasible."""
    n_d, n_k = len(demands), len(pools)
    c = -np.array([[d.weight * rate[i, k] for k in range(n_k)] for i, d in enumerate(demands)])
    a_ub, b_ub = [], []
    for k, p in enumerate(pools):
        row = np.zeros((n_d, n_k))
        row[:, k] = 1
        a_ub.append(row.ravel())
        b_ub.append(p.gpus)
    for i, d in enumerate(demands):
        row = np.zeros((n_d, n_k))
        row[i, :] = 1
        a_ub += [row.ravel(), -row.ravel()]
        b_ub += [d.max_gpus, -d.min_share * d.max_gpus]
        if d.budget_usd_per_hour is not None:
            cost = np.zeros((n_d, n_k))
            cost[i, :] = [p.price_usd_per_gpu_hour for p in pools]
            a_ub.append(cost.ravel())
            b_ub.append(d.budget_usd_per_hour)
    res = linprog(c.ravel(), A_ub=np.array(a_ub), b_ub=b_ub, bounds=(0, None), method="highs")
    return None if res.status == 2 else float(-res.fun)


def _check_feasible(alloc, pools, demands) -> None:  # type: ignore[no-untyped-def]
    tol = 1e-6
    assert (alloc.gpus >= 0).all()
    for k, p in enumerate(pools):
        assert alloc.gpus[:, k].sum() <= p.gpus + tol
    for i, d in enumerate(demands):
        got = alloc.gpus[i].sum()
        assert d.min_share * d.max_gpus - tol <= got <= d.max_gpus + tol
        if d.budget_usd_per_hour is not None:
            spend = sum(alloc.gpus[i, k] * p.price_usd_per_gpu_hour for k, p in enumerate(pools))
            assert spend <= d.budget_usd_per_hour + tol


def _brute_force_integer(pools, demands, rate) -> float:  # type: ignore[no-untyped-def]
    """Best objective over every integer allocation (small instances only)."""
    best = -1.0
    ranges = [range(int(min(p.gpus, d.max_gpus)) + 1) for d in demands for p in pools]
    n_k = len(pools)
    for combo in itertools.product(*ranges):
        x = np.array(combo, dtype=float).reshape(len(demands), n_k)
        if (x.sum(axis=0) > [p.gpus for p in pools]).any():
            continue
        ok = True
        for i, d in enumerate(demands):
            if not d.min_share * d.max_gpus <= x[i].sum() <= d.max_gpus:
                ok = False
            if d.budget_usd_per_hour is not None:
                ok &= x[i] @ [p.price_usd_per_gpu_hour for p in pools] <= d.budget_usd_per_hour
        if ok:
            best = max(best, float(sum(d.weight * x[i] @ rate[i] for i, d in enumerate(demands))))
    return best


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.sampled_from([0.5, 1.0, 2.5])), min_size=1, max_size=2
    ),
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.sampled_from([0.5, 1.0, 2.0]),
            st.one_of(st.none(), st.sampled_from([1.0, 2.5, 6.0])),
            st.sampled_from([0.0, 0.0, 0.5]),
        ),
        min_size=1,
        max_size=2,
    ),
    st.data(),
)
def test_matches_an_independent_lp_and_bounds_the_integer_brute_force(
    pool_specs, demand_specs, data
) -> None:  # type: ignore[no-untyped-def]
    pools = [GpuPool(f"p{k}", g, price) for k, (g, price) in enumerate(pool_specs)]
    demands = [Demand(f"d{i}", m, w, b, s) for i, (m, w, b, s) in enumerate(demand_specs)]
    rate = np.array(
        data.draw(
            st.lists(
                st.lists(
                    st.sampled_from([0.0, 0.3, 1.0, 2.4]), min_size=len(pools), max_size=len(pools)
                ),
                min_size=len(demands),
                max_size=len(demands),
            )
        )
    )
    alloc = allocate(pools, demands, rate)
    expected = _oracle(pools, demands, rate)
    if expected is None:
        assert alloc.status == "INFEASIBLE"
        return
    assert alloc.status == "OPTIMAL"
    assert alloc.objective == pytest.approx(expected, abs=1e-6)
    _check_feasible(alloc, pools, demands)
    recomputed = sum(d.weight * alloc.gpus[i] @ rate[i] for i, d in enumerate(demands))
    assert recomputed == pytest.approx(alloc.objective, abs=1e-6)
    # The LP relaxes integrality, so it can only beat the best whole-GPU split.
    assert alloc.objective >= _brute_force_integer(pools, demands, rate) - 1e-6


def test_budget_binds_and_fairness_floor_is_honoured() -> None:
    pools = (GpuPool("h100", 8, 2.0),)
    rich = Demand("rich", max_gpus=8, weight=2.0)
    poor = Demand("poor", max_gpus=8, weight=1.0, min_share=0.25)
    free = allocate(pools, (rich, Demand("poor", 8, 1.0)), [[1.0], [1.0]])
    assert (free.gpus_of("rich"), free.gpus_of("poor")) == (8.0, 0.0)
    fair = allocate(pools, (rich, poor), [[1.0], [1.0]])
    assert (fair.gpus_of("rich"), fair.gpus_of("poor")) == (6.0, 2.0)
    capped = allocate(
        pools, (Demand("rich", 8, 2.0, budget_usd_per_hour=5.0), poor), [[1.0], [1.0]]
    )
    assert capped.gpus_of("rich") == pytest.approx(2.5)
    assert capped.gpus_of("poor") == pytest.approx(5.5)
    assert fair.shadow_prices[0] == pytest.approx(2.0)  # one more GPU goes to "rich"


def test_impossible_floors_are_reported_not_raised() -> None:
    pools = (GpuPool("a", 4, 1.0),)
    demands = (Demand("x", 4, min_share=1.0), Demand("y", 4, min_share=0.5))
    res = allocate(pools, demands, [[1.0], [1.0]])
    assert res.status == "INFEASIBLE" and res.gpus.sum() == 0.0


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: GpuPool("p", -1, 1.0), "gpus"),
        (lambda: Demand("d", 1, min_share=1.5), "min_share"),
        (lambda: Demand("d", 1, budget_usd_per_hour=-1.0), "budget"),
        (lambda: allocate((GpuPool("p", 1, 1.0),), (Demand("d", 1),), [[float("nan")]]), "finite"),
        (lambda: allocate((GpuPool("p", 1, 1.0),), (Demand("d", 1),), [[1.0, 2.0]]), "shape"),
    ],
)
def test_bad_input_gives_a_clear_error(make, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        make()


def test_empty_inputs() -> None:
    res = allocate((), (), np.zeros((0, 0)))
    assert res.status == "OPTIMAL" and res.objective == 0.0
