"""Sliding-window limits on how many actions may touch one provider (or use one API token).

>>> limiter = ProviderRateLimiter()
>>> [limiter.try_acquire(("p1",), ts, limit=2, interval_ms=1000) for ts in (0, 10, 20, 1010)]
[True, True, False, True]
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

__all__ = ["ProviderRateLimiter"]


class ProviderRateLimiter:
    """Counts granted actions per provider over a sliding window of event time.

    An action touching several providers (a migration: source and target) is granted
    only if every one of them has room, and then counts against each. Time is passed in
    and must not go backwards by more than the window (older grants simply stay counted).

    Examples
    --------
    >>> limiter = ProviderRateLimiter()
    >>> limiter.try_acquire(("a", "b"), 0, limit=1, interval_ms=60_000)
    True
    >>> limiter.try_acquire(("b", "c"), 1, limit=1, interval_ms=60_000)
    False
    >>> limiter.count("c", 1, 60_000)
    0
    """

    def __init__(self) -> None:
        self._grants: dict[str, deque[int]] = {}

    def count(self, provider_id: str, now_ms: int, interval_ms: int) -> int:
        """Actions granted on ``provider_id`` in ``(now_ms - interval_ms, now_ms]``."""
        grants = self._grants.get(provider_id)
        if not grants:
            return 0
        while grants and grants[0] <= now_ms - interval_ms:
            grants.popleft()
        return len(grants)

    def retry_after_ms(self, provider_id: str, now_ms: int, interval_ms: int) -> int:
        """How long until the oldest grant on ``provider_id`` leaves the window (0: none).

        >>> limiter = ProviderRateLimiter()
        >>> limiter.try_acquire(("t",), 1_000, limit=1, interval_ms=60_000)
        True
        >>> limiter.retry_after_ms("t", 21_000, 60_000), limiter.retry_after_ms("u", 0, 60_000)
        (40000, 0)
        """
        if not self.count(provider_id, now_ms, interval_ms):
            return 0
        return self._grants[provider_id][0] + interval_ms - now_ms

    def try_acquire(
        self, provider_ids: Iterable[str], now_ms: int, *, limit: int, interval_ms: int
    ) -> bool:
        """Grant (and count) one action on all of ``provider_ids`` if each has room.

        ``limit <= 0`` means unlimited (still counted, so a later limit sees history).
        """
        ids = sorted(set(provider_ids))
        if limit > 0 and any(self.count(p, now_ms, interval_ms) >= limit for p in ids):
            return False
        for p in ids:
            self._grants.setdefault(p, deque()).append(now_ms)
        return True
