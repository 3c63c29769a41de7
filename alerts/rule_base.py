"""What every alert rule has in common: identity, labels, annotations and its lifecycle.

Each rule kind (threshold, anomaly, burn rate, budget) turns its input into a
``(breach, healthy, value)`` observation; everything after that — ``for``,
``keep_firing_for``, hysteresis, flapping, fingerprints, annotations — is shared and lives
here and in :mod:`alerts.lifecycle`.

Examples
--------
>>> from schemas import Severity
>>> base = RuleBase(name="Example", severity=Severity.WARNING, **{"for": "5m"},
...                 flap={"max_firings": 3, "within": "1h", "stable_for": "30m"})
>>> base.for_ms, base.flap.within_ms, base.alert_labels("p1")["alertname"]
(300000, 3600000, 'Example')
"""

from __future__ import annotations

import re
import string
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, field_validator

from alerts.durations import parse_duration_ms
from schemas import EntityType, Severity, alert_fingerprint

__all__ = [
    "DURATION_KEYS",
    "PLACEHOLDERS",
    "RESERVED_LABELS",
    "FlapPolicy",
    "RuleBase",
    "duration_field",
]

#: Labels the engine derives itself; a rule may not set them, otherwise two rules could
#: silently produce the same fingerprint (and share one state-table entry).
RESERVED_LABELS: Final[frozenset[str]] = frozenset(
    {"alertname", "entity_type", "entity_id", "severity"}
)

#: Placeholders an annotation template may use, all rendered by :meth:`RuleBase.render`.
PLACEHOLDERS: Final[frozenset[str]] = frozenset({"entity_id", "value", "threshold"})

# Prometheus label-name grammar, so alerts pass through Alertmanager unchanged.
LABEL_NAME: Final[re.Pattern[str]] = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


#: Keys of a rules file that hold durations; a bare number there is rejected by
#: :func:`alerts.rule_files.parse_rules` (``for: 5`` would be ambiguous), so write ``5m``.
DURATION_KEYS: Final[frozenset[str]] = frozenset(
    {
        "for",
        "keep_firing_for",
        "within",
        "stable_for",
        "long_window",
        "short_window",
        "warn_before",
        "resolve_before",
        "after",
        "change_over",
    }
)


def duration_field(value: Any) -> Any:
    """Field validator body: a duration string becomes ms, an int is already ms.

    Examples
    --------
    >>> duration_field("5m"), duration_field(1500)
    (300000, 1500)
    """
    if isinstance(value, str):
        return parse_duration_ms(value)
    return value


class FlapPolicy(BaseModel):
    """When an alert counts as flapping and how it leaves that state.

    An alert that would resolve after having fired ``max_firings`` times within
    ``within`` enters the *flapping* phase instead: it stays firing without new
    notifications and resolves once its condition has been healthy for ``stable_for``
    (its own, stricter resolve condition).

    Examples
    --------
    >>> FlapPolicy(max_firings=2, within="30m", stable_for="10m").stable_for_ms
    600000
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    max_firings: int = Field(ge=2)
    within_ms: int = Field(alias="within", gt=0)
    stable_for_ms: int = Field(alias="stable_for", gt=0)

    @field_validator("within_ms", "stable_for_ms", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        return duration_field(value)


class RuleBase(BaseModel):
    """Fields and behaviour shared by every rule kind.

    Parameters
    ----------
    name : str
        The ``alertname`` label.
    entity_type : EntityType
        The kind of entity the rule is evaluated for.
    severity : Severity
        Copied to the alert and to its ``severity`` label.
    for_windows : int
        Consecutive breaching observations needed to fire (1 = the first).
    for : duration
        Minimum time from the start of the first breaching observation to the end of the
        current one before firing, as Prometheus' ``for`` (``for_ms`` in Python).
    keep_firing_for : duration
        After the condition clears, keep firing this long (``keep_firing_for_ms``).
    resolve_windows : int
        Consecutive healthy observations needed to resolve.
    flap : FlapPolicy or None
        Flap detection, see :class:`FlapPolicy`.
    labels, annotations : dict of str to str
        Extra labels (not :data:`RESERVED_LABELS`) and annotation templates
        (``summary``, ``description``, ``runbook_url``) with ``{entity_id}``, ``{value}``
        and ``{threshold}`` placeholders.

    Examples
    --------
    >>> from schemas import Severity
    >>> r = RuleBase(name="X", severity="critical", keep_firing_for="10m")
    >>> r.keep_firing_for_ms, r.fingerprint("p1") == r.fingerprint("p1"), r.for_ms
    (600000, True, 0)
    """

    # extra="forbid" turns a typo such as ``for_window:`` in YAML into an error instead of
    # a silently ignored key that would make the rule fire on the very first window.
    model_config = ConfigDict(
        frozen=True, extra="forbid", allow_inf_nan=False, populate_by_name=True
    )

    name: str
    entity_type: EntityType = EntityType.PROVIDER
    severity: Severity
    for_windows: int = Field(default=1, ge=1)
    for_ms: int = Field(default=0, alias="for", ge=0)
    keep_firing_for_ms: int = Field(default=0, alias="keep_firing_for", ge=0)
    resolve_windows: int = Field(default=1, ge=1)
    flap: FlapPolicy | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)

    @field_validator("for_ms", "keep_firing_for_ms", mode="before")
    @classmethod
    def _parse_durations(cls, value: Any) -> Any:
        return duration_field(value)

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not LABEL_NAME.fullmatch(name):
            raise ValueError(f"name {name!r} must match {LABEL_NAME.pattern}")
        return name

    @field_validator("labels")
    @classmethod
    def _check_labels(cls, labels: dict[str, str]) -> dict[str, str]:
        for key in labels:
            if key in RESERVED_LABELS:
                raise ValueError(f"label {key!r} is reserved (set by the engine)")
            if not LABEL_NAME.fullmatch(key):
                raise ValueError(f"label name {key!r} must match {LABEL_NAME.pattern}")
        return labels

    @field_validator("annotations")
    @classmethod
    def _check_annotations(cls, annotations: dict[str, str]) -> dict[str, str]:
        # Validate templates now so that rendering inside the stream processor can never
        # raise: a bad placeholder is a config error, not a reason to crash a worker.
        for key, template in annotations.items():
            # schemas.Alert enforces the label-name grammar on annotation names too.
            if not LABEL_NAME.fullmatch(key):
                raise ValueError(f"annotation name {key!r} must match {LABEL_NAME.pattern}")
            try:
                fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
            except ValueError as exc:
                raise ValueError(f"annotation {key!r}: {exc}") from None
            unknown = [f for f in fields if f not in PLACEHOLDERS]
            if unknown:
                raise ValueError(
                    f"annotation {key!r}: unknown placeholder(s) {unknown}; "
                    f"allowed: {sorted(PLACEHOLDERS)} (write literal braces as {{{{ }}}})"
                )
            try:
                template.format(entity_id="e", value=1.0, threshold=1.0)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"annotation {key!r}: {exc}") from None
        return annotations

    @property
    def display_threshold(self) -> float:
        """The number ``{threshold}`` renders as in annotations (0 for kinds without one)."""
        return 0.0

    def alert_labels(self, entity_id: str) -> dict[str, str]:
        """The full label set of this rule's alert for *entity_id*.

        Examples
        --------
        >>> RuleBase(name="T", severity="warning", labels={"team": "gpu"}).alert_labels("p1")
        {'team': 'gpu', 'alertname': 'T', 'entity_type': 'provider', 'entity_id': 'p1', \
'severity': 'warning'}
        """
        return {
            **self.labels,
            "alertname": self.name,
            "entity_type": str(self.entity_type),
            "entity_id": entity_id,
            "severity": str(self.severity),
        }

    def fingerprint(self, entity_id: str) -> str:
        """The alert fingerprint for *entity_id*; also the key of its state-table entry."""
        return alert_fingerprint(self.alert_labels(entity_id))

    def render(self, entity_id: str, value: float) -> dict[str, str]:
        """Render the annotation templates for one entity and observed value."""
        return {
            key: template.format(entity_id=entity_id, value=value, threshold=self.display_threshold)
            for key, template in self.annotations.items()
        }
