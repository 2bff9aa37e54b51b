"""The dependency direction of DESIGN.md, checked on every import (lazy ones included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "agent_agency_cli"

# Lower layers never import higher ones; the same layer may import itself.
LAYERS: dict[str, int] = {
    "errors": 0, "models": 0, "timeutil": 0, "backoff": 0, "units": 0, "input_errors": 0,
    "change_text": 0, "step_view": 0, "event_kinds": 0, "responses": 0, "event_payloads": 0,
    "config": 1, "paths": 1, "request": 1, "procgroup": 1,
    "store": 2,
    "planning": 3, "security": 3, "validation": 3, "council": 3, "executors": 3, "gates": 3, "workers": 3,
    "archive_files": 3, "archive_purge": 3, "notify": 3, "learning": 3,
    "engine": 4, "backends": 4,  # backends: the Ray node agent samples with the engine's TreeSampler
    "orchestrator": 5, "orchestration": 5,
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


def _calls_named(path: Path, attr: str) -> list[int]:
    """Line numbers of every `<anything>.<attr>(...)` call in a module."""
    tree = ast.parse(path.read_text(), str(path))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == attr]


@pytest.mark.parametrize("path", [p for p in _modules() if p.relative_to(PKG).parts[0] != "store"],
                         ids=lambda p: str(p.relative_to(PKG)))
def test_no_sql_outside_the_store(path: Path):
    """SQL lives in store/: every other module goes through Store's methods."""
    for attr in ("execute", "executemany", "executescript"):
        lines = _calls_named(path, attr)
        assert not lines, f"{path.relative_to(PKG)}:{lines[0]} calls .{attr}(); add a Store method instead"


FACES = ("cli", "tui", "api")


@pytest.mark.parametrize("path", [p for p in _modules() if p.relative_to(PKG).parts[0] in FACES],
                         ids=lambda p: str(p.relative_to(PKG)))
def test_faces_use_only_the_facade(path: Path):
    """The CLI, the TUI and the API call TaskOrchestrator's methods, never its store or paths."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("store", "paths", "conn"):
            raise AssertionError(f"{path.relative_to(PKG)}:{node.lineno} reaches .{node.attr}; "
                                 "add a TaskOrchestrator method instead")


def test_the_guards_see_what_they_guard(tmp_path: Path):
    """The two checks above find what they look for (so a pass means something)."""
    probe = tmp_path / "probe.py"
    probe.write_text("def f(orch, conn):\n    conn.execute('SELECT 1')\n    return orch.store\n")
    assert _calls_named(probe, "execute") == [2]
    tree = ast.parse(probe.read_text())
    assert [n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "store"] == ["store"]
