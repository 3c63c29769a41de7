"""What every HTTP answer of a worker says to browsers, and which pages need no token.

- :data:`SECURITY_HEADERS` go on every response (API, dashboard, static files, ``/metrics``,
  aiohttp's own 404/405), added by :func:`install_security_headers` on aiohttp's
  ``on_response_prepare`` signal: a Content-Security-Policy that allows scripts, styles and
  requests from the worker's own origin only (no inline script, no ``eval``; the dashboard
  is ``index.html`` + ``/static/*.js``), no framing (``frame-ancestors 'none'``), no MIME
  sniffing, no referrer.
- :data:`PUBLIC_PAGES`: the pages served without a bearer token, each with the reason.
  Every other route is an API route of :data:`api.openapi.ROUTES` with its role; the
  authorisation matrix test (``tests/integration/test_api_authorisation.py``) fails on a
  route that is neither.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from config.tokens import Role

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

#: Paths (aiohttp's canonical form) served to anyone, and why that is safe.
PUBLIC_PAGES: dict[str, str] = {
    "/": "the dashboard's page: no data (it asks for a token and calls the API)",
    "/static": "the dashboard's scripts, styles and icon",
    "/openapi.json": "the API's description: routes and schemas, no data",
    "/healthz": "liveness for supervisors: up, group id, roles",
    "/readyz": "readiness for supervisors: tables recovered or not",
    "/metrics": "Prometheus scrapes it without credentials (bind web_host to a private "
    "address, or put a proxy in front, to keep it in)",
}

#: Pages outside the API's routes that need a token, with the role they need.
GUARDED_PAGES: dict[str, Role] = {
    "/leaderboards": "reader",  # the analysis role's boards (agents/analysis.py)
}


async def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def install_security_headers(web_app: Any) -> None:
    """Add :data:`SECURITY_HEADERS` to every response of the aiohttp ``web_app``."""
    web_app.on_response_prepare.append(_add_headers)


__all__ = [
    "CONTENT_SECURITY_POLICY",
    "GUARDED_PAGES",
    "PUBLIC_PAGES",
    "SECURITY_HEADERS",
    "install_security_headers",
]
