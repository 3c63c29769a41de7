"""Peer-group detector: an entity against the robust distribution of its cohort.

A cohort is the set of entities that should behave alike (same GPU model and workload
type). A provider that just joined has no history of its own, but its peers do: the
peer-group detector judges it from its first window (cold start).

>>> cohort = Cohort(max_age_ms=60_000)
>>> for i, temp in enumerate([61.0, 63.0, 62.0, 60.0]):
...     cohort.update(f"prov-{i}", {"gpu_temp_c": temp}, ts_ms=0)
>>> new = PeerGroupDetector("prov-new", cohort)
>>> new.score_one({"gpu_temp_c": 62.5}, ts_ms=1_000).value < 0.1
True
>>> s = new.score_one({"gpu_temp_c": 91.0}, ts_ms=1_000)
>>> s.warm, s.value > 0.99, s.expected
(True, True, {'gpu_temp_c': 61.5})
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

from models.detectors.robust import robust_location_scale
from models.detectors.score import Score, finite_items, score_features, squash

__all__ = ["Cohort", "PeerGroupDetector"]


class Cohort:
    """Latest value of each feature of each member entity, with its event time.

    Parameters
    ----------
    max_age_ms : int
        A member's value older than this (relative to the scoring time) is ignored, so a
        provider that went offline stops shaping its peers' baseline.
    """

    def __init__(self, max_age_ms: int = 15 * 60_000) -> None:
        self.max_age_ms = max_age_ms
        self._latest: dict[str, dict[str, tuple[float, int]]] = {}

    def update(self, entity_id: str, x: Mapping[str, float], ts_ms: int) -> None:
        """Record the finite features of ``x`` as ``entity_id``'s latest values."""
        latest = self._latest.setdefault(entity_id, {})
        for name, value in finite_items(x):
            previous = latest.get(name)
            if previous is None or ts_ms >= previous[1]:
                latest[name] = (value, ts_ms)

    def peers(self, feature: str, exclude: str, now_ms: int) -> list[float]:
        """Fresh values of ``feature`` of every member but ``exclude``, by member id."""
        out = []
        for entity_id in sorted(self._latest):
            if entity_id == exclude:
                continue
            entry = self._latest[entity_id].get(feature)
            if entry is not None and now_ms - entry[1] <= self.max_age_ms:
                out.append(entry[0])
        return out


class PeerGroupDetector:
    """Robust z-score of an entity's features against its peers' latest values.

    Parameters
    ----------
    entity_id : str
        The entity scored; it is excluded from its own baseline.
    cohort : Cohort, optional
        Shared cohort state (a fresh one when omitted). :meth:`learn_one` records the
        entity's values into it.
    min_peers : int
        Fresh peer values a feature needs to be scored; with fewer for every feature
        the score is ``warm=False``.
    z_half : float
        Robust z-score that maps to 0.5.
    min_rel_scale : float
        Floor of the peer scale relative to the peer median: identical peers do not
        make every difference infinitely anomalous.
    """

    def __init__(
        self,
        entity_id: str,
        cohort: Cohort | None = None,
        min_peers: int = 3,
        z_half: float = 4.0,
        min_rel_scale: float = 0.02,
    ) -> None:
        if min_peers < 2:
            raise ValueError(f"min_peers must be >= 2, got {min_peers}")
        self.entity_id = entity_id
        self.cohort = cohort if cohort is not None else Cohort()
        self.min_peers = min_peers
        self.z_half = z_half
        self.min_rel_scale = min_rel_scale

    def score_one(self, x: Mapping[str, float], ts_ms: int) -> Score | None:
        """Score ``x`` against the peers fresh at ``ts_ms``; None without finite features."""
        return score_features(x, partial(self._judge, ts_ms))

    def _judge(self, ts_ms: int, name: str, value: float) -> tuple[float, float] | None:
        peers = self.cohort.peers(name, self.entity_id, ts_ms)
        if len(peers) < self.min_peers:
            return None
        median, scale = robust_location_scale(peers, self.min_rel_scale)
        return squash(abs(value - median) / scale, self.z_half), median

    def learn_one(self, x: Mapping[str, float], ts_ms: int) -> None:
        """Publish the entity's values to its cohort."""
        self.cohort.update(self.entity_id, x, ts_ms)
