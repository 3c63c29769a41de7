"""Block-summarised rolling statistics against numpy on the values they cover."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from models.detectors.rolling import BlockMoments, BlockTail


def covered(values: np.ndarray, block_len: int, blocks: int) -> np.ndarray:
    """The values a block window holds: its complete blocks (at most ``blocks``) + the open one."""
    done = len(values) // block_len * block_len
    start = max(0, done - blocks * block_len)
    return values[start:]


@pytest.mark.parametrize("n", [0, 1, 7, 99, 100, 101, 1234])
def test_moments_equal_numpy_on_the_covered_values(n: int) -> None:
    rng = np.random.default_rng(n)
    values = 1e6 + rng.standard_t(3, size=n)  # a large level: no cancellation
    m = BlockMoments(size=100, blocks=5)
    for v in values:
        m.add(float(v))
    window = covered(values, m.block_len, m.blocks)
    assert m.count == len(window)
    if n:
        assert m.mean == pytest.approx(window.mean(), rel=1e-12)
        assert m.variance == pytest.approx(window.var(), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(("n", "q"), [(1, 0.99), (50, 0.985), (999, 0.985), (5000, 0.999)])
def test_tail_is_the_exact_order_statistic(n: int, q: float) -> None:
    rng = np.random.default_rng(n)
    values = rng.standard_cauchy(size=n)
    t = BlockTail(size=2000, q=q, blocks=8)
    for v in values:
        t.add(float(v))
    window = np.sort(covered(values, t.block_len, t.blocks))
    assert t.count == len(window)
    assert t.quantile() == window[int(q * (len(window) - 1))]


def test_state_size_does_not_grow() -> None:
    m, t = BlockMoments(size=500, blocks=10), BlockTail(size=500, q=0.99, blocks=5)
    sizes = []
    for i in range(5000):
        m.add(float(i))
        t.add(float(i))
        if i in (600, 4999):
            sizes.append(len(pickle.dumps((m, t))))
    assert sizes[1] <= sizes[0] + 64
