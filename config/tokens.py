"""API bearer tokens and their roles, parsed from settings (``COMPUTEPERF_API_TOKENS``).

``reader`` may read, ``operator`` may also change things.

>>> parse_tokens("tok1:operator, tok2:reader")
{'tok1': 'operator', 'tok2': 'reader'}
"""

from __future__ import annotations

from typing import Literal

__all__ = ["ROLES", "Role", "parse_tokens"]

Role = Literal["reader", "operator"]
ROLES: tuple[Role, ...] = ("reader", "operator")  # each role can do what those before it can


def parse_tokens(spec: str) -> dict[str, Role]:
    """``"tok1:operator,tok2:reader"`` → ``{"tok1": "operator", "tok2": "reader"}``.

    Raises ``ValueError`` naming the bad entry (unknown role, empty token).
    """
    tokens: dict[str, Role] = {}
    for entry in (e.strip() for e in spec.split(",")):
        if not entry:
            continue
        token, _, role = entry.rpartition(":")
        if not token or role not in ROLES:
            raise ValueError(f"api token entry {entry!r} must be TOKEN:ROLE with ROLE in {ROLES}")
        tokens[token] = role
    return tokens
