"""Inhibition and silencing between the state machine and the topic.

:class:`Dispatcher` sees every transition the rules produce and decides which alerts
operators get: a firing alert that a firing *source* alert inhibits (a critical alert of
the same entity; a provider outage for that provider's workloads) or that a silence mutes
is held back, and its later resolution too (nobody was told it fired). When the source
resolves or the silence expires while it still fires, it is released then.

Pure: time comes in as ``now_ms``.

Examples
--------
>>> from schemas import Alert, alert_fingerprint
>>> def alert(name, severity, status="firing", **labels):
...     labels = {"alertname": name, "severity": severity, "entity_type": "provider",
...               "entity_id": "p1", **labels}
...     return Alert(fingerprint=alert_fingerprint(labels), status=status, labels=labels,
...                  starts_at_ms=10**12, severity=severity)
>>> d = Dispatcher()
>>> [a.labels["alertname"] for a in d.process(alert("Down", "critical"), 10**12)]
['Down']
>>> d.process(alert("Hot", "warning"), 10**12)  # inhibited by the critical one
[]
>>> out = d.process(alert("Down", "critical", "resolved"), 10**12 + 1)
>>> [(a.labels["alertname"], a.status.value) for a in out]  # Hot is released
[('Down', 'resolved'), ('Hot', 'firing')]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from pydantic import BaseModel, ConfigDict

from alerts.silences import Silence, label_matches
from schemas import Alert, AlertStatus

__all__ = ["DEFAULT_INHIBIT_RULES", "Dispatcher", "InhibitRule"]


class InhibitRule(BaseModel):
    """A firing alert matching ``source`` inhibits alerts matching ``target``.

    ``equal`` maps a target label to the source label that must hold the same value, e.g.
    ``{"provider_id": "entity_id"}``: a workload alert on provider *p* is inhibited by a
    provider alert whose entity is *p* (Alertmanager's ``equal`` with renaming).

    Examples
    --------
    >>> r = DEFAULT_INHIBIT_RULES[0]
    >>> src = {"severity": "critical", "entity_type": "provider", "entity_id": "p1"}
    >>> r.inhibits(src, {"severity": "warning", "entity_type": "provider", "entity_id": "p1"})
    True
    >>> r.inhibits(src, {"severity": "warning", "entity_type": "provider", "entity_id": "p2"})
    False
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: dict[str, str | list[str]]
    target: dict[str, str | list[str]]
    equal: dict[str, str]

    def inhibits(self, source: Mapping[str, str], target: Mapping[str, str]) -> bool:
        """Whether an alert with labels *source* inhibits one with labels *target*."""
        if source is target or dict(source) == dict(target):
            return False  # an alert never inhibits itself
        if not (label_matches(source, self.source) and label_matches(target, self.target)):
            return False
        return all(
            target.get(t) is not None and target.get(t) == source.get(s)
            for t, s in self.equal.items()
        )


#: Critical (or page) alerts inhibit warnings, infos and tickets of the same entity; a
#: provider outage inhibits every alert of the workloads running on that provider.
DEFAULT_INHIBIT_RULES: Final[tuple[InhibitRule, ...]] = (
    InhibitRule(
        source={"severity": ["critical", "page"]},
        target={"severity": ["warning", "info", "ticket"]},
        equal={"entity_type": "entity_type", "entity_id": "entity_id"},
    ),
    InhibitRule(
        source={"alertname": "ProviderDown", "entity_type": "provider"},
        target={"entity_type": "workload"},
        equal={"provider_id": "entity_id"},
    ),
)


class Dispatcher:
    """Filter alert transitions through inhibition rules and silences.

    Parameters
    ----------
    inhibit_rules : iterable of InhibitRule
        Default :data:`DEFAULT_INHIBIT_RULES`.
    silences : iterable of Silence
        Initial silences; more with :meth:`silence`.
    release_delay_ms : int
        A held alert is released only once it has not been suppressed for this long
        (default 0, as Alertmanager). A workload alert caused by a provider outage often
        outlives the outage alert by a few minutes (its SLO windows take time to clear);
        a delay keeps that tail of the incident from reaching operators.

    Examples
    --------
    >>> d = Dispatcher(silences=[Silence(matchers={"entity_id": "p1"}, starts_at_ms=0,
    ...                                  ends_at_ms=2 * 10**12)])
    >>> d.tick(10**12), len(d.silences)
    ([], 1)
    """

    def __init__(
        self,
        inhibit_rules: Iterable[InhibitRule] = DEFAULT_INHIBIT_RULES,
        silences: Iterable[Silence] = (),
        release_delay_ms: int = 0,
    ) -> None:
        self.inhibit_rules = tuple(inhibit_rules)
        self.release_delay_ms = release_delay_ms
        self._suppressed_at: dict[str, int] = {}
        self.silences: list[Silence] = list(silences)
        self._firing: dict[str, Alert] = {}  # every firing alert, emitted or held
        self._held: dict[str, Alert] = {}  # firing alerts not told to anyone yet

    def restore(self, alerts: Iterable[Alert]) -> None:
        """Mark *alerts* as firing and already told (rebuilding after a restart)."""
        for alert in alerts:
            if alert.status is AlertStatus.FIRING:
                self._firing[alert.fingerprint] = alert

    def silence(self, silence: Silence) -> None:
        """Add a silence."""
        self.silences.append(silence)

    def suppressed(self, alert: Alert, now_ms: int) -> bool:
        """Whether *alert* is inhibited by a firing alert or muted by a silence now."""
        if any(s.mutes(alert.labels, now_ms) for s in self.silences):
            return True
        return any(
            rule.inhibits(src.labels, alert.labels)
            for src in self._firing.values()
            if src.fingerprint != alert.fingerprint
            for rule in self.inhibit_rules
        )

    def process(self, alert: Alert, now_ms: int) -> list[Alert]:
        """Take one transition; return the alerts to emit now (possibly none or several)."""
        fp = alert.fingerprint
        if alert.status is AlertStatus.FIRING:
            self._firing[fp] = alert
            if self.suppressed(alert, now_ms):
                self._held[fp] = alert
                self._suppressed_at[fp] = now_ms
                return []
            self._held.pop(fp, None)
            return [alert]
        # Held alerts this one suppressed were suppressed up to now: start their delay here.
        for held_fp, held in self._held.items():
            if held_fp != fp and self.suppressed(held, now_ms):
                self._suppressed_at[held_fp] = now_ms
        self._firing.pop(fp, None)
        self._suppressed_at.pop(fp, None)
        out = [] if self._held.pop(fp, None) is not None else [alert]
        return out + self.tick(now_ms)

    def tick(self, now_ms: int) -> list[Alert]:
        """Release held alerts that are no longer suppressed; drop expired silences."""
        self.silences = [s for s in self.silences if s.ends_at_ms > now_ms]
        released = []
        for fp, alert in list(self._held.items()):
            if self.suppressed(alert, now_ms):
                self._suppressed_at[fp] = now_ms
            elif now_ms - self._suppressed_at.get(fp, now_ms) >= self.release_delay_ms:
                released.append(alert)
                del self._held[fp]
                self._suppressed_at.pop(fp, None)
        return released

    @property
    def held(self) -> list[Alert]:
        """Firing alerts currently held back."""
        return list(self._held.values())
