"""The layers of docs/architecture.md, enforced: each package imports only the ones below it.

Every ``import`` and ``from ... import`` of every module (also inside functions, where
the command modules import lazily) is read with :mod:`ast`; an import of one of our
packages that :data:`MAY_IMPORT` does not allow fails the test with the file and line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CORES = frozenset({"models", "optimizers", "alerts", "workflow", "reports"})
# Bottom to top. A package may import the packages listed for it, and nothing else of ours.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "schemas": frozenset(),
    "config": frozenset({"schemas"}),
    "models": frozenset({"schemas", "config"}),
    "optimizers": frozenset({"schemas", "config", "models"}),
    "alerts": frozenset({"schemas", "config", "models"}),
    "workflow": frozenset({"schemas", "config", "models", "optimizers"}),
    "reports": frozenset({"schemas", "config"}),
    "sim": frozenset({"schemas", "config"} | CORES),
    "evaluation": frozenset({"schemas", "config", "sim"} | CORES),
    "infra": frozenset(),
    # Live code never imports the simulator's market or the evaluation harnesses.
    "agents": frozenset({"schemas", "config", "infra"} | CORES),
    "api": frozenset({"schemas", "config", "agents"} | CORES),
    "streams": frozenset({"schemas", "config", "sim", "infra", "agents", "api"} | CORES),
    "bench": frozenset({"schemas", "config", "sim", "evaluation", "infra", "streams", "agents"})
    | CORES,
}
MAY_IMPORT["cli"] = frozenset(MAY_IMPORT)  # the top: every command is registered in cli/


def imported_packages(path: Path) -> Iterator[tuple[str, int]]:
    """Top-level package and line of every absolute import in the file at ``path``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0], node.lineno


def layer_violations(root: Path, may_import: Mapping[str, frozenset[str]]) -> list[str]:
    """``file:line imports package`` for every import the table does not allow."""
    found = []
    for package, allowed in may_import.items():
        for path in sorted((root / package).rglob("*.py")):
            for target, line in imported_packages(path):
                if target in may_import and target != package and target not in allowed:
                    found.append(f"{path.relative_to(root)}:{line} imports {target}")
    return found


def folder_cycles(may_import: Mapping[str, frozenset[str]]) -> list[list[str]]:
    """Cycles in the allowed-imports graph (none: the table is a layering)."""
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(may_import.get(node, frozenset())):
            if nxt in path:
                cycles.append([*path[path.index(nxt) :], nxt])
            else:
                visit(nxt, [*path, nxt])

    for start in may_import:
        visit(start, [start])
    return cycles


def test_every_package_is_in_the_table() -> None:
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == set(MAY_IMPORT)


def test_the_table_is_a_layering_without_cycles() -> None:
    assert folder_cycles(MAY_IMPORT) == []


def test_no_package_imports_a_layer_above_it() -> None:
    assert layer_violations(ROOT, MAY_IMPORT) == []


def test_a_back_up_import_is_caught(tmp_path: Path) -> None:
    # A synthetic tree: a core module importing the CLI, inside a function as cli/ does.
    for package in ("models", "cli"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "models" / "fine.py").write_text("from schemas import Record\n")
    (tmp_path / "models" / "bad.py").write_text("def f():\n    from cli.main import main\n")
    (tmp_path / "cli" / "main.py").write_text("import models.fine\n")
    table = {"schemas": frozenset(), "models": MAY_IMPORT["models"], "cli": frozenset({"models"})}
    assert layer_violations(tmp_path, table) == ["models/bad.py:2 imports cli"]


@pytest.mark.parametrize(
    ("table", "cycle"),
    [({"a": frozenset({"b"}), "b": frozenset({"a"})}, ["a", "b", "a"])],
)
def test_a_cycle_in_the_table_is_caught(table: dict[str, frozenset[str]], cycle: list[str]) -> None:
    assert cycle in folder_cycles(table)
