"""Handlers of the HTTP API: one method per route of :data:`api.openapi.ROUTES`.

Each takes a validated :class:`Call` and returns a record of ``api.resources`` (or raises
:class:`api.validation.ApiError`). Reads come from the read model, merged across the
workers that hold a share of a table; approve/reject and acknowledgements write new
records durably (``send_durably``) and return them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import faust
from faust.types import TopicT
from faust.web import Request
from pydantic import BaseModel

from agents.outputs import send_durably
from api import readmodel, service_levels
from api.agent import ReadModel
from api.openapi import body_validators, openapi_document
from api.ranking import rank_placements
from api.resources import (
    AcknowledgeRequest,
    AlertView,
    Anomaly,
    BudgetStatus,
    DecisionRequest,
    EntityMetrics,
    Identity,
    Insight,
    ItemList,
    LeaderboardRow,
    ProviderView,
    RecommendationView,
    SilenceRequest,
    SilenceView,
    SlaStatus,
    TableSnapshot,
    WorkloadView,
)
from api.validation import ApiError
from config.metrics import PipelineMetrics
from config.settings import Settings
from config.tokens import Role, parse_tokens
from schemas import (
    AlertAction,
    AlertActionKind,
    AlertStatus,
    Recommendation,
    RecommendationStatus,
    WorkloadSpec,
)
from workflow.approver import Approver
from workflow.decision_log import tenant_of
from workflow.policy import PolicyBook
from workflow.rate_limit import ProviderRateLimiter

#: Marks a worker-to-worker request: answer from local partitions only.
LOCAL_HEADER = "X-Computeperf-Local"
PEER_TIMEOUT = aiohttp.ClientTimeout(total=10)


@dataclass
class Call:
    """What a handler gets: validated parameters, the parsed body, the caller's role."""

    params: dict[str, Any]
    body: BaseModel | None
    role: Role
    request: Request
    now_ms: int


Handler = Callable[[Call], Awaitable[BaseModel]]


class ApiHandlers:
    """The handlers of every route over a read model and the output topics."""

    def __init__(
        self,
        app: faust.App,
        settings: Settings,
        model: ReadModel,
        metrics: PipelineMetrics,
        recommendations_topic: TopicT,
        alert_actions_topic: TopicT,
    ) -> None:
        self.app, self.settings, self.model, self.metrics = app, settings, model, metrics
        self.recommendations_topic = recommendations_topic
        self.alert_actions_topic = alert_actions_topic
        self.tokens = parse_tokens(settings.api_tokens)
        #: The approvals role's policy book: operator approvals obey its limits too.
        self.policies = PolicyBook.load(settings.approval_policies)
        self.document = openapi_document()
        self.body_validators = body_validators(self.document)
        #: Admitted write requests per token digest (the approvals role's limiter, reused).
        self.write_limiter = ProviderRateLimiter()

    # -- helpers ---------------------------------------------------------------------

    def admit_write(self, authorization: str, now_ms: int) -> int:
        """Count one write request of the token in ``authorization``: 0 if it has room,
        else the milliseconds until it has (nothing counted then).

        Per worker: a token spread over several workers gets the limit on each.
        """
        key = token_digest(authorization)
        limit = self.settings.api_write_limit
        interval_ms = int(self.settings.api_write_interval_s * 1000)
        if self.write_limiter.try_acquire((key,), now_ms, limit=limit, interval_ms=interval_ms):
            return 0
        return max(1, self.write_limiter.retry_after_ms(key, now_ms, interval_ms))

    async def values(self, table: str, call: Call) -> dict[str, Any]:
        """Table ``table`` across every worker: local partitions plus the peers' ones.

        A request from a peer (header :data:`LOCAL_HEADER`) gets only the local share, so
        the fan-out is one level deep. Partitions are disjoint, so a merge is a union.
        """
        merged = self.model.values(table)
        if call.request.headers.get(LOCAL_HEADER):
            return merged
        for peer in self.peers(table):
            merged.update(await self.peer_values(peer, table, call))
        return merged

    def peers(self, table: str) -> list[str]:
        """Web URLs of the other workers that hold partitions of ``table``."""
        changelog = self.model.table(table).changelog_topic.get_topic_name()
        own = str(self.app.conf.canonical_url).rstrip("/")
        hosts = self.app.router.tables_metadata()
        return sorted(
            str(url).rstrip("/")
            for url, topics in hosts.items()
            if topics.get(changelog) and str(url).rstrip("/") != own
        )

    async def peer_values(self, peer: str, table: str, call: Call) -> dict[str, Any]:
        headers = {
            "Authorization": call.request.headers.get("Authorization", ""),
            LOCAL_HEADER: "1",
        }
        try:
            async with self.app.http_client.get(
                f"{peer}/api/v1/tables/{table}", headers=headers, timeout=PEER_TIMEOUT
            ) as response:
                if response.status == 200:
                    return dict((await response.json())["values"])
                reason = f"status {response.status}"
        except (OSError, TimeoutError) as exc:
            reason = repr(exc)
        raise ApiError(503, f"worker {peer} did not answer for {table}: {reason}")

    async def table_snapshot(self, call: Call) -> BaseModel:
        name = call.params["table"]
        return TableSnapshot(table=name, values=self.model.values(name))

    def get(self, table: str, key: str) -> Any:
        return self.model.get(table, key)

    def required(self, table: str, key: str, what: str) -> Any:
        value = self.get(table, key)
        if value is None:
            raise ApiError(404, f"{what} {key!r} not found")
        return value

    # -- handlers --------------------------------------------------------------------

    async def whoami(self, call: Call) -> BaseModel:
        return Identity(role=call.role)

    async def fleet(self, call: Call) -> BaseModel:
        return readmodel.fleet_summary(
            await self.values("provider_to_info", call),
            await self.values("entity_to_metrics", call),
            (await self.values("fingerprint_to_alert", call)).values(),
            (await self.values("recommendation_to_view", call)).values(),
            (await self.values("entity_to_anomalies", call)).values(),
            call.now_ms,
        )

    async def providers(self, call: Call) -> BaseModel:
        infos = await self.values("provider_to_info", call)
        metrics = await self.values("entity_to_metrics", call)
        ids = set(infos) | {k.split(":", 1)[1] for k in metrics if k.startswith("provider:")}
        views = [
            ProviderView(
                provider_id=pid, info=infos.get(pid), metrics=metrics.get(f"provider:{pid}")
            )
            for pid in sorted(ids)[: call.params["limit"]]
        ]
        return ItemList[ProviderView](items=views)

    async def provider(self, call: Call) -> BaseModel:
        pid = call.params["provider_id"]
        key = f"provider:{pid}"
        # Routed here by the catalogue's key; the metrics' key may live on another worker.
        try:
            metrics = await self.owned_value(
                "entity_to_metrics", key, f"/api/v1/metrics/{key}", "entity", call
            )
        except ApiError:
            metrics = None
        info = self.get("provider_to_info", pid)
        if info is None and metrics is None:
            raise ApiError(404, f"provider {pid!r} not found")
        return ProviderView(provider_id=pid, info=info, metrics=metrics)

    async def entity_metrics(self, call: Call) -> BaseModel:
        key = call.params["entity_key"]
        return EntityMetrics.model_validate(self.required("entity_to_metrics", key, "entity"))

    async def leaderboards(self, call: Call) -> BaseModel:
        rows = readmodel.leaderboard(
            await self.values("provider_to_info", call),
            await self.values("entity_to_metrics", call),
            call.params["cohort"],
        )
        return ItemList[LeaderboardRow](items=rows[: call.params["limit"]])

    async def workloads(self, call: Call) -> BaseModel:
        items = sorted((await self.values("workload_to_view", call)).items())
        items = items[: call.params["limit"]]
        return ItemList[WorkloadView](items=[v for _, v in items])

    async def workload(self, call: Call) -> BaseModel:
        wid = call.params["workload_id"]
        return WorkloadView.model_validate(self.required("workload_to_view", wid, "workload"))

    async def _recent(self, table: str, call: Call) -> list[Any]:
        limit = call.params["limit"]
        items = [item for values in (await self.values(table, call)).values() for item in values]
        items.sort(key=lambda item: item["ts_ms"], reverse=True)
        return items[:limit]

    async def insights(self, call: Call) -> BaseModel:
        return ItemList[Insight](items=await self._recent("entity_to_insights", call))

    async def anomalies(self, call: Call) -> BaseModel:
        return ItemList[Anomaly](items=await self._recent("entity_to_anomalies", call))

    def alert_view(self, value: dict[str, Any], silences: list[Any], now_ms: int) -> AlertView:
        silenced = readmodel.silences_matching(silences, value["latest"]["labels"], now_ms)
        return AlertView.model_validate({**value, "silenced_by": silenced})

    async def alerts(self, call: Call) -> BaseModel:
        silences = list((await self.values("silence_to_action", call)).values())
        status = call.params["status"]
        views = [
            self.alert_view(v, silences, call.now_ms)
            for v in (await self.values("fingerprint_to_alert", call)).values()
            if status is None or v["latest"]["status"] == status
        ]
        views.sort(
            key=lambda a: (a.latest.status is not AlertStatus.FIRING, -a.latest.starts_at_ms)
        )
        return ItemList[AlertView](items=views[: call.params["limit"]])

    async def alert(self, call: Call) -> BaseModel:
        fp = call.params["fingerprint"]
        silences = list((await self.values("silence_to_action", call)).values())
        return self.alert_view(
            self.required("fingerprint_to_alert", fp, "alert"), silences, call.now_ms
        )

    async def acknowledge(self, call: Call) -> BaseModel:
        fp = call.params["fingerprint"]
        await self.owned_value("fingerprint_to_alert", fp, f"/api/v1/alerts/{fp}", "alert", call)
        assert isinstance(call.body, AcknowledgeRequest)
        action = AlertAction(
            action_id=f"ack-{uuid.uuid4().hex[:16]}",
            ts_ms=call.now_ms,
            kind=AlertActionKind.ACKNOWLEDGE,
            fingerprint=fp,
            actor=self.actor(call),
            comment=call.body.comment,
        )
        await send_durably(
            self.alert_actions_topic, [(fp, action)], self.metrics, "perf.alert_actions"
        )
        return action

    async def silences(self, call: Call) -> BaseModel:
        views = [
            SilenceView(silence=s, active=s.matches(dict(s.matchers), call.now_ms))
            for s in map(
                AlertAction.model_validate, (await self.values("silence_to_action", call)).values()
            )
        ]
        views.sort(key=lambda v: (not v.active, -v.silence.ts_ms))
        return ItemList[SilenceView](items=views[: call.params["limit"]])

    async def create_silence(self, call: Call) -> BaseModel:
        assert isinstance(call.body, SilenceRequest)
        silence_id = f"sil-{uuid.uuid4().hex[:16]}"
        silence = AlertAction(
            action_id=silence_id,
            ts_ms=call.now_ms,
            kind=AlertActionKind.SILENCE,
            matchers=call.body.matchers,
            ends_at_ms=call.now_ms + call.body.duration_s * 1000,
            actor=self.actor(call),
            comment=call.body.comment,
        )
        await send_durably(
            self.alert_actions_topic, [(silence_id, silence)], self.metrics, "perf.alert_actions"
        )
        return silence

    async def recommendations(self, call: Call) -> BaseModel:
        status = call.params["status"]
        views = [
            RecommendationView.model_validate(v)
            for v in (await self.values("recommendation_to_view", call)).values()
            if status is None or v["latest"]["status"] == status
        ]
        views.sort(key=lambda r: (-r.latest.ts_ms, r.recommendation_id))
        return ItemList[RecommendationView](items=views[: call.params["limit"]])

    async def recommendation(self, call: Call) -> BaseModel:
        rid = call.params["recommendation_id"]
        return RecommendationView.model_validate(
            self.required("recommendation_to_view", rid, "recommendation")
        )

    async def decide(self, call: Call, status: RecommendationStatus) -> BaseModel:
        rid = call.params["recommendation_id"]
        value = await self.owned_value(
            "recommendation_to_view", rid, f"/api/v1/recommendations/{rid}", "recommendation", call
        )
        current = Recommendation.model_validate(value["latest"])
        assert isinstance(call.body, DecisionRequest)
        try:
            decided = readmodel.decide(
                current, status, actor=self.actor(call), reason=call.body.reason, now_ms=call.now_ms
            )
        except ValueError as exc:
            raise ApiError(409, str(exc)) from exc
        await send_durably(
            self.recommendations_topic, [(rid, decided)], self.metrics, "perf.recommendations"
        )
        return decided

    async def approve(self, call: Call) -> BaseModel:
        """An operator's approval, decided by :meth:`workflow.approver.Approver.approve`.

        The same policies and per-provider rate limits as the approvals role's: the limiter
        holds every approval recorded on ``perf.recommendations`` (policy or operator).
        Only an approval is written; the rate limit answers 429 with ``Retry-After``, any
        other refusal (expired, below the minimum change, recommend-only, dry-run) 409.
        """
        rid = call.params["recommendation_id"]
        value = await self.owned_value(
            "recommendation_to_view", rid, f"/api/v1/recommendations/{rid}", "recommendation", call
        )
        current = Recommendation.model_validate(value["latest"])
        assert isinstance(call.body, DecisionRequest)
        if current.status is not RecommendationStatus.PROPOSED:
            raise ApiError(
                409,
                f"recommendation {rid} is {current.status.value}, only a proposed one "
                "can be approved or rejected",
            )
        views = (await self.values("recommendation_to_view", call)).values()
        approver = Approver(self.policies, readmodel.approvals_limiter(views))
        workloads = await self.values("workload_to_view", call)
        tenants = {w: v["spec"]["tenant_id"] for w, v in workloads.items() if v.get("spec")}
        tenant = tenant_of(current.workload_id, tenants)
        # After the proposal, so that the approval is always its newest record.
        now_ms = max(call.now_ms, current.ts_ms + 1)
        decision = approver.approve(
            current, tenant or "*", actor=self.actor(call), now_ms=now_ms, reason=call.body.reason
        )
        if not decision.acted:
            reason = decision.record.reason
            if decision.limited:
                wait_ms = max(
                    approver.limiter.retry_after_ms(p, now_ms, decision.policy.interval_ms)
                    for p in (current.provider_id, current.from_provider_id)
                    if p
                )
                raise ApiError(429, reason, retry_after_s=max(1, -(-wait_ms // 1000)))
            raise ApiError(409, f"recommendation {rid} not approved: {reason}")
        await send_durably(
            self.recommendations_topic,
            [(rid, decision.record)],
            self.metrics,
            "perf.recommendations",
        )
        return decision.record

    async def reject(self, call: Call) -> BaseModel:
        return await self.decide(call, RecommendationStatus.REJECTED)

    async def sla(self, call: Call) -> BaseModel:
        slos = await self.values("slo_to_status", call)
        workloads = await self.values("workload_to_view", call) if slos else {}
        rows = service_levels.sla_statuses(slos.values(), workloads)
        return ItemList[SlaStatus](items=rows[: call.params["limit"]])

    async def budgets(self, call: Call) -> BaseModel:
        rows = service_levels.budget_statuses(
            (await self.values("tenant_to_budget", call)).values()
        )
        return ItemList[BudgetStatus](items=rows[: call.params["limit"]])

    async def optimize_placement(self, call: Call) -> BaseModel:
        assert isinstance(call.body, WorkloadSpec)
        return rank_placements(
            call.body,
            await self.values("provider_to_info", call),
            await self.values("entity_to_metrics", call),
        )

    # -- plumbing --------------------------------------------------------------------

    def actor(self, call: Call) -> str:
        """Who acted: the operator's role and a digest of the token (never the token)."""
        return f"{call.role}:{token_digest(call.request.headers.get('Authorization', ''))}"

    async def owned_value(self, table: str, key: str, path: str, what: str, call: Call) -> Any:
        """The value of ``key`` from the worker that owns it (POST bodies are not routed)."""
        local = self.get(table, key)
        if local is not None:
            return local
        await know_partitions(self.app, self.model.table(table))
        try:
            owner = self.app.router.key_store(table, key)
        except KeyError:
            raise ApiError(404, f"{what} {key!r} not found") from None
        if str(owner).rstrip("/") == str(self.app.conf.canonical_url).rstrip("/"):
            raise ApiError(404, f"{what} {key!r} not found")
        headers = {"Authorization": call.request.headers.get("Authorization", "")}
        async with self.app.http_client.get(f"{owner}{path}", headers=headers) as response:
            if response.status != 200:
                raise ApiError(404, f"{what} {key!r} not found")
            return await response.json()


def token_digest(authorization: str) -> str:
    """A short stable name of the bearer token in an ``Authorization`` header (not the token).

    >>> token_digest("Bearer op-token-1") == token_digest("Bearer op-token-1")
    True
    >>> "op-token" in token_digest("Bearer op-token-1")
    False
    """
    return uuid.uuid5(uuid.NAMESPACE_OID, authorization.partition(" ")[2]).hex[:8]


async def know_partitions(app: faust.App, table: Any) -> None:
    """Make sure the producer knows the partitions of ``table``'s changelog topic.

    Faust hashes a key with the producer's metadata of the changelog topic to find its
    owner, and that metadata is missing until something was written there (a TypeError,
    so a 500, from ``app.router.key_store``).
    """
    changelog = table.changelog_topic.get_topic_name()
    await app.producer._ensure_producer().partitions_for(changelog)  # type: ignore[attr-defined]


__all__ = ["LOCAL_HEADER", "ApiHandlers", "Call", "Handler", "know_partitions", "token_digest"]
