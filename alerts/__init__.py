"""Pure alert core: rules as data, the alert lifecycle, inhibition, SLOs, cost and budgets.

Nothing in this package performs I/O (except :func:`load_rules`, which reads the path it is
given), reads the clock, or imports stream/Kafka/HTTP/metrics libraries. The stream
processor stores :class:`AlertState` per fingerprint and publishes the
:class:`schemas.Alert` values the evaluation functions return.

Examples
--------
>>> [rule.name for rule in load_rules(DEFAULT_RULES_PATH)]
['GpuTemperatureHigh']
>>> sorted({r.kind for r in load_rules(DEFAULT_RULES_PATH.parent)})
['absent', 'anomaly', 'budget', 'burn_rate', 'threshold']
"""

from alerts.inhibition import DEFAULT_INHIBIT_RULES, Dispatcher, InhibitRule
from alerts.lifecycle import Observation, advance
from alerts.rule_base import FlapPolicy, RuleBase
from alerts.rule_files import load_rules, parse_rules
from alerts.rules import DEFAULT_RULES_PATH, RULE_KINDS, Rule, RuleError, ThresholdRule
from alerts.signal_rules import AbsenceRule, AnomalyRule, BudgetRule, BurnRateRule
from alerts.silences import Silence
from alerts.state import (
    AlertState,
    Phase,
    evaluate,
    evaluate_absence,
    evaluate_anomaly,
    evaluate_quiet,
)

__all__ = [
    "DEFAULT_INHIBIT_RULES",
    "DEFAULT_RULES_PATH",
    "RULE_KINDS",
    "AbsenceRule",
    "AlertState",
    "AnomalyRule",
    "BudgetRule",
    "BurnRateRule",
    "Dispatcher",
    "FlapPolicy",
    "InhibitRule",
    "Observation",
    "Phase",
    "Rule",
    "RuleBase",
    "RuleError",
    "Silence",
    "ThresholdRule",
    "advance",
    "evaluate",
    "evaluate_absence",
    "evaluate_anomaly",
    "evaluate_quiet",
    "load_rules",
    "parse_rules",
]
