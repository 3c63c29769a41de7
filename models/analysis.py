"""The analysis engine: one call per closed 1-minute window of the whole fleet.

:class:`AnalysisEngine` ties the pure pieces together, so the agent, the evaluation and
the benchmark run the same code: bottleneck diagnosis per workload
(:mod:`models.bottlenecks`), root-cause scope (:mod:`models.root_cause`), cohort
leaderboards (:mod:`models.leaderboard`), 5-minute / 1-hour roll-ups
(:mod:`models.rollups`) and hourly trends (:mod:`models.trends`) of perf per dollar and
utilisation per provider and cohort.

Series names are ``type:id``: ``workload:<id>``, ``tenant:<id>``, ``provider:<id>``,
``cohort:<gpu model>/<workload type>`` (workload metrics of every workload of the
cohort) and ``provider_cohort:<provider>/<workload type>`` (what the leaderboard ranks).

>>> from models.windows import WindowAccumulator
>>> eng = AnalysisEngine(interval_ms=1_000)
>>> eng.set_provider("p1", region="eu", gpu_model="A100")
>>> wacc = WindowAccumulator()
>>> for _ in range(60):
...     wacc.add({"gpu_util_pct": 95.0, "cpu_util_pct": 40.0, "throughput": 10.0,
...               "cost_accrued_usd": 0.001})
>>> out = eng.analyse_window(0, {}, {"w1": (WorkloadMeta("p1", "t1", "training"), wacc)})
>>> out.diagnoses["w1"].kind.value, out.findings
('gpu_bound', [])
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from models.bottlenecks import (
    BottleneckRules,
    Diagnosis,
    classify_bottleneck,
    is_problem,
    window_medians,
)
from models.leaderboard import CohortLeaderboard, Standing, demotions, standings_changed
from models.rollups import ClosedRollup, RollupLadder, merge_accumulators
from models.root_cause import (
    Finding,
    ProviderBaselines,
    WorkloadState,
    attribute_scope,
    finding_to_insight,
)
from models.trends import TrendTracker
from models.window_kpis import window_kpis
from models.windows import WindowAccumulator
from schemas import EntityType, Insight, RootCauseScope, WorkloadType

__all__ = ["AnalysisEngine", "WindowAnalysis", "WorkloadMeta"]

_HOUR_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class WorkloadMeta:
    """Where a workload runs and what it is (from its samples)."""

    provider_id: str
    tenant_id: str
    workload_type: str


@dataclass
class WindowAnalysis:
    """Everything one fleet window produced.

    ``findings`` are all of the window's; ``insights`` only what is new: a finding not
    already found in the previous window (an ongoing incident is reported once, when it
    starts), and leaderboard demotions (:func:`models.leaderboard.demotions`).
    """

    diagnoses: dict[str, Diagnosis]
    findings: list[Finding]
    insights: list[Insight]
    changed_boards: dict[str, list[Standing]]
    closed_rollups: list[ClosedRollup]


@dataclass
class AnalysisEngine:
    """Stateful analysis of consecutive fleet windows (state: sketches and small rings)."""

    window_ms: int = 60_000
    interval_ms: int = 1_000
    good_availability: float = 0.95
    good_error_rate: float = 0.01
    rules: BottleneckRules = field(default_factory=BottleneckRules)
    leaderboard: CohortLeaderboard = field(default_factory=CohortLeaderboard)
    rollups: RollupLadder = field(default_factory=RollupLadder)
    trends: TrendTracker = field(default_factory=TrendTracker)
    baselines: ProviderBaselines = field(default_factory=ProviderBaselines)
    provider_region: dict[str, str] = field(default_factory=dict)
    provider_gpu: dict[str, str] = field(default_factory=dict)
    _boards: dict[str, list[Standing]] = field(default_factory=dict)
    _reference: dict[str, list[Standing]] = field(default_factory=dict)
    _ongoing: set[tuple[str, str, str]] = field(default_factory=set)

    def set_provider(self, provider_id: str, *, region: str, gpu_model: str) -> None:
        """Record a provider's region and GPU model (from ``providers.catalog``)."""
        self.provider_region[provider_id] = region
        self.provider_gpu[provider_id] = gpu_model

    def analyse_window(
        self,
        start_ms: int,
        providers: Mapping[str, WindowAccumulator],
        workloads: Mapping[str, tuple[WorkloadMeta, WindowAccumulator]],
        provider_medians: Mapping[str, Mapping[str, float]] | None = None,
    ) -> WindowAnalysis:
        """Analyse the closed window ``[start_ms, start_ms + window_ms)`` of the fleet.

        ``providers`` are the providers' window sketches (rolled up); where only their
        medians are at hand (the agent reads provider windows from ``perf.metrics``),
        ``provider_medians`` gives them instead, and no provider roll-up is kept.
        """
        end_ms = start_ms + self.window_ms
        medians = dict(provider_medians or {})
        for pid, pacc in providers.items():
            medians.setdefault(pid, window_medians(pacc))
        signals = {p: self.baselines.signals(p, m) for p, m in sorted(medians.items())}
        diagnoses, states, cohort_members = self._diagnose_workloads(start_ms, workloads, medians)
        for pid, acc in providers.items():
            self.rollups.add(f"provider:{pid}", start_ms, acc)
        findings = attribute_scope(
            states, {p: s for p, s in signals.items() if s}, self.provider_region
        )
        current = {(f.scope.value, f.entity_id, f.kind.value) for f in findings}
        insights = [
            finding_to_insight(f, start_ms, end_ms)
            for f in findings
            if (f.scope.value, f.entity_id, f.kind.value) not in self._ongoing
        ]
        self._ongoing = current
        touched = self._update_leaderboards(start_ms, *cohort_members)
        changed = self._board_changes(touched, start_ms, end_ms, insights)
        closed = self._close_rollups(end_ms)
        return WindowAnalysis(diagnoses, findings, insights, changed, closed)

    def _diagnose_workloads(
        self,
        start_ms: int,
        workloads: Mapping[str, tuple[WorkloadMeta, WindowAccumulator]],
        medians: Mapping[str, Mapping[str, float]],
    ) -> tuple[
        dict[str, Diagnosis],
        list[WorkloadState],
        tuple[dict[tuple[str, str], WindowAccumulator], dict[tuple[str, str], int]],
    ]:
        """Each workload's bottleneck, its roll-ups, and its window merged per provider cohort."""
        diagnoses: dict[str, Diagnosis] = {}
        states: list[WorkloadState] = []
        per_cohort_member: dict[tuple[str, str], WindowAccumulator] = defaultdict(WindowAccumulator)
        members: dict[tuple[str, str], int] = defaultdict(int)
        for wid, (meta, acc) in sorted(workloads.items()):
            diagnosis = classify_bottleneck(
                window_medians(acc), medians.get(meta.provider_id), self.rules
            )
            region = self.provider_region.get(meta.provider_id, "unknown")
            gpu = self.provider_gpu.get(meta.provider_id, "unknown")
            self.rollups.add(f"workload:{wid}", start_ms, acc)
            self.rollups.add(f"tenant:{meta.tenant_id}", start_ms, acc)
            self.rollups.add(f"cohort:{gpu}/{meta.workload_type}", start_ms, acc)
            merge_accumulators(per_cohort_member[(meta.provider_id, meta.workload_type)], acc)
            members[(meta.provider_id, meta.workload_type)] += 1
            if diagnosis is None:
                continue
            diagnoses[wid] = diagnosis
            problem = is_problem(diagnosis.kind, WorkloadType(meta.workload_type))
            states.append(WorkloadState(wid, meta.provider_id, region, diagnosis.kind, problem))
        return diagnoses, states, (per_cohort_member, members)

    def _update_leaderboards(
        self,
        start_ms: int,
        per_cohort_member: dict[tuple[str, str], WindowAccumulator],
        members: dict[tuple[str, str], int],
    ) -> set[str]:
        """Each provider's perf per dollar in its cohorts' boards; the cohorts touched."""
        touched: set[str] = set()
        for (pid, wtype), acc in sorted(per_cohort_member.items()):
            self.rollups.add(f"provider_cohort:{pid}/{wtype}", start_ms, acc)
            kpis = window_kpis(acc, window_ms=self.window_ms, interval_ms=self.interval_ms)
            if kpis.perf_per_dollar is None:
                continue
            cohort = f"{self.provider_gpu.get(pid, 'unknown')}/{wtype}"
            # The merged window holds every workload's samples: availability per workload.
            expected = members[(pid, wtype)] * self.window_ms / self.interval_ms
            availability = min(1.0, acc.count / expected)
            good = availability >= self.good_availability and (
                kpis.error_rate is None or kpis.error_rate <= self.good_error_rate
            )
            self.leaderboard.update(cohort, pid, kpis.perf_per_dollar, good=good)
            touched.add(cohort)
        return touched

    def _board_changes(
        self, touched: set[str], start_ms: int, end_ms: int, insights: list[Insight]
    ) -> dict[str, list[Standing]]:
        """Boards whose standings changed; demotion insights appended to ``insights``."""
        changed: dict[str, list[Standing]] = {}
        for cohort in sorted(touched):
            board = self.leaderboard.standings(cohort)
            before = self._boards.get(cohort, [])
            if standings_changed(before, board):
                changed[cohort] = board
            # Demotions are judged against the last confirmed order of the board, so a
            # provider that slides down over several windows is caught once its interval
            # separates from a peer it used to beat, and noise between peers is not.
            reference = self._reference.get(cohort, [])
            found = demotions(reference, board)
            for rank_before, s in found:
                insights.append(_demotion(cohort, rank_before, s, start_ms, end_ms))
            ranked = {s.provider_id for s in board if s.rank is not None}
            if found or ranked != {s.provider_id for s in reference if s.rank is not None}:
                self._reference[cohort] = board
            self._boards[cohort] = board
        return changed

    def _close_rollups(self, end_ms: int) -> list[ClosedRollup]:
        """Roll-ups the window closed; hourly provider and cohort ones feed the trends."""
        closed = self.rollups.close(watermark_ms=end_ms)
        for r in closed:
            if r.size_ms == _HOUR_MS and r.series.split(":", 1)[0] in ("provider", "cohort"):
                kpis = window_kpis(r.acc, window_ms=r.size_ms, interval_ms=self.interval_ms)
                if kpis.utilisation is not None:
                    self.trends.update(r.series, "utilisation", r.start_ms, kpis.utilisation)
                if kpis.perf_per_dollar is not None:
                    self.trends.update(
                        r.series, "perf_per_dollar", r.start_ms, kpis.perf_per_dollar
                    )
        return closed


def _demotion(
    cohort: str, rank_before: int | None, s: Standing, start_ms: int, end_ms: int
) -> Insight:
    return Insight(
        insight_id=f"demotion.{s.provider_id}.{start_ms}",
        entity_type=EntityType.PROVIDER,
        entity_id=s.provider_id,
        ts_ms=end_ms,
        kind="leaderboard_demotion",
        scope=RootCauseScope.PROVIDER,
        evidence={
            key: value
            for key, value in _demotion_evidence(cohort, rank_before, s).items()
            if isinstance(value, str) or math.isfinite(value)
        },
        confidence=min(1.0, abs(s.robust_z) / 6.0),
        summary=(
            f"{s.provider_id} underperforms its cohort {cohort}: perf per dollar "
            f"{s.normalised_perf_per_dollar:.2f}x the cohort median (robust z {s.robust_z:.1f})"
        ),
    )


def _demotion_evidence(cohort: str, rank_before: int | None, s: Standing) -> dict[str, float | str]:
    lo, hi = s.perf_per_dollar_ci
    return {
        "cohort": cohort,
        "rank_before": float(rank_before) if rank_before is not None else -1.0,
        "rank": float(s.rank if s.rank is not None else -1),
        "robust_z": s.robust_z,
        "normalised_perf_per_dollar": s.normalised_perf_per_dollar,
        "perf_per_dollar_ci_low": lo,
        "perf_per_dollar_ci_high": hi,
    }
