"""Grouping of alert notifications with wait, interval and repeat, as in Alertmanager.

Alerts with the same values of ``group_by`` labels form one group; a new group is
notified ``group_wait`` after its first alert (so alerts of one incident arriving together
go out in one notification), a changed group at most every ``group_interval``, and an
unchanged group that still fires every ``repeat_interval``. Resolved alerts are notified
once and then leave the group. Pure: time comes in as ``now_ms``.

Examples
--------
>>> from schemas import Alert, alert_fingerprint
>>> def alert(entity, status="firing"):
...     labels = {"alertname": "Hot", "severity": "warning", "entity_id": entity}
...     return Alert(fingerprint=alert_fingerprint(labels), status=status, labels=labels,
...                  starts_at_ms=10**12, severity="warning")
>>> g = Grouper(group_by=("alertname",), group_wait_ms=30_000, group_interval_ms=300_000,
...             repeat_interval_ms=4 * 3_600_000)
>>> g.add(alert("p1"), 0); g.add(alert("p2"), 10_000)
>>> g.flush(20_000)
[]
>>> [len(n.alerts) for n in g.flush(30_000)]  # one notification for both
[2]
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas import Alert, AlertStatus

__all__ = ["Grouper", "Notification"]


@dataclass(frozen=True, slots=True)
class Notification:
    """One message to a receiver: the current alerts of one group.

    Examples
    --------
    >>> Notification(group_key=(("alertname", "Hot"),), at_ms=0, alerts=()).firing
    0
    """

    group_key: tuple[tuple[str, str], ...]
    at_ms: int
    alerts: tuple[Alert, ...]

    @property
    def firing(self) -> int:
        """How many of its alerts fire."""
        return sum(a.status is AlertStatus.FIRING for a in self.alerts)


@dataclass(slots=True)
class _Group:
    first_ms: int
    alerts: dict[str, Alert] = field(default_factory=dict)
    last_sent_ms: int | None = None
    changed: bool = True


class Grouper:
    """Batch alerts into :class:`Notification` s per group.

    Parameters
    ----------
    group_by : tuple of str
        Labels whose values define a group.
    group_wait_ms, group_interval_ms, repeat_interval_ms : int
        Alertmanager's ``group_wait``, ``group_interval`` and ``repeat_interval``.
    """

    def __init__(
        self,
        group_by: tuple[str, ...] = ("alertname", "entity_type"),
        *,
        group_wait_ms: int = 30_000,
        group_interval_ms: int = 300_000,
        repeat_interval_ms: int = 4 * 3_600_000,
    ) -> None:
        if min(group_wait_ms, group_interval_ms, repeat_interval_ms) < 0:
            raise ValueError("grouping intervals must be >= 0")
        self.group_by = group_by
        self.group_wait_ms = group_wait_ms
        self.group_interval_ms = group_interval_ms
        self.repeat_interval_ms = repeat_interval_ms
        self._groups: dict[tuple[tuple[str, str], ...], _Group] = {}

    def key(self, alert: Alert) -> tuple[tuple[str, str], ...]:
        """The group of *alert*."""
        return tuple((name, alert.labels.get(name, "")) for name in self.group_by)

    def add(self, alert: Alert, now_ms: int) -> None:
        """Record a transition (firing or resolved) of one alert."""
        group = self._groups.setdefault(self.key(alert), _Group(first_ms=now_ms))
        previous = group.alerts.get(alert.fingerprint)
        if previous is None or previous.status is not alert.status:
            group.changed = True
        group.alerts[alert.fingerprint] = alert

    def flush(self, now_ms: int) -> list[Notification]:
        """The notifications due at ``now_ms``."""
        out: list[Notification] = []
        for key, group in list(self._groups.items()):
            if group.last_sent_ms is None:
                due = now_ms >= group.first_ms + self.group_wait_ms
            elif group.changed:
                due = now_ms >= group.last_sent_ms + self.group_interval_ms
            else:
                due = now_ms >= group.last_sent_ms + self.repeat_interval_ms
            if not due or not group.alerts:
                continue
            out.append(Notification(key, now_ms, tuple(group.alerts.values())))
            group.last_sent_ms = now_ms
            group.changed = False
            group.alerts = {
                fp: a for fp, a in group.alerts.items() if a.status is AlertStatus.FIRING
            }
            if not group.alerts:
                del self._groups[key]
        return out
