"""Detector features of a closed ``MetricWindow``: one number per metric and statistic.

>>> from schemas import MetricStats, MetricWindow
>>> stats = MetricStats(count=3, mean=70.0, min=60.0, max=80.0, p50=70.0, p95=79.0, p99=80.0)
>>> w = MetricWindow(entity_type="provider", entity_id="prov-1", window_start_ms=1_700_000_000_000,
...                  window_end_ms=1_700_000_060_000, count=3, metrics={"gpu_temp_c": stats},
...                  error_rate=0.01)
>>> window_features(w)
{'gpu_temp_c.mean': 70.0, 'gpu_temp_c.p95': 79.0, 'gpu_temp_c.range': 20.0, 'error_rate': 0.01}
"""

from __future__ import annotations

from collections.abc import Sequence

from schemas import MetricWindow

__all__ = ["window_features"]


def window_features(
    window: MetricWindow, stats: Sequence[str] = ("mean", "p95", "range")
) -> dict[str, float]:
    """``{"<metric>.<stat>": value}`` for each metric, plus the window-level rates.

    ``stats`` are :class:`~schemas.MetricStats` fields, or ``"range"`` (max - min): the
    spread inside the window, which is what a noisy neighbour changes when the mean
    hardly moves (a saturated GPU jitters below 100 %, its mean stays near the top).

    Metrics absent from the window are absent from the features (detectors treat a
    missing feature as unknown, never as zero).
    """
    out: dict[str, float] = {}
    for name, metric in sorted(window.metrics.items()):
        for stat in stats:
            value = metric.max - metric.min if stat == "range" else getattr(metric, stat)
            out[f"{name}.{stat}"] = float(value)
    for name in ("availability", "error_rate", "perf_per_dollar"):
        value = getattr(window, name)
        if value is not None:
            out[name] = float(value)
    return out
