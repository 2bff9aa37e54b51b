"""The dependency direction of DESIGN.md, checked on every import (lazy ones included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "agent_agency_cli"

# Lower layers never import higher ones; the same layer may import itself.
LAYERS: dict[str, int] = {
    "errors": 0, "models": 0, "timeutil": 0, "backoff": 0, "units": 0, "input_errors": 0,
    "change_text": 0, "step_view": 0,
    "config": 1, "paths": 1, "request": 1, "procgroup": 1,
    "store": 2,
    "planning": 3, "security": 3, "validation": 3, "council": 3, "executors": 3, "gates": 3, "workers": 3,
    "archive": 3, "notify": 3, "learning": 3,
    "engine": 4, "backends": 4,  # backends: the Ray node agent samples with the engine's TreeSampler
    "orchestrator": 5,
    "cli": 6, "tui": 6, "api": 6,
}
UI_LIBRARIES = ("typer", "rich", "textual", "click", "fastapi", "starlette", "uvicorn")


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "agent_agency_cli":
        return None
    if len(parts) == 1:
        return 0  # the package root: __version__ and lazy re-exports only
    return LAYERS[parts[1]]


def _modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if p.name != "__init__.py" or p.parent != PKG)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


def _name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    return ".".join(rel.parts).removesuffix(".__init__")


def test_every_top_level_module_has_a_layer():
    names = {p.stem if p.is_file() else p.name for p in PKG.iterdir()
             if (p.suffix == ".py" and p.stem != "__init__") or (p.is_dir() and (p / "__init__.py").exists())}
    assert names <= set(LAYERS), f"give these a layer in the test: {sorted(names - set(LAYERS))}"


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PKG)))
def test_imports_follow_the_layers(path: Path):
    me = _name(path)
    mine = _layer(me)
    assert mine is not None
    for imported in _imports(path):
        theirs = _layer(imported)
        if theirs is not None:
            assert theirs <= mine, f"{me} (layer {mine}) imports {imported} (layer {theirs})"
        elif mine < 6:
            top = imported.split(".")[0]
            assert top not in UI_LIBRARIES, f"{me} imports {imported}: only cli/tui/api may"
