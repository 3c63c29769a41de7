"""Worker role ``analysis``: workload windows, fleet analysis, insights and leaderboards.

Three inputs, one pure engine (:class:`models.analysis.AnalysisEngine`):

* ``telemetry.workload`` through the same window machinery as the provider windows
  (:class:`agents.windows.WindowAggregator`, agent ``aggregate_workload_windows``, table
  ``workload_to_window_state``): workload windows with availability, error rate and perf
  per dollar go to ``perf.metrics``, and their sketches to this stage (``on_closed``);
* ``perf.metrics`` provider windows (agent ``collect_provider_windows``): their medians
  (temperature, round-trip time) for thermal and network evidence;
* ``providers.catalog`` (agent ``track_provider_catalog``): region and GPU model.

A timer (``analyse_fleet_windows``, 1 s) analyses fleet windows oldest first, each once
the workload watermark of every partition passed its end (all its workload windows are
in) and either every catalogued provider's window arrived, or the provider stage moved
past it (a provider window of a later start arrived) a second ago, or
``analysis_settle_s`` went by (provider windows come from another stage; an offline
provider sends none).
Windows that arrive after their fleet window was analysed are ignored (logged).
New findings go durably to ``perf.insights`` (key ``entity_type:entity_id``; an ongoing
incident is reported when it starts, not every window), and each changed cohort board is
written to table ``cohort_to_leaderboard``.

Scope: root-cause scope needs the whole fleet in one place, so the role runs as one worker
(its own consumer group); the engine's roll-ups, leaderboard rings and baselines live in
memory and restart empty after a crash (docs/architecture.md, "Analysis engine").
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.types import StreamT, TableT, TopicT

from agents.outputs import persist_durably, send_durably
from agents.windows import WindowAggregator, register_window_agent
from config.metrics import PipelineMetrics
from config.settings import Settings
from models.analysis import AnalysisEngine, WorkloadMeta
from models.bottlenecks import metric_window_medians
from models.leaderboard import CohortLeaderboard, Standing
from models.rollups import RollupLadder
from models.summaries import summarize_window
from models.window_kpis import window_kpis
from models.windows import NO_WATERMARK, WindowAccumulator
from schemas import (
    DecodeError,
    EntityType,
    MetricWindow,
    ProviderInfo,
    WorkloadSample,
    decode,
)

__all__ = ["FleetAnalysis", "register_analysis_agents", "standing_state"]

log = logging.getLogger(__name__)


@dataclass
class _FleetWindow:
    complete_since_s: float | None = None
    workloads: dict[str, tuple[WorkloadMeta, WindowAccumulator]] = field(default_factory=dict)
    providers: dict[str, dict[str, float]] = field(default_factory=dict)


def standing_state(s: Standing) -> dict[str, Any]:
    """JSON-able form of a standing (non-finite figures become None)."""

    def clean(x: float) -> float | None:
        return x if math.isfinite(x) else None

    return {
        "provider_id": s.provider_id,
        "rank": s.rank,
        "windows": s.windows,
        "perf_per_dollar": clean(s.perf_per_dollar),
        "perf_per_dollar_ci": [clean(v) for v in s.perf_per_dollar_ci],
        "normalised_perf_per_dollar": clean(s.normalised_perf_per_dollar),
        "reliability": clean(s.reliability),
        "reliability_ci": [clean(v) for v in s.reliability_ci],
        "robust_z": clean(s.robust_z),
        "underperformer": s.underperformer,
    }


class FleetAnalysis:
    """Runtime of the analysis role (all state in memory, see the module docstring)."""

    def __init__(
        self,
        *,
        settings: Settings,
        metrics: PipelineMetrics,
        insights_topic: TopicT,
        leaderboard_table: TableT[Any, Any],
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.insights_topic = insights_topic
        self.leaderboard_table = leaderboard_table
        self.engine = AnalysisEngine(
            window_ms=settings.window_ms,
            interval_ms=settings.sample_interval_ms,
            leaderboard=CohortLeaderboard(
                horizon=settings.leaderboard_horizon_windows,
                min_samples=settings.leaderboard_min_windows,
            ),
            # Roll-ups of every series stay packed between updates (bounded memory).
            rollups=RollupLadder(packed=True),
        )
        self.meta: dict[str, WorkloadMeta] = {}
        self.pending: dict[int, _FleetWindow] = {}
        self.last_start_ms = NO_WATERMARK
        self.newest_provider_start_ms = NO_WATERMARK
        # Per workload partition: the watermark up to which its windows were handed over.
        self.closed_through: dict[int, int] = {}
        # Lowest watermark over the workload partitions (set by register_analysis_agents).
        self.workload_watermark: Callable[[], int] = lambda: NO_WATERMARK

    # -- inputs ------------------------------------------------------------------------

    def workload_values(self, sample: WorkloadSample) -> dict[str, float | None]:
        """Numeric fields of a workload sample; remembers where the workload runs."""
        self.meta[sample.workload_id] = WorkloadMeta(
            sample.provider_id, sample.tenant_id, sample.workload_type.value
        )
        return {name: getattr(sample, name) for name in WorkloadSample.NUMERIC_FIELDS}

    def summarize(
        self,
        entity_type: EntityType,
        entity_id: str,
        start_ms: int,
        window_ms: int,
        acc: WindowAccumulator,
    ) -> MetricWindow:
        """The workload's ``MetricWindow`` with availability, error rate and perf per dollar."""
        window = summarize_window(entity_type, entity_id, start_ms, window_ms, acc)
        k = window_kpis(acc, window_ms=window_ms, interval_ms=self.settings.sample_interval_ms)
        return window.model_copy(
            update={
                "availability": k.availability,
                "error_rate": k.error_rate,
                "perf_per_dollar": k.perf_per_dollar,
            }
        )

    def _fleet_window(self, start_ms: int) -> _FleetWindow | None:
        if start_ms <= self.last_start_ms:
            log.info("window %d arrived after its fleet window was analysed", start_ms)
            return None
        fw = self.pending.get(start_ms)
        if fw is None:
            fw = self.pending[start_ms] = _FleetWindow()
        return fw

    async def on_workload_windows(
        self, partition: int, watermark_ms: int, closed: list[tuple[str, int, WindowAccumulator]]
    ) -> None:
        """Hook of the workload window aggregator: keep the sketches for the fleet window.

        ``watermark_ms``: every window of ``partition`` ending at or before it is now in.
        """
        self.closed_through[partition] = max(
            self.closed_through.get(partition, NO_WATERMARK), watermark_ms
        )
        for wid, start, acc in closed:
            meta = self.meta.get(wid)
            fw = self._fleet_window(start)
            if meta is not None and fw is not None:
                fw.workloads[wid] = (meta, acc)

    def on_provider_window(self, window: MetricWindow) -> None:
        """A provider window from ``perf.metrics``: keep its medians."""
        self.newest_provider_start_ms = max(self.newest_provider_start_ms, window.window_start_ms)
        fw = self._fleet_window(window.window_start_ms)
        if fw is not None:
            fw.providers[window.entity_id] = metric_window_medians(window)

    def on_catalog(self, info: ProviderInfo) -> None:
        """A catalog record: the provider's region and GPU model."""
        self.engine.set_provider(info.provider_id, region=info.region, gpu_model=info.gpu_model)

    # -- analysis ----------------------------------------------------------------------

    def ready(self, now_s: float) -> list[int]:
        """Starts of the fleet windows that are complete, oldest first (a prefix)."""
        out = []
        watermark = self.workload_watermark()
        expected = set(self.engine.provider_region)
        for start in sorted(self.pending):
            fw = self.pending[start]
            if start + self.settings.window_ms > watermark:
                break
            if fw.complete_since_s is None:
                fw.complete_since_s = now_s
        for start in sorted(self.pending):
            fw = self.pending[start]
            if fw.complete_since_s is None:
                break
            waited = now_s - fw.complete_since_s
            all_in = bool(expected) and expected <= fw.providers.keys()
            # The provider stage has moved past this window (an offline provider sends
            # nothing): a moment for its other partitions, then go.
            passed = self.newest_provider_start_ms > start and waited >= 1.0
            if not (all_in or passed or waited >= self.settings.analysis_settle_s):
                break
            out.append(start)
        return out

    async def flush(self, now_s: float) -> int:
        """Analyse every settled fleet window; send insights, write changed boards."""
        sent = 0
        for start in self.ready(now_s):
            fw = self.pending.pop(start)
            self.last_start_ms = start
            result = self.engine.analyse_window(
                start, {}, fw.workloads, provider_medians=fw.providers
            )
            records = [(f"{i.entity_type.value}:{i.entity_id}", i) for i in result.insights]
            await send_durably(self.insights_topic, records, self.metrics, "perf.insights")
            sent += len(records)
            items = [
                (
                    cohort,
                    [standing_state(s) for s in board],
                    zlib.crc32(cohort.encode()) % self.settings.partitions,
                )
                for cohort, board in result.changed_boards.items()
            ]
            if items:
                await persist_durably(self.leaderboard_table, items)
        return sent

    def boards(self) -> Mapping[str, list[dict[str, Any]]]:
        """Current standings of every cohort (for the HTTP page)."""
        lb = self.engine.leaderboard
        return {c: [standing_state(s) for s in lb.standings(c)] for c in lb.cohorts()}


def register_analysis_agents(
    app: faust.App,
    *,
    settings: Settings,
    metrics: PipelineMetrics,
    workload_source: TopicT,
    metrics_source: TopicT,
    catalog_source: TopicT,
    metrics_topic: TopicT,
    insights_topic: TopicT,
    dlq_topic: TopicT,
) -> FleetAnalysis:
    """Wire the analysis role: workload windows, provider windows, catalog, timer, page."""
    stage = FleetAnalysis(
        settings=settings,
        metrics=metrics,
        insights_topic=insights_topic,
        leaderboard_table=app.Table("cohort_to_leaderboard", partitions=settings.partitions),
    )
    aggregator = WindowAggregator(
        settings=settings,
        metrics=metrics,
        source_name="telemetry.workload",
        record_type=WorkloadSample,
        entity_type=EntityType.WORKLOAD,
        entity_of=lambda s: s.workload_id,
        values_of=stage.workload_values,
        table=app.Table("workload_to_window_state", partitions=settings.partitions),
        metrics_topic=metrics_topic,
        dlq_topic=dlq_topic,
        summarize=stage.summarize,
        on_closed=stage.on_workload_windows,
    )
    register_window_agent(app, aggregator, workload_source, name="aggregate_workload_windows")

    source_name = workload_source.get_topic_name()

    def workload_watermark() -> int:
        # Every assigned partition counts, also one this worker has not read from yet
        # (otherwise a fast partition would let fleet windows go before a slow one's
        # workloads are in); only a partition known to be empty is left out.
        marks = []
        consumer = app.consumer
        for tp in consumer.assignment():
            if tp.topic != source_name:
                continue
            # Not the partition's watermark: its windows are handed over a little later.
            mark = stage.closed_through.get(tp.partition)
            if mark is not None and mark != NO_WATERMARK:
                marks.append(mark)
            elif consumer.highwater(tp) != 0:
                return NO_WATERMARK
        return min(marks, default=NO_WATERMARK)

    stage.workload_watermark = workload_watermark

    async def collect_provider_windows(stream: StreamT[Any]) -> None:
        async for event in stream.events():
            try:
                window = decode(MetricWindow, event.message.value or b"", now_ms=None)
            except DecodeError:
                continue  # the metrics' own consumers dead-letter bad windows
            if window.entity_type is EntityType.PROVIDER:
                stage.on_provider_window(window)

    app.agent(metrics_source, name="collect_provider_windows")(collect_provider_windows)

    async def track_provider_catalog(stream: StreamT[Any]) -> None:
        async for event in stream.events():
            try:
                stage.on_catalog(decode(ProviderInfo, event.message.value or b"", now_ms=None))
            except DecodeError as exc:
                log.warning("unusable catalog record: %s", exc.reason)

    app.agent(catalog_source, name="track_provider_catalog")(track_provider_catalog)

    async def analyse_fleet_windows() -> None:
        try:
            await stage.flush(time.monotonic())
        except Exception:
            # A bug in one fleet window must not stop the timer for the next ones.
            log.exception("fleet window analysis failed")

    app.timer(1.0, name="analyse_fleet_windows")(analyse_fleet_windows)

    return stage
