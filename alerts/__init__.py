"""Pure alert-rule core: threshold rules, their YAML loader and the alert state machine.

Nothing in this package performs I/O (except :func:`load_rules`, which reads the path it is
given), reads the clock, or imports stream/Kafka/metrics libraries; the stream processor
stores :class:`AlertState` per fingerprint and publishes the :class:`schemas.Alert` values
that :func:`evaluate` returns.

Examples
--------
>>> [rule.name for rule in load_rules(DEFAULT_RULES_PATH)]
['GpuTemperatureHigh']
"""

from alerts.rules import DEFAULT_RULES_PATH, RuleError, ThresholdRule, load_rules, parse_rules
from alerts.state import AlertState, Phase, evaluate

__all__ = [
    "DEFAULT_RULES_PATH",
    "AlertState",
    "Phase",
    "RuleError",
    "ThresholdRule",
    "evaluate",
    "load_rules",
    "parse_rules",
]
