"""Alert history queries over the records of ``perf.alerts`` (the topic is the log).

Pure: the Kafka reader (:mod:`streams.alert_history`) hands over decoded alerts; this
module filters them by entity and time and pairs transitions into episodes.

Examples
--------
>>> from schemas import Alert, AlertStatus, alert_fingerprint
>>> labels = {"alertname": "Hot", "entity_type": "provider", "entity_id": "p1"}
>>> fp = alert_fingerprint(labels)
>>> fired = Alert(fingerprint=fp, status="firing", labels=labels, starts_at_ms=10**12,
...               severity="warning")
>>> done = fired.model_copy(update={"status": AlertStatus.RESOLVED,
...                                  "ends_at_ms": 10**12 + 600_000})
>>> [(e.fingerprint == fp, e.ends_at_ms) for e in episodes([fired, done])]
[(True, 1000000600000)]
>>> select([fired, done], entity_id="p2")
[]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from schemas import Alert, AlertStatus

__all__ = ["Episode", "episodes", "select"]


class Episode(NamedTuple):
    """One firing episode of one fingerprint; ``ends_at_ms`` None while it still fires."""

    fingerprint: str
    labels: dict[str, str]
    starts_at_ms: int
    ends_at_ms: int | None


def select(
    alerts: Iterable[Alert],
    *,
    entity_id: str | None = None,
    entity_type: str | None = None,
    alertname: str | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> list[Alert]:
    """Transitions of the entity (and name) whose episode overlaps ``[since_ms, until_ms)``.

    An episode (one fingerprint, one ``starts_at_ms``) runs to its resolution's
    ``ends_at_ms``, or on while no resolution is in the log.
    """
    chosen = [
        a
        for a in alerts
        if (entity_id is None or a.labels.get("entity_id") == entity_id)
        and (entity_type is None or a.labels.get("entity_type") == entity_type)
        and (alertname is None or a.labels.get("alertname") == alertname)
    ]
    keep = {
        (e.fingerprint, e.starts_at_ms)
        for e in episodes(chosen)
        if (until_ms is None or e.starts_at_ms < until_ms)
        and (since_ms is None or e.ends_at_ms is None or e.ends_at_ms >= since_ms)
    }
    return [a for a in chosen if (a.fingerprint, a.starts_at_ms) in keep]


def episodes(alerts: Iterable[Alert]) -> list[Episode]:
    """Pair firing and resolved transitions per episode, in start order.

    An episode is one fingerprint with one ``starts_at_ms`` (both transitions carry it);
    repeated transitions (an at-least-once replay) collapse into one.
    """
    found: dict[tuple[str, int], Episode] = {}
    for alert in alerts:
        key = (alert.fingerprint, alert.starts_at_ms)
        known = found.get(key)
        if alert.status is AlertStatus.RESOLVED:
            found[key] = Episode(key[0], dict(alert.labels), key[1], alert.ends_at_ms)
        elif known is None:
            found[key] = Episode(key[0], dict(alert.labels), key[1], None)
    return sorted(found.values(), key=lambda e: (e.starts_at_ms, e.fingerprint))
