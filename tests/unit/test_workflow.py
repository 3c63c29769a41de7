"""Approval workflow: state machine, policies, rate limits and dry-run."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from config.settings import DEFAULT_POLICIES_PATH
from schemas import Recommendation, RecommendationStatus
from workflow.approver import Approver
from workflow.policy import ApprovalMode, Policy, PolicyBook, PolicyError
from workflow.rate_limit import ProviderRateLimiter
from workflow.transitions import ALLOWED, TERMINAL, InvalidTransition, transition

S = RecommendationStatus
T0 = 1_700_000_000_000


def rec(
    rid: str = "r1",
    *,
    kind: str = "migrate",
    provider: str = "p2",
    source: str | None = "p1",
    gain: float = 0.4,
    risk: float = 0.1,
    ts_ms: int = T0,
    ttl_ms: int = 600_000,
) -> Recommendation:
    return Recommendation(
        recommendation_id=rid,
        ts_ms=ts_ms,
        status="proposed",
        kind=kind,
        workload_id=f"wl-{rid}",
        provider_id=provider,
        from_provider_id=source,
        expected_throughput=100.0,
        cost_usd_per_hour=2.0,
        perf_per_dollar_gain=gain,
        sla_risk=risk,
        confidence=0.8,
        rationale="test",
        expires_at_ms=ts_ms + ttl_ms,
    )


def auto_book(limit: int = 2, interval_s: int = 3600, dry_run: bool = False) -> PolicyBook:
    return PolicyBook(
        dry_run=dry_run,
        policies=(
            Policy(
                kind="migrate",
                mode="auto",
                max_sla_risk=0.3,
                min_gain=0.1,
                min_change=0.05,
                max_actions_per_provider=limit,
                interval_s=interval_s,
            ),
        ),
    )


# ------------------------------------------------------------------ state machine
@pytest.mark.parametrize("start", list(S))
@pytest.mark.parametrize("target", list(S))
def test_transition_table(start: S, target: S) -> None:
    base = rec()
    current = base if start is S.PROPOSED else base.model_copy(update={"status": start})
    if target in ALLOWED[start]:
        out = transition(current, target, actor="ops", ts_ms=T0 + 1, reason="why")
        assert (out.status, out.actor, out.ts_ms, out.reason) == (target, "ops", T0 + 1, "why")
        assert out.recommendation_id == base.recommendation_id
    else:
        with pytest.raises(InvalidTransition):
            transition(current, target, actor="ops", ts_ms=T0 + 1)


def test_terminal_states_and_time_order() -> None:
    assert {S.REJECTED, S.EXPIRED, S.SUPERSEDED, S.APPLIED, S.FAILED} == TERMINAL
    with pytest.raises(InvalidTransition, match="before"):
        transition(rec(), S.APPROVED, actor="ops", ts_ms=T0 - 1)
    with pytest.raises(InvalidTransition, match="expired"):
        transition(rec(ttl_ms=10), S.APPROVED, actor="ops", ts_ms=T0 + 11)


# ------------------------------------------------------------------ policies
def test_default_policy_file_loads() -> None:
    book = PolicyBook.load(DEFAULT_POLICIES_PATH)
    assert book.policy_for("anyone", "migrate").max_actions_per_provider == 2
    assert book.policy_for("anyone", "place").mode is ApprovalMode.AUTO
    assert book.policy_for("anyone", "scale").mode is ApprovalMode.MANUAL


@pytest.mark.parametrize(
    "text, match",
    [
        ("- just a list", "mapping"),
        ("policies: [{mode: sometimes}]", "mode"),
        ("policies: [{kind: place}, {kind: place}]", "duplicate"),
        ("policies: [{max_sla_risk: 2}]", "max_sla_risk"),
        ("policies: [{colour: red}]", "colour"),
        ("policies: [", "policies.yaml"),
    ],
)
def test_bad_policy_files_are_refused_with_reason(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "policies.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError, match=match):
        PolicyBook.load(path)


def test_specific_policy_beats_wildcards() -> None:
    book = PolicyBook(
        policies=(
            Policy(mode="auto"),
            Policy(tenant="acme", mode="recommend_only"),
            Policy(kind="migrate", mode="manual"),
            Policy(tenant="acme", kind="migrate", mode="auto"),
        )
    )
    assert book.policy_for("acme", "migrate").key == ("acme", "migrate")
    assert book.policy_for("acme", "place").key == ("acme", "*")
    assert book.policy_for("other", "migrate").key == ("*", "migrate")
    assert book.policy_for("other", "place").key == ("*", "*")


# ------------------------------------------------------------------ decisions
def test_auto_approval_needs_low_risk_and_high_gain() -> None:
    approver = Approver(auto_book(limit=0))
    assert approver.review(rec("a"), "t", T0).record.status is S.APPROVED
    risky = approver.review(rec("b", risk=0.5), "t", T0)
    small = approver.review(rec("c", gain=0.07), "t", T0)
    tiny = approver.review(rec("d", gain=0.01), "t", T0)
    assert (risky.record.status, risky.acted) == (S.PROPOSED, False)
    assert "sla_risk" in risky.record.reason
    assert small.record.status is S.PROPOSED and "gain" in small.record.reason
    assert tiny.record.status is S.REJECTED and "minimum change" in tiny.record.reason


def test_expired_and_recommend_only_and_manual() -> None:
    book = PolicyBook(policies=(Policy(kind="place", mode="recommend_only"),))
    approver = Approver(book)
    assert approver.review(rec(ttl_ms=5), "t", T0 + 6).record.status is S.EXPIRED
    only = approver.review(rec(kind="place"), "t", T0)
    assert only.record.status is S.PROPOSED and "recommend-only" in only.record.reason
    refused = approver.approve(rec(kind="place"), "t", actor="ops:bo", now_ms=T0)
    assert not refused.acted
    manual = approver.approve(rec("m"), "t", actor="ops:bo", now_ms=T0)
    assert (manual.record.status, manual.record.actor, manual.acted) == (S.APPROVED, "ops:bo", True)


def test_clock_behind_the_record_does_not_crash() -> None:
    decision = Approver(auto_book()).review(rec(ts_ms=T0 + 5_000), "t", T0)
    assert decision.record.status is S.APPROVED and decision.record.ts_ms == T0 + 5_000


def test_rate_limit_counts_source_and_target() -> None:
    approver = Approver(auto_book(limit=1))
    assert approver.review(rec("a", provider="p2", source="p1"), "t", T0).acted
    # p3 is free, but the move would touch p1 again.
    blocked = approver.review(rec("b", provider="p3", source="p1"), "t", T0 + 1)
    assert blocked.record.status is S.REJECTED and "rate limit" in blocked.record.reason
    assert blocked.limited and not blocked.counted
    # An operator's approval passes the same limiter (the HTTP API answers 429 then).
    move = rec("o", provider="p5", source="p2")
    by_operator = approver.approve(move, "t", actor="ops", now_ms=T0)
    assert by_operator.limited and not by_operator.acted
    assert approver.limiter.retry_after_ms("p2", T0 + 1_000, 3_600_000) == 3_599_000
    assert approver.review(rec("c", provider="p3", source="p4"), "t", T0 + 2).acted
    later = rec("d", provider="p3", source="p1", ts_ms=T0 + 3_600_003)
    assert approver.review(later, "t", T0 + 3_600_003).acted


requests = st.lists(
    st.tuples(
        st.integers(0, 7_200_000),  # offset of the request
        st.sampled_from(["p1", "p2", "p3", "p4"]),  # target
        st.sampled_from([None, "p1", "p2", "p5"]),  # source
        st.floats(-0.2, 1.0),  # gain
        st.floats(0.0, 1.0),  # risk
        st.booleans(),  # an operator approves instead of the policy
    ),
    max_size=60,
)


Request = tuple[int, str, str | None, float, float, bool]


def by_time(reqs: list[Request]) -> list[Request]:
    return sorted(reqs, key=lambda q: q[0])


@settings(max_examples=60, deadline=None)
@given(reqs=requests, limit=st.integers(1, 3), interval_s=st.integers(60, 3600))
def test_never_more_than_n_approvals_per_provider_per_window(
    reqs: list[tuple[int, str, str | None, float, float, bool]], limit: int, interval_s: int
) -> None:
    approver = Approver(auto_book(limit=limit, interval_s=interval_s))
    approved: dict[str, list[int]] = defaultdict(list)
    for n, (offset, target, source, gain, risk, manual) in enumerate(by_time(reqs)):
        source = None if source == target else source
        r = rec(f"r{n}", provider=target, source=source, gain=gain, risk=risk, ts_ms=T0 + offset)
        now = T0 + offset
        d = (
            approver.approve(r, "t", actor="ops", now_ms=now)
            if manual
            else approver.review(r, "t", now)
        )
        assert d.acted == (d.record.status is S.APPROVED)
        if d.acted:
            for p in {target, source} - {None}:
                assert p is not None
                approved[p].append(now)
    window = interval_s * 1000
    for times in approved.values():
        for t in times:
            in_window = [u for u in times if t - window < u <= t]
            assert len(in_window) <= limit


@settings(max_examples=40, deadline=None)
@given(reqs=requests)
def test_dry_run_never_approves_but_records_what_it_would_do(
    reqs: list[tuple[int, str, str | None, float, float, bool]],
) -> None:
    live = Approver(auto_book(limit=2))
    dry = Approver(auto_book(limit=2, dry_run=True))
    for n, (offset, target, source, gain, risk, manual) in enumerate(by_time(reqs)):
        source = None if source == target else source
        r = rec(f"r{n}", provider=target, source=source, gain=gain, risk=risk, ts_ms=T0 + offset)
        now = T0 + offset
        if manual:
            d_live = live.approve(r, "t", actor="ops", now_ms=now)
            d_dry = dry.approve(r, "t", actor="ops", now_ms=now)
        else:
            d_live, d_dry = live.review(r, "t", now), dry.review(r, "t", now)
        assert not d_dry.acted
        assert d_dry.record.status not in (S.APPROVED, S.APPLIED)
        # Same decisions otherwise: every live approval is a recorded dry-run "would".
        assert d_live.acted == d_dry.record.reason.startswith("dry-run: would approve")


def test_limiter_unlimited_still_counts() -> None:
    limiter = ProviderRateLimiter()
    assert all(limiter.try_acquire(("p",), t, limit=0, interval_ms=100) for t in range(5))
    assert limiter.count("p", 4, 100) == 5
    assert not limiter.try_acquire(("p",), 5, limit=5, interval_ms=100)
