"""Unit tests for ``models.sketch.QuantileSketch``, checked three ways.

1. Oracle: after every update the exact moments equal numpy on the same samples and each
   quantile lies within 1 % of a true sample quantile.
2. A table of edge cases (empty, one sample, constants, zeros, negatives).
3. Hypothesis properties: merge == sketch of the concatenation, and a JSON round trip of
   the compact state is invisible (identical results, also after further updates).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.sketch import MAX_BINS, QuantileSketch

# The documented guarantee (1 % relative error), plus a hair for float rounding in the
# sketch's log/exp mapping: a real accuracy regression is orders of magnitude larger.
REL = 0.01 + 1e-12
QUANTILES = (0.0, 0.25, 0.5, 0.95, 0.99, 1.0)
OBSERVED_QUANTILES = (0.0, 0.01, 0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0)
FAST = settings(max_examples=60, deadline=None, database=None)

RNG_SEED = 20240611


def _true_bounds(values: np.ndarray, q: float) -> tuple[float, float]:
    """The interval a 1 %-accurate ``q`` quantile must fall in."""
    lo = float(np.quantile(values, q, method="lower"))
    hi = float(np.quantile(values, q, method="higher"))
    return lo - REL * abs(lo), hi + REL * abs(hi)


def assert_matches_oracle(sketch: QuantileSketch, samples: Sequence[float]) -> None:
    """Exact moments equal numpy; quantiles lie within 1 % of a true sample quantile."""
    values = np.asarray(samples, dtype=float)
    assert sketch.count == len(values)
    assert sketch.min == values.min()
    assert sketch.max == values.max()
    # Relative 1e-9 on the mean; with mixed signs the mean can cancel to ~0, so the
    # absolute floor is scaled by the magnitude of the data (the sum's conditioning).
    assert math.isclose(
        sketch.mean,
        float(values.mean()),
        rel_tol=1e-9,
        abs_tol=1e-9 * float(np.abs(values).mean()),
    ), (sketch.mean, float(values.mean()))
    for q in QUANTILES:
        lo, hi = _true_bounds(values, q)
        assert lo <= sketch.quantile(q) <= hi, (q, sketch.quantile(q), lo, hi)


def sketch_of(values: Sequence[float]) -> QuantileSketch:
    sketch = QuantileSketch()
    for x in values:
        sketch.add(x)
    return sketch


def json_round_trip(sketch: QuantileSketch) -> QuantileSketch:
    return QuantileSketch.from_state(json.loads(json.dumps(sketch.to_state())))


def observable(sketch: QuantileSketch) -> tuple[Any, ...]:
    """Everything a caller can read from a sketch (nan-safe for ``==`` via repr)."""
    return (
        sketch.count,
        repr(sketch.sum),
        repr(sketch.mean),
        repr(sketch.min),
        repr(sketch.max),
        *(repr(sketch.quantile(q)) for q in OBSERVED_QUANTILES),
    )


def _datasets() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(RNG_SEED)
    zeros_mix = rng.normal(10.0, 5.0, 250)
    zeros_mix[rng.random(250) < 0.3] = 0.0
    return {
        "lognormal_skewed": rng.lognormal(0.0, 2.0, 250),
        "normal_with_negatives": rng.normal(-5.0, 50.0, 250),
        "all_negative": -rng.lognormal(3.0, 1.0, 250),
        "zeros_mixed_in": zeros_mix,
        "constant": np.full(60, 42.5),
        "constant_negative": np.full(60, -3.25),
        "all_zeros": np.zeros(40),
        "integers_with_ties": rng.integers(0, 5, 250).astype(float),
        "wide_range": rng.lognormal(0.0, 8.0, 150) * rng.choice([-1.0, 1.0], 150),
    }


DATASETS = _datasets()

# Finite floats whose magnitudes span less than the bins a store keeps (MAX_BINS, a factor
# of ~1e17 at 1 %), where the 1 % guarantee holds; tiny magnitudes become an exact 0.0.
# Wider data is checked by test_wide_range_state_is_bounded_and_upper_quantiles_hold.
finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False).map(
    lambda x: x if abs(x) >= 1e-3 else 0.0
)
samples = st.lists(finite, min_size=1, max_size=40)


# -- 1. oracle ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_matches_numpy_after_every_update(name: str) -> None:
    data = DATASETS[name].tolist()
    sketch = QuantileSketch()
    for i, x in enumerate(data):
        sketch.add(x)
        assert_matches_oracle(sketch, data[: i + 1])


@FAST
@given(samples)
def test_matches_numpy_after_every_update_hypothesis(values: list[float]) -> None:
    sketch = QuantileSketch()
    for i, x in enumerate(values):
        sketch.add(x)
        assert_matches_oracle(sketch, values[: i + 1])


def test_wide_range_state_is_bounded_and_upper_quantiles_hold() -> None:
    # Junk magnitudes down to 1e-300 among ordinary values: the smallest merge into one
    # bin (MAX_BINS), the state stays small, the moments stay exact and the median and
    # up keep 1 %. (Junk up to 1e300 would keep the top 1e17 apart instead: the state is
    # as small, the body's quantiles are lost; such a window is garbage either way.)
    rng = np.random.default_rng(RNG_SEED)
    for junk in (10.0 ** rng.uniform(-300, -10, 20), 10.0 ** rng.uniform(250, 300, 3)):
        data = np.concatenate([rng.lognormal(4.0, 1.0, 377), junk]).tolist()
        sketch = sketch_of(data)
        state = sketch.to_state()
        assert stored_bins(state["p"]) <= MAX_BINS and state["m"] == []
        assert len(json.dumps(state)) < 20 * MAX_BINS
        values = np.asarray(data)
        assert (sketch.min, sketch.max) == (values.min(), values.max())
        for q in (0.5, 0.95, 0.99, 1.0) if junk.max() < 1.0 else (1.0,):
            lo, hi = _true_bounds(values, q)
            assert lo <= sketch.quantile(q) <= hi, q


# -- 2. edge cases -----------------------------------------------------------------------


def test_empty_sketch_is_nan() -> None:
    sketch = QuantileSketch()
    assert sketch.count == 0
    assert sketch.sum == 0.0
    for value in (sketch.mean, sketch.min, sketch.max, *map(sketch.quantile, QUANTILES)):
        assert math.isnan(value)


@pytest.mark.parametrize("x", [0.0, -0.0, 1.0, -1.0, 1e-9, -7.5, 123456.789, 1e12, -1e12])
def test_one_sample_is_exact(x: float) -> None:
    sketch = sketch_of([x])
    assert (sketch.count, sketch.sum, sketch.mean, sketch.min, sketch.max) == (1, x, x, x, x)
    # Quantiles are clamped to the exact [min, max], so one sample is reported exactly.
    assert [sketch.quantile(q) for q in QUANTILES] == [x] * len(QUANTILES)


@pytest.mark.parametrize("x", [0.0, 3.0, -2.5, 99.9])
def test_constant_series_has_exact_quantiles(x: float) -> None:
    sketch = sketch_of([x] * 37)
    assert sketch.count == 37
    assert sketch.mean == pytest.approx(x, rel=1e-12)
    assert [sketch.quantile(q) for q in QUANTILES] == [x] * len(QUANTILES)


def test_zeros_negatives_and_positives_are_ordered() -> None:
    # 3 negatives, 4 zeros, 3 positives: the middle ranks are exactly zero.
    values = [-30.0, -20.0, -10.0, 0.0, 0.0, 0.0, 0.0, 10.0, 20.0, 30.0]
    sketch = sketch_of(values)
    assert sketch.quantile(0.5) == 0.0
    assert sketch.quantile(0.0) == -30.0  # clamped to the exact min
    assert sketch.quantile(1.0) == 30.0  # clamped to the exact max
    # q * (n - 1) is the rank: 1/9 -> the 2nd smallest, 8/9 -> the 2nd largest.
    assert sketch.quantile(1 / 9) == pytest.approx(-20.0, rel=0.01)
    assert sketch.quantile(8 / 9) == pytest.approx(20.0, rel=0.01)
    assert sketch.quantile(2 / 9) == pytest.approx(-10.0, rel=0.01)
    assert sketch.quantile(7 / 9) == pytest.approx(10.0, rel=0.01)


def test_quantiles_are_monotone_in_q() -> None:
    sketch = sketch_of(DATASETS["normal_with_negatives"].tolist())
    qs = [sketch.quantile(q / 200) for q in range(201)]
    assert qs == sorted(qs)


def test_doc_example_p95_of_1_to_100() -> None:
    sketch = sketch_of([float(x) for x in range(1, 101)])
    assert (sketch.count, sketch.mean, sketch.min, sketch.max) == (100, 50.5, 1.0, 100.0)
    assert sketch.quantile(0.95) == pytest.approx(95.0, rel=0.01)
    assert sketch.quantile(0.5) == pytest.approx(50.0, rel=0.01)


# -- 3a. merge ---------------------------------------------------------------------------


def assert_merge_equals_concatenation(a: list[float], b: list[float]) -> None:
    merged = sketch_of(a)
    merged.merge(sketch_of(b))
    whole = sketch_of(a + b)
    assert merged.count == whole.count == len(a) + len(b)
    if a or b:
        assert merged.min == whole.min
        assert merged.max == whole.max
        # Sums are added in a different order, so they agree to rounding only.
        scale = float(np.abs(np.asarray(a + b)).sum())
        assert math.isclose(merged.sum, whole.sum, rel_tol=1e-12, abs_tol=1e-12 * scale)
        # The bins are identical, so the quantiles are too (not just both within 1 %).
        for q in QUANTILES:
            assert merged.quantile(q) == whole.quantile(q), q
        assert_matches_oracle(merged, a + b)
        state, whole_state = merged.to_state(), whole.to_state()
        for field in ("n", "lo", "hi", "z", "p", "m"):
            assert state[field] == whole_state[field], field
    else:
        assert math.isnan(merged.quantile(0.5))


@FAST
@given(st.lists(finite, max_size=40), st.lists(finite, max_size=40))
def test_merge_equals_sketch_of_concatenation(a: list[float], b: list[float]) -> None:
    assert_merge_equals_concatenation(a, b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([], []),
        ([], [1.0, 2.0]),
        ([1.0, 2.0], []),
        ([-5.0, 0.0], [5.0, 0.0]),
        ([1e-3] * 5, [1e6] * 5),
        ([-1e6], [-1e-3, 7.0]),
    ],
    ids=["both_empty", "into_empty", "empty_into", "signs_and_zeros", "far_apart", "negative"],
)
def test_merge_edge_cases(a: list[float], b: list[float]) -> None:
    assert_merge_equals_concatenation(a, b)


def test_merge_of_integers_has_exact_sum() -> None:
    a = DATASETS["integers_with_ties"][:100].tolist()
    b = DATASETS["integers_with_ties"][100:].tolist()
    merged = sketch_of(a)
    merged.merge(sketch_of(b))
    assert merged.sum == sum(a) + sum(b)
    assert merged.mean == float(np.mean(a + b))


def test_merge_leaves_the_other_sketch_unchanged() -> None:
    a, b = sketch_of([1.0, 2.0]), sketch_of([3.0, -4.0])
    before = json.dumps(b.to_state())
    a.merge(b)
    b.add(10.0)  # must not leak into ``a`` either (copy-on-merge into an empty store)
    assert a.count == 4 and a.max == 3.0
    assert json.dumps(sketch_of([3.0, -4.0]).to_state()) == before
    empty = QuantileSketch()
    empty.merge(b)
    b.add(1000.0)
    assert empty.count == 3 and empty.max == 10.0


# -- 3b. compact state -------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_json_round_trip_is_invisible(name: str) -> None:
    data = DATASETS[name].tolist()
    half = len(data) // 2
    original = sketch_of(data[:half])
    restored = json_round_trip(original)
    assert observable(restored) == observable(original)
    # Crash recovery: continuing on the restored copy == never having serialized.
    for x in data[half:]:
        original.add(x)
        restored.add(x)
        assert restored.quantile(0.99) == original.quantile(0.99)
    assert observable(restored) == observable(original)
    assert json.dumps(restored.to_state()) == json.dumps(original.to_state())


@FAST
@given(st.lists(finite, max_size=60), st.data())
def test_round_trip_then_continue_equals_never_serialized(
    values: list[float], data: st.DataObject
) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(values)), max_size=3)))
    never = sketch_of(values)
    restored = QuantileSketch()
    done = 0
    for cut in [*cuts, len(values)]:
        for x in values[done:cut]:
            restored.add(x)
        done = max(done, cut)
        restored = json_round_trip(restored)  # a restart at every cut
    assert observable(restored) == observable(never)
    assert restored.to_state() == never.to_state()


def test_empty_sketch_round_trip_then_continue() -> None:
    restored = json_round_trip(QuantileSketch())
    assert observable(restored) == observable(QuantileSketch())
    restored.add(-2.0)
    restored.add(5.0)
    assert observable(restored) == observable(sketch_of([-2.0, 5.0]))


def test_state_of_nonempty_sketch_is_strict_json_and_compact() -> None:
    sketch = sketch_of(DATASETS["lognormal_skewed"].tolist())
    text = json.dumps(sketch.to_state(), allow_nan=False)  # no Infinity/NaN tokens
    assert QuantileSketch.from_state(json.loads(text)).quantile(0.95) == sketch.quantile(0.95)
    # One contiguous run of bins per sign: far smaller than the library's ~1.7 kB pickle
    # for a narrow distribution.
    narrow = json.dumps(sketch_of([60.0 + i / 10 for i in range(100)]).to_state())
    assert len(narrow) < 1_000, len(narrow)


def stored_bins(bins: Any) -> int:
    """Bins a store's state holds: dense ``[first, counts]`` or sparse ``{"k", "c"}``."""
    return len(bins["k"]) if isinstance(bins, dict) else len(bins[1]) if bins else 0


def test_mostly_empty_bins_are_stored_sparsely_and_round_trip_exactly() -> None:
    # A window of ordinary values plus a few fuzzed extremes: dense, each sketch wrote
    # 2,048 mostly-zero bins (~20 kB; nine metrics a window, several windows a state record:
    # 1.4-3 MB records the producer refused, issue 17). Sparse, only the used bins.
    rng = np.random.default_rng(RNG_SEED)
    data = [*rng.normal(70.0, 5.0, 200).tolist(), 1e-300, 1e300, -1e-300, -1e300, 0.0]
    sketch = sketch_of(data)
    state = sketch.to_state()
    assert isinstance(state["p"], dict) and isinstance(state["m"], dict)
    assert len(json.dumps(state)) < 2_000, len(json.dumps(state))
    restored = json_round_trip(sketch)
    assert observable(restored) == observable(sketch)
    assert restored.to_state() == state
    # Continuing on the restored copy is the same as never having serialized.
    for x in (3.0, 1e250, -7.5):
        sketch.add(x)
        restored.add(x)
    assert restored.to_state() == sketch.to_state()
    # A narrow distribution stays dense (one count per bin, no keys).
    assert isinstance(sketch_of(data[:200]).to_state()["p"], list)


def test_dense_state_of_earlier_versions_still_restores() -> None:
    # Changelogs written before sparse bins hold every bin of the span, zeros included.
    sketch = sketch_of([1.0, 10.0, 10.0, 1e6])
    state = sketch.to_state()
    sparse = state["p"]
    assert isinstance(sparse, dict)
    first = sparse["k"][0]
    counts = [0.0] * (sparse["k"][-1] - first + 1)
    for key, count in zip(sparse["k"], sparse["c"], strict=True):
        counts[key - first] = count
    restored = QuantileSketch.from_state({**state, "p": [first, counts]})
    assert observable(restored) == observable(sketch)
    assert restored.to_state() == state


def test_merge_after_round_trip_equals_merge_before() -> None:
    a = DATASETS["normal_with_negatives"][:120].tolist()
    b = DATASETS["zeros_mixed_in"][:90].tolist()
    direct = sketch_of(a)
    direct.merge(sketch_of(b))
    via_state = json_round_trip(sketch_of(a))
    via_state.merge(json_round_trip(sketch_of(b)))
    assert observable(via_state) == observable(direct)
