"""Prometheus metrics of a worker, on a registry of its own (no import-time singletons).

>>> m = PipelineMetrics()
>>> m.events_in.labels(topic="telemetry.provider").inc(3)
>>> b"computeperf_events_in_total" in m.render()
True
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


def observe_many(histogram: Histogram, value: float, count: int) -> None:
    """``histogram.observe(value)`` ``count`` times, in one step (a batch's records).

    The same bucket counts as the loop, and its sum up to float rounding
    (prometheus_client's ``observe`` adds the value to the sum and 1 to the first bucket
    whose bound holds it); a histogram without those internals takes ``observe``.

    >>> m, n = PipelineMetrics(), PipelineMetrics()
    >>> a, b = (x.processing_latency.labels(topic="t") for x in (m, n))
    >>> for _ in range(3):
    ...     a.observe(0.3)
    >>> observe_many(b, 0.3, 3)
    >>> def figures(h):
    ...     return [(s.name, s.labels, round(s.value, 9)) for s in h.collect()[0].samples
    ...             if not s.name.endswith("_created")]
    >>> figures(m.processing_latency) == figures(n.processing_latency)
    True
    """
    bounds = getattr(histogram, "_upper_bounds", None)
    if count <= 0:
        return
    if bounds is None or not hasattr(histogram, "_buckets"):
        for _ in range(count):
            histogram.observe(value)
        return
    histogram._sum.inc(value * count)
    for i, bound in enumerate(bounds):
        if value <= bound:
            histogram._buckets[i].inc(count)
            break


LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class PipelineMetrics:
    """Counters, gauges and histograms of the stream pipeline (names ``computeperf_*``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events_in = Counter(
            "computeperf_events_in", "Records consumed, per source topic", ["topic"], registry=r
        )
        self.events_out = Counter(
            "computeperf_events_out", "Records produced, per output topic", ["topic"], registry=r
        )
        self.dead_letters = Counter(
            "computeperf_dead_letters",
            "Records sent to the dead-letter topic, per source topic and error type",
            ["topic", "error_type"],
            registry=r,
        )
        self.duplicates = Counter(
            "computeperf_duplicate_samples",
            "Samples recognised as replays (seq and ts not newer) and skipped",
            ["topic"],
            registry=r,
        )
        self.late_samples = Counter(
            "computeperf_late_samples",
            "Samples whose window had already closed (dead-lettered as late)",
            ["topic"],
            registry=r,
        )
        self.ahead_samples = Counter(
            "computeperf_ahead_samples",
            "Samples stamped further ahead of the wall clock than the watermark may follow",
            ["topic"],
            registry=r,
        )
        self.evicted_keys = Counter(
            "computeperf_evicted_keys",
            "Idle keys whose window state was forgotten (tombstoned in the changelog)",
            ["topic"],
            registry=r,
        )
        self.windows_emitted = Counter(
            "computeperf_windows_emitted",
            "Closed windows written to perf.metrics",
            ["entity_type"],
            registry=r,
        )
        self.alerts_emitted = Counter(
            "computeperf_alerts_emitted",
            "Alert notifications written to perf.alerts",
            ["status"],
            registry=r,
        )
        self.processing_latency = Histogram(
            "computeperf_processing_latency_seconds",
            "Time from a record's arrival at the worker to its outputs being durable",
            ["topic"],
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.consumer_lag = Gauge(
            "computeperf_consumer_lag",
            "Records behind the partition's high watermark",
            ["topic", "partition"],
            registry=r,
        )
        self.state_keys = Gauge(
            "computeperf_state_keys",
            "Keys held in a windowing agent's state (open windows or not yet evicted)",
            ["topic"],
            registry=r,
        )
        self.watermark_lag = Gauge(
            "computeperf_watermark_lag_seconds",
            "Wall clock minus the partition's event-time watermark",
            ["topic", "partition"],
            registry=r,
        )

        # Series that exist before the first event, so dashboards show 0, not "no data".
        for status in ("firing", "resolved"):
            self.alerts_emitted.labels(status=status)
        self.windows_emitted.labels(entity_type="provider")

    def render(self) -> bytes:
        """Return the text exposition format for ``/metrics``."""
        return generate_latest(self.registry)
