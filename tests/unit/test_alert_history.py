"""Alert history selection and episodes (the pure part of `computeperf alerts history`)."""

from __future__ import annotations

import pytest

from alerts.history import episodes, select
from schemas import Alert, AlertStatus, alert_fingerprint

T0 = 1_700_000_000_000
MIN = 60_000


def alert(entity: str, status: str, start: int, end: int | None = None, name: str = "Hot") -> Alert:
    labels = {"alertname": name, "entity_type": "provider", "entity_id": entity}
    return Alert(
        fingerprint=alert_fingerprint(labels),
        status=AlertStatus(status),
        labels=labels,
        starts_at_ms=T0 + start * MIN,
        ends_at_ms=None if end is None else T0 + end * MIN,
        severity="warning",
    )


LOG = [
    alert("p1", "firing", 0),
    alert("p2", "firing", 5),
    alert("p1", "resolved", 0, 10),
    alert("p1", "firing", 30),
    alert("p1", "firing", 30),  # an at-least-once replay
    alert("p2", "resolved", 5, 8),
]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"entity_id": "p1"}, [0, 2, 3, 4]),
        ({"entity_id": "p2"}, [1, 5]),
        ({"entity_id": "p1", "since_ms": T0 + 11 * MIN}, [3, 4]),  # [0, 10] is over
        # p2's episode ended at 8 min: neither its firing nor its resolution is selected
        ({"since_ms": T0 + 9 * MIN, "until_ms": T0 + 20 * MIN}, [0, 2]),
        ({"until_ms": T0 + 5 * MIN}, [0, 2]),
        ({"alertname": "Other"}, []),
    ],
)
def test_select(kwargs: dict[str, object], expected: list[int]) -> None:
    assert select(LOG, **kwargs) == [LOG[i] for i in expected]  # type: ignore[arg-type]


def test_episodes_pair_transitions_and_collapse_replays() -> None:
    found = episodes(LOG)
    assert [(e.labels["entity_id"], e.starts_at_ms, e.ends_at_ms) for e in found] == [
        ("p1", T0, T0 + 10 * MIN),
        ("p2", T0 + 5 * MIN, T0 + 8 * MIN),
        ("p1", T0 + 30 * MIN, None),
    ]
    assert episodes([*LOG, LOG[2]]) == found  # a replayed resolution changes nothing
