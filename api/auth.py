"""Bearer tokens with roles: ``reader`` may read, ``operator`` may also change things.

Tokens come from settings as ``token:role`` pairs (``COMPUTEPERF_API_TOKENS``).

>>> from config.tokens import parse_tokens
>>> tokens = parse_tokens("tok1:operator, tok2:reader")
>>> authorize("Bearer tok2", tokens, "reader")
Granted(role='reader')
>>> authorize("Bearer tok2", tokens, "operator")
Denied(status=403, error="role 'reader' may not do this: needs 'operator'")
>>> authorize(None, tokens, "reader").status
401
>>> authorize("Bearer t\u00f6k\u00e9n", tokens, "reader")
Denied(status=401, error='malformed bearer token: printable ASCII, at most 1024 characters')
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from config.tokens import ROLES, Role

#: Longest token looked at; anything longer is malformed (and never compared or echoed).
MAX_TOKEN_CHARS = 1024


@dataclass(frozen=True)
class Granted:
    """The request may go on, with this role."""

    role: Role


@dataclass(frozen=True)
class Denied:
    """The request is refused: 401 (no or unknown token) or 403 (role too low)."""

    status: int
    error: str


def authorize(header: str | None, tokens: dict[str, Role], needed: Role) -> Granted | Denied:
    """Check an ``Authorization`` header against ``tokens`` for the ``needed`` role.

    A header that is no printable ASCII (aiohttp hands invalid UTF-8 over as surrogates,
    which failed to encode: a 500) or is longer than :data:`MAX_TOKEN_CHARS` is a 401
    that quotes nothing of it. Every configured token is compared, in constant time.
    """
    scheme, _, presented = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        return Denied(401, "missing bearer token: send 'Authorization: Bearer <token>'")
    presented = presented.strip()
    if len(presented) > MAX_TOKEN_CHARS or not _printable_ascii(presented):
        return Denied(
            401, f"malformed bearer token: printable ASCII, at most {MAX_TOKEN_CHARS} characters"
        )
    role = None
    # Constant time: digests of equal length (compare_digest of unequal lengths returns at
    # once, telling the length), and every token compared, the match or not.
    wanted = hashlib.sha256(presented.encode()).digest()
    for token, token_role in tokens.items():
        if hmac.compare_digest(hashlib.sha256(token.encode()).digest(), wanted):
            role = token_role
    if role is None:
        return Denied(401, "unknown bearer token")
    if ROLES.index(role) < ROLES.index(needed):
        return Denied(403, f"role {role!r} may not do this: needs {needed!r}")
    return Granted(role)


def _printable_ascii(text: str) -> bool:
    return all("!" <= ch <= "~" for ch in text)


__all__ = ["MAX_TOKEN_CHARS", "Denied", "Granted", "authorize"]
