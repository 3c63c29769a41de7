"""Per-cohort provider leaderboards: perf per dollar and reliability with confidence intervals.

A cohort is one GPU model running one workload type (throughput units and prices are
only comparable there). For each provider of a cohort the board keeps its most recent
``horizon`` windows (two floats each: bounded state) and ranks providers by mean perf per
dollar, with

* a Student-t confidence interval of that mean (``scipy.stats.t``),
* reliability = share of "good" windows (available, few errors) with a Wilson interval
  (``scipy.stats.binomtest``),
* a robust z-score of the provider's mean against the cohort's members
  (``(x - median) / (1.4826 * MAD)``): a provider with ``z <= z_threshold`` is flagged as
  underperforming.

A provider with fewer than ``min_samples`` windows is *unranked*: listed after the ranked
ones, never flagged and not counted in the cohort's median, so a newcomer is neither
trusted nor condemned too early.

>>> board = CohortLeaderboard(min_samples=3)
>>> for i in range(5):
...     for p, ppd in (("a", 10.0), ("b", 11.0), ("c", 10.5), ("d", 4.0)):
...         board.update("A100/training", p, ppd + 0.1 * i, good=True)
>>> [(s.provider_id, s.rank, s.underperformer) for s in board.standings("A100/training")]
[('b', 1, False), ('c', 2, False), ('a', 3, False), ('d', 4, True)]
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

__all__ = [
    "CohortLeaderboard",
    "Standing",
    "demotions",
    "robust_z_scores",
    "standings_changed",
]


def robust_z_scores(values: np.ndarray) -> np.ndarray:
    """Robust z-scores ``(x - median) / (1.4826 * MAD)``; zeros when the MAD is 0.

    Examples
    --------
    >>> robust_z_scores(np.array([1.0, 2.0, 3.0, 100.0])).round(2).tolist()
    [-1.01, -0.34, 0.34, 65.76]
    """
    if values.size == 0:
        return values.astype(float)
    median = float(np.median(values))
    madn = float(stats.median_abs_deviation(values, scale="normal"))
    if madn == 0.0 or not math.isfinite(madn):
        # Identical peers: nobody stands out by a robust measure (avoids dividing by 0).
        return np.zeros(values.shape, dtype=float)
    return (values - median) / madn


@dataclass(frozen=True, slots=True)
class Standing:
    """One provider's place on its cohort's board (``rank`` is None while unranked)."""

    provider_id: str
    rank: int | None
    windows: int
    perf_per_dollar: float
    perf_per_dollar_ci: tuple[float, float]
    normalised_perf_per_dollar: float
    reliability: float
    reliability_ci: tuple[float, float]
    robust_z: float
    underperformer: bool


def _mean_ci(x: np.ndarray, confidence: float) -> tuple[float, float]:
    mean = float(x.mean())
    if x.size < 2:
        return (-math.inf, math.inf)
    sem = float(x.std(ddof=1)) / math.sqrt(x.size)
    half = float(stats.t.ppf(0.5 + confidence / 2.0, df=x.size - 1)) * sem
    return (mean - half, mean + half)


@dataclass
class CohortLeaderboard:
    """Rolling leaderboards of many cohorts.

    Parameters
    ----------
    horizon : int
        Windows remembered per provider (the board reflects recent behaviour).
    min_samples : int
        Windows a provider needs before it is ranked or flagged.
    z_threshold : float
        Robust z-score at or below which a ranked provider is an underperformer.
    confidence : float
        Confidence level of both intervals.
    """

    horizon: int = 60
    min_samples: int = 10
    z_threshold: float = -3.0
    confidence: float = 0.95
    _windows: dict[str, dict[str, deque[tuple[float, bool]]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.horizon < 1 or self.min_samples < 1:
            raise ValueError("horizon and min_samples must be >= 1")
        if not 0.0 < self.confidence < 1.0:
            raise ValueError(f"confidence must be in (0, 1), got {self.confidence}")

    def update(self, cohort: str, provider_id: str, perf_per_dollar: float, *, good: bool) -> None:
        """Record one window of ``provider_id`` in ``cohort``; non-finite values are ignored."""
        if not math.isfinite(perf_per_dollar) or perf_per_dollar < 0.0:
            return
        members = self._windows.setdefault(cohort, {})
        ring = members.get(provider_id)
        if ring is None:
            ring = members[provider_id] = deque(maxlen=self.horizon)
        ring.append((perf_per_dollar, good))

    def cohorts(self) -> list[str]:
        """Cohorts with at least one provider, sorted."""
        return sorted(self._windows)

    def standings(self, cohort: str) -> list[Standing]:
        """Ranked providers (best perf per dollar first), then unranked ones by name."""
        members = self._windows.get(cohort, {})
        ids = sorted(members)
        ppd = {p: np.fromiter((v for v, _ in members[p]), dtype=float) for p in ids}
        good = {p: sum(g for _, g in members[p]) for p in ids}
        ranked = [p for p in ids if len(members[p]) >= self.min_samples]
        means = np.array([ppd[p].mean() for p in ranked], dtype=float)
        z = dict(zip(ranked, robust_z_scores(means).tolist(), strict=True))
        median = float(np.median(means)) if ranked else math.nan
        order = sorted(ranked, key=lambda p: (-float(ppd[p].mean()), p))
        order += [p for p in ids if p not in z]
        out = []
        for rank, p in enumerate(order, start=1):
            n = len(members[p])
            mean = float(ppd[p].mean())
            ci = stats.binomtest(good[p], n).proportion_ci(self.confidence, method="wilson")
            is_ranked = p in z
            out.append(
                Standing(
                    provider_id=p,
                    rank=rank if is_ranked else None,
                    windows=n,
                    perf_per_dollar=mean,
                    perf_per_dollar_ci=_mean_ci(ppd[p], self.confidence),
                    normalised_perf_per_dollar=mean / median if median > 0 else math.nan,
                    reliability=good[p] / n,
                    reliability_ci=(float(ci.low), float(ci.high)),
                    robust_z=z.get(p, math.nan),
                    underperformer=is_ranked and len(z) >= 3 and z[p] <= self.z_threshold,
                )
            )
        return out

    def tracked_providers(self) -> int:
        """Provider entries over all cohorts."""
        return sum(len(m) for m in self._windows.values())


def standings_changed(before: list[Standing], after: list[Standing]) -> bool:
    """Whether ranks or flags differ (what makes a board worth emitting again).

    Examples
    --------
    >>> s = Standing("a", 1, 10, 1.0, (0.9, 1.1), 1.0, 1.0, (0.7, 1.0), 0.0, False)
    >>> standings_changed([s], [s]), standings_changed([s], [])
    (False, True)
    """

    def signature(board: list[Standing]) -> list[tuple[str, int | None, bool]]:
        return [(s.provider_id, s.rank, s.underperformer) for s in board]

    return signature(before) != signature(after)


def demotions(
    before: list[Standing], after: list[Standing], *, min_drop: float = 0.1
) -> list[tuple[int | None, Standing]]:
    """Providers demoted between two boards, as ``(rank before, standing after)`` pairs.

    A demotion is either a provider newly flagged as an underperformer, or a ranked
    provider whose own perf per dollar fell by at least ``min_drop`` and that fell below a
    peer it was ranked above, its interval now entirely below that peer's (a real change
    of its own, not noise between close peers nor a peer's improvement).

    Examples
    --------
    >>> def st(p, rank, ppd, flag=False):
    ...     return Standing(p, rank, 10, ppd, (ppd - 0.5, ppd + 0.5), 1.0, 1.0, (0.7, 1.0),
    ...                     -6.0 if flag else 0.0, flag)
    >>> [(r, s.rank) for r, s in demotions([st("a", 1, 9.0)], [st("a", 3, 2.0, True)])]
    [(1, 3)]
    >>> before = [st("a", 1, 9.0), st("b", 2, 8.0)]
    >>> [(r, s.provider_id) for r, s in demotions(before, [st("b", 1, 8.0), st("a", 2, 5.0)])]
    [(1, 'a')]
    >>> demotions(before, [st("b", 1, 8.0), st("a", 2, 7.8)])  # intervals overlap: noise
    []
    """
    was = {s.provider_id: s for s in before}
    now = {s.provider_id: s for s in after}
    out = []
    for s in after:
        prev = was.get(s.provider_id)
        if s.underperformer and (prev is None or not prev.underperformer):
            out.append((prev.rank if prev is not None else None, s))
            continue
        if prev is None or prev.rank is None or s.rank is None or s.rank <= prev.rank:
            continue
        if s.perf_per_dollar > (1.0 - min_drop) * prev.perf_per_dollar:
            continue
        overtaken = [
            q
            for q in now.values()
            if q.rank is not None
            and q.rank < s.rank
            and (p := was.get(q.provider_id)) is not None
            and p.rank is not None
            and p.rank > prev.rank
        ]
        if any(s.perf_per_dollar_ci[1] < q.perf_per_dollar_ci[0] for q in overtaken):
            out.append((prev.rank, s))
    return out
