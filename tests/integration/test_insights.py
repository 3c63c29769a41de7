"""The analysis role on the real broker: root-cause scope and leaderboard demotion.

One run (tests/integration/insights_scenario.py): a regional network incident must give
one region-scoped insight and no workload- or provider-scoped one for the entities of
that region; a provider that overheats must give a provider-scoped insight and a
leaderboard demotion within its cohort.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from schemas import Insight, RootCauseScope
from tests.integration.harness import decode_all, drain, fresh_settings, produce, start_worker
from tests.integration.insights_scenario import BAD_S, REGION_S, insights_scenario

pytestmark = pytest.mark.kafka


def test_regional_incident_and_bad_provider(kafka_bootstrap: str, tmp_path: Path) -> None:
    scenario = insights_scenario()
    settings = fresh_settings(
        kafka_bootstrap,
        tmp_path,
        agents="windows,analysis",
        leaderboard_horizon_windows=12,
        leaderboard_min_windows=6,
        analysis_settle_s=20.0,
    )
    bad = scenario.bad_provider.encode()

    def done(records: list[tuple[bytes | None, bytes]]) -> bool:
        values = [v for _, v in records]
        region = any(b'"scope":"region"' in v for v in values)
        demoted = any(bad in v and b"leaderboard_demotion" in v for v in values)
        return region and demoted

    worker = start_worker(settings, tmp_path)
    try:
        t0 = time.monotonic()
        asyncio.run(produce(settings, scenario.messages()))
        t1 = time.monotonic()
        records = asyncio.run(drain(settings, "perf.insights", until=done, timeout_s=240))
        print(f"produce {t1 - t0:.1f} s, insights after {time.monotonic() - t1:.1f} s")
    finally:
        worker.stop()
    insights = decode_all(Insight, records)
    r0, r1 = (scenario.at(s) for s in REGION_S)
    b0, b1 = (scenario.at(s) for s in BAD_S)

    regional = [i for i in insights if i.scope is RootCauseScope.REGION]
    assert [(i.entity_id, i.kind) for i in regional] == [(scenario.region, "network_io_bound")]
    assert r0 < regional[0].ts_ms <= r1
    assert regional[0].evidence["affected_workloads"] >= 0.5 * len(scenario.region_workloads)
    # Not one per workload or per provider of the region while it lasted.
    inside = [i for i in insights if r0 < i.ts_ms <= r1 and i.kind == "network_io_bound"]
    assert [i.entity_id for i in inside] == [scenario.region], [
        (i.scope.value, i.entity_id) for i in inside
    ]

    about_bad = [i for i in insights if i.entity_id == scenario.bad_provider and b0 < i.ts_ms]
    scoped = [i for i in about_bad if i.kind == "thermal_throttling"]
    assert scoped and all(i.scope is RootCauseScope.PROVIDER for i in scoped)
    assert scoped[0].ts_ms <= b1
    demoted = [i for i in about_bad if i.kind == "leaderboard_demotion"]
    assert demoted and demoted[0].evidence["cohort"] == scenario.cohort
    assert demoted[-1].evidence["rank"] > demoted[0].evidence["rank_before"]
