"""Byte-level mutations that turn a valid record's JSON into hostile input.

Each mutation takes the record's JSON bytes and a seeded :class:`random.Random` and
returns new bytes, or ``None`` when it does not apply to this record. Whether the result
is really bad is not assumed here: :mod:`evaluation.fuzz` asks the schema decoder.

>>> import random
>>> rng = random.Random(0)
>>> MUTATIONS["unknown_schema_version"](b'{"schema_version":1,"a":2}', rng)
b'{"schema_version": 866, "a": 2}'
>>> MUTATIONS["empty_value"](b'{"a":1}', rng)
b''
>>> len(MUTATIONS["huge_string"](b'{"provider_id":"p"}', rng)) > 1_000_000
True
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

__all__ = ["HUGE_STRING_CHARS", "MUTATIONS", "NESTING_DEPTH", "Mutation"]

Mutation = Callable[[bytes, random.Random], bytes | None]

#: A string of ~1 MB that still fits a message of the broker's default 1 MiB limit with
#: its envelope (the producer refuses more, so it would never reach a worker).
HUGE_STRING_CHARS = 1_000_000
#: Deeper than any JSON parser's recursion limit we rely on (pydantic-core's is 200).
NESTING_DEPTH = 5_000


def _fields(data: bytes) -> dict[str, Any]:
    value = json.loads(data)
    assert isinstance(value, dict)
    return value


def _dump(obj: dict[str, Any]) -> bytes:
    # allow_nan: the NaN/Infinity literals are the point of some mutations.
    return json.dumps(obj, allow_nan=True).encode()


def _pick(obj: dict[str, Any], rng: random.Random, kinds: tuple[type, ...]) -> str | None:
    names = [
        k
        for k, v in obj.items()
        if isinstance(v, kinds) and not isinstance(v, bool) and k != "schema_version"
    ]
    return rng.choice(sorted(names)) if names else None


def truncated(data: bytes, rng: random.Random) -> bytes | None:
    """The first bytes only, as a producer that died mid-write leaves them."""
    return data[: rng.randrange(1, len(data))] if len(data) > 1 else None


def invalid_utf8(data: bytes, rng: random.Random) -> bytes | None:
    """A byte sequence that is no UTF-8 inside one string value."""
    at = data.find(b'":"')
    if at < 0:
        return None
    at += 3
    return data[:at] + rng.choice([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88"]) + data[at:]


def _number_to(literal: str) -> Mutation:
    def mutate(data: bytes, rng: random.Random) -> bytes | None:
        obj = _fields(data)
        name = _pick(obj, rng, (int, float))
        if name is None:
            return None
        obj[name] = float(literal)
        return _dump(obj)

    mutate.__doc__ = f"One number replaced by the literal ``{literal}`` (not JSON, parsers vary)."
    return mutate


def huge_string(data: bytes, rng: random.Random) -> bytes | None:
    """One string value (an id, if there is one) made ~1 MB long."""
    obj = _fields(data)
    ids = sorted(k for k, v in obj.items() if isinstance(v, str) and k.endswith("_id"))
    name = rng.choice(ids) if ids else _pick(obj, rng, (str,))
    if name is None:
        return None
    obj[name] = "x" * HUGE_STRING_CHARS
    return _dump(obj)


def deep_nesting(data: bytes, rng: random.Random) -> bytes | None:
    """One value replaced by arrays nested :data:`NESTING_DEPTH` deep."""
    obj = _fields(data)
    name = rng.choice(sorted(k for k in obj if k != "schema_version"))
    marker = "__deep__"
    obj[name] = marker
    nested = "[" * NESTING_DEPTH + "]" * NESTING_DEPTH
    return _dump(obj).replace(f'"{marker}"'.encode(), nested.encode(), 1)


def wrong_type(data: bytes, rng: random.Random) -> bytes | None:
    """One value of another JSON type than the schema's (string for number, ...)."""
    obj = _fields(data)
    name = rng.choice(sorted(k for k in obj if k != "schema_version"))
    current = obj[name]
    if isinstance(current, str):
        obj[name] = rng.choice([[current], {"v": current}, 12.5])
    elif isinstance(current, int | float):
        obj[name] = rng.choice(["many", [current], {"v": current}])
    else:
        obj[name] = rng.choice(["x", 7, [1, "a"]])
    return _dump(obj)


def null_field(data: bytes, rng: random.Random) -> bytes | None:
    """A required value sent as ``null``."""
    obj = _fields(data)
    name = _pick(obj, rng, (int, float, str))
    if name is None:
        return None
    obj[name] = None
    return _dump(obj)


def missing_field(data: bytes, rng: random.Random) -> bytes | None:
    """One value left out."""
    obj = _fields(data)
    name = _pick(obj, rng, (int, float, str))
    if name is None:
        return None
    del obj[name]
    return _dump(obj)


def empty_value(data: bytes, rng: random.Random) -> bytes | None:
    """No bytes at all."""
    return b""


def not_an_object(data: bytes, rng: random.Random) -> bytes | None:
    """Valid JSON that is no record (a list, a number, a string, ``null``)."""
    return rng.choice([b"[]", b"42", b'"record"', b"null", b"[" + data + b"]"])


def unknown_schema_version(data: bytes, rng: random.Random) -> bytes | None:
    """A ``schema_version`` from the future (a layout this reader does not know)."""
    obj = _fields(data)
    obj["schema_version"] = rng.randint(2, 1000)
    return _dump(obj)


MUTATIONS: dict[str, Mutation] = {
    "truncated": truncated,
    "invalid_utf8": invalid_utf8,
    "nan_literal": _number_to("nan"),
    "infinity_literal": _number_to("inf"),
    "minus_infinity_literal": _number_to("-inf"),
    "huge_string": huge_string,
    "deep_nesting": deep_nesting,
    "wrong_type": wrong_type,
    "null_field": null_field,
    "missing_field": missing_field,
    "empty_value": empty_value,
    "not_an_object": not_an_object,
    "unknown_schema_version": unknown_schema_version,
}
