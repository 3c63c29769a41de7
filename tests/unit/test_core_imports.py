"""The pure core imports no stream, Kafka or metrics library ("pure core, thin adapters").

Each package is imported, module by module, in a fresh interpreter, so nothing that the
test session (or another test) already imported can hide or fake a dependency.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

# ``evaluation`` too: its harnesses compute figures from data handed to them; what starts
# brokers and workers to produce that data lives in ``bench/``.
PURE_PACKAGES = (
    "schemas",
    "models",
    "optimizers",
    "alerts",
    "reports",
    "workflow",
    "evaluation",
)
FORBIDDEN = ("faust", "aiokafka", "prometheus_client", "mode")
ROOT = Path(__file__).resolve().parents[2]

# Imports the package and every module under it, then reports which forbidden top-level
# packages (or any of their submodules) ended up in sys.modules.
PROBE = """
import importlib, json, pkgutil, sys

def fail(name):
    raise SystemExit(f"cannot import {name}")

names = sys.argv[1].split(",")
forbidden = sys.argv[2].split(",")
imported = []
for name in names:
    module = importlib.import_module(name)
    imported.append(module.__name__)
    if hasattr(module, "__path__"):
        for info in pkgutil.walk_packages(module.__path__, name + ".", onerror=fail):
            importlib.import_module(info.name)
            imported.append(info.name)
loaded = sorted(
    m for m in sys.modules if m.split(".")[0] in forbidden
)
print(json.dumps({"imported": imported, "loaded": loaded}))
"""


def probe(*modules: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(modules), ",".join(FORBIDDEN)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("package", PURE_PACKAGES)
def test_pure_package_imports_no_adapter_library(package: str) -> None:
    result = probe(package)
    on_disk = {
        ".".join((package, *p.relative_to(ROOT / package).with_suffix("").parts))
        for p in (ROOT / package).rglob("*.py")
        if p.name != "__init__.py"
    }
    # Every module on disk was imported (the walk did not silently miss any).
    assert result["imported"][0] == package
    assert on_disk <= set(result["imported"]), sorted(on_disk - set(result["imported"]))
    assert result["loaded"] == [], f"{package} pulls in {result['loaded']}"


def test_probe_detects_an_adapter_import() -> None:
    # The probe is not vacuous: the Faust-based agent module is reported.
    result = probe("agents.windows")
    assert "faust" in result["loaded"]
