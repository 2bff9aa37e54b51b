"""Fixtures shared by the unit tests: every test gets its own data home."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point $AGENT_AGENCY_HOME at a fresh temp dir and drop any $AGENT_AGENCY_CONFIG.

    Self-contained so the unit tests stay isolated whatever tests/conftest.py does.
    """
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)  # tests/conftest.py may have made it already
    monkeypatch.setenv("AGENT_AGENCY_HOME", str(home))
    monkeypatch.delenv("AGENT_AGENCY_CONFIG", raising=False)
    return home


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[..., Path]:
    """write_file("name.yaml", text) -> path; the text is dedented."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return _write
