"""Silences: mute alerts whose labels match, for a bounded time, as in Alertmanager.

Examples
--------
>>> s = Silence(matchers={"entity_id": "prov-1"}, starts_at_ms=0, ends_at_ms=3_600_000,
...             created_by="ops", comment="maintenance")
>>> s.mutes({"alertname": "GpuHot", "entity_id": "prov-1"}, now_ms=60_000)
True
>>> s.mutes({"alertname": "GpuHot", "entity_id": "prov-1"}, now_ms=3_600_000)  # expired
False
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["Silence", "label_matches"]


def label_matches(labels: Mapping[str, str], matchers: Mapping[str, str | list[str]]) -> bool:
    """Whether every matcher holds: the label equals the value (or one of the values).

    Examples
    --------
    >>> label_matches({"severity": "page"}, {"severity": ["critical", "page"]})
    True
    >>> label_matches({"severity": "page"}, {"severity": "warning"})
    False
    """
    for name, wanted in matchers.items():
        value = labels.get(name)
        if isinstance(wanted, str):
            if value != wanted:
                return False
        elif value not in wanted:
            return False
    return True


class Silence(BaseModel):
    """Mute matching alerts during ``[starts_at_ms, ends_at_ms)``.

    Parameters
    ----------
    matchers : dict
        Label name to required value (or list of accepted values); at least one.
    starts_at_ms, ends_at_ms : int
        Active interval; a silence expires by itself.
    created_by, comment : str
        Who and why, as in Alertmanager.

    Examples
    --------
    >>> Silence(matchers={}, starts_at_ms=0, ends_at_ms=1)
    Traceback (most recent call last):
      ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for Silence
    matchers
      Dictionary should have at least 1 item after validation, not 0 ...
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    matchers: dict[str, str | list[str]] = Field(min_length=1)
    starts_at_ms: int
    ends_at_ms: int
    created_by: str = ""
    comment: str = ""

    @model_validator(mode="after")
    def _check_times(self) -> Self:
        if self.ends_at_ms <= self.starts_at_ms:
            raise ValueError("ends_at_ms must be after starts_at_ms")
        return self

    def active(self, now_ms: int) -> bool:
        """Whether the silence is in force at ``now_ms``."""
        return self.starts_at_ms <= now_ms < self.ends_at_ms

    def mutes(self, labels: Mapping[str, str], now_ms: int) -> bool:
        """Whether it mutes an alert with *labels* at ``now_ms``."""
        return self.active(now_ms) and label_matches(labels, self.matchers)
