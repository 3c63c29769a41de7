"""Alerts in a shape that maps one-to-one onto Alertmanager's ``/api/v2/alerts`` payload."""

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Self

from pydantic import StringConstraints, field_validator, model_validator

from schemas.base import Record, TsMs

__all__ = ["Alert", "AlertStatus", "Severity", "alert_fingerprint", "ms_to_rfc3339"]

# Alertmanager rejects label and annotation names outside the classic Prometheus syntax.
_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def alert_fingerprint(labels: Mapping[str, str]) -> str:
    """Return a stable 16-hex-digit fingerprint of a label set.

    The digest is SHA-256 over the label pairs sorted by name, so it does not
    depend on insertion order.  The pairs are JSON-encoded rather than joined
    with separators so that values containing ``=`` or newlines cannot make two
    different label sets collide.

    Parameters
    ----------
    labels : Mapping[str, str]
        The alert's identifying labels.

    Returns
    -------
    str
        First 16 lowercase hex characters of the digest.

    Examples
    --------
    >>> fp = alert_fingerprint({"alertname": "GpuHot", "provider_id": "p1"})
    >>> fp == alert_fingerprint({"provider_id": "p1", "alertname": "GpuHot"}), len(fp)
    (True, 16)
    """
    canonical = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:16]


def ms_to_rfc3339(ms: int) -> str:
    """Format UTC epoch milliseconds as RFC 3339 with millisecond precision and ``Z``.

    Integer arithmetic is used throughout so no precision is lost to floats.

    Examples
    --------
    >>> ms_to_rfc3339(1_700_000_000_123)
    '2023-11-14T22:13:20.123Z'
    """
    moment = _EPOCH + timedelta(milliseconds=ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AlertStatus(StrEnum):
    """Whether an alert is active.

    Examples
    --------
    >>> AlertStatus("resolved") is AlertStatus.RESOLVED
    True
    """

    FIRING = "firing"
    RESOLVED = "resolved"


class Severity(StrEnum):
    """How urgently an alert needs attention and how it is delivered.

    Examples
    --------
    >>> Severity.PAGE.value
    'page'
    """

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"
    PAGE = "page"
    TICKET = "ticket"


class Alert(Record):
    """One alert, firing or resolved.

    Attributes
    ----------
    fingerprint : str
        Lowercase hex identity of the alert, normally ``alert_fingerprint(labels)``.
    status : AlertStatus
        Firing or resolved.
    labels : dict[str, str]
        Identifying labels; must contain a non-empty ``"alertname"``.
    annotations : dict[str, str]
        Descriptive, non-identifying information (summary, runbook, ...).
    starts_at_ms : int
        When the alert started firing, UTC epoch milliseconds.
    ends_at_ms : int or None
        When it resolved (or is expected to), not before ``starts_at_ms``.
    generator_url : str
        Link back to the source of the alert.
    severity : Severity
        Urgency.

    Examples
    --------
    >>> labels = {"alertname": "GpuHot", "provider_id": "prov-1"}
    >>> a = Alert(fingerprint=alert_fingerprint(labels), status="firing", labels=labels,
    ...           starts_at_ms=1_700_000_000_000, ends_at_ms=None, severity="warning")
    >>> a.to_alertmanager()["startsAt"], "endsAt" in a.to_alertmanager()
    ('2023-11-14T22:13:20.000Z', False)
    """

    EVENT_TIME_FIELD: ClassVar[str | None] = "starts_at_ms"

    fingerprint: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{1,64}$")]
    status: AlertStatus
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    starts_at_ms: TsMs
    ends_at_ms: TsMs | None = None
    generator_url: str = ""
    severity: Severity

    @field_validator("labels", "annotations")
    @classmethod
    def _check_names(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(name for name in value if not _LABEL_NAME.fullmatch(name))
        if bad:
            raise ValueError(f"invalid label names {bad}: must match [A-Za-z_][A-Za-z0-9_]*")
        return value

    @field_validator("labels")
    @classmethod
    def _check_alertname(cls, value: dict[str, str]) -> dict[str, str]:
        if not value.get("alertname"):
            raise ValueError("labels must contain a non-empty 'alertname'")
        return value

    @model_validator(mode="after")
    def _check_times(self) -> Self:
        if self.ends_at_ms is not None and self.ends_at_ms < self.starts_at_ms:
            raise ValueError(
                f"ends_at_ms ({self.ends_at_ms}) must not be before "
                f"starts_at_ms ({self.starts_at_ms})"
            )
        return self

    def to_alertmanager(self) -> dict[str, Any]:
        """Return the alert as one element of an Alertmanager ``POST /api/v2/alerts`` body.

        Returns
        -------
        dict[str, Any]
            Keys ``labels``, ``annotations``, ``startsAt``, ``generatorURL`` and,
            only when ``ends_at_ms`` is set, ``endsAt``.  Times are RFC 3339 UTC
            strings with millisecond precision and a ``Z`` suffix.  The dicts are
            copies, so callers may mutate them.
        """
        payload: dict[str, Any] = {
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": ms_to_rfc3339(self.starts_at_ms),
            "generatorURL": self.generator_url,
        }
        if self.ends_at_ms is not None:
            payload["endsAt"] = ms_to_rfc3339(self.ends_at_ms)
        return payload
