"""YAML documents loaded into pydantic models, with errors that name the file and field.

The budget book (:mod:`alerts.budget_book`) and the approval policy book
(:mod:`workflow.policy`) are both a YAML file validated by a pydantic model; this is the
one loader behind both. A subclass names its error type and the shape it expects.

>>> from pydantic import Field
>>> class Limits(YamlDocument):
...     limits: dict[str, float] = Field(default_factory=dict)
>>> Limits.from_dict({"limits": {"a": 1}}).limits
{'a': 1.0}
>>> Limits.from_dict({"limits": []})
Traceback (most recent call last):
  ...
config.documents.DocumentError: limits: Input should be a valid dictionary
>>> Limits.from_dict([1, 2])
Traceback (most recent call last):
  ...
config.documents.DocumentError: a Limits document is a mapping
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

import yaml
from pydantic import BaseModel, ValidationError

__all__ = ["DocumentError", "YamlDocument"]


class DocumentError(ValueError):
    """A document that cannot be read or does not validate."""


class YamlDocument(BaseModel):
    """A pydantic model read from a YAML mapping (:meth:`load`) or a parsed one (:meth:`from_dict`).

    Subclasses set ``error`` (raised with a message naming the first bad field) and
    ``shape`` (said when the document is not a mapping of the expected form), and may
    override :meth:`has_shape` for more than "is a mapping".
    """

    error: ClassVar[type[ValueError]] = DocumentError
    shape: ClassVar[str] = ""

    @classmethod
    def has_shape(cls, data: Any) -> bool:
        """Whether ``data`` has the outline of this document (before field validation)."""
        return isinstance(data, dict)

    @classmethod
    def from_dict(cls, data: Any) -> Self:
        """Validate a parsed document; ``cls.error`` says what is wrong."""
        if not cls.has_shape(data):
            raise cls.error(cls.shape or f"a {cls.__name__} document is a mapping")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise cls.error(f"{where}: {first['msg']}") from None

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read and validate a YAML file; errors start with the file's path."""
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise cls.error(f"{path}: {exc}") from None
        try:
            return cls.from_dict(data)
        except cls.error as exc:
            raise cls.error(f"{path}: {exc}") from None
