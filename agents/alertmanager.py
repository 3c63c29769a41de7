"""Push alerts to an Alertmanager's v2 API (``POST /api/v2/alerts``): best effort.

The topic ``perf.alerts`` is the durable record; this client forwards each transition so
operators who use Alertmanager get routing, grouping and receivers for free. A firing
alert is sent with ``endsAt = now + firing_ttl_s`` and re-sent by :meth:`resend_firing`
(a worker timer) so Alertmanager keeps it active, as Prometheus does; a resolved alert
carries its real ``endsAt`` and is dropped from the re-send set. Failures are logged and
counted, never raised: a down Alertmanager must not stop the alert stream.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp

from schemas import Alert, AlertStatus
from schemas.alerts import ms_to_rfc3339

log = logging.getLogger(__name__)

__all__ = ["AlertmanagerClient", "alertmanager_payload"]


def alertmanager_payload(alert: Alert, now_ms: int, firing_ttl_s: float) -> dict[str, Any]:
    """One element of the v2 body: firing alerts get ``endsAt`` in the future.

    >>> from schemas import alert_fingerprint
    >>> labels = {"alertname": "Hot", "entity_id": "p1"}
    >>> a = Alert(fingerprint=alert_fingerprint(labels), status="firing", labels=labels,
    ...           starts_at_ms=1_700_000_000_000, severity="warning")
    >>> body = alertmanager_payload(a, 1_700_000_060_000, 3600)
    >>> body["endsAt"], "generatorURL" in body
    ('2023-11-14T23:14:20.000Z', False)
    """
    payload = alert.to_alertmanager()
    if alert.status is AlertStatus.FIRING:
        payload["endsAt"] = ms_to_rfc3339(now_ms + int(firing_ttl_s * 1000))
    if not payload.get("generatorURL"):
        payload.pop("generatorURL", None)  # the API validates it as a URI when present
    return payload


class AlertmanagerClient:
    """Best-effort client of one Alertmanager (or an HA pair behind one URL)."""

    def __init__(self, url: str, *, firing_ttl_s: float = 3600.0, timeout_s: float = 5.0):
        self.url = url.rstrip("/") + "/api/v2/alerts"
        self.firing_ttl_s = firing_ttl_s
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.firing: dict[str, Alert] = {}
        self.failures = 0
        self._session: aiohttp.ClientSession | None = None

    async def push(self, alerts: list[Alert]) -> bool:
        """Send transitions; remember firing ones for re-sending. True on HTTP 200."""
        for alert in alerts:
            if alert.status is AlertStatus.FIRING:
                self.firing[alert.fingerprint] = alert
            else:
                self.firing.pop(alert.fingerprint, None)
        return await self._post(alerts)

    async def resend_firing(self) -> bool:
        """Re-send every firing alert so Alertmanager does not time it out."""
        return await self._post(list(self.firing.values())) if self.firing else True

    async def _post(self, alerts: list[Alert]) -> bool:
        now_ms = int(time.time() * 1000)
        body = [alertmanager_payload(a, now_ms, self.firing_ttl_s) for a in alerts]
        try:
            if self._session is None or self._session.closed:
                self._session = aiohttp.ClientSession(timeout=self.timeout)
            async with self._session.post(self.url, json=body) as response:
                if response.status == 200:
                    return True
                text = await response.text()
                log.warning("alertmanager %s answered %s: %s", self.url, response.status, text)
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("cannot reach alertmanager %s: %r", self.url, exc)
        self.failures += 1
        return False

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
