"""Limits of what an HTTP client can make the API server do (issue 17).

- :func:`read_body`: a request body is read only up to ``max_bytes`` (413 at once when
  ``Content-Length`` already says more) and within ``timeout_s`` (408): a client that
  announced 10 MB and sent nothing held a connection and a handler open.
- :func:`install_quiet_parse_errors`: aiohttp answers a request it cannot parse (a header
  line over 8 KiB, a control character) with a 400 whose text quotes the first 100 bytes
  of the offending line and logs the same with a traceback; for an ``Authorization``
  header that is the token. The answer becomes a 400 JSON error that quotes nothing, and
  the log line names only the kind of error.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, cast

from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_response import Response
from faust.web import Request

from api.security import SECURITY_HEADERS
from api.validation import ApiError

log = logging.getLogger(__name__)


async def read_body(request: Request, *, max_bytes: int, timeout_s: float) -> bytes:
    """The request's body, or :class:`ApiError` 413 (too large) / 408 (too slow)."""
    announced = request.headers.get("Content-Length")
    if announced is not None and announced.isdigit() and int(announced) > max_bytes:
        raise ApiError(413, f"body too large: at most {max_bytes} bytes")
    # Faust's aiohttp driver hands over aiohttp's own request (faust.web.drivers.aiohttp).
    content = cast(Any, request).content
    chunks: list[bytes] = []
    size = 0

    async def read_all() -> None:
        nonlocal size
        while chunk := await content.read(65536):
            size += len(chunk)
            if size > max_bytes:  # chunked bodies announce no length
                raise ApiError(413, f"body too large: at most {max_bytes} bytes")
            chunks.append(chunk)

    try:
        await asyncio.wait_for(read_all(), timeout_s)
    except TimeoutError as exc:
        raise ApiError(408, f"body not received within {timeout_s:g} s") from exc
    return b"".join(chunks)


def install_quiet_parse_errors() -> None:
    """Make aiohttp's answer to an unparsable request quote nothing of it (idempotent)."""
    original = RequestHandler.handle_error
    if getattr(original, "computeperf_quiet", False):
        return

    def handle_error(
        self: RequestHandler,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> Any:
        if not isinstance(exc, HttpProcessingError) or status >= 500:
            return original(self, request, status, exc, message)
        log.info("unparsable HTTP request from %s: %s", request.remote, type(exc).__name__)
        body = {"error": "malformed HTTP request", "detail": [{"type": type(exc).__name__}]}
        response = Response(
            status=status,
            text=json.dumps(body),
            content_type="application/json",
            headers=SECURITY_HEADERS,  # no app here to add them on response_prepare
        )
        response.force_close()
        return response

    handle_error.computeperf_quiet = True  # type: ignore[attr-defined]
    RequestHandler.handle_error = handle_error  # type: ignore[method-assign]


__all__ = ["install_quiet_parse_errors", "read_body"]
