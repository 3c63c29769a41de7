"""The approvals role's adapter (agents/approvals.py) without a broker: fake topics and tables.

The real-broker path (Faust changelog recovery, the scheduler applying) is in
tests/integration/test_approvals.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from agents.approvals import ApprovalWorker
from config.metrics import PipelineMetrics
from config.settings import Settings
from schemas import (
    DeadLetter,
    Recommendation,
    RecommendationStatus,
    WorkloadEvent,
    WorkloadSpec,
    encode,
)
from streams.app import create_app
from tests.fakes import FakeTable, FakeTopic
from workflow.policy import PolicyBook

S = RecommendationStatus
T0 = 1_700_000_000_000

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
                "max_actions_per_provider": 1,
                "interval_s": 3600,
            },
        ]
    }
)


@dataclass
class Msg:
    value: bytes
    partition: int = 0
    offset: int = 0
    topic: str = "perf.recommendations"
    key: bytes | None = None


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


def make_worker(
    decisions: FakeTable | None = None,
    *,
    tenants: FakeTable | None = None,
    clock: Clock | None = None,
    book: PolicyBook = BOOK,
    decided: dict[str, int] | None = None,
) -> tuple[ApprovalWorker, FakeTopic, FakeTopic]:
    recs, dlq = FakeTopic(), FakeTopic()

    async def read_decided() -> dict[str, int]:
        return dict(decided or {})

    worker = ApprovalWorker(
        settings=Settings(
            agents="approvals", kafka_bootstrap_servers="127.0.0.1:1", approval_tenant_wait_s=0.0
        ),
        metrics=PipelineMetrics(),
        book=book,
        recommendations_topic=recs,  # type: ignore[arg-type]
        dlq_topic=dlq,  # type: ignore[arg-type]
        tenants=tenants or FakeTable({"w1": "acme", "w2": "acme", "w3": "acme"}),  # type: ignore[arg-type]
        decisions=decisions or FakeTable(),  # type: ignore[arg-type]
        read_decided=read_decided,
        clock=clock or Clock(),
    )
    return worker, recs, dlq


def proposal(
    rid: str, workload: str = "w1", provider: str = "p1", ts_ms: int = T0
) -> Recommendation:
    return Recommendation(
        recommendation_id=rid,
        ts_ms=ts_ms,
        status="proposed",
        kind="place",
        workload_id=workload,
        provider_id=provider,
        expected_throughput=1.0,
        cost_usd_per_hour=1.0,
        perf_per_dollar_gain=0.2,
        sla_risk=0.1,
        confidence=0.9,
        rationale="",
        expires_at_ms=ts_ms + 600_000,
    )


def deliver(worker: ApprovalWorker, *recs: Recommendation, partition: int = 1) -> None:
    async def go() -> None:
        for r in recs:
            await worker.on_recommendation(Msg(encode(r), partition=partition))

    asyncio.run(go())


def statuses(topic: FakeTopic) -> list[tuple[str, S]]:
    return [(k, v.status) for k, v in topic.sent]


def test_role_runs_its_two_agents_in_its_own_group() -> None:
    app = create_app(Settings(agents="approvals", kafka_bootstrap_servers="127.0.0.1:1"))
    assert {n.rsplit(".", 1)[-1] for n in app.agents} == {
        "track_workload_tenants",
        "review_recommendations",
    }
    assert app.conf.id == "computeperf-approvals"


def test_lifecycle_names_the_tenant_and_the_proposal_is_approved_once() -> None:
    tenants = FakeTable()
    worker, recs, _ = make_worker(tenants=tenants)
    spec = WorkloadSpec(tenant_id="acme", workload_type="inference", gpus=1, vram_gb_per_gpu=16)
    event = WorkloadEvent(workload_id="w9", ts_ms=T0, kind="submitted", spec=spec)
    asyncio.run(worker.on_lifecycle(Msg(encode(event), partition=3, topic="workloads.lifecycle")))
    assert tenants.data == {"w9": "acme"}
    assert tenants.changelog_topic.sent == [("w9", "acme")]

    rec = proposal("r1", workload="w9")
    deliver(worker, rec)
    assert statuses(recs) == [("r1", S.APPROVED)]
    approved = recs.sent[0][1]
    assert approved.actor == "policy:acme/*" and approved.reason == "auto-approved by policy"
    # Its own record and the proposal delivered again after the echo: nothing new.
    deliver(worker, approved, rec)
    assert len(recs.sent) == 1
    assert worker.own.decisions.labels(status="approved")._value.get() == 1
    entry = worker.decisions.get("r1")
    assert entry["grants_ms"] == [T0] and entry["partition"] == 1


def test_the_limit_holds_for_a_worker_started_on_the_same_table() -> None:
    decisions = FakeTable()
    first, recs, _ = make_worker(decisions)
    deliver(first, proposal("r1"), proposal("r2", workload="w2"))
    assert statuses(recs) == [("r1", S.APPROVED), ("r2", S.REJECTED)]
    assert recs.sent[1][1].reason.startswith("rate limit")

    restarted, recs2, _ = make_worker(FakeTable(decisions.data))
    deliver(restarted, proposal("r3", workload="w3"), proposal("r4", workload="w3", provider="p2"))
    assert statuses(recs2) == [("r3", S.REJECTED), ("r4", S.APPROVED)]
    # What would have happened had the state been lost: r3 approved.
    amnesiac, recs3, _ = make_worker()
    deliver(amnesiac, proposal("r3", workload="w3"))
    assert statuses(recs3) == [("r3", S.APPROVED)]


def test_a_decision_not_yet_on_the_topic_is_sent_again_not_redecided() -> None:
    decisions = FakeTable()
    worker, recs, _ = make_worker(decisions)
    deliver(worker, proposal("r1"))
    # Restart after the table write, the send lost: the proposal comes again.
    again, recs2, _ = make_worker(FakeTable(decisions.data))
    deliver(again, proposal("r1"))
    assert recs2.sent == recs.sent  # the same record, not a second decision (nor a rejection)
    # Had the decision reached the topic, the start-up read knows it: nothing is sent.
    known, recs3, _ = make_worker(FakeTable(decisions.data), decided={"r1": T0})
    deliver(known, proposal("r1"))
    assert recs3.sent == []


def test_proposals_already_decided_on_the_topic_are_skipped() -> None:
    worker, recs, _ = make_worker(decided={"r1": T0 + 5})
    deliver(worker, proposal("r1"))  # an operator approved it at T0 + 5: read at start-up
    assert recs.sent == []
    operator = proposal("r2").model_copy(
        update={"status": S.APPROVED, "actor": "role:abc", "ts_ms": T0 + 1}
    )
    deliver(worker, proposal("r2").model_copy(update={"status": S.SUPERSEDED}), operator)
    assert recs.sent == []


def test_unknown_tenant_uses_star_policies_and_says_so() -> None:
    worker, recs, _ = make_worker(tenants=FakeTable())
    deliver(worker, proposal("r1", workload="nobody"))
    [(_, note)] = recs.sent
    assert note.status is S.PROPOSED and note.actor == "policy:*/*"
    assert "tenant unknown" in note.reason and note.reason.startswith("awaiting operator")


def test_bad_records_are_dead_lettered_and_counted() -> None:
    worker, recs, dlq = make_worker()
    asyncio.run(worker.on_recommendation(Msg(b"{not json", offset=7)))
    asyncio.run(worker.on_lifecycle(Msg(b"[]", topic="workloads.lifecycle")))
    assert recs.sent == []
    letters: list[DeadLetter] = [v for _, v in dlq.sent]
    assert [(d.source_topic, d.offset) for d in letters] == [
        ("perf.recommendations", 7),
        ("workloads.lifecycle", 0),
    ]
    total = sum(
        s.value
        for m in worker.metrics.dead_letters.collect()
        for s in m.samples
        if s.name.endswith("_total")
    )
    assert total == 2


def test_waiting_proposal_expires_unless_an_operator_decided() -> None:
    clock = Clock()
    worker, recs, _ = make_worker(tenants=FakeTable(), clock=clock)
    deliver(worker, proposal("r1", workload="x"), proposal("r2", workload="y"))
    assert statuses(recs) == [("r1", S.PROPOSED), ("r2", S.PROPOSED)]
    operator = proposal("r2").model_copy(
        update={"status": S.REJECTED, "actor": "role:abc", "ts_ms": T0 + 1}
    )
    deliver(worker, operator)
    clock.now = T0 + 600_001
    assert asyncio.run(worker.sweep()) == 1
    assert statuses(recs)[-1] == ("r1", S.EXPIRED)
    assert asyncio.run(worker.sweep()) == 0  # once
    assert not worker.decisions.get("r1")["waiting"]
    clock.now = T0 + 600_001 + 3_600_001
    asyncio.run(worker.sweep())
    assert worker.decisions.get("r1") is None and worker.decisions.get("r2") is None


def test_dry_run_notes_and_never_approves() -> None:
    book = BOOK.model_copy(update={"dry_run": True})
    worker, recs, _ = make_worker(book=book)
    deliver(worker, proposal("r1"), proposal("r2", workload="w2"))
    assert statuses(recs) == [("r1", S.PROPOSED), ("r2", S.REJECTED)]
    assert recs.sent[0][1].reason == "dry-run: would approve (auto-approved by policy)"


def test_policies_come_from_the_settings_path(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("dry_run: true\npolicies: []\n")
    settings = Settings(
        kafka_bootstrap_servers="127.0.0.1:1", agents="approvals", approval_policies=path
    )
    assert PolicyBook.load(settings.approval_policies).dry_run
    create_app(settings)  # loads it without complaint
