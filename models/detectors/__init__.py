"""Online anomaly detectors: score first, then learn, with event time passed in.

Each detector implements :class:`Detector` (``score_one`` / ``learn_one``) and returns a
:class:`Score` whose ``warm`` flag says whether the detector could judge at all:

* :class:`RobustBaselineDetector` - rolling median / MAD per feature;
* :class:`HalfSpaceTreesDetector` - River Half-Space Trees on features scaled to [0, 1];
* :class:`ForecastResidualDetector` - River Holt-Winters residuals with a seasonal period;
* :class:`PeerGroupDetector` - an entity against its cohort (cold start);
* :class:`EnsembleDetector` - calibrated combination that protects its baseline.


Imports are lazy (PEP 562): ``computeperf detect`` starts once per file it scores, and
River and numpy cost about a second to import, so a submodule is imported only when one
of its names is first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from models.detectors.calibration import QuantileCalibrator
    from models.detectors.csv_scoring import parse_timestamp_ms, score_csv_lines
    from models.detectors.ensemble import EnsembleDetector
    from models.detectors.evaluation import Quality, evaluate
    from models.detectors.features import window_features
    from models.detectors.forecast import ForecastResidualDetector
    from models.detectors.hst import HalfSpaceTreesDetector
    from models.detectors.peer import Cohort, PeerGroupDetector
    from models.detectors.robust import RobustBaselineDetector, robust_location_scale
    from models.detectors.scaler import RangeScaler
    from models.detectors.score import Detector, Score, squash

_HOME = {
    "QuantileCalibrator": "models.detectors.calibration",
    "parse_timestamp_ms": "models.detectors.csv_scoring",
    "score_csv_lines": "models.detectors.csv_scoring",
    "EnsembleDetector": "models.detectors.ensemble",
    "Quality": "models.detectors.evaluation",
    "evaluate": "models.detectors.evaluation",
    "window_features": "models.detectors.features",
    "ForecastResidualDetector": "models.detectors.forecast",
    "HalfSpaceTreesDetector": "models.detectors.hst",
    "Cohort": "models.detectors.peer",
    "PeerGroupDetector": "models.detectors.peer",
    "RobustBaselineDetector": "models.detectors.robust",
    "robust_location_scale": "models.detectors.robust",
    "RangeScaler": "models.detectors.scaler",
    "Detector": "models.detectors.score",
    "Score": "models.detectors.score",
    "squash": "models.detectors.score",
}

__all__ = [
    "Cohort",
    "Detector",
    "EnsembleDetector",
    "ForecastResidualDetector",
    "HalfSpaceTreesDetector",
    "PeerGroupDetector",
    "Quality",
    "QuantileCalibrator",
    "RangeScaler",
    "RobustBaselineDetector",
    "Score",
    "evaluate",
    "parse_timestamp_ms",
    "robust_location_scale",
    "score_csv_lines",
    "squash",
    "window_features",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
