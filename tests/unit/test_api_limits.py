"""Issue 17: malformed Authorization headers and deep bodies are 4xx in the pure API core."""

from __future__ import annotations

import pytest

from api.auth import MAX_TOKEN_CHARS, Denied, Granted, authorize
from api.openapi import ROUTES, body_validators, openapi_document
from api.validation import MAX_BODY_DEPTH, ApiError, nesting_depth, parse_body

TOKENS = {"tok-1": "reader"}


@pytest.mark.parametrize(
    "header",
    [
        "Bearer t\u00f6k\u00e9n",
        "Bearer \udcff\udcfe",  # how aiohttp hands over invalid UTF-8
        "Bearer " + "a" * (MAX_TOKEN_CHARS + 1),
        "Bearer tok\x01",
        "Bearer tok-1\x00",
    ],
)
def test_malformed_tokens_are_401_and_not_quoted(header: str) -> None:
    answer = authorize(header, TOKENS, "reader")  # type: ignore[arg-type]
    assert isinstance(answer, Denied) and answer.status == 401
    assert header.split(" ", 1)[1][:8] not in answer.error


def test_a_good_token_still_passes() -> None:
    assert authorize("Bearer tok-1", TOKENS, "reader") == Granted("reader")  # type: ignore[arg-type]


def test_depth_is_measured_without_recursion() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    assert nesting_depth(deep, MAX_BODY_DEPTH) == MAX_BODY_DEPTH + 1


@pytest.mark.parametrize("depth", [MAX_BODY_DEPTH + 1, 500])
def test_deep_bodies_are_422(depth: int) -> None:
    route = next(r for r in ROUTES if r.name == "optimize_placement")
    validator = body_validators(openapi_document())[route.name]
    raw = ('{"a":' * depth + "1" + "}" * depth).encode()
    with pytest.raises(ApiError) as caught:
        parse_body(raw, route, validator)
    assert caught.value.status == 422 and "nested" in caught.value.error
