"""The approvals role's pure core (workflow/decision_log.py): what is reviewed, the limiter
rebuilt from the decision entries (the state a restart recovers), unknown tenants, expiry."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import Recommendation, RecommendationStatus
from workflow.approver import Approver
from workflow.decision_log import (
    UNKNOWN_TENANT,
    DecisionEntry,
    expire_waiting,
    horizon_ms,
    is_stale,
    needs_review,
    rebuild_limiter,
    record_decision,
    review,
    tenant_of,
)
from workflow.policy import PolicyBook

S = RecommendationStatus
T0 = 1_700_000_000_000
HOUR_MS = 3_600_000

BOOK = PolicyBook.from_dict(
    {
        "policies": [
            {"tenant": "*", "kind": "*", "mode": "manual"},
            {
                "tenant": "acme",
                "kind": "*",
                "mode": "auto",
                "max_sla_risk": 1.0,
                "min_gain": -1.0,
                "max_actions_per_provider": 2,
                "interval_s": 3600,
            },
        ]
    }
)


def proposal(
    rid: str = "r1", provider: str = "p1", ts_ms: int = T0, **kw: object
) -> Recommendation:
    values: dict[str, object] = {
        "recommendation_id": rid,
        "ts_ms": ts_ms,
        "status": "proposed",
        "kind": "place",
        "workload_id": "w1",
        "provider_id": provider,
        "expected_throughput": 1.0,
        "cost_usd_per_hour": 1.0,
        "perf_per_dollar_gain": 0.2,
        "sla_risk": 0.1,
        "confidence": 0.9,
        "rationale": "",
        "expires_at_ms": ts_ms + 900_000,
    }
    values.update(kw)
    return Recommendation.model_validate(values)


def decide(
    approver: Approver, rec: Recommendation, now_ms: int, previous: DecisionEntry | None = None
) -> DecisionEntry:
    d = review(approver, rec, "acme", now_ms)
    return record_decision(d, rec, previous, partition=1, horizon_ms=horizon_ms(BOOK))


def test_what_is_reviewed() -> None:
    rec = proposal()
    entry = decide(Approver(BOOK), rec, T0 + 1)
    assert needs_review(rec, None)
    assert not needs_review(rec, entry)  # delivered again
    assert not needs_review(entry.record, None)  # its own approval
    note = review(Approver(BOOK), rec, None, T0 + 1).record  # a note, still proposed
    assert note.status is S.PROPOSED and not needs_review(note, None)
    for status in (S.APPROVED, S.REJECTED, S.SUPERSEDED, S.APPLIED):
        assert not needs_review(rec.model_copy(update={"status": status}), None)
    assert not needs_review(rec, None, decided_ms=T0)  # an operator decided at the same time
    later = proposal(ts_ms=T0 + 10)  # the same id proposed again after its decision
    assert needs_review(later, entry, decided_ms=T0 + 1)


def test_limiter_rebuilt_from_entries_keeps_the_limit_across_a_restart() -> None:
    before = Approver(BOOK)
    entries = [decide(before, proposal(f"r{i}"), T0 + i) for i in range(2)]
    assert [e.record.status for e in entries] == [S.APPROVED, S.APPROVED]
    assert [e.grants_ms for e in entries] == [(T0,), (T0 + 1,)]
    after = Approver(BOOK, rebuild_limiter(entries))  # what a restarted worker has
    third = decide(after, proposal("r3"), T0 + 5)
    assert third.record.status is S.REJECTED and third.record.reason.startswith("rate limit")
    assert third.grants_ms == ()
    # A fresh limiter (state lost) would have approved it: the test above means something.
    assert decide(Approver(BOOK), proposal("r3"), T0 + 5).record.status is S.APPROVED
    # After the interval the provider has room again.
    again = decide(after, proposal("r4", ts_ms=T0 + HOUR_MS + 1), T0 + HOUR_MS + 1)
    assert again.record.status is S.APPROVED


def test_migration_counts_against_source_and_target_after_rebuild() -> None:
    move = proposal("m1", provider="p2", kind="migrate", from_provider_id="p1")
    entry = decide(Approver(BOOK), move, T0)
    assert entry.providers == ("p2", "p1")
    limiter = rebuild_limiter([entry])
    assert limiter.count("p1", T0, HOUR_MS) == 1 and limiter.count("p2", T0, HOUR_MS) == 1


def test_redecided_id_keeps_its_grants_in_the_horizon() -> None:
    approver = Approver(BOOK)
    first = decide(approver, proposal(), T0)
    second = decide(approver, proposal(ts_ms=T0 + 10), T0 + 10, previous=first)
    assert second.grants_ms == (T0, T0 + 10)
    much_later = decide(approver, proposal(ts_ms=T0 + 2 * HOUR_MS), T0 + 2 * HOUR_MS, second)
    assert much_later.grants_ms == (T0 + 2 * HOUR_MS,)


def test_unknown_tenant_is_decided_by_the_star_policies_and_says_so() -> None:
    d = review(Approver(BOOK), proposal(), None, T0 + 1)
    assert d.record.status is S.PROPOSED and d.record.actor == "policy:*/*"
    assert d.record.reason == f"awaiting operator: manual policy; {UNKNOWN_TENANT}"
    assert tenant_of("w1.r3", {"w1": "acme"}) == "acme"
    assert tenant_of("w1", {}) is None


def test_dry_run_notes_are_counted_and_waiting() -> None:
    book = BOOK.model_copy(update={"dry_run": True})
    d = review(Approver(book), proposal(), "acme", T0 + 1)
    assert d.record.status is S.PROPOSED and d.record.reason.startswith("dry-run: would approve")
    assert d.counted and not d.acted
    entry = record_decision(d, proposal(), None, partition=0, horizon_ms=HOUR_MS)
    assert entry.waiting and entry.grants_ms == (T0 + 1,)


def test_waiting_proposal_expires_then_is_forgotten() -> None:
    rec = proposal()
    entry = record_decision(
        review(Approver(BOOK), rec, "other", T0 + 1), rec, None, partition=2, horizon_ms=HOUR_MS
    )
    assert entry.waiting
    assert expire_waiting(entry, rec.expires_at_ms) is None  # not yet
    done = expire_waiting(entry, rec.expires_at_ms + 1)
    assert done is not None and not done.waiting
    assert (done.record.status, done.record.reason) == (S.EXPIRED, "expired awaiting operator")
    assert expire_waiting(done, rec.expires_at_ms + 2) is None  # once
    assert not is_stale(done, rec.expires_at_ms + HOUR_MS, HOUR_MS)
    assert is_stale(done, rec.expires_at_ms + HOUR_MS + 2, HOUR_MS)
    assert not is_stale(entry, rec.expires_at_ms + 2 * HOUR_MS, HOUR_MS)  # still waiting


def test_entries_round_trip_as_table_values() -> None:
    entry = decide(Approver(BOOK), proposal(), T0)
    assert DecisionEntry.model_validate(entry.model_dump(mode="json")) == entry


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["p1", "p2", "p3"]), st.integers(0, 3 * HOUR_MS)),
        max_size=30,
    ),
    st.lists(st.integers(0, 30), max_size=4),
)
def test_never_more_than_n_grants_per_provider_per_window_across_restarts(
    requests: list[tuple[str, int]], restarts: list[int]
) -> None:
    """Restarting (rebuilding the limiter from the entries) at any points changes nothing."""
    entries: dict[str, DecisionEntry] = {}
    approver = Approver(BOOK)
    for i, (provider, dt) in enumerate(sorted(requests, key=lambda r: r[1])):
        if i in restarts:
            approver = Approver(BOOK, rebuild_limiter(entries.values()))
        rec = proposal(f"r{i}", provider=provider, ts_ms=T0 + dt)
        entries[rec.recommendation_id] = decide(approver, rec, T0 + dt)
    grants = sorted((g, e.providers[0]) for e in entries.values() for g in e.grants_ms)
    for g, provider in grants:
        window = [h for h, p in grants if p == provider and g - HOUR_MS < h <= g]
        assert len(window) <= 2
    uninterrupted = Approver(BOOK)
    for i, (provider, dt) in enumerate(sorted(requests, key=lambda r: r[1])):
        rec = proposal(f"r{i}", provider=provider, ts_ms=T0 + dt)
        status = uninterrupted.review(rec, "acme", T0 + dt).record.status
        assert status is entries[rec.recommendation_id].record.status


@pytest.mark.parametrize("interval_s", [60, 7200])
def test_horizon_is_the_longest_interval(interval_s: int) -> None:
    book = PolicyBook.from_dict({"policies": [{"kind": "migrate", "interval_s": interval_s}]})
    assert horizon_ms(book) == max(interval_s * 1000, HOUR_MS)
