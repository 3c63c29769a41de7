"""Tenant spend from workload windows, counted once per window however often it arrives.

The state is one small :class:`SpendBucket` per (tenant, UTC hour): the hour's USD and,
per workload, the end of the last window counted into it. Counting a window updates the
money and that workload's mark **in the same value**, so the one table write that stores
it moves both together: a window delivered again (a replay after a crash, a redelivery)
ends at or before its workload's mark and is skipped; a crash before the write loses
nothing, because the window is then delivered again and counted for the first time.
Windows of one workload arrive in order (the window stage closes them in order and
re-emits a prefix on replay), so "ends after the mark" is exactly "not counted yet".

Examples
--------
>>> ledger = SpendLedger()
>>> h = 1_700_000_000_000 // HOUR_MS * HOUR_MS
>>> for start in (h, h + 60_000, h, h + 120_000):  # the first window arrives twice
...     bucket = count_window(ledger.get("acme", h), "acme", "w1", start, start + 60_000, 1.5)
...     if bucket is not None:
...         ledger.put(bucket)
>>> ledger.get("acme", h).usd, ledger.spent("acme", h, h + HOUR_MS)
(4.5, 4.5)
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

from schemas import MetricWindow

__all__ = [
    "COST_METRIC",
    "HOUR_MS",
    "SpendBucket",
    "SpendLedger",
    "bucket_key",
    "count_window",
    "window_spend_usd",
]

HOUR_MS = 3_600_000
#: The workload sample field holding the cost accrued during the sample's interval.
COST_METRIC = "cost_accrued_usd"


def window_spend_usd(window: MetricWindow) -> float | None:
    """USD a workload window accrued: the sum of its samples' ``cost_accrued_usd``.

    The window carries the mean and count of the samples that had a cost, so the sum is
    ``mean * count`` (exact up to float rounding). ``None`` without cost samples.

    Examples
    --------
    >>> from schemas import MetricStats
    >>> s = MetricStats(count=4, mean=0.25, min=0.1, max=0.4, p50=0.2, p95=0.4, p99=0.4)
    >>> w = MetricWindow(entity_type="workload", entity_id="w1", window_start_ms=0 + 10**12,
    ...                  window_end_ms=10**12 + 60_000, count=4, metrics={COST_METRIC: s})
    >>> window_spend_usd(w)
    1.0
    """
    stats = window.metrics.get(COST_METRIC)
    if stats is None or stats.count == 0:
        return None
    return max(0.0, stats.mean * stats.count)


def bucket_key(tenant_id: str, hour_ms: int) -> str:
    """Key of a bucket in the spend table: ``<tenant>|<hour start ms>``.

    >>> bucket_key("acme", 1_699_999_200_000)
    'acme|1699999200000'
    """
    return f"{tenant_id}|{hour_ms}"


class SpendBucket(BaseModel):
    """Spend of one tenant in one UTC hour (the changelogged value; a few dozen bytes
    plus one mark per workload that ran in the hour).

    Attributes
    ----------
    tenant_id : str
        Whose spend.
    hour_ms : int
        Start of the hour; windows belong to the hour their start falls in.
    usd : float
        Spend of the windows counted.
    since_ms, through_ms : int
        Earliest window start and latest window end counted (the forecast's time axis).
    marks : dict[str, int]
        Per workload, the end of the last window counted.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str
    hour_ms: int
    usd: float = 0.0
    since_ms: int
    through_ms: int
    marks: dict[str, int] = {}

    @property
    def key(self) -> str:
        return bucket_key(self.tenant_id, self.hour_ms)


def count_window(
    bucket: SpendBucket | None,
    tenant_id: str,
    workload_id: str,
    start_ms: int,
    end_ms: int,
    usd: float,
) -> SpendBucket | None:
    """The bucket with the window counted, or ``None`` if it was counted already.

    ``bucket`` must be the tenant's bucket of the hour ``start_ms`` falls in (or ``None``).

    Examples
    --------
    >>> b = count_window(None, "t", "w1", 0, 60_000, 2.0)
    >>> b.usd, b.marks
    (2.0, {'w1': 60000})
    >>> count_window(b, "t", "w1", 0, 60_000, 2.0) is None  # the same window again
    True
    >>> count_window(b, "t", "w2", 0, 60_000, 1.0).usd  # another workload's window
    3.0
    """
    hour = start_ms - start_ms % HOUR_MS
    if bucket is None:
        bucket = SpendBucket(
            tenant_id=tenant_id, hour_ms=hour, since_ms=start_ms, through_ms=end_ms
        )
    elif bucket.hour_ms != hour or bucket.tenant_id != tenant_id:
        raise ValueError(f"window at {start_ms} of {tenant_id} is not in bucket {bucket.key}")
    if end_ms <= bucket.marks.get(workload_id, -1):
        return None
    return bucket.model_copy(
        update={
            "usd": bucket.usd + usd,
            "since_ms": min(bucket.since_ms, start_ms),
            "through_ms": max(bucket.through_ms, end_ms),
            "marks": {**bucket.marks, workload_id: end_ms},
        }
    )


class SpendLedger:
    """Every bucket in memory, by tenant and hour: an index over the spend table.

    Rebuilt from the table (:meth:`load`) after every recovery, so it never disagrees
    with what is durable.
    """

    def __init__(self, buckets: Iterable[SpendBucket] = ()) -> None:
        self._by_tenant: dict[str, dict[int, SpendBucket]] = {}
        for bucket in buckets:
            self.put(bucket)

    def tenants(self) -> list[str]:
        return sorted(self._by_tenant)

    def get(self, tenant_id: str, hour_ms: int) -> SpendBucket | None:
        return self._by_tenant.get(tenant_id, {}).get(hour_ms)

    def put(self, bucket: SpendBucket) -> None:
        self._by_tenant.setdefault(bucket.tenant_id, {})[bucket.hour_ms] = bucket

    def drop(self, tenant_id: str, hour_ms: int) -> None:
        self._by_tenant.get(tenant_id, {}).pop(hour_ms, None)

    def buckets(self, tenant_id: str, start_ms: int, end_ms: int) -> list[SpendBucket]:
        """The tenant's buckets whose hour starts in ``[start_ms, end_ms)``, oldest first."""
        hours = self._by_tenant.get(tenant_id, {})
        return [hours[h] for h in sorted(hours) if start_ms <= h < end_ms]

    def before(self, tenant_id: str, start_ms: int) -> list[SpendBucket]:
        """The tenant's buckets of hours before ``start_ms`` (a period that is over)."""
        hours = self._by_tenant.get(tenant_id, {})
        return [b for h, b in sorted(hours.items()) if h < start_ms]

    def spent(self, tenant_id: str, start_ms: int, end_ms: int) -> float:
        """Spend of the tenant's hours in ``[start_ms, end_ms)``."""
        return sum(b.usd for b in self.buckets(tenant_id, start_ms, end_ms))

    def as_of(self, tenant_id: str) -> int | None:
        """The latest window end counted for the tenant (its event-time clock)."""
        hours = self._by_tenant.get(tenant_id)
        return max((b.through_ms for b in hours.values()), default=None) if hours else None

    def history(self, tenant_id: str, start_ms: int, end_ms: int) -> list[tuple[int, float]]:
        """Cumulative spend ``(ts_ms, usd)`` over ``[start_ms, end_ms)`` for a forecaster.

        One point where counting began (0 USD) and one per hour at its latest window end.

        >>> ledger = SpendLedger([SpendBucket(tenant_id="t", hour_ms=0, usd=2.0, since_ms=0,
        ...                                   through_ms=HOUR_MS),
        ...                       SpendBucket(tenant_id="t", hour_ms=HOUR_MS, usd=1.0,
        ...                                   since_ms=HOUR_MS, through_ms=HOUR_MS + 1800_000)])
        >>> ledger.history("t", 0, 10 * HOUR_MS)
        [(0, 0.0), (3600000, 2.0), (5400000, 3.0)]
        """
        buckets = self.buckets(tenant_id, start_ms, end_ms)
        if not buckets:
            return []
        points = [(buckets[0].since_ms, 0.0)]
        total = 0.0
        for b in buckets:
            total += b.usd
            points.append((b.through_ms, total))
        return points
