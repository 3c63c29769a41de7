"""Turn a closed window's sketches into the ``MetricWindow`` record of ``perf.metrics``.

>>> from models.windows import WindowAccumulator
>>> acc = WindowAccumulator()
>>> for t in (60.0, 70.0, 80.0):
...     acc.add({"gpu_temp_c": t})
>>> w = summarize_window(EntityType.PROVIDER, "p-1", 1_700_000_040_000, 60_000, acc)
>>> w.count, w.metrics["gpu_temp_c"].mean, w.key
(3, 70.0, 'provider:p-1:1700000040000:60000')
"""

from __future__ import annotations

from models.windows import WindowAccumulator
from schemas import EntityType, MetricStats, MetricWindow


def summarize_window(
    entity_type: EntityType,
    entity_id: str,
    window_start_ms: int,
    window_ms: int,
    acc: WindowAccumulator,
) -> MetricWindow:
    """Return the ``MetricWindow`` of one closed window."""
    metrics = {}
    for name, s in sorted(acc.metrics.items()):
        if not s.count:
            continue
        p50, p95, p99 = s.quantiles((0.50, 0.95, 0.99))
        metrics[name] = MetricStats(
            count=s.count, mean=s.mean, min=s.min, max=s.max, p50=p50, p95=p95, p99=p99
        )
    return MetricWindow(
        entity_type=entity_type,
        entity_id=entity_id,
        window_start_ms=window_start_ms,
        window_end_ms=window_start_ms + window_ms,
        count=acc.count,
        metrics=metrics,
    )
