"""Request validation for the HTTP API: parameters and bodies into records, or a clear 4xx.

Pure (pydantic, orjson, jsonschema_rs): the views hand over the query, the path match and
the raw body; everything a client can get wrong comes back as an :class:`ApiError`.

>>> from api.openapi import ROUTES, body_validators, openapi_document
>>> route = next(r for r in ROUTES if r.name == "create_silence")
>>> check = body_validators(openapi_document())[route.name]
>>> parse_body(b'{"matchers": {"provider_id": "p1"}, "duration_s": 600.0}', route, check)
SilenceRequest(matchers={'provider_id': 'p1'}, duration_s=600, comment='')
>>> parse_body(b'{"matchers": {}, "duration_s": 600}', route, check)
Traceback (most recent call last):
...
api.validation.ApiError: invalid body: matchers: {} has less than 1 property
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import jsonschema_rs
import orjson
from pydantic import BaseModel, Field, StringConstraints, ValidationError, create_model

from api.openapi import Param, Route

#: Deepest nesting of arrays and objects a request body may have (ours need 3).
MAX_BODY_DEPTH = 32


class ApiError(Exception):
    """A 4xx answer with a clear message."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: list[dict[str, object]] | None = None,
        *,
        retry_after_s: int | None = None,
    ):
        super().__init__(error)
        self.status, self.error, self.detail = status, error, detail or []
        #: Sent as ``Retry-After`` (a 429: when the client may try again).
        self.retry_after_s = retry_after_s


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


def parse_params(
    model: type[BaseModel], query: Mapping[str, str], match: Mapping[str, str]
) -> dict[str, Any]:
    """Validated path and query parameters (query first, the path wins on a clash)."""
    try:
        return model.model_validate({**query, **match}).model_dump()
    except ValidationError as exc:
        raise validation_error(exc, "parameters") from exc


def parse_body(raw: bytes, route: Route, validator: jsonschema_rs.Validator) -> BaseModel:
    """The route's body record from raw bytes: JSON, then the published schema, then pydantic.

    The schema check comes first so that what the OpenAPI document calls invalid
    (``false`` for a number) is refused although pydantic's lax mode would coerce it.
    """
    assert route.body is not None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(422, f"invalid body: not JSON: {exc}") from exc
    if nesting_depth(data, MAX_BODY_DEPTH) > MAX_BODY_DEPTH:
        # The schema validator and pydantic recurse: ~500 levels ended in a 500.
        raise ApiError(422, f"invalid body: nested deeper than {MAX_BODY_DEPTH} levels")
    errors: list[dict[str, object]] = [
        {"loc": list(e.instance_path), "msg": e.message[:300], "type": "schema"}
        for e in validator.iter_errors(data)
    ]
    if errors:
        first = errors[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"  # type: ignore[attr-defined]
        raise ApiError(422, f"invalid body: {where}: {first['msg']}", errors[:20])
    try:
        return route.body.model_validate(integral_numbers_as_int(data))
    except ValidationError as exc:
        raise validation_error(exc, "body") from exc


def nesting_depth(data: Any, limit: int) -> int:
    """Depth of nested arrays and objects in ``data``, counted up to ``limit + 1``.

    Iterative, so any depth orjson parses is measured without recursion.

    >>> nesting_depth({"a": [1, {"b": []}]}, 10), nesting_depth(1, 10)
    (4, 0)
    >>> nesting_depth([[[[]]]], 2)
    3
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            depth += 1
            deepest = max(deepest, depth)
            if depth > limit:
                return deepest
            stack.extend((child, depth) for child in item)
    return deepest


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


__all__ = [
    "MAX_BODY_DEPTH",
    "ApiError",
    "integral_numbers_as_int",
    "nesting_depth",
    "param_model",
    "parse_body",
    "parse_params",
    "validation_error",
]
