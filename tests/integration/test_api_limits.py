"""Issue 17: malformed headers and bodies get a 4xx, never a 500, an echo or a hung socket."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.workers import WorkerProcess
from tests.integration.harness import fresh_settings, start_worker

pytestmark = pytest.mark.kafka

READER = "reader-token-1"
SECRET = "S3CRET-TOKEN-"
PLACEMENT = "/api/v1/optimize/placement"


@pytest.fixture(scope="module")
def worker(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[WorkerProcess, Path]]:
    tmp = tmp_path_factory.mktemp("api-limits")
    settings = fresh_settings(
        kafka_bootstrap,
        tmp,
        agents="api",
        api_tokens=f"{READER}:reader",
        api_max_body_bytes=4096,
        api_body_timeout_s=2.0,
    )
    running = start_worker(settings, tmp)
    try:
        yield running, tmp / "worker.log"
    finally:
        running.stop()


def exchange(worker: WorkerProcess, raw: bytes, *, timeout_s: float = 10.0) -> tuple[int, bytes]:
    """Send ``raw`` bytes as one request; return the status and the body of the answer."""
    host, port = worker.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout_s) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
            head, sep, body = answer.partition(b"\r\n\r\n")
            length = [
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ]
            if sep and length and len(body) >= length[0]:
                break
    status = int(answer.split(b" ", 2)[1])
    return status, answer.partition(b"\r\n\r\n")[2]


def request(
    method: str, path: str, auth: bytes, body: bytes = b"", length: int | None = None
) -> bytes:
    size = len(body) if length is None else length
    return (
        f"{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n".encode()
        + b"Authorization: "
        + auth
        + f"\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n".encode()
        + body
    )


@pytest.mark.parametrize(
    "auth",
    [
        "Bearer t\u00f6k\u00e9n".encode(),
        b"Bearer \xff\xfe\xfd",
        b"Bearer " + SECRET.encode() * 1000,
        b"Bearer " + SECRET.encode() * 600,  # over 8 KiB: aiohttp's own header limit
        b"Bearer \x01tok",
    ],
    ids=["non-ascii", "invalid-utf8", "long-13k", "long-8k", "control-char"],
)
def test_malformed_authorization_is_401_or_400_and_never_echoed(
    worker: tuple[WorkerProcess, Path], auth: bytes
) -> None:
    running, log = worker
    status, body = exchange(running, request("GET", "/api/v1/whoami", auth))
    assert status in (400, 401, 431), body[:300]
    assert SECRET.encode() not in body and b"\xff" not in body
    assert SECRET not in log.read_text(errors="replace")
    if status == 401:
        assert set(json.loads(body)) == {"error", "detail"}


@pytest.mark.parametrize("nesting", ["[", '{"a":'])
def test_deeply_nested_json_is_422(worker: tuple[WorkerProcess, Path], nesting: str) -> None:
    running, _ = worker
    close = "]" if nesting == "[" else "}"
    body = (nesting * 500 + "1" + close * 500).encode()
    raw = request("POST", PLACEMENT, b"Bearer " + READER.encode(), body)
    status, answer = exchange(running, raw)
    assert status == 422, answer[:300]
    assert "nested" in json.loads(answer)["error"]


def test_a_body_over_the_limit_is_413_at_once(worker: tuple[WorkerProcess, Path]) -> None:
    running, _ = worker
    started = time.monotonic()
    raw = request("POST", PLACEMENT, b"Bearer " + READER.encode(), length=10_000_000)
    status, answer = exchange(running, raw, timeout_s=10)
    assert status == 413, answer[:300]
    assert time.monotonic() - started < 1.5  # not after the read timeout
    assert json.loads(answer)["error"].startswith("body too large")


def test_a_body_that_does_not_arrive_times_out(worker: tuple[WorkerProcess, Path]) -> None:
    running, _ = worker
    started = time.monotonic()
    raw = request("POST", PLACEMENT, b"Bearer " + READER.encode(), b'{"tenant', length=500)
    status, answer = exchange(running, raw, timeout_s=10)
    assert status == 408, answer[:300]
    assert 1.5 < time.monotonic() - started < 6.0
