"""The HTTP API and the dashboard as Faust web views (thin: authorise, validate, call, answer).

Every route of :data:`api.openapi.ROUTES` becomes a view method that checks the bearer
token's role (``api.auth``), validates parameters and body (``api.validation``: 422 with a
clear message), runs its handler (``api.handlers``) and answers JSON. Nothing a client
sends reaches a 500. Routes for one key (``/providers/{id}``, ``/alerts/{fingerprint}``,
...) are wrapped in ``app.table_route``, so a worker that does not own the key forwards
the request to the one that does. ``/`` and ``/static/`` serve the dashboard.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import faust
from faust.types import TopicT
from faust.web import Request, Response, View
from pydantic import BaseModel

from api.agent import ReadModel
from api.auth import Denied, authorize
from api.handlers import ApiHandlers, Call, Handler, know_partitions
from api.limits import install_quiet_parse_errors, read_body
from api.openapi import ROUTES, Route
from api.resources import ErrorBody
from api.security import GUARDED_PAGES
from api.validation import ApiError, param_model, parse_body, parse_params
from config.metrics import PipelineMetrics
from config.settings import Settings
from config.tokens import parse_tokens
from schemas import AlertAction, Recommendation, Record

STATIC_DIR = Path(__file__).resolve().parent / "static"

#: Keyed routes → (table that owns the key, path parameter holding it).
ROUTED: dict[str, tuple[str, str]] = {
    "provider": ("provider_to_info", "provider_id"),
    "entity_metrics": ("entity_to_metrics", "entity_key"),
    "workload": ("workload_to_view", "workload_id"),
    "alert": ("fingerprint_to_alert", "fingerprint"),
    "recommendation": ("recommendation_to_view", "recommendation_id"),
}


def _json(
    view: View, body: BaseModel | dict[str, Any], status: int, headers: dict[str, str] | None = None
) -> Response:
    data = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    return view.json(data, status=status, headers=headers)


def _error(view: View, exc: ApiError) -> Response:
    body = ErrorBody(error=exc.error, detail=exc.detail)
    headers = None if exc.retry_after_s is None else {"Retry-After": str(exc.retry_after_s)}
    return _json(view, body, exc.status, headers)


def _too_many(view: View, wait_ms: int, settings: Settings) -> Response:
    retry_s = max(1, math.ceil(wait_ms / 1000))
    error = (
        f"too many changes with this token: at most {settings.api_write_limit} per "
        f"{settings.api_write_interval_s:g} s; retry in {retry_s} s"
    )
    return _error(view, ApiError(429, error, retry_after_s=retry_s))


def make_method(app: faust.App, api: ApiHandlers, route: Route, routed_table: Any = None) -> Any:
    """The view method of one route: auth, validation, handler, JSON, errors as 4xx."""
    handler: Handler = getattr(api, route.name)
    params_model = param_model(route)
    validator = api.body_validators.get(route.name)

    async def serve(view: View, request: Request, **match: Any) -> Response:
        grant = authorize(request.headers.get("Authorization"), api.tokens, route.role)
        if isinstance(grant, Denied):
            return _error(view, ApiError(grant.status, grant.error))
        now_ms = int(time.time() * 1000)
        if route.writes:
            wait_ms = api.admit_write(request.headers.get("Authorization", ""), now_ms)
            if wait_ms:
                return _too_many(view, wait_ms, api.settings)
        try:
            params = parse_params(params_model, request.query, match)
            body = None
            if route.body is not None and validator is not None:
                raw = await read_body(
                    request,
                    max_bytes=api.settings.api_max_body_bytes,
                    timeout_s=api.settings.api_body_timeout_s,
                )
                body = parse_body(raw, route, validator)
            call = Call(params, body, grant.role, request, now_ms)
            return _json(view, await handler(call), route.status)
        except ApiError as exc:
            response = _error(view, exc)
            if exc.status in (408, 413):
                # The rest of the body may never come, or is not wanted: do not wait for it.
                cast(Any, response).force_close()
            return response

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
    out_topic: Callable[[str, type[Record]], TopicT],
) -> ApiHandlers:
    """Add every API route, ``/openapi.json`` and the dashboard (``/``, ``/static/``).

    ``out_topic(logical name, record type)`` declares an output topic as the app does.
    """
    install_quiet_parse_errors()
    api = ApiHandlers(
        app,
        settings,
        model,
        metrics,
        recommendations_topic=out_topic("perf.recommendations", Recommendation),
        alert_actions_topic=out_topic("perf.alert_actions", AlertAction),
    )
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


def register_guarded_page(
    app: faust.App, path: str, settings: Settings, answer: Callable[[], Any]
) -> None:
    """A JSON page outside the API's routes, for tokens with its role in ``GUARDED_PAGES``."""
    role = GUARDED_PAGES[path]
    tokens = parse_tokens(settings.api_tokens)

    async def page(web: View, request: Request) -> Response:
        grant = authorize(request.headers.get("Authorization"), tokens, role)
        if isinstance(grant, Denied):
            return _error(web, ApiError(grant.status, grant.error))
        return web.json(answer())

    app.page(path, name="page" + path.replace("/", "_"))(page)


__all__ = ["ROUTED", "STATIC_DIR", "make_method", "register_api", "register_guarded_page"]
