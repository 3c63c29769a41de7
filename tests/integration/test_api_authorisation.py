"""Issue 17, point 5: who may call what, on every route a worker serves, on a real server.

The routes come from the app's own aiohttp router (an app built with the same settings
as the running worker, every role on), not from a list kept here: a route without an
auth decision (an API route of ``api.openapi.ROUTES``, ``api.security.GUARDED_PAGES``
or ``api.security.PUBLIC_PAGES``) fails the matrix.
"""

from __future__ import annotations

import json
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from api.openapi import ROUTES, Param, Route
from api.security import GUARDED_PAGES, PUBLIC_PAGES, SECURITY_HEADERS
from config.settings import ALL_AGENTS, OPTIONAL_AGENTS
from config.tokens import Role
from schemas import Recommendation
from streams.app import create_app
from streams.workers import WorkerProcess
from tests.integration.api_harness import proposed, send_recommendations
from tests.integration.harness import fresh_settings, start_worker

pytestmark = pytest.mark.kafka

READER, OPERATOR = "matrix-reader-SECRET-1", "matrix-operator-SECRET-2"
LIMITED, SPARE = "limited-operator-SECRET-3", "spare-operator-SECRET-4"
APPROVER = "approver-operator-SECRET-6"
BAD = "not-a-token-SECRET-5"
WRITE_LIMIT = 5
CALLERS: dict[str, str | None] = {
    "no token": None,
    "bad token": BAD,
    "reader": READER,
    "operator": OPERATOR,
}
#: A value for each path parameter: well-formed, naming nothing that exists.
PATH_VALUES = {
    "provider_id": "prov-none",
    "entity_key": "provider:prov-none",
    "workload_id": "wl-none",
    "fingerprint": "0abc",
    "recommendation_id": "rec-none",
}


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(url: str, method: str, token: str | None, body: Any = None) -> Answer:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return Answer(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, dict(exc.headers), exc.read())


@pytest.fixture(scope="module")
def worker(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[WorkerProcess, Path]]:
    tmp = tmp_path_factory.mktemp("api-authorisation")
    settings = fresh_settings(
        kafka_bootstrap,
        tmp,
        agents=",".join(ALL_AGENTS + OPTIONAL_AGENTS),
        api_tokens=f"{READER}:reader,{OPERATOR}:operator,{LIMITED}:operator,{SPARE}:operator,"
        f"{APPROVER}:operator",
        api_write_limit=WRITE_LIMIT,
        api_write_interval_s=3600.0,
    )
    running = start_worker(settings, tmp)
    try:
        yield running.wait_ready(), tmp / "worker.log"
    finally:
        running.stop()


def served_routes(worker: WorkerProcess) -> list[tuple[str, str]]:
    """``(method, canonical path)`` of every route of an app built like ``worker``'s."""
    app = create_app(worker.settings)
    routes = {(r.method, r.resource.canonical) for r in app.web.web_app.router.routes()}  # type: ignore[attr-defined]
    return sorted(routes)


def needed_role(method: str, path: str) -> Role | Route | None:
    """The auth decision for a route: None (public), a role, or its API route."""
    if path in PUBLIC_PAGES:
        return None
    if path in GUARDED_PAGES:
        return GUARDED_PAGES[path]
    # Faust serves HEAD on every view: it follows the path's GET, else its one operation.
    at_path = sorted((r for r in ROUTES if r.path == path), key=lambda r: r.method != "get")
    for route in at_path:
        if route.method.upper() == method or (method == "HEAD" and route is at_path[0]):
            return route
    raise AssertionError(f"{method} {path} is served with no auth decision (api/security.py)")


def concrete(path: str, params: tuple[Param, ...]) -> str:
    if path == "/static":
        return "/static/dashboard.js"
    for p in params:
        if p.where == "path":
            value = PATH_VALUES.get(p.name) or p.schema["enum"][0]
            path = path.replace("{" + p.name + "}", value)
    return path


def test_every_route_answers_each_caller_as_its_auth_decision_says(
    worker: tuple[WorkerProcess, Path],
) -> None:
    running, _ = worker
    routes = served_routes(running)
    document = call(f"{running.url}/openapi.json", "GET", None).json()
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    assert documented <= set(routes)  # every documented operation is served
    assert ("GET", "/leaderboards") in routes  # the analysis role's page is in the matrix
    with pytest.raises(AssertionError, match="no auth decision"):
        needed_role("GET", "/a-page-added-later")

    seen: list[tuple[str, str, str, int]] = []
    for method, path in routes:
        decision = needed_role(method, path)
        route = decision if isinstance(decision, Route) else None
        role = route.role if route else decision
        target = running.url + concrete(path, route.params if route else ())
        body = {} if method == "POST" else None
        for caller, token in CALLERS.items():
            answer = call(target, method, token, body)
            seen.append((method, path, caller, answer.status))
            where = f"{method} {path} as {caller}: {answer.status} {answer.body[:200]!r}"
            for header, value in SECURITY_HEADERS.items():
                assert answer.headers.get(header) == value, where
            assert answer.status < 500, where
            if method == "HEAD" and answer.status == 405:
                continue  # not served for HEAD: nobody gets anything
            if role is None:
                assert answer.status not in (401, 403), where
            elif caller in ("no token", "bad token"):
                assert answer.status == 401, where
                if method != "HEAD":
                    assert set(answer.json()) == {"error", "detail"}, where
            elif caller == "reader" and role == "operator":
                assert answer.status == 403, where
            else:
                assert answer.status not in (401, 403, 429), where
    # Every mutating route refuses readers; every API route refuses strangers.
    for route in ROUTES:
        statuses = {c: s for m, p, c, s in seen if (m, p) == (route.method.upper(), route.path)}
        assert statuses["no token"] == statuses["bad token"] == 401, route.name
        assert (statuses["reader"] == 403) is (route.role == "operator"), route.name
        assert not route.writes or route.role == "operator", route.name


def test_the_dashboard_page_forbids_inline_script_and_framing(
    worker: tuple[WorkerProcess, Path],
) -> None:
    running, _ = worker
    answer = call(f"{running.url}/", "GET", None)
    policy = answer.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["frame-ancestors"] == "'none'"
    html = answer.body.decode()
    # No inline script and no inline event handler attribute (onclick=, onload=, ...).
    assert "<script>" not in html and not re.search(r"\son[a-z]+\s*=", html)
    assert html.count("<script src=") == 2


def test_writes_are_rate_limited_per_token(worker: tuple[WorkerProcess, Path]) -> None:
    running, _ = worker
    silences = f"{running.url}/api/v1/silences"
    body = {"matchers": {"provider_id": "prov-limit"}, "duration_s": 60}
    for _ in range(WRITE_LIMIT):
        assert call(silences, "POST", LIMITED, body).status == 201
    refused = call(silences, "POST", LIMITED, body)
    assert refused.status == 429, refused.body
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert "too many changes" in refused.json()["error"]
    # Another token has its own budget; reads are never limited; readers are still 403.
    assert call(silences, "POST", SPARE, body).status == 201
    assert call(f"{running.url}/api/v1/whoami", "GET", LIMITED).status == 200
    assert call(silences, "POST", READER, body).status == 403


def test_tokens_are_never_logged(worker: tuple[WorkerProcess, Path]) -> None:
    running, log = worker
    whoami = f"{running.url}/api/v1/whoami"
    assert call(whoami, "GET", BAD).status == 401
    assert call(whoami, "GET", OPERATOR).status == 200
    assert call(f"{running.url}/api/v1/silences", "POST", OPERATOR, {"x": 1}).status == 422
    # A request aiohttp cannot parse is logged (without its headers): once that line is in
    # the log, everything the requests above made the worker log is there too.
    host, port = running.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"GET /api/v1/whoami HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
            + f"Authorization: Bearer {BAD}\x01\r\n\r\n".encode()
        )
        answer = sock.recv(65536)
    assert answer.split(b" ", 2)[1] == b"400" and BAD.encode() not in answer
    assert b"Content-Security-Policy" in answer
    deadline = time.monotonic() + 30
    text = ""
    while "unparsable HTTP request" not in text and time.monotonic() < deadline:
        time.sleep(0.2)
        text = log.read_text(errors="replace")
    assert "unparsable HTTP request" in text
    for token in (BAD, OPERATOR, READER, LIMITED, SPARE, APPROVER):
        assert token not in text
    assert "SECRET" not in text


def migration(rid: str, target: str, source: str, gain: float) -> Recommendation:
    """A proposed move: gain 0.2 is auto-approved by the default book, 0.1 waits."""
    rec = proposed(rid, time.time_ns() // 1_000_000, target)
    return rec.model_copy(update={"from_provider_id": source, "perf_per_dollar_gain": gain})


def test_operator_approvals_pass_the_same_rate_limit_as_policy_approvals(
    worker: tuple[WorkerProcess, Path],
) -> None:
    running, _ = worker
    url = running.url + "/api/v1/recommendations"

    def latest(rid: str, ready: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            answer = call(f"{url}/{rid}", "GET", READER)
            if answer.status == 200 and ready(answer.json()["latest"]):
                return dict(answer.json()["latest"])
            time.sleep(0.3)
        raise AssertionError(f"{rid}: {answer.status} {answer.body[:300]!r}")

    def approve(rid: str) -> Answer:
        return call(f"{url}/{rid}/approve", "POST", APPROVER, {"reason": "ops"})

    # The default book: 2 moves per provider per hour. The policy uses up prov-lim-a's ...
    send_recommendations(
        running.settings,
        migration("rec-auto-1", "prov-lim-a", "prov-src-1", 0.2),
        migration("rec-auto-2", "prov-lim-a", "prov-src-2", 0.2),
        migration("rec-manual-1", "prov-lim-a", "prov-src-3", 0.1),
    )
    for rid in ("rec-auto-1", "rec-auto-2"):
        by_policy = latest(rid, lambda r: r["status"] != "proposed")
        assert (by_policy["status"], by_policy["actor"]) == ("approved", "policy:*/migrate")
    latest("rec-manual-1", lambda r: r["reason"].startswith("awaiting operator"))
    # ... so an operator may not approve a third move onto it.
    refused = approve("rec-manual-1")
    assert refused.status == 429, refused.body
    assert refused.json()["error"].startswith("rate limit: 2 actions per provider")
    assert 1 <= int(refused.headers["Retry-After"]) <= 3600
    assert call(f"{url}/rec-manual-1", "GET", READER).json()["latest"]["status"] == "proposed"

    # Two operator approvals onto prov-lim-b use up its room for the policy, too.
    send_recommendations(
        running.settings,
        migration("rec-manual-2", "prov-lim-b", "prov-src-4", 0.1),
        migration("rec-manual-3", "prov-lim-b", "prov-src-5", 0.1),
    )
    for rid in ("rec-manual-2", "rec-manual-3"):
        latest(rid, lambda r: r["reason"].startswith("awaiting operator"))
        approved = approve(rid)
        assert approved.status == 200, approved.body
        assert approved.json()["status"] == "approved"
        latest(rid, lambda r: r["status"] == "approved")
    send_recommendations(running.settings, migration("rec-auto-3", "prov-lim-b", "prov-src-6", 0.2))
    decided = latest("rec-auto-3", lambda r: r["status"] != "proposed")
    assert (decided["status"], decided["reason"][:10]) == ("rejected", "rate limit")
