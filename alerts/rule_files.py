"""Rules files: YAML documents (or a folder of them) validated into alert rules.

:func:`parse_rules` validates an already-parsed document; :func:`load_rules` reads a file
or every ``*.yaml`` of a folder (the only I/O of :mod:`alerts` besides the budget book).
Errors name the file, the rule index and the field (:class:`~alerts.rules.RuleError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from alerts.rule_base import DURATION_KEYS
from alerts.rules import RULE_KINDS, Rule, RuleError

__all__ = ["load_rules", "parse_rules"]


def _format_errors(exc: ValidationError) -> tuple[str, str | None]:
    """Summarise a pydantic error as ``"field: msg; field2: msg"`` plus the first field."""
    parts: list[str] = []
    first: str | None = None
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "<rule>"
        first = first or field
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{field}: {msg}")
    return "; ".join(parts), first


def _bare_durations(raw: Mapping[str, Any], prefix: str = "") -> str | None:
    """The first duration key holding a bare number (other than 0), dotted, or None."""
    for key, value in raw.items():
        if isinstance(value, Mapping):
            found = _bare_durations(value, f"{prefix}{key}.")
            if found:
                return found
        elif key in DURATION_KEYS and isinstance(value, int | float) and value != 0:
            return f"{prefix}{key}"
    return None


def _rule_label(raw: object) -> str:
    name = raw.get("name") if isinstance(raw, Mapping) else None
    return f" ({name})" if isinstance(name, str) and name else ""


def _rule_list(data: Any, source: str, path: Path | None) -> list[Any]:
    """The ``rules`` list of a document, or a :class:`RuleError` saying what is wrong."""
    if not isinstance(data, Mapping) or "rules" not in data:
        raise RuleError(f"{source}: expected a mapping with a 'rules' list", path=path)
    extra = sorted(str(k) for k in data if k != "rules")
    if extra:
        raise RuleError(
            f"{source}: unknown top-level key(s) {extra}; only 'rules' is allowed", path=path
        )
    raw_rules = data["rules"]
    if raw_rules is None:
        raw_rules = []  # "rules:" with nothing under it is an empty list in intent
    if not isinstance(raw_rules, list):
        raise RuleError(
            f"{source}: 'rules' must be a list, got {type(raw_rules).__name__}",
            path=path,
            field="rules",
        )
    return raw_rules


def _parse_rule(raw: Mapping[str, Any], where: str, path: Path | None, index: int) -> Rule:
    """One rule of a document, validated as its ``kind`` (default ``threshold``)."""
    bare = _bare_durations(raw)
    if bare:
        raise RuleError(
            f"{where}: {bare}: a duration needs a unit, e.g. 5m, 30s or 1h",
            path=path,
            index=index,
            field=bare,
        )
    kind = raw.get("kind", "threshold")
    model = RULE_KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise RuleError(
            f"{where}: kind: {kind!r} is not one of {sorted(RULE_KINDS)}",
            path=path,
            index=index,
            field="kind",
        )
    try:
        rule: Rule = model.model_validate(raw)  # type: ignore[assignment]
    except ValidationError as exc:
        summary, field = _format_errors(exc)
        raise RuleError(f"{where}: {summary}", path=path, index=index, field=field) from exc
    return rule


def parse_rules(data: Any, *, source: str = "<rules>", path: Path | None = None) -> list[Rule]:
    """Validate an already-parsed ``{"rules": [...]}`` document.

    Split from :func:`load_rules` so callers with rules from elsewhere (tests, a config
    service) get the same validation and error messages without touching the filesystem.

    Parameters
    ----------
    data : Any
        The parsed document.
    source : str
        Name used as the message prefix, normally the file path.
    path : Path or None
        Stored on raised :class:`RuleError` instances.

    Returns
    -------
    list of ThresholdRule

    Raises
    ------
    RuleError
        On any structural or validation problem, or when two rules would produce the same
        label set (and therefore the same fingerprints and state-table keys).

    Examples
    --------
    >>> rules = parse_rules({"rules": [{"name": "T", "metric": "error_rate", "op": ">",
    ...                                 "threshold": 0.1, "severity": "warning"}]})
    >>> [r.name for r in rules]
    ['T']
    >>> parse_rules({"rules": [{"name": "T", "metric": "error_rate", "op": "=",
    ...                         "threshold": 0.1, "severity": "warning"}]})
    Traceback (most recent call last):
      ...
    alerts.rules.RuleError: <rules>: rules[0] (T): op: Input should be '>', '>=', '<' or '<='
    """
    rules: list[Rule] = []
    seen: dict[tuple[tuple[str, str], ...], int] = {}
    for index, raw in enumerate(_rule_list(data, source, path)):
        where = f"{source}: rules[{index}]{_rule_label(raw)}"
        if not isinstance(raw, Mapping):
            raise RuleError(
                f"{where}: expected a mapping, got {type(raw).__name__}", path=path, index=index
            )
        rule = _parse_rule(raw, where, path, index)
        # Label-set identity is fingerprint identity: two such rules would fight over one
        # state-table entry per entity, so reject the file rather than flap alerts.
        identity = tuple(sorted(rule.alert_labels("").items()))
        if identity in seen:
            raise RuleError(
                f"{where}: same name, entity_type, severity and labels as rules[{seen[identity]}]",
                path=path,
                index=index,
                field="name",
            )
        seen[identity] = index
        rules.append(rule)
    return rules


def load_rules(path: Path) -> list[Rule]:
    """Load and validate a YAML rules file of the form ``{rules: [...]}``, or a folder.

    A folder loads every ``*.yaml`` in it (sorted by name); a rule identity defined in two
    files is an error naming both.

    Parameters
    ----------
    path : Path
        The YAML file; the only I/O in :mod:`alerts`.

    Returns
    -------
    list of ThresholdRule
        In file order.

    Raises
    ------
    RuleError
        If the file cannot be read, is not valid YAML, or any rule is invalid; the message
        names the file, the rule index and the field.

    Examples
    --------
    >>> from alerts.rules import DEFAULT_RULES_PATH
    >>> [r.name for r in load_rules(DEFAULT_RULES_PATH)]
    ['GpuTemperatureHigh']
    """
    path = Path(path)
    if path.is_dir():
        return _load_folder(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleError(f"{path}: cannot read rules file: {exc}", path=path) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleError(f"{path}: invalid YAML: {exc}", path=path) from exc
    return parse_rules(data, source=str(path), path=path)


def _load_folder(folder: Path) -> list[Rule]:
    """Every ``*.yaml`` file of *folder* (sorted), rejecting one identity in two files."""
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise RuleError(f"{folder}: no *.yaml rules files in this folder", path=folder)
    rules: list[Rule] = []
    seen: dict[tuple[tuple[str, str], ...], Path] = {}
    for file in files:
        for index, rule in enumerate(load_rules(file)):
            identity = tuple(sorted(rule.alert_labels("").items()))
            if identity in seen:
                raise RuleError(
                    f"{file}: rules[{index}] ({rule.name}): same name, entity_type, severity "
                    f"and labels as a rule in {seen[identity]}",
                    path=file,
                    index=index,
                    field="name",
                )
            seen[identity] = file
            rules.append(rule)
    return rules
