"""LRU cache of decoded detector states, so a window does not unpickle its entity's detector.

Decoding a table value (base64, zlib, pickle of 21 channels) was most of the anomaly
stage's cost per window (docs/benchmarks.md, ``computeperf bench anomaly-stage``). The
agent keeps the states it decoded or wrote, at most ``max_entities`` of them, least
recently used first out.

The table stays the truth: each entry is tagged with the ``last_window_end_ms`` of the
state it holds, and :meth:`StateCache.get` returns it only when the table's value has the
same tag. A value written by another worker (after a rebalance moved the partition away
and back), a failed write, or a restart therefore never meets a stale object: the entry
is dropped and the caller decodes the table's value.

>>> from dataclasses import dataclass
>>> @dataclass
... class S:
...     last_window_end_ms: int | None
>>> cache = StateCache(max_entities=2)
>>> cache.put("a", S(60_000))
>>> cache.get("a", 60_000), cache.get("a", 120_000), cache.get("a", 60_000)
(S(last_window_end_ms=60000), None, None)
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, Protocol, TypeVar

__all__ = ["StateCache", "Tagged"]


class Tagged(Protocol):
    """A state that knows the end of the last window it learned."""

    last_window_end_ms: int | None


T = TypeVar("T", bound=Tagged)


class StateCache(Generic[T]):
    """At most ``max_entities`` states by key, least recently used evicted first.

    ``max_entities=0`` turns the cache off: :meth:`get` always misses, :meth:`put` keeps
    nothing.
    """

    def __init__(self, max_entities: int) -> None:
        if max_entities < 0:
            raise ValueError("max_entities must be >= 0")
        self.max_entities = max_entities
        self._states: OrderedDict[str, T] = OrderedDict()

    def __len__(self) -> int:
        return len(self._states)

    @property
    def enabled(self) -> bool:
        """Whether the cache keeps anything."""
        return self.max_entities > 0

    def get(self, key: str, last_window_end_ms: int | None) -> T | None:
        """The cached state of ``key`` if it holds the table's ``last_window_end_ms``.

        A state with another tag is stale: it is dropped (the table's value wins).
        """
        state = self._states.get(key)
        if state is None:
            return None
        if last_window_end_ms is None or state.last_window_end_ms != last_window_end_ms:
            del self._states[key]
            return None
        self._states.move_to_end(key)
        return state

    def put(self, key: str, state: T) -> None:
        """Keep ``state`` (as just written to the table), evicting the oldest beyond the bound."""
        if not self.enabled:
            return
        self._states[key] = state
        self._states.move_to_end(key)
        while len(self._states) > self.max_entities:
            self._states.popitem(last=False)

    def discard(self, key: str) -> None:
        """Forget ``key`` (its state was not written)."""
        self._states.pop(key, None)
