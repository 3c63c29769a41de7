"""``computeperf rules export --format prometheus``: our rules as Prometheus rule files.

The pure core is :mod:`alerts.export`; this command loads the rules (the shipped
defaults, or ``--rules PATH``), converts them and writes YAML to stdout or ``--output``.
An invalid rules file exits 2 with the loader's message (file, rule and field).
"""

from __future__ import annotations

from pathlib import Path

import click
import yaml

__all__ = ["dump_yaml", "rules_group"]


class _BlockDumper(yaml.SafeDumper):
    """Multi-line strings (PromQL with ``or``/``and``) as readable ``|`` blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_BlockDumper.add_representer(str, _str)


def dump_yaml(document: object) -> str:
    """YAML text of *document*, keys in insertion order, multi-line strings as blocks."""
    return yaml.dump(document, Dumper=_BlockDumper, sort_keys=False, width=1000)


@click.group("rules")
def rules_group() -> None:
    """Alert rules: export them for other systems."""


@rules_group.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["prometheus"]), default="prometheus", show_default=True
)
@click.option(
    "--rules",
    "rules_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Rules file or folder of *.yaml (default: the shipped alerts/rules/default.yaml).",
)
@click.option("--window-s", type=click.IntRange(min=1), default=60, show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None)
def export_command(fmt: str, rules_path: Path | None, window_s: int, output: Path | None) -> None:
    """Write recording and alerting rules equivalent to ours (promtool-valid YAML)."""
    from alerts.export import prometheus_rules
    from alerts.rule_files import load_rules
    from alerts.rules import DEFAULT_RULES_PATH, RuleError

    try:
        rules = load_rules(rules_path or DEFAULT_RULES_PATH)
    except RuleError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from exc
    document = prometheus_rules(rules, window_ms=window_s * 1000)
    text = dump_yaml(document)
    click.echo(f"exporting {len(rules)} rule(s) as {fmt} rules", err=True)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
