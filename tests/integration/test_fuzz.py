"""Issue 17.3: hostile input into the telemetry topics, against a worker of the roles reading them.

Bad records (byte-level mutations of valid ones: truncated, invalid UTF-8, NaN and
Infinity literals, 1 MB strings, 5,000-deep nesting, wrong types, empty values, unknown
``schema_version``) are mixed with valid ones (Hypothesis draws from the schemas, null
keys, replayed ``seq``) into ``telemetry.provider`` and ``telemetry.workload``. Each bad
record must be dead-lettered exactly once with a reason, no valid record dead-lettered or
lost, every window count exact, and the worker alive with no agent crash in its log.

A second test sends hostile records into every topic a worker with every role consumes
(``FUZZED_TOPICS``, none left out): one dead letter per bad record, not one per stage, and
no valid record left unconsumed (a fuzzed workload of 988,726,729 replicas once held the
event loop for 69 s and the group dropped the worker: ``WorkloadSpec.replicas`` is bounded).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bench.fuzz import fuzz_worker
from config.settings import ALL_AGENTS, OPTIONAL_AGENTS
from evaluation.fuzz import FUZZED_TOPICS, TELEMETRY
from tests.integration.harness import fresh_settings

pytestmark = pytest.mark.kafka

#: The roles that read the telemetry topics: windows (providers), analysis (workloads).
ROLES = "windows,analysis"


def test_hostile_records_are_dead_lettered_once_and_valid_ones_kept(
    kafka_bootstrap: str, tmp_path: Path, report_figure: Callable[[str, float, str], None]
) -> None:
    settings = fresh_settings(kafka_bootstrap, tmp_path, agents=ROLES, idle_close_s=5.0)
    run = fuzz_worker(
        settings, tmp_path, topics=tuple(TELEMETRY), bad=1500, valid=1500, seed=17, timeout_s=90
    )
    outcome = run.outcome
    log = run.worker.log.read_text(errors="replace")
    summary = outcome.summary()
    report_figure("fuzz_records", outcome.fuzz_records, "bad records")
    assert outcome.fuzz_records >= 1500
    assert outcome.fuzz_dead_lettered == outcome.fuzz_records, summary
    assert outcome.valid_records_lost == 0, summary
    assert not outcome.valid_dead_lettered and not outcome.foreign_dead_letters, summary
    assert not outcome.miscounted and outcome.internal_errors == 0, summary
    assert run.alive, log[-3000:]
    assert "Traceback" not in log, log[log.index("Traceback") - 500 :][:4000]


def test_a_bad_record_is_dead_lettered_once_by_a_worker_with_every_role(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    every = ",".join(ALL_AGENTS + OPTIONAL_AGENTS)
    settings = fresh_settings(kafka_bootstrap, tmp_path, agents=every, idle_close_s=5.0)
    run = fuzz_worker(
        settings, tmp_path, topics=FUZZED_TOPICS, bad=300, valid=300, seed=5, timeout_s=60
    )
    outcome = run.outcome
    summary = outcome.summary()
    # Before DEAD_LETTER_OWNERS, a bad perf.metrics record got up to four dead letters.
    assert not outcome.repeated and not outcome.missing, summary
    assert outcome.fuzz_dead_lettered == outcome.fuzz_records >= 300, summary
    assert outcome.valid_records_lost == 0 and not outcome.foreign_dead_letters, summary
    assert not outcome.miscounted and outcome.internal_errors == 0, summary
    assert run.alive, run.worker.log.read_text(errors="replace")[-3000:]
