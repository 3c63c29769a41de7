"""Placement: properties of every placer, edge cases of the CP-SAT model, and reasons."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluation.placement import evaluate_placement, generate_instance, perf_per_dollar
from optimizers.baselines import cheapest_first, greedy_best_fit, random_placement
from optimizers.placement import CpSatPlacer
from optimizers.problem import (
    ObjectiveWeights,
    PendingWorkload,
    PlacementProblem,
    ProviderCapacity,
    failed_constraints,
    feasible,
)
from optimizers.result import PlacementResult, objective_units, violations

MODELS = ("A100 80GB", "L4 24GB", "RTX 4090 24GB")
REGIONS = ("us-east", "eu-central")
# Deterministic and generous: tiny instances solve to optimality in milliseconds.
PLACER = CpSatPlacer(time_limit_s=5.0, seed=3, deterministic=True)


def prov(pid: str, free: int = 8, **kw: object) -> ProviderCapacity:
    fields: dict[str, object] = {
        "region": "us-east",
        "gpu_model": "A100 80GB",
        "vram_gb_per_gpu": 80.0,
        "price_usd_per_gpu_hour": 1.0,
    }
    fields.update(kw)
    return ProviderCapacity(pid, free_gpus=free, **fields)


def wl(wid: str, gpus: int = 1, **kw: object) -> PendingWorkload:
    fields: dict[str, object] = {"tenant_id": "acme", "vram_gb_per_gpu": 24.0}
    fields.update(kw)
    return PendingWorkload(wid, gpus=gpus, **fields)


@st.composite
def problems(draw: st.DrawFn) -> PlacementProblem:
    n_p = draw(st.integers(0, 6))
    n_w = draw(st.integers(1, 8))
    providers = tuple(
        ProviderCapacity(
            f"p{j}",
            region=draw(st.sampled_from(REGIONS)),
            gpu_model=draw(st.sampled_from(MODELS)),
            free_gpus=draw(st.integers(0, 6)),
            vram_gb_per_gpu=draw(st.sampled_from((24.0, 80.0))),
            price_usd_per_gpu_hour=draw(st.floats(0.1, 3.0)),
            reputation=draw(st.floats(0.3, 1.0)),
        )
        for j in range(n_p)
    )
    workloads = tuple(
        PendingWorkload(
            f"w{i}",
            tenant_id=draw(st.sampled_from(("t1", "t2"))),
            gpus=draw(st.integers(1, 4)),
            vram_gb_per_gpu=draw(st.sampled_from((16.0, 24.0, 24.0, 40.0))),
            # Mostly unrestricted, so that shared limits (capacity, budgets,
            # anti-affinity) bind often enough to be tested.
            allowed_gpu_models=draw(st.sampled_from(((), (), (), MODELS[:2], MODELS[2:]))),
            allowed_regions=draw(st.sampled_from(((), (), REGIONS[:1]))),
            max_price_usd_per_gpu_hour=draw(st.sampled_from((None, None, 1.0, 2.0))),
            replica_group=draw(st.sampled_from((None, "g1", "g1", "g2"))),
            min_reputation=draw(st.sampled_from((0.0, 0.0, 0.5))),
        )
        for i in range(n_w)
    )
    throughput = draw(st.lists(st.floats(0.0, 100.0), min_size=n_w * n_p, max_size=n_w * n_p))
    budgets = draw(st.dictionaries(st.sampled_from(("t1", "t2")), st.floats(0.0, 12.0)))
    current = draw(st.lists(st.integers(-1, max(n_p - 1, -1)), min_size=n_w, max_size=n_w))
    # Put some workloads "currently" on a provider, to exercise warm starts.
    providers = tuple(
        ProviderCapacity(
            p.provider_id,
            p.region,
            p.gpu_model,
            p.free_gpus,
            p.vram_gb_per_gpu,
            p.price_usd_per_gpu_hour,
            p.reputation,
            tuple(f"w{i}" for i, c in enumerate(current) if c == j),
        )
        for j, p in enumerate(providers)
    )
    return PlacementProblem(providers, workloads, np.array(throughput).reshape(n_w, n_p), budgets)


# Realistic, crowded instances (more GPUs asked than free), where capacity always binds.
crowded = st.integers(0, 2**16).map(lambda seed: generate_instance(6, 14, seed))
instances = problems() | crowded


PLACERS: dict[str, Callable[[PlacementProblem], PlacementResult]] = {
    "cpsat": PLACER.solve,
    "cpsat_top1": CpSatPlacer(time_limit_s=5.0, top_k=1, deterministic=True).solve,
    "cheapest": cheapest_first,
    "greedy": greedy_best_fit,
    "random": lambda prob: random_placement(prob, seed=5),
}

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(instances)
def test_every_placer_respects_every_constraint(prob: PlacementProblem) -> None:
    for placer in PLACERS.values():
        check_valid(prob, placer(prob))


def check_valid(prob: PlacementProblem, res: PlacementResult) -> None:
    by_id = {p.provider_id: p for p in prob.providers}
    workloads = {w.workload_id: w for w in prob.workloads}
    assert violations(prob, res.assignments) == []
    # Recomputed here from the records, independently of violations().
    used: Counter[str] = Counter()
    spent: Counter[str] = Counter()
    for wid, pid in res.assignments.items():
        w, p = workloads[wid], by_id[pid]
        assert feasible(w, p), (wid, pid, failed_constraints(w, p))
        used[pid] += w.gpus
        spent[w.tenant_id] += w.gpus * p.price_usd_per_gpu_hour
    assert all(used[pid] <= by_id[pid].free_gpus for pid in used)
    for tenant, usd in spent.items():
        assert usd <= prob.tenant_budgets_usd_per_hour.get(tenant, float("inf")) + 1e-9
    groups = Counter(
        (workloads[wid].replica_group, pid)
        for wid, pid in res.assignments.items()
        if workloads[wid].replica_group is not None
    )
    assert all(n == 1 for n in groups.values())
    # Each workload is placed at most once, or explained exactly once.
    unplaced = [u.workload_id for u in res.unplaced]
    assert sorted([*res.assignments, *unplaced]) == sorted(workloads)
    assert res.objective_value * 1000 == pytest.approx(objective_units(prob, res.assignments))


@FAST
@given(instances)
def test_cpsat_is_optimal_and_never_worse_than_any_baseline(prob: PlacementProblem) -> None:
    res = PLACER.solve(prob)
    assert res.status == "OPTIMAL" and res.gap == 0.0
    ours = objective_units(prob, res.assignments)
    for baseline in (greedy_best_fit(prob), cheapest_first(prob), random_placement(prob, seed=1)):
        assert ours >= objective_units(prob, baseline.assignments)


@FAST
@given(instances)
def test_pruned_model_never_worse_than_greedy(prob: PlacementProblem) -> None:
    # top_k=1 prunes hard; the greedy choices kept as candidates still bound it below.
    res = CpSatPlacer(time_limit_s=5.0, top_k=1, deterministic=True).solve(prob)
    greedy = greedy_best_fit(prob)
    assert objective_units(prob, res.assignments) >= objective_units(prob, greedy.assignments)


@settings(max_examples=15, deadline=None)
@given(problems(), st.integers(0, 2**31 - 1))
def test_same_seed_same_answer(prob: PlacementProblem, seed: int) -> None:
    placer = CpSatPlacer(time_limit_s=5.0, seed=seed, deterministic=True)
    assert placer.solve(prob) == placer.solve(prob)
    assert random_placement(prob, seed=seed) == random_placement(prob, seed=seed)


@FAST
@given(problems())
def test_vectorised_checks_agree_with_feasible(prob: PlacementProblem) -> None:
    for i, w in enumerate(prob.workloads):
        mask = prob.feasible_mask(i)
        row = prob.coefficients(i)
        for j, p in enumerate(prob.providers):
            assert bool(mask[j]) == feasible(w, p)
            if mask[j]:
                assert prob.coefficient(i, j) == row[j]


@FAST
@given(instances)
def test_unplaced_reasons_hold(prob: PlacementProblem) -> None:
    res = PLACER.solve(prob)
    index = {w.workload_id: i for i, w in enumerate(prob.workloads)}
    for u in res.unplaced:
        i = index[u.workload_id]
        masks = prob.constraint_masks(i)
        if u.reason in masks:
            assert not masks[u.reason].any()
        elif u.reason in ("no_providers", "constraints"):
            assert not prob.feasible_mask(i).any()
        else:
            assert prob.feasible_mask(i).any()
        assert u.detail


def test_callable_throughput_matches_matrix() -> None:
    prob = generate_instance(providers=15, pending=8, seed=2)
    matrix = np.asarray(prob.predicted_throughput)
    index = {p.provider_id: j for j, p in enumerate(prob.providers)}
    wids = {w.workload_id: i for i, w in enumerate(prob.workloads)}
    as_fn = PlacementProblem(
        prob.providers,
        prob.workloads,
        lambda w, p: float(matrix[wids[w.workload_id], index[p.provider_id]]),
        prob.tenant_budgets_usd_per_hour,
    )
    assert PLACER.solve(as_fn).objective_value == PLACER.solve(prob).objective_value


# --- edge cases -------------------------------------------------------------------------

ONE = np.ones((1, 1))
TWO = np.ones((2, 1))


@pytest.mark.parametrize(
    ("workload", "provider", "reason"),
    [
        (wl("w", allowed_gpu_models=("H100 80GB",)), prov("p"), "gpu_model"),
        (wl("w", allowed_regions=("eu-central",)), prov("p"), "region"),
        (wl("w", vram_gb_per_gpu=80.0), prov("p", vram_gb_per_gpu=24.0), "vram"),
        (wl("w", max_price_usd_per_gpu_hour=0.5), prov("p"), "max_price"),
        (wl("w", min_reputation=0.9), prov("p", reputation=0.5), "reputation"),
        (wl("w", gpus=4), prov("p", free=2), "capacity"),
    ],
)
def test_single_blocking_constraint_is_named(
    workload: PendingWorkload, provider: ProviderCapacity, reason: str
) -> None:
    res = PLACER.solve(PlacementProblem((provider,), (workload,), ONE))
    assert res.assignments == {}
    assert [(u.workload_id, u.reason) for u in res.unplaced] == [("w", reason)]


def test_constraints_that_only_block_together() -> None:
    # Each provider passes one check but fails the other, so no single name is to blame.
    providers = (prov("a", region="eu-central"), prov("b", gpu_model="L4 24GB"))
    workload = wl("w", allowed_regions=("us-east",), allowed_gpu_models=("A100 80GB",))
    res = PLACER.solve(PlacementProblem(providers, (workload,), np.ones((1, 2))))
    assert [u.reason for u in res.unplaced] == ["constraints"]
    assert "region 1" in res.unplaced[0].detail and "gpu_model 1" in res.unplaced[0].detail


def test_no_providers() -> None:
    res = PLACER.solve(PlacementProblem((), (wl("w1"), wl("w2")), np.zeros((2, 0))))
    assert res.assignments == {}
    assert {u.reason for u in res.unplaced} == {"no_providers"}


def test_no_workloads() -> None:
    res = PLACER.solve(PlacementProblem((prov("p"),), (), np.zeros((0, 1))))
    assert (res.assignments, res.unplaced, res.objective_value) == ({}, (), 0.0)


def test_capacity_full_after_other_placements() -> None:
    prob = PlacementProblem((prov("p", free=4),), (wl("a", 4), wl("b", 4)), TWO)
    res = PLACER.solve(prob)
    assert len(res.assignments) == 1
    assert [u.reason for u in res.unplaced] == ["capacity"]


def test_budget_binding() -> None:
    # 1 GPU at 1 USD/h each; 1.5 USD/h affords one workload only.
    prob = PlacementProblem(
        (prov("p"),), (wl("a"), wl("b")), TWO, tenant_budgets_usd_per_hour={"acme": 1.5}
    )
    res = PLACER.solve(prob)
    assert len(res.assignments) == 1
    assert [u.reason for u in res.unplaced] == ["tenant_budget"]
    # Another tenant is not limited by acme's budget.
    other = PlacementProblem((prov("p"),), (wl("a"), wl("b", tenant_id="zeta")), TWO, {"acme": 1.5})
    assert len(PLACER.solve(other).assignments) == 2


def test_budget_prefers_cheaper_provider_to_dropping_a_workload() -> None:
    providers = (
        prov("dear", price_usd_per_gpu_hour=2.0),
        prov("cheap", price_usd_per_gpu_hour=0.5),
    )
    prob = PlacementProblem(
        providers, (wl("a"), wl("b")), np.array([[10.0, 1.0], [10.0, 1.0]]), {"acme": 2.5}
    )
    res = PLACER.solve(prob)
    assert sorted(res.assignments.values()) == ["cheap", "dear"]


def test_anti_affinity_binding() -> None:
    replicas = (wl("r1", replica_group="g"), wl("r2", replica_group="g"))
    res = PLACER.solve(PlacementProblem((prov("p"),), replicas, TWO))
    assert len(res.assignments) == 1
    assert [u.reason for u in res.unplaced] == ["anti_affinity"]
    spread = PLACER.solve(PlacementProblem((prov("p"), prov("q")), replicas, np.ones((2, 2))))
    assert sorted(spread.assignments.values()) == ["p", "q"]


def test_warm_start_keeps_current_assignment_when_nothing_changed() -> None:
    # Two identical providers: only stickiness breaks the tie, towards the current one.
    for current in ("p", "q"):
        providers = tuple(
            prov(pid, current_workload_ids=("w",) if pid == current else ()) for pid in ("p", "q")
        )
        prob = PlacementProblem(providers, (wl("w"),), np.ones((1, 2)))
        assert PLACER.solve(prob).assignments == {"w": current}


def test_stickiness_outweighs_a_small_gain_but_not_a_large_one() -> None:
    providers = (prov("here", current_workload_ids=("w",)), prov("there"))
    small = PlacementProblem(providers, (wl("w"),), np.array([[100.0, 104.0]]))
    large = PlacementProblem(providers, (wl("w"),), np.array([[100.0, 150.0]]))
    assert PLACER.solve(small).assignments == {"w": "here"}
    assert PLACER.solve(large).assignments == {"w": "there"}
    no_stick = PlacementProblem(
        providers, (wl("w"),), np.array([[100.0, 104.0]]), weights=ObjectiveWeights(stickiness=0)
    )
    assert PLACER.solve(no_stick).assignments == {"w": "there"}


def test_cheapest_first_ignores_performance_greedy_does_not() -> None:
    providers = (
        prov("cheap", price_usd_per_gpu_hour=0.5),
        prov("fast", price_usd_per_gpu_hour=0.6),
    )
    prob = PlacementProblem(providers, (wl("w"),), np.array([[1.0, 5.0]]))
    assert cheapest_first(prob).assignments == {"w": "cheap"}
    assert greedy_best_fit(prob).assignments == {"w": "fast"}
    assert PLACER.solve(prob).assignments == {"w": "fast"}


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: PlacementProblem((prov("p"),), (wl("w"),), np.ones((2, 1))), "shape"),
        (lambda: PlacementProblem((prov("p"), prov("p")), (), np.ones((0, 2))), "provider ids"),
        (lambda: PlacementProblem((), (wl("w"), wl("w")), np.ones((2, 0))), "workload ids"),
        (lambda: wl("w", gpus=0), "gpus"),
        (lambda: prov("p", reputation=1.5), "reputation"),
    ],
)
def test_invalid_input_is_rejected(build: Callable[[], object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build()


def test_generate_instance_is_seeded() -> None:
    a, b = generate_instance(30, 12, seed=4), generate_instance(30, 12, seed=4)
    assert a.providers == b.providers and a.workloads == b.workloads
    assert np.array_equal(np.asarray(a.predicted_throughput), np.asarray(b.predicted_throughput))
    assert a.providers != generate_instance(30, 12, seed=5).providers


def test_evaluate_placement_reports_every_figure() -> None:
    figures = evaluate_placement([(30, 10)], seed=2, time_limit_s=2.0, repeats=2)
    row = figures["30x10"]
    assert row["gap_to_bound"] == 0.0
    assert row["objective"] >= row["objective_greedy"]
    assert 0 < row["solve_p50_s"] <= row["solve_p95_s"]
    prob = generate_instance(30, 10, seed=2)
    assert perf_per_dollar(prob, cheapest_first(prob)) > 0


def test_time_limit_too_short_falls_back_to_greedy() -> None:
    prob = generate_instance(60, 30, seed=3)
    res = CpSatPlacer(time_limit_s=0.0).solve(prob)
    greedy = greedy_best_fit(prob)
    assert res.notes == ("greedy fallback",)
    assert res.objective_value >= greedy.objective_value
    assert violations(prob, res.assignments) == []
