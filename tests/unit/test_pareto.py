"""Pareto options of one workload against an all-pairs brute force."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizers.pareto import Option, dominates, pareto_options
from optimizers.problem import PendingWorkload, ProviderCapacity, feasible


def _all_options(workload, providers, predict, work, counts) -> list[Option]:  # type: ignore[no-untyped-def]
    out = []
    for g in counts:
        w = PendingWorkload(
            workload.workload_id,
            workload.tenant_id,
            g,
            workload.vram_gb_per_gpu,
            allowed_regions=workload.allowed_regions,
        )
        for p in providers:
            t = predict(w, p)
            if p.free_gpus >= g and feasible(w, p) and t > 0:
                out.append(
                    Option(p.provider_id, g, t, work / t, work / t * p.price_usd_per_gpu_hour * g)
                )
    return out


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 8),
            st.sampled_from([0.2, 0.5, 1.0, 2.5]),
            st.sampled_from([0.0, 0.3, 1.0, 2.4]),
            st.sampled_from(["us-east", "eu-west"]),
        ),
        max_size=8,
    ),
    st.lists(st.integers(1, 8), min_size=1, max_size=4),
    st.sampled_from([0.8, 0.92, 1.0]),
)
def test_front_equals_brute_force_non_dominated_set(prov_specs, counts, exponent) -> None:  # type: ignore[no-untyped-def]
    providers = tuple(
        ProviderCapacity(f"p{j}", region, "A100 80GB", free, 80.0, price)
        for j, (free, price, _speed, region) in enumerate(prov_specs)
    )
    speed = {f"p{j}": s for j, (_f, _p, s, _r) in enumerate(prov_specs)}
    workload = PendingWorkload("w", "t", 1, 40.0, allowed_regions=("us-east",))

    def predict(w: PendingWorkload, p: ProviderCapacity) -> float:
        return speed[p.provider_id] * w.gpus**exponent

    front = pareto_options(workload, providers, predict, work_units=10.0, gpu_counts=counts)
    everything = _all_options(workload, providers, predict, 10.0, sorted(set(counts)))
    brute = [o for o in everything if not any(dominates(b, o) for b in everything)]
    # Identical (cost, time) points are reported once: compare the distinct points.
    assert sorted({(o.cost_usd, o.completion_h) for o in front}) == sorted(
        {(o.cost_usd, o.completion_h) for o in brute}
    )
    assert len(front) == len({(o.cost_usd, o.completion_h) for o in front})
    assert all(o in everything for o in front)
    # Cheapest first, strictly faster along the front.
    assert all(
        a.cost_usd < b.cost_usd and a.completion_h > b.completion_h
        for a, b in itertools.pairwise(front)
    )


def test_constraints_and_capacity_limit_the_options() -> None:
    providers = (
        ProviderCapacity("far", "eu-west", "H100 80GB", 8, 80.0, 0.1),
        ProviderCapacity("small", "us-east", "L4 24GB", 1, 24.0, 0.4),
        ProviderCapacity("dead", "us-east", "L4 24GB", 4, 24.0, 0.1),
    )
    speed = {"far": 5.0, "small": 1.0, "dead": 0.0}
    w = PendingWorkload("w", "t", 1, 16.0, allowed_regions=("us-east",))
    front = pareto_options(
        w, providers, lambda w, p: speed[p.provider_id] * w.gpus, work_units=2.0, gpu_counts=(1, 2)
    )
    # "far" breaks the region rule, "small" has one GPU, "dead" would never finish.
    assert [(o.provider_id, o.gpus, o.completion_h, o.cost_usd) for o in front] == [
        ("small", 1, 2.0, 0.8)
    ]
    assert pareto_options(w, (), lambda w, p: 1.0, work_units=1.0) == []
    with pytest.raises(ValueError, match="work_units"):
        pareto_options(w, providers, lambda w, p: 1.0, work_units=0.0)
    with pytest.raises(ValueError, match="gpu counts"):
        pareto_options(w, providers, lambda w, p: 1.0, work_units=1.0, gpu_counts=(0,))
