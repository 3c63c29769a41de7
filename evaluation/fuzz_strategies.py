"""Hypothesis strategies read off the pydantic schemas: valid records of any record type.

``st.from_type`` ignores pydantic's constraints (``Field(ge=...)``, id patterns), so every
field's annotation and metadata is turned into a strategy here: bounds from
``annotated_types`` (``Ge``/``Le``/``Gt``/``Lt``), patterns and lengths from
``StringConstraints``, enums, literals, optionals, lists, dicts and nested records. What a
model validator still refuses (``gpus_busy > gpus_total``, ...) is filtered out, so every
drawn value is a record the schema accepts. :func:`draw_examples` draws a seeded pool of
them outside of a test.

>>> from schemas import ProviderSample
>>> pool = draw_examples(ProviderSample, 5, seed=1)
>>> len(pool), all(isinstance(p, ProviderSample) for p in pool)
(5, True)
>>> pool == draw_examples(ProviderSample, 5, seed=1)
True
"""

from __future__ import annotations

import enum
import math
import types
import typing
from typing import Any, Literal, TypeVar

import annotated_types as at
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from pydantic import BaseModel, StringConstraints, ValidationError
from pydantic.fields import FieldInfo

from schemas import Record

__all__ = ["FIELD_HINTS", "draw_examples", "field_strategy", "records"]

R = TypeVar("R", bound=Record)

#: Bounds of unbounded numbers: wide enough for hostile magnitudes, finite (the schemas
#: refuse NaN and infinities, and so would every record drawn beyond them).
_FLOAT_LIMIT = 1e308
_INT_LIMIT = 2**63 - 1


def _numbers(kind: type, metadata: list[Any]) -> st.SearchStrategy[Any]:
    lo: float | None = None
    hi: float | None = None
    exclude_lo = exclude_hi = False
    for m in metadata:
        if isinstance(m, at.Ge):
            lo = float(m.ge)  # type: ignore[arg-type]
        elif isinstance(m, at.Gt):
            lo, exclude_lo = float(m.gt), True  # type: ignore[arg-type]
        elif isinstance(m, at.Le):
            hi = float(m.le)  # type: ignore[arg-type]
        elif isinstance(m, at.Lt):
            hi, exclude_hi = float(m.lt), True  # type: ignore[arg-type]
    if kind is int:
        low = -_INT_LIMIT if lo is None else math.floor(lo) + (1 if exclude_lo else 0)
        high = _INT_LIMIT if hi is None else math.ceil(hi) - (1 if exclude_hi else 0)
        return st.integers(int(low), int(high))
    return st.floats(
        min_value=-_FLOAT_LIMIT if lo is None else lo,
        max_value=_FLOAT_LIMIT if hi is None else hi,
        exclude_min=exclude_lo,
        exclude_max=exclude_hi,
        allow_nan=False,
        allow_infinity=False,
    )


def _strings(metadata: list[Any]) -> st.SearchStrategy[str]:
    for m in metadata:
        if isinstance(m, StringConstraints) and m.pattern is not None:
            return st.from_regex(str(m.pattern), fullmatch=True)
    min_size = max((getattr(m, "min_length", None) or 0 for m in metadata), default=0)
    return st.text(min_size=min_size, max_size=max(min_size, 40))


def field_strategy(annotation: Any, metadata: list[Any] | None = None) -> st.SearchStrategy[Any]:
    """A strategy of values the type ``annotation`` with ``metadata`` constraints accepts.

    >>> from hypothesis import find
    >>> find(field_strategy(int, [at.Ge(5), at.Le(9)]), lambda v: v > 7)
    8
    """
    metadata = list(metadata or [])
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        extra = [m for m in args[1:] if not isinstance(m, FieldInfo)]
        for m in args[1:]:
            if isinstance(m, FieldInfo):
                extra.extend(m.metadata)
        return field_strategy(args[0], metadata + extra)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([field_strategy(a, metadata if a is not type(None) else []) for a in args])
    if origin is Literal:
        return st.sampled_from(args)
    if origin in (list, tuple, set, frozenset):
        items = st.lists(field_strategy(args[0]), max_size=4)
        return items.map(origin) if origin is not list else items
    if origin is dict:
        return st.dictionaries(field_strategy(args[0]), field_strategy(args[1]), max_size=4)
    if annotation is type(None):
        return st.none()
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return st.sampled_from(list(annotation))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return records(annotation)
    if annotation is bool:
        return st.booleans()
    if annotation in (int, float):
        return _numbers(annotation, metadata)
    if annotation is str:
        return _strings(metadata)
    if annotation is bytes:
        return st.binary(max_size=32)
    if annotation is typing.Any:
        return st.none() | st.integers() | st.text(max_size=10)
    raise TypeError(f"no strategy for {annotation!r}")


def _validated(model: type[BaseModel], values: dict[str, Any]) -> BaseModel | None:
    try:
        return model.model_validate(values)
    except ValidationError:
        return None


_LABEL_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,11}", fullmatch=True)
#: Fields whose rule is a validator, not a constraint the generic reading sees.
FIELD_HINTS: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    ("Alert", "labels"): st.builds(
        lambda name, rest: {**rest, "alertname": name},
        st.text(min_size=1, max_size=20),
        st.dictionaries(_LABEL_NAMES, st.text(max_size=20), max_size=3),
    ),
    ("Alert", "annotations"): st.dictionaries(_LABEL_NAMES, st.text(max_size=40), max_size=3),
}


def records(model: type[R]) -> st.SearchStrategy[R]:
    """Records of ``model`` its schema accepts (fields drawn per constraint, then validated)."""
    fields = {
        name: FIELD_HINTS[(model.__name__, name)]
        if (model.__name__, name) in FIELD_HINTS
        else field_strategy(info.annotation, info.metadata)
        for name, info in model.model_fields.items()
        if name != "schema_version"
    }
    valid = (
        st.fixed_dictionaries(fields)
        .map(lambda values: _validated(model, values))
        .filter(lambda record: record is not None)
    )
    return valid  # type: ignore[return-value]  # None filtered out above


def draw_examples(model: type[R], count: int, *, seed: int) -> list[R]:
    """``count`` records of ``model`` drawn by Hypothesis, the same for the same ``seed``."""
    drawn: list[R] = []

    @hypothesis_seed(seed)
    @settings(
        max_examples=count,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(records(model))
    def collect(record: R) -> None:
        drawn.append(record)

    collect()
    return drawn[:count]
