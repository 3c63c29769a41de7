"""Online anomaly detectors: score first, then learn, with event time passed in.

Each detector implements :class:`Detector` (``score_one`` / ``learn_one``) and returns a
:class:`Score` whose ``warm`` flag says whether the detector could judge at all:

* :class:`RobustBaselineDetector` - rolling median / MAD per feature;
* :class:`HalfSpaceTreesDetector` - River Half-Space Trees on features scaled to [0, 1];
* :class:`ForecastResidualDetector` - River Holt-Winters residuals with a seasonal period;
* :class:`PeerGroupDetector` - an entity against its cohort (cold start);
* :class:`EnsembleDetector` - calibrated combination that protects its baseline.
"""

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
