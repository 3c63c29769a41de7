"""Sequence memory: how unexpected a value is after the last few, as a raw score in [0, 1].

A light stand-in for HTM's temporal memory and for CAD OSE's contexts, both of which
score a point by whether it was *predicted from its recent past*. Values are quantised
into bins of an adaptive width; counts of "bin b followed contexts (b1, ..., bk)" for
k = 1..``order`` give the probability of the new bin after its context (the longest
context seen often enough). The raw score is one minus that probability, with half
credit for a neighbouring bin (noise that crosses a bin edge is not a surprise); a value
beyond every value seen so far (plus a margin) scores 1. The bin width is the spread of
recent values divided by ``bins``; when the spread changes by more than ``rebin_factor``
the memory starts over at the new width. Memory is bounded: the oldest contexts are
dropped beyond ``max_contexts``.

Periodic, level and flat series all become predictable once a season has been seen,
whatever the period (no period is configured), and a level shift or a broken rhythm
shows as unpredicted bins until the new pattern is learned.

>>> mem = SequenceMemory(warmup=30)
>>> for i in range(300):
...     mem.learn_one([0.0, 5.0, 10.0, 5.0][i % 4])
>>> mem.score_one(0.0), mem.score_one(10.0), mem.score_one(30.0)
(0.0, 1.0, 1.0)
"""

from __future__ import annotations

import math
import sys
from collections import deque
from typing import Any

import numpy as np

__all__ = ["SequenceMemory"]

#: Marks a context key that starts with a phase (bins are floor(value / width), any int).
_PHASED = -(1 << 62)


def _spread(values: np.ndarray[Any, Any]) -> float:
    n = len(values)
    lo_i, hi_i = int(0.01 * (n - 1)), math.ceil(0.99 * (n - 1))
    ordered = np.partition(values, (lo_i, hi_i))
    return float(ordered[hi_i] - ordered[lo_i])


class SequenceMemory:
    """Raw anomaly score of a value given its quantised recent context.

    Parameters
    ----------
    bins : int
        Bins across the 1-99 % spread of recent values.
    order : int
        Longest context, in points.
    min_support : int
        Times a context must have been seen before its prediction is trusted.
    warmup : int
        Values learned before scoring (the first bin width is read off them).
    recent : int
        Recent values whose spread sets the bin width (checked every ``recent // 2``).
    rebin_factor : float
        Change of the spread that restarts the memory at the new width.
    max_contexts : int
        Bound on the contexts kept.
    range_margin : float
        Share of the range seen so far beyond which a value is novel (scores 1).
    """

    def __init__(
        self,
        bins: int = 20,
        order: int = 3,
        min_support: int = 2,
        warmup: int = 100,
        recent: int = 1000,
        rebin_factor: float = 4.0,
        max_contexts: int = 30_000,
        range_margin: float = 0.05,
    ) -> None:
        self.bins = bins
        self.order = order
        self.min_support = min_support
        self.warmup = warmup
        self.rebin_factor = rebin_factor
        self.max_contexts = max_contexts
        self.range_margin = range_margin
        # Ring of the recent values and their phases (-1: none), oldest at _ring_next once full.
        self._ring_values = np.zeros(recent)
        self._ring_phases = np.full(recent, -1, dtype=np.int16)
        self._ring_next = 0
        self._ring_len = 0
        self._check_every = max(1, recent // 2)
        self._width: float | None = None
        self._spread = 0.0
        self._context: deque[int] = deque(maxlen=order)
        self._counts: dict[tuple[int, ...], dict[int, int]] = {}
        self._lo = math.inf
        self._hi = -math.inf
        self.n_learned = 0
        self.rebins = 0

    @property
    def ready(self) -> bool:
        """Whether the bin width is set (after ``warmup`` values)."""
        return self._width is not None

    def _bin(self, value: float) -> int:
        assert self._width is not None
        return math.floor(value / self._width)

    def _novel_range(self, value: float) -> bool:
        margin = self.range_margin * (self._hi - self._lo)
        return value > self._hi + margin or value < self._lo - margin

    def _keys(self, phase: int | None) -> list[tuple[int, ...]]:
        # Longest context first; with a phase (hour of day), phased contexts first.
        context = tuple(self._context)
        plain = [context[len(context) - k :] for k in range(len(context), -1, -1)]
        if phase is None:
            return plain
        return [(_PHASED, phase, *key) for key in plain] + plain

    def score_one(self, value: float, phase: int | None = None) -> float:
        """Raw score in [0, 1] (0 before ready): 1 - P(bin of ``value`` | context).

        ``phase`` (e.g. the hour of day) is part of the context when given.
        """
        if self._width is None:
            return 0.0
        if self._novel_range(value):
            return 1.0
        b = self._bin(value)
        for key in self._keys(phase):
            following = self._counts.get(key)
            if following is None:
                continue
            total = sum(following.values())
            if total < self.min_support and key:
                continue
            hits = following.get(b, 0) + 0.5 * (following.get(b - 1, 0) + following.get(b + 1, 0))
            return max(0.0, 1.0 - min(1.0, hits / total))
        return 1.0

    def learn_one(self, value: float, phase: int | None = None) -> None:
        """Learn ``value`` (at ``phase``, when given) as the next point of the series."""
        self.n_learned += 1
        self._ring_values[self._ring_next] = value
        self._ring_phases[self._ring_next] = -1 if phase is None else phase
        self._ring_next = (self._ring_next + 1) % len(self._ring_values)
        self._ring_len = min(self._ring_len + 1, len(self._ring_values))
        self._lo = min(self._lo, value)
        self._hi = max(self._hi, value)
        if self._width is None:
            if self.n_learned >= self.warmup:
                self._set_width(_spread(self._ring_values[: self._ring_len]))
            return
        if self.n_learned % self._check_every == 0:
            spread = _spread(self._ring_values[: self._ring_len])
            old = max(self._spread, self._floor())
            if spread > old * self.rebin_factor or spread * self.rebin_factor < old:
                self._set_width(spread)
                self.rebins += 1
                return  # the value was relearned at the new width
        self._count(value, phase)

    def _count(self, value: float, phase: int | None) -> None:
        b = self._bin(value)
        for key in self._keys(phase):
            following = self._counts.get(key)
            if following is None:
                following = self._counts[key] = {}
                if len(self._counts) > self.max_contexts:
                    # Dicts keep insertion order: drop the oldest context.
                    del self._counts[next(iter(self._counts))]
            following[b] = following.get(b, 0) + 1
        self._context.append(b)

    def __getstate__(self) -> dict[str, Any]:
        # The contexts as one int64 array (a dict of tuples pickles ~5x larger):
        # per context [phased, key length, *key, entries, *(bin, count)], in dict order.
        state = self.__dict__.copy()
        flat: list[int] = []
        for key, following in self._counts.items():
            phased = bool(key) and key[0] == _PHASED
            body = key[1:] if phased else key
            flat += [int(phased), len(body), *body, len(following)]
            for b, c in following.items():
                flat += [b, c]
        # The narrowest integer type that holds them (bins and counts are mostly small).
        reach = max(max(flat, default=0), -min(flat, default=0))
        dtype = next(t for t in (np.int16, np.int32, np.int64) if reach <= np.iinfo(t).max)
        # As (type code, bytes): an array would share its dtype object with the ring's in
        # the pickle memo or not, so equal memories could pickle to different bytes.
        state["_counts"] = (np.dtype(dtype).str, np.array(flat, dtype=dtype).tobytes())
        state["_context"] = list(self._context)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        code, raw = state["_counts"]
        flat = np.frombuffer(raw, dtype=code).tolist()
        # Names interned (as pickle's default BUILD does) and replaced in place (order
        # kept): a decoded memory pickles to the same bytes as the one encoded, so a
        # replayed window leaves the agent's table value unchanged.
        self.__dict__.update((sys.intern(name), value) for name, value in state.items())
        self._context = deque(state["_context"], maxlen=self.order)
        self._counts = {}
        i = 0
        while i < len(flat):
            phased, n = flat[i], flat[i + 1]
            body = tuple(flat[i + 2 : i + 2 + n])
            i += 2 + n
            m = flat[i]
            pairs = flat[i + 1 : i + 1 + 2 * m]
            i += 1 + 2 * m
            key = (_PHASED, *body) if phased else body
            self._counts[key] = dict(zip(pairs[::2], pairs[1::2], strict=True))

    def _floor(self) -> float:
        level = float(np.abs(self._ring_values[: self._ring_len]).max(initial=0.0))
        return max(1e-9, 1e-6 * level)

    def _set_width(self, spread: float) -> None:
        self._spread = spread
        self._width = max(spread, self._floor()) / self.bins
        self._counts.clear()
        self._context.clear()
        # Relearn the recent values at the new width, so the memory is not empty.
        size = len(self._ring_values)
        start = (self._ring_next - self._ring_len) % size
        for i in range(self._ring_len):
            j = (start + i) % size
            phase = int(self._ring_phases[j])
            self._count(float(self._ring_values[j]), None if phase < 0 else phase)
