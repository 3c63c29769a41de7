"""The HTTP API and the dashboard as Faust web views (thin: parse, authorise, call the core).

Every route of :data:`api.openapi.ROUTES` becomes one view that checks the bearer token's
role, validates path and query parameters and the JSON body with pydantic (422 with
pydantic's message), runs its handler over the read model and answers JSON. Handlers
raise :class:`ApiError` for 4xx; nothing a client sends reaches a 500. Routes for one key
(``/providers/{id}``, ``/alerts/{fingerprint}``, ...) are wrapped in ``app.table_route``,
so a worker that does not own the key forwards the request to the one that does.
Approve/reject and acknowledgements write new records durably (``send_durably``) and
return them; the read model shows them once the agent has consumed them back.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import aiohttp
import faust
import orjson
from faust.types import TopicT
from faust.web import Request, Response, View
from pydantic import BaseModel, Field, StringConstraints, ValidationError, create_model

from agents.outputs import send_durably
from api import readmodel
from api.agent import ReadModel
from api.auth import Denied, Role, authorize, parse_tokens
from api.openapi import ROUTES, Param, Route, body_validators, openapi_document
from api.ranking import rank_placements
from api.resources import (
    AcknowledgeRequest,
    AlertView,
    Anomaly,
    BudgetStatus,
    DecisionRequest,
    EntityMetrics,
    ErrorBody,
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
from schemas import (
    AlertAction,
    AlertActionKind,
    AlertStatus,
    Recommendation,
    RecommendationStatus,
    WorkloadSpec,
)
from streams.metrics import PipelineMetrics
from streams.settings import Settings

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Marks a worker-to-worker request: answer from local partitions only.
LOCAL_HEADER = "X-Computeperf-Local"
PEER_TIMEOUT = aiohttp.ClientTimeout(total=10)

#: Keyed routes → (table that owns the key, path parameter holding it).
ROUTED: dict[str, tuple[str, str]] = {
    "provider": ("provider_to_info", "provider_id"),
    "entity_metrics": ("entity_to_metrics", "entity_key"),
    "workload": ("workload_to_view", "workload_id"),
    "alert": ("fingerprint_to_alert", "fingerprint"),
    "recommendation": ("recommendation_to_view", "recommendation_id"),
}


class ApiError(Exception):
    """A 4xx answer with a clear message."""

    def __init__(self, status: int, error: str, detail: list[dict[str, object]] | None = None):
        super().__init__(error)
        self.status, self.error, self.detail = status, error, detail or []


@dataclass
class Call:
    """What a handler gets: validated parameters, the parsed body, the caller's role."""

    params: dict[str, Any]
    body: BaseModel | None
    role: Role
    request: Request
    now_ms: int


Handler = Callable[[Call], Awaitable[BaseModel]]


def _annotation(param: Param) -> Any:
    schema = param.schema
    if "enum" in schema:
        return Literal[tuple(schema["enum"])]
    if schema["type"] == "integer":
        return Annotated[int, Field(ge=schema.get("minimum"), le=schema.get("maximum"))]
    return Annotated[
        str,
        StringConstraints(
            pattern=schema.get("pattern"),
            min_length=schema.get("minLength"),
            max_length=schema.get("maxLength"),
        ),
    ]


def param_model(route: Route) -> type[BaseModel]:
    """A pydantic model validating a route's path and query parameters."""
    fields: dict[str, Any] = {}
    for p in route.params:
        default = ... if p.where == "path" else p.schema.get("default")
        fields[p.name] = (_annotation(p) if default is ... else _annotation(p) | None, default)
    return create_model(f"{route.name}_params", **fields)


def validation_error(exc: ValidationError, what: str) -> ApiError:
    """422 with pydantic's first message up front and every error in ``detail``."""
    # Without the input and context: they may hold bytes or objects JSON cannot carry.
    errors: list[dict[str, object]] = [
        dict(e) for e in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
    first: dict[str, Any] = errors[0] if errors else {"loc": [], "msg": str(exc)}
    where = ".".join(str(part) for part in first.get("loc", [])) or what
    return ApiError(422, f"invalid {what}: {where}: {first['msg']}", errors)


class ApiViews:
    """Builds the handlers of every route over a read model and the output topics."""

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
        self.document = openapi_document()
        self.body_validators = body_validators(self.document)

    # -- helpers ---------------------------------------------------------------------

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
        return await self.decide(call, RecommendationStatus.APPROVED)

    async def reject(self, call: Call) -> BaseModel:
        return await self.decide(call, RecommendationStatus.REJECTED)

    async def sla(self, call: Call) -> BaseModel:
        return ItemList[SlaStatus](items=[])

    async def budgets(self, call: Call) -> BaseModel:
        return ItemList[BudgetStatus](items=[])

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
        header = call.request.headers.get("Authorization", "")
        digest = uuid.uuid5(uuid.NAMESPACE_OID, header.partition(" ")[2]).hex[:8]
        return f"{call.role}:{digest}"

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


async def know_partitions(app: faust.App, table: Any) -> None:
    """Make sure the producer knows the partitions of ``table``'s changelog topic.

    Faust hashes a key with the producer's metadata of the changelog topic to find its
    owner, and that metadata is missing until something was written there (a TypeError,
    so a 500, from ``app.router.key_store``).
    """
    changelog = table.changelog_topic.get_topic_name()
    await app.producer._ensure_producer().partitions_for(changelog)  # type: ignore[attr-defined]


async def read_body(request: Request, validator: Any) -> Any:
    """The JSON body, checked against the route's published schema (422 if it fails)."""
    raw = await request.read()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(422, f"invalid body: not JSON: {exc}") from exc
    errors = [
        {"loc": list(e.instance_path), "msg": e.message[:300], "type": "schema"}
        for e in validator.iter_errors(data)
    ]
    if errors:
        where = ".".join(str(part) for part in errors[0]["loc"]) or "body"
        raise ApiError(422, f"invalid body: {where}: {errors[0]['msg']}", errors[:20])
    return integral_numbers_as_int(data)


def integral_numbers_as_int(data: Any) -> Any:
    """JSON has one number type: ``8.0`` and ``1e30`` are integers to JSON Schema.

    pydantic refuses integral floats beyond 64 bits for ``int`` fields, so they are handed
    over as Python ints (which ``float`` fields accept as well).

    >>> integral_numbers_as_int({"a": [1e30, 2.5, True], "b": 8.0})
    {'a': [1000000000000000019884624838656, 2.5, True], 'b': 8}
    """
    if isinstance(data, float) and data.is_integer():
        return int(data)
    if isinstance(data, list):
        return [integral_numbers_as_int(item) for item in data]
    if isinstance(data, dict):
        return {key: integral_numbers_as_int(value) for key, value in data.items()}
    return data


def _json(view: View, body: BaseModel | dict[str, Any], status: int) -> Response:
    data = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    return view.json(data, status=status)


def _error(view: View, exc: ApiError) -> Response:
    body = ErrorBody(error=exc.error, detail=exc.detail)
    return _json(view, body, exc.status)


def make_method(app: faust.App, api: ApiViews, route: Route, routed_table: Any = None) -> Any:
    """The view method of one route: auth, validation, handler, JSON, errors as 4xx."""
    handler: Handler = getattr(api, route.name)
    params_model = param_model(route)
    validator = api.body_validators.get(route.name)

    async def serve(view: View, request: Request, **match: Any) -> Response:
        grant = authorize(request.headers.get("Authorization"), api.tokens, route.role)
        if isinstance(grant, Denied):
            return _error(view, ApiError(grant.status, grant.error))
        try:
            try:
                params = params_model.model_validate({**request.query, **match}).model_dump()
            except ValidationError as exc:
                raise validation_error(exc, "parameters") from exc
            body = None
            if route.body is not None:
                try:
                    body = route.body.model_validate(await read_body(request, validator))
                except ValidationError as exc:
                    raise validation_error(exc, "body") from exc
            call = Call(params, body, grant.role, request, int(time.time() * 1000))
            return _json(view, await handler(call), route.status)
        except ApiError as exc:
            return _error(view, exc)

    if routed_table is not None:
        _, param = ROUTED[route.name]
        routed = app.table_route(routed_table, match_info=param)(serve)

        async def serve_routed(view: View, request: Request, **match: Any) -> Response:
            await know_partitions(app, routed_table)
            return await routed(view, request, **match)

        return serve_routed

    return serve


def register_api(
    app: faust.App,
    *,
    settings: Settings,
    model: ReadModel,
    metrics: PipelineMetrics,
    recommendations_topic: TopicT,
    alert_actions_topic: TopicT,
) -> ApiViews:
    """Add every API route, ``/openapi.json`` and the dashboard (``/``, ``/static/``)."""
    api = ApiViews(app, settings, model, metrics, recommendations_topic, alert_actions_topic)
    by_path: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        routed = ROUTED.get(route.name)
        table = model.table(routed[0]) if routed else None
        by_path.setdefault(route.path, {})[route.method] = make_method(app, api, route, table)
    for path, methods in by_path.items():
        name = "api" + path.replace("/", "_").replace("{", "").replace("}", "")
        app.page(path, name=name)(type(name, (View,), methods))

    document = api.document

    @app.page("/openapi.json", name="openapi")
    async def openapi(web: View, request: Request) -> Response:
        return web.json(document)

    index = (STATIC_DIR / "index.html").read_text()

    @app.page("/", name="dashboard")
    async def dashboard(web: View, request: Request) -> Response:
        return web.html(index)

    app.web.add_static("/static/", STATIC_DIR)
    return api


__all__ = ["ROUTED", "ApiError", "ApiViews", "make_method", "param_model", "register_api"]
