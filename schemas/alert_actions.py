"""What operators do to alerts: acknowledge one, or silence every alert matching labels."""

from enum import StrEnum
from typing import Self

from pydantic import model_validator

from schemas.base import Id, NonEmptyStr, Record, TsMs

__all__ = ["AlertAction", "AlertActionKind"]


class AlertActionKind(StrEnum):
    """The operator action an :class:`AlertAction` records.

    Examples
    --------
    >>> AlertActionKind("silence") is AlertActionKind.SILENCE
    True
    """

    ACKNOWLEDGE = "acknowledge"
    SILENCE = "silence"


class AlertAction(Record):
    """An operator's acknowledgement of one alert, or a silence of matching alerts.

    Key on ``perf.alert_actions``: the fingerprint for an acknowledgement, the
    ``action_id`` for a silence.

    Attributes
    ----------
    action_id : Id
        Unique id of the action (the silence id for silences).
    ts_ms : int
        When the action was taken, UTC epoch milliseconds.
    kind : AlertActionKind
        Acknowledgement or silence.
    fingerprint : str or None
        The acknowledged alert; required for acknowledgements.
    matchers : dict[str, str]
        Label equality matchers of a silence (all must match); required for silences.
    ends_at_ms : int or None
        End of a silence, after ``ts_ms``; required for silences.
    actor : str
        Who acted.
    comment : str
        Why.

    Examples
    --------
    >>> s = AlertAction(action_id="sil-1", ts_ms=1_700_000_000_000, kind="silence",
    ...                 matchers={"provider_id": "prov-1"}, ends_at_ms=1_700_003_600_000,
    ...                 actor="ops")
    >>> s.matches({"alertname": "GpuHot", "provider_id": "prov-1"}, 1_700_000_001_000)
    True
    """

    action_id: Id
    ts_ms: TsMs
    kind: AlertActionKind
    fingerprint: Id | None = None
    matchers: dict[str, str] = {}
    ends_at_ms: TsMs | None = None
    actor: NonEmptyStr
    comment: str = ""

    @model_validator(mode="after")
    def _check_kind(self) -> Self:
        if self.kind is AlertActionKind.ACKNOWLEDGE and not self.fingerprint:
            raise ValueError("an acknowledgement needs the alert's fingerprint")
        if self.kind is AlertActionKind.SILENCE:
            if not self.matchers:
                raise ValueError("a silence needs at least one label matcher")
            if self.ends_at_ms is None or self.ends_at_ms <= self.ts_ms:
                raise ValueError("a silence needs ends_at_ms after ts_ms")
        return self

    def matches(self, labels: dict[str, str], now_ms: int) -> bool:
        """Whether this silence is active at ``now_ms`` and matches ``labels``."""
        if self.kind is not AlertActionKind.SILENCE or self.ends_at_ms is None:
            return False
        active = self.ts_ms <= now_ms < self.ends_at_ms
        return active and all(labels.get(k) == v for k, v in self.matchers.items())
