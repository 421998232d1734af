"""The checkout core imports only the standard library and itself (ARCHITECTURE.md)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[3] / "device" / "checkout"


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module)
    return roots


def test_every_core_module_imports_only_stdlib_or_the_core() -> None:
    offenders: list[str] = []
    for path in sorted(CORE.glob("*.py")):
        for name in _imported_roots(path):
            top = name.split(".")[0]
            if name.startswith("device.checkout") or top == "__future__":
                continue
            if top not in sys.stdlib_module_names:
                offenders.append(f"{path.name}: {name}")
    assert offenders == [], f"non-standard imports in device/checkout: {offenders}"
    assert len(list(CORE.glob("*.py"))) > 5
