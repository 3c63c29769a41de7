"""The fuzz harness's labels (evaluation/fuzz.py): every bad record is one the schema
decoder refuses, the topic list is what the app consumes, and the same seed gives the
same records."""

from __future__ import annotations

from collections import Counter

import pytest

from config.settings import ALL_AGENTS, OPTIONAL_AGENTS, Settings
from evaluation.fuzz import (
    COMPACTED,
    FUZZED_TOPICS,
    TELEMETRY,
    Expect,
    expected_windows,
    fuzz_cases,
)
from evaluation.fuzz_mutations import MUTATIONS
from schemas import TOPIC_RECORDS, DecodeError, decode
from streams.app import create_app
from streams.topics import TOPICS

NOW_MS = 1_800_000_000_000


@pytest.fixture(scope="module")
def cases() -> list:
    return fuzz_cases(bad=600, valid=600, seed=3, now_ms=NOW_MS, window_ms=5_000)


def test_fuzzed_topics_are_every_topic_a_worker_with_every_role_consumes() -> None:
    settings = Settings(agents=",".join(ALL_AGENTS + OPTIONAL_AGENTS), topic_prefix="p.")
    app = create_app(settings)
    consumed = {
        name.removeprefix("p.")
        for agent in app.agents.values()
        for name in agent.channel.topics  # type: ignore[attr-defined]
    }
    assert set(FUZZED_TOPICS) == consumed


def test_compacted_topics_match_the_registry() -> None:
    assert {t.name for t in TOPICS if t.compacted} == COMPACTED


def test_every_bad_record_is_refused_by_the_decoder_and_every_valid_one_decodes(
    cases: list,
) -> None:
    for case in cases:
        model = TOPIC_RECORDS[case.topic]
        # Only the windows stages check event times against the clock.
        now_ms = NOW_MS if case.topic in TELEMETRY else None
        if case.kind == "unrepresentable":
            decode(model, case.value, now_ms=now_ms)  # the schema takes it, windows do not
        elif case.bad:
            with pytest.raises(DecodeError):
                decode(model, case.value, now_ms=now_ms)
        else:
            decode(model, case.value, now_ms=now_ms)


def test_the_mix_covers_every_topic_and_every_mutation(cases: list) -> None:
    assert sum(c.bad for c in cases) == 600
    assert {c.topic for c in cases if c.bad} == set(FUZZED_TOPICS)
    kinds = Counter(c.kind for c in cases)
    assert set(MUTATIONS) - {"huge_string"} <= set(kinds)
    assert kinds["replayed_seq"] > 0 and kinds["null_key"] > 0


def test_no_null_key_goes_to_a_compacted_topic(cases: list) -> None:
    assert not [c for c in cases if c.key is None and c.topic in COMPACTED]


def test_replays_are_duplicates_of_an_earlier_accepted_sample(cases: list) -> None:
    seen: set[bytes] = set()
    for case in cases:
        if case.expect is Expect.DUPLICATE:
            assert case.topic in TELEMETRY and case.value in seen
        elif case.expect is Expect.ACCEPTED and case.topic in TELEMETRY:
            seen.add(case.value)


def test_telemetry_is_in_event_time_order_per_topic(cases: list) -> None:
    for topic in TELEMETRY:
        windows = [c.window for c in cases if c.topic == topic and c.window]
        starts = [int(w.split(":")[2]) for w in windows]
        assert starts == sorted(starts)


def test_expected_windows_count_the_accepted_samples(cases: list) -> None:
    expected = expected_windows(cases)
    accepted = [c for c in cases if c.topic in TELEMETRY and c.expect is Expect.ACCEPTED]
    assert sum(expected.values()) == len(accepted)


def test_same_seed_same_cases() -> None:
    one = fuzz_cases(bad=50, valid=50, seed=9, now_ms=NOW_MS, window_ms=5_000)
    assert one == fuzz_cases(bad=50, valid=50, seed=9, now_ms=NOW_MS, window_ms=5_000)
    assert one != fuzz_cases(bad=50, valid=50, seed=10, now_ms=NOW_MS, window_ms=5_000)


def test_a_subset_of_topics_takes_all_the_records() -> None:
    only = fuzz_cases(
        topics=("telemetry.provider",), bad=80, valid=80, seed=2, now_ms=NOW_MS, window_ms=5_000
    )
    assert {c.topic for c in only} == {"telemetry.provider"}
    assert sum(c.bad for c in only) == 80
