"""Performance prediction: batch model, online residual correction, conformal intervals.

:class:`PerformancePredictor` predicts one positive target of a workload on a provider:
``throughput`` (every workload type) or ``latency_ms`` (serving workloads' request
latency); one instance per target, same code and features
(:mod:`models.prediction_features`). It has three layers, each fixing what the one
before cannot:

1. a batch model (scikit-learn ``HistGradientBoostingRegressor`` on the log target)
   trained from history: what a workload type, size and GPU model give in general;
2. an online correction of the log residual, score first then learn: a River running
   mean per provider (what this host does differently: silicon, cooling, drivers,
   sharing), shrunk towards zero while few are seen; and, for a workload already running,
   a River exponentially weighted mean of its own recent residuals (its model and batch
   size, and the demand it currently serves), shrunk towards the provider's;
3. split-conformal intervals per workload type (Mondrian conformal), calibrated on runs
   the batch model never saw, with the online correction running exactly as it will in
   use, so the interval covers ``1 - alpha`` of future observations.

Models are saved with a format version, their target and the digest of their
:class:`FeatureSpec`; :meth:`PerformancePredictor.load` refuses a file of another
version, target or spec with :class:`ModelVersionError`. The payload is a pickle
(scikit-learn's own persistence): load only files you produced.

The figures on simulated runs, and a pinned one on a tiny fixed input, are in
:mod:`evaluation.prediction`.
"""

from __future__ import annotations

import json
import math
import pickle  # nosec B403: scikit-learn models persist as pickles; see load()
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import sklearn
from river import stats
from sklearn.ensemble import HistGradientBoostingRegressor
from threadpoolctl import threadpool_limits

from models.prediction_features import TARGETS, Example, FeatureSpec, as_arrays

__all__ = ["MODEL_FORMAT_VERSION", "ModelVersionError", "PerformancePredictor", "Prediction"]

#: Version of the saved-model layout; files of another version are refused.
MODEL_FORMAT_VERSION = 2
_MAGIC = b"computeperf-performance-predictor\n"


class ModelVersionError(ValueError):
    """A saved model is of another format version, target, feature spec or scikit-learn."""


@dataclass(frozen=True, slots=True)
class Prediction:
    """Predicted value (throughput in the workload type's unit, or latency in ms) and its
    conformal interval."""

    value: float
    low: float
    high: float


class PerformancePredictor:
    """Predicts a workload's throughput or latency on a provider, with calibrated intervals.

    Parameters
    ----------
    spec : FeatureSpec
        Feature definition; saved with the model.
    target : str
        What is predicted, one of :data:`~models.prediction_features.TARGETS`; the
        examples given to :meth:`fit` must observe the same target.
    alpha : float
        Miscoverage of the intervals (0.1 gives 90 % intervals).
    seed : int
        Seed of the batch model.
    shrinkage : float
        Residuals a provider needs before its correction counts half.
    workload_shrinkage : float
        Residuals a workload needs before its own recent residual counts half.
    fading_factor : float
        Weight of the newest residual in a workload's exponentially weighted mean.
    max_iter : int
        Boosting iterations.

    Examples
    --------
    :mod:`evaluation.prediction` fits one on simulated runs.
    """

    def __init__(
        self,
        spec: FeatureSpec,
        *,
        target: str = "throughput",
        alpha: float = 0.1,
        seed: int = 0,
        shrinkage: float = 5.0,
        workload_shrinkage: float = 1.0,
        fading_factor: float = 0.3,
        max_iter: int = 300,
    ) -> None:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {alpha}")
        if target not in TARGETS:
            raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
        self.spec = spec
        self.target = target
        self.alpha = alpha
        self.seed = seed
        self.shrinkage = shrinkage
        self.workload_shrinkage = workload_shrinkage
        self.fading_factor = fading_factor
        self.max_iter = max_iter
        self._model: HistGradientBoostingRegressor | None = None
        self._residuals: dict[str, stats.Mean] = {}
        self._recent: dict[str, tuple[int, stats.EWMean]] = {}  # per workload: count, mean
        # Conformal half-width in log space per (workload type, whether the workload's own
        # history was used): a new placement is less certain than a running workload.
        self._radius: dict[tuple[str, bool], float] = {}

    # ------------------------------------------------------------------ training
    def fit(self, train: Sequence[Example], calibration: Sequence[Example]) -> Self:
        """Fit the batch model on ``train`` and the intervals on ``calibration``.

        ``calibration`` must come from other providers (other runs) than ``train``, in
        event-time order: it is replayed through the online correction like live data.
        """
        if not train or not calibration:
            raise ValueError("fit needs non-empty train and calibration examples")
        x, y = as_arrays(train)
        model = HistGradientBoostingRegressor(
            max_iter=self.max_iter,
            learning_rate=0.1,
            max_leaf_nodes=31,
            early_stopping=False,  # deterministic and no hidden validation split
            random_state=self.seed,
        )
        with _one_thread():
            self._model = model.fit(x, y)
        self._radius = {}
        scores: dict[tuple[str, bool], list[float]] = {}
        # Two replays: as running workloads (own history), then as new placements.
        for use_history in (True, False):
            self.reset_online()
            replayed = self._replay(calibration, use_history)
            for example, (log_pred, known) in zip(calibration, replayed, strict=True):
                error = abs(math.log(example.value) - log_pred)
                scores.setdefault((example.group, known), []).append(error)
        self._radius = {k: _conformal_quantile(v, self.alpha) for k, v in scores.items()}
        # Provider and workload state from calibration does not carry over to deployment.
        self.reset_online()
        return self

    # ------------------------------------------------------------------ inference
    def predict_one(
        self, x: Sequence[float], key: str, group: str, workload_id: str = ""
    ) -> Prediction:
        """Prediction for one query.

        ``key`` is the provider id, ``group`` the workload type; ``workload_id`` names a
        workload already running there (empty for a placement not made yet).
        """
        base = self._predict_base(np.asarray([x], dtype=np.float64))[0]
        correction, known = self._correction(key, workload_id)
        return self._interval(base + correction, group, known)

    def predict_many(
        self, x: np.ndarray, keys: Sequence[str], groups: Sequence[str]
    ) -> list[Prediction]:
        """Predictions for rows ``x`` as new placements (provider history only).

        One call of the batch model for all rows: what a placement batch needs, where
        :meth:`predict_one` per candidate pair would cost a model call each.
        """
        if len(x) == 0:
            return []
        base = self._predict_base(np.asarray(x, dtype=np.float64))
        return [
            self._interval(b + self._correction(key, "")[0], group, False)
            for b, key, group in zip(base, keys, groups, strict=True)
        ]

    def learn_one(self, x: Sequence[float], key: str, value: float, workload_id: str = "") -> None:
        """Learn from one observed target value on provider ``key`` (after predicting it)."""
        if not value > 0:
            return
        base = self._predict_base(np.asarray([x], dtype=np.float64))[0]
        self._learn_residual(key, workload_id, math.log(value) - base)

    def predict_sequential(
        self, examples: Sequence[Example], use_workload_history: bool = True
    ) -> list[Prediction]:
        """Predict each example, then learn it (prequential), in the given order.

        With ``use_workload_history=False`` every prediction is made as for a new
        placement (provider history only), which is what a placement decision sees.
        """
        return [
            self._interval(log_pred, e.group, known)
            for e, (log_pred, known) in zip(
                examples, self._replay(examples, use_workload_history), strict=True
            )
        ]

    def reset_online(self) -> None:
        """Forget every provider's and workload's residuals (the batch model stays)."""
        self._residuals = {}
        self._recent = {}

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write the model: a magic line, a JSON header line, then the pickled state."""
        header = {
            "format_version": MODEL_FORMAT_VERSION,
            "target": self.target,
            "spec_digest": self.spec.digest(),
            "spec": self.spec.to_json(),
            "sklearn_version": sklearn.__version__,
        }
        payload = pickle.dumps(self.__dict__, protocol=pickle.HIGHEST_PROTOCOL)
        # Written aside and renamed, so a crash never leaves a truncated model behind.
        target = Path(path)
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(_MAGIC + json.dumps(header).encode() + b"\n" + payload)
        partial.replace(target)

    @classmethod
    def load(
        cls,
        path: str | Path,
        expected_spec: FeatureSpec | None = None,
        expected_target: str | None = None,
    ) -> Self:
        """Read a model saved by :meth:`save`; check its header before unpickling."""
        blob = Path(path).read_bytes()
        if not blob.startswith(_MAGIC):
            raise ModelVersionError(f"{path} is not a computeperf performance model")
        head, _, payload = blob[len(_MAGIC) :].partition(b"\n")
        header: dict[str, Any] = json.loads(head)
        if header.get("format_version") != MODEL_FORMAT_VERSION:
            raise ModelVersionError(
                f"{path}: model format version {header.get('format_version')!r}, this code "
                f"reads version {MODEL_FORMAT_VERSION}; retrain the model"
            )
        if header.get("sklearn_version") != sklearn.__version__:
            raise ModelVersionError(
                f"{path}: saved with scikit-learn {header.get('sklearn_version')}, "
                f"running {sklearn.__version__}; retrain the model"
            )
        if expected_target is not None and header.get("target") != expected_target:
            raise ModelVersionError(
                f"{path}: predicts {header.get('target')!r}, expected {expected_target!r}"
            )
        if expected_spec is not None and header.get("spec_digest") != expected_spec.digest():
            raise ModelVersionError(
                f"{path}: feature spec {header.get('spec_digest')} differs from the expected "
                f"{expected_spec.digest()}; retrain the model"
            )
        state = pickle.loads(payload)  # noqa: S301  # nosec B301: header checked, own files
        model = cls.__new__(cls)
        model.__dict__.update(state)
        if model.spec.digest() != header.get("spec_digest"):
            raise ModelVersionError(f"{path}: feature spec digest does not match its content")
        return model

    # ------------------------------------------------------------------ internals
    def _fitted(self) -> HistGradientBoostingRegressor:
        if self._model is None:
            raise RuntimeError("PerformancePredictor is not fitted; call fit() first")
        return self._model

    def predict_batch_only(self, x: np.ndarray) -> np.ndarray:
        """Target value of the batch model alone (no online correction) for rows ``x``."""
        out: np.ndarray = np.exp(np.asarray(self._predict_base(x), dtype=np.float64))
        return out

    def _predict_base(self, x: np.ndarray) -> list[float]:
        with _one_thread():
            out: list[float] = self._fitted().predict(x).tolist()
        return out

    def _learn_residual(self, key: str, workload_id: str, residual: float) -> None:
        self._residuals.setdefault(key, stats.Mean()).update(residual)
        if workload_id:
            n, mean = self._recent.get(workload_id, (0, stats.EWMean(self.fading_factor)))
            mean.update(residual)
            self._recent[workload_id] = (n + 1, mean)

    def _correction(self, key: str, workload_id: str) -> tuple[float, bool]:
        """Log correction, and whether the workload's own history went into it."""
        mean = self._residuals.get(key)
        provider = 0.0
        if mean is not None and mean.n > 0:
            provider = float(mean.n / (mean.n + self.shrinkage) * mean.get())
        n, recent = self._recent.get(workload_id, (0, None)) if workload_id else (0, None)
        if recent is None or n == 0:
            return provider, False
        weight = n / (n + self.workload_shrinkage)
        return float(weight * recent.get() + (1.0 - weight) * provider), True

    def _interval(self, log_pred: float, group: str, known: bool) -> Prediction:
        # An unseen group falls back to the widest calibrated radius (never too narrow).
        radius = self._radius.get((group, known), max(self._radius.values(), default=math.inf))
        return Prediction(
            value=math.exp(log_pred),
            low=math.exp(log_pred - radius),
            high=math.exp(log_pred + radius) if math.isfinite(radius) else math.inf,
        )

    def _replay(self, examples: Sequence[Example], use_history: bool) -> list[tuple[float, bool]]:
        """Corrected log predictions (and whether workload history was used), learning
        each example after predicting it."""
        if not examples:
            return []
        x, y = as_arrays(examples)
        base = self._predict_base(x)
        out: list[tuple[float, bool]] = []
        for e, b, target in zip(examples, base, y.tolist(), strict=True):
            workload_id = e.workload_id if use_history else ""
            correction, known = self._correction(e.key, workload_id)
            out.append((b + correction, known))
            self._learn_residual(e.key, workload_id, target - b)
        return out


def _one_thread() -> Any:
    # scikit-learn's OpenMP threads made fitting 3-10x slower on small shared machines
    # (oversubscription); one thread is fast enough here and bit-for-bit reproducible.
    return threadpool_limits(limits=1)


def _conformal_quantile(scores: Sequence[float], alpha: float) -> float:
    """Split-conformal radius: the ceil((n + 1)(1 - alpha))-th smallest score."""
    ordered = sorted(scores)
    rank = math.ceil((len(ordered) + 1) * (1.0 - alpha))
    return math.inf if rank > len(ordered) else ordered[rank - 1]
