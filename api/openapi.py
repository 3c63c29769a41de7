"""The API's routes as data, and the OpenAPI 3.1 document generated from them.

Every route names its request and response records (``api.resources``, ``schemas``);
their JSON Schemas come from pydantic (``models_json_schema``), never by hand, so the
document cannot drift from what the views validate and return.

>>> doc = openapi_document()
>>> doc["openapi"], "/api/v1/recommendations/{recommendation_id}/approve" in doc["paths"]
('3.1.0', True)
>>> doc["paths"]["/api/v1/fleet"]["get"]["responses"]["200"]["content"]["application/json"][
...     "schema"]
{'$ref': '#/components/schemas/FleetSummary'}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import jsonschema_rs
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from api.readmodel import TABLES
from api.resources import (
    AcknowledgeRequest,
    AlertView,
    BudgetStatus,
    DecisionRequest,
    EntityMetrics,
    ErrorBody,
    FleetSummary,
    Identity,
    ItemList,
    LeaderboardRow,
    PlacementAnswer,
    ProviderView,
    RecommendationView,
    SilenceRequest,
    SilenceView,
    SlaStatus,
    TableSnapshot,
    WorkloadView,
)
from config.tokens import Role
from schemas import AlertAction, Anomaly, Insight, Recommendation, WorkloadSpec
from schemas.base import ID_PATTERN

ENTITY_KEY_PATTERN = r"^(provider|workload|tenant|cohort|region):[^/]{1,200}$"
FINGERPRINT_PATTERN = r"^[0-9a-f]{1,64}$"
MAX_LIMIT = 500


@dataclass(frozen=True)
class Param:
    """A path or query parameter, with its JSON Schema."""

    name: str
    where: Literal["path", "query"]
    schema: dict[str, Any]
    description: str = ""


def _id(name: str, pattern: str = ID_PATTERN) -> Param:
    return Param(name, "path", {"type": "string", "pattern": pattern})


LIMIT = Param(
    "limit",
    "query",
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": 100},
    "most items to return",
)


@dataclass(frozen=True)
class Route:
    """One operation: method, path, who may call it, what it takes and returns."""

    name: str
    method: Literal["get", "post"]
    path: str
    role: Role
    summary: str
    response: type[BaseModel]
    status: int = 200
    body: type[BaseModel] | None = None
    params: tuple[Param, ...] = ()
    errors: tuple[int, ...] = field(default=(401, 403, 422, 503))
    #: OpenAPI links from this route's answer to routes taking an id from it (so clients
    #: and fuzzers such as schemathesis' stateful phase can follow them):
    #: ``(target operation, path parameter, JSON pointer into the body)``.
    links: tuple[tuple[str, str, str], ...] = ()
    #: Changes state (writes a record): rate-limited per token (429 with Retry-After).
    writes: bool = False


def _status_param(values: list[str]) -> Param:
    return Param("status", "query", {"type": "string", "enum": values}, "only this status")


ROUTES: tuple[Route, ...] = (
    Route("whoami", "get", "/api/v1/whoami", "reader", "The role of the token", Identity),
    Route("fleet", "get", "/api/v1/fleet", "reader", "Fleet health in numbers", FleetSummary),
    Route(
        "providers",
        "get",
        "/api/v1/providers",
        "reader",
        "Providers with their latest metrics",
        ItemList[ProviderView],
        params=(LIMIT,),
        links=(("provider", "provider_id", "/items/0/provider_id"),),
    ),
    Route(
        "provider",
        "get",
        "/api/v1/providers/{provider_id}",
        "reader",
        "One provider with its latest metrics and recent windows",
        ProviderView,
        params=(_id("provider_id"),),
        errors=(401, 403, 404, 422, 503),
    ),
    Route(
        "entity_metrics",
        "get",
        "/api/v1/metrics/{entity_key}",
        "reader",
        "Latest window and recent series of an entity (key `provider:<id>`, ...)",
        EntityMetrics,
        params=(_id("entity_key", ENTITY_KEY_PATTERN),),
        errors=(401, 403, 404, 422, 503),
    ),
    Route(
        "leaderboards",
        "get",
        "/api/v1/leaderboards",
        "reader",
        "Providers ranked by perf per dollar within each cohort (GPU model)",
        ItemList[LeaderboardRow],
        params=(
            LIMIT,
            Param("cohort", "query", {"type": "string", "minLength": 1, "maxLength": 128}),
        ),
    ),
    Route(
        "workloads",
        "get",
        "/api/v1/workloads",
        "reader",
        "Workloads with their latest lifecycle event",
        ItemList[WorkloadView],
        params=(LIMIT,),
        links=(("workload", "workload_id", "/items/0/workload_id"),),
    ),
    Route(
        "workload",
        "get",
        "/api/v1/workloads/{workload_id}",
        "reader",
        "One workload",
        WorkloadView,
        params=(_id("workload_id"),),
        errors=(401, 403, 404, 422, 503),
    ),
    Route(
        "insights",
        "get",
        "/api/v1/insights",
        "reader",
        "Recent insights, newest first",
        ItemList[Insight],
        params=(LIMIT,),
    ),
    Route(
        "anomalies",
        "get",
        "/api/v1/anomalies",
        "reader",
        "Recent anomalies, newest first",
        ItemList[Anomaly],
        params=(LIMIT,),
    ),
    Route(
        "alerts",
        "get",
        "/api/v1/alerts",
        "reader",
        "Alerts with their history, acknowledgement and silences; firing first",
        ItemList[AlertView],
        params=(LIMIT, _status_param(["firing", "resolved"])),
        links=(
            ("alert", "fingerprint", "/items/0/fingerprint"),
            ("acknowledge", "fingerprint", "/items/0/fingerprint"),
        ),
    ),
    Route(
        "alert",
        "get",
        "/api/v1/alerts/{fingerprint}",
        "reader",
        "One alert with its history",
        AlertView,
        params=(_id("fingerprint", FINGERPRINT_PATTERN),),
        errors=(401, 403, 404, 422, 503),
    ),
    Route(
        "acknowledge",
        "post",
        "/api/v1/alerts/{fingerprint}/acknowledge",
        "operator",
        "Acknowledge an alert (written to perf.alert_actions)",
        AlertAction,
        status=202,
        body=AcknowledgeRequest,
        params=(_id("fingerprint", FINGERPRINT_PATTERN),),
        errors=(401, 403, 404, 422, 503, 429),
        writes=True,
    ),
    Route(
        "silences",
        "get",
        "/api/v1/silences",
        "reader",
        "Silences, active ones first",
        ItemList[SilenceView],
        params=(LIMIT,),
    ),
    Route(
        "create_silence",
        "post",
        "/api/v1/silences",
        "operator",
        "Silence alerts whose labels match (written to perf.alert_actions)",
        AlertAction,
        status=201,
        body=SilenceRequest,
        errors=(401, 403, 422, 429, 503),
        writes=True,
    ),
    Route(
        "recommendations",
        "get",
        "/api/v1/recommendations",
        "reader",
        "Recommendations with their status history, newest first",
        ItemList[RecommendationView],
        params=(
            LIMIT,
            _status_param(
                ["proposed", "approved", "rejected", "expired", "superseded", "applied", "failed"]
            ),
        ),
        links=(
            ("recommendation", "recommendation_id", "/items/0/recommendation_id"),
            ("approve", "recommendation_id", "/items/0/recommendation_id"),
            ("reject", "recommendation_id", "/items/0/recommendation_id"),
        ),
    ),
    Route(
        "recommendation",
        "get",
        "/api/v1/recommendations/{recommendation_id}",
        "reader",
        "One recommendation",
        RecommendationView,
        params=(_id("recommendation_id"),),
        errors=(401, 403, 404, 422, 503),
    ),
    Route(
        "approve",
        "post",
        "/api/v1/recommendations/{recommendation_id}/approve",
        "operator",
        "Approve a proposed recommendation (a new record on perf.recommendations)",
        Recommendation,
        body=DecisionRequest,
        params=(_id("recommendation_id"),),
        errors=(401, 403, 404, 409, 422, 503, 429),
        writes=True,
    ),
    Route(
        "reject",
        "post",
        "/api/v1/recommendations/{recommendation_id}/reject",
        "operator",
        "Reject a proposed recommendation (a new record on perf.recommendations)",
        Recommendation,
        body=DecisionRequest,
        params=(_id("recommendation_id"),),
        errors=(401, 403, 404, 409, 422, 503, 429),
        writes=True,
    ),
    Route(
        "sla",
        "get",
        "/api/v1/sla",
        "reader",
        "SLO status per workload and tenant (perf.slo, from the alert agent's burn-rate "
        "trackers): compliance, error budget left, burn rates; least budget left first",
        ItemList[SlaStatus],
        params=(LIMIT,),
    ),
    Route(
        "budgets",
        "get",
        "/api/v1/budgets",
        "reader",
        "Spend against budget per tenant in its current period (perf.budgets, from the "
        "budgets role): spent, limit, burn, forecast at period end, projected exhaustion; "
        "earliest exhaustion first, then highest share spent",
        ItemList[BudgetStatus],
        params=(LIMIT,),
    ),
    Route(
        "table_snapshot",
        "get",
        "/api/v1/tables/{table}",
        "reader",
        "This worker's share of a read-model table (for the workers' fan-out of lists)",
        TableSnapshot,
        params=(
            Param(
                "table",
                "path",
                {"type": "string", "enum": sorted(table for _, table in TABLES.values())},
            ),
        ),
    ),
    Route(
        "optimize_placement",
        "post",
        "/api/v1/optimize/placement",
        "reader",
        "Ranked placement options for a workload spec (predicted perf, cost, confidence)",
        PlacementAnswer,
        body=WorkloadSpec,
    ),
)

_REASONS = {
    401: "No or unknown bearer token",
    403: "The token's role may not do this",
    404: "Not found",
    413: "Request body larger than the API reads (COMPUTEPERF_API_MAX_BODY_BYTES)",
    409: "Not in a state that allows this",
    429: "Too many changes with this token: retry after the Retry-After header's seconds",
    503: "Another worker holding part of the data did not answer",
    422: "Invalid request (pydantic's errors in detail)",
}


Refs = dict[type[BaseModel], dict[str, Any]]


def _schema_name(model: type[BaseModel]) -> str:
    return model.__name__


def _json_of(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation(route: Route, refs: Refs) -> dict[str, Any]:
    responses: dict[str, Any] = {
        str(route.status): {"description": "OK", "content": _json_of(refs[route.response])}
    }
    if route.links:
        responses[str(route.status)]["links"] = {
            f"{target}": {
                "operationId": target,
                "parameters": {param: f"$response.body#{pointer}"},
            }
            for target, param, pointer in route.links
        }
    for code in route.errors + ((413,) if route.body is not None else ()):
        responses[str(code)] = {"description": _REASONS[code], "content": _json_of(refs[ErrorBody])}
    op: dict[str, Any] = {
        "operationId": route.name,
        "summary": route.summary,
        "description": f"Needs a token with role `{route.role}`.",
        "security": [{"bearer": []}],
        "responses": responses,
        "parameters": [
            {
                "name": p.name,
                "in": p.where,
                "required": p.where == "path",
                "schema": p.schema,
                **({"description": p.description} if p.description else {}),
            }
            for p in route.params
        ],
    }
    if route.body is not None:
        op["requestBody"] = {"required": True, "content": _json_of(refs[route.body])}
    return op


def openapi_document(title: str = "computeperf API", version: str = "1") -> dict[str, Any]:
    """The OpenAPI 3.1 document of :data:`ROUTES` (JSON-able dict)."""
    models: set[type[BaseModel]] = {ErrorBody}
    for route in ROUTES:
        models.add(route.response)
        if route.body is not None:
            models.add(route.body)
    ordered = sorted(models, key=_schema_name)
    keyed: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (m, "validation" if _is_request(m) else "serialization") for m in ordered
    ]
    schemas, defs = models_json_schema(keyed, ref_template="#/components/schemas/{model}")
    refs: Refs = {model: schemas[(model, mode)] for model, mode in keyed}
    paths: dict[str, dict[str, Any]] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method] = _operation(route, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def body_validators(document: dict[str, Any]) -> dict[str, jsonschema_rs.Validator]:
    """A JSON Schema validator per route with a body, over the document's own schemas.

    Bodies are checked against the published schema before pydantic sees them, so what
    the document calls invalid (``false`` for a number) is refused even where pydantic's
    lax mode would coerce it, and what it calls valid (``8.0`` for an integer) is taken.

    >>> check = body_validators(openapi_document())["create_silence"]
    >>> check.is_valid({"matchers": {"provider_id": "p1"}, "duration_s": 600.0})
    True
    >>> [e.message for e in check.iter_errors({"matchers": {}, "duration_s": True})]
    ['{} has less than 1 property', 'true is not of type "integer"']
    """
    validators: dict[str, jsonschema_rs.Validator] = {}
    for route in ROUTES:
        if route.body is not None:
            ref = document["paths"][route.path][route.method]["requestBody"]["content"][
                "application/json"
            ]["schema"]
            schema = {**ref, "components": document["components"]}
            validators[route.name] = jsonschema_rs.Draft202012Validator(schema)
    return validators


def _is_request(model: type[BaseModel]) -> bool:
    return any(route.body is model for route in ROUTES)


__all__ = ["MAX_LIMIT", "ROUTES", "Param", "Route", "body_validators", "openapi_document"]
