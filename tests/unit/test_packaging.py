"""Packaging: one version source, the extras the code relies on, optional GPU support."""

from __future__ import annotations

import sys
import tomllib
from importlib.metadata import requires, version
from pathlib import Path

import pytest
from typer.testing import CliRunner

import agent_agency_cli
from agent_agency_cli.cli.main import app

PYPROJECT = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())


def test_version_comes_from_the_package_metadata():
    assert agent_agency_cli.__version__ == version("agent-agency-cli") == PYPROJECT["project"]["version"]


def test_dash_dash_version_prints_the_metadata_version():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"agent-agency-cli {version('agent-agency-cli')}"


def test_textual_is_pinned_to_the_major_version_of_the_snapshots():
    deps = PYPROJECT["project"]["dependencies"]
    assert "textual>=8,<9" in deps
    assert int(version("textual").split(".")[0]) == 8


def test_nvml_is_an_optional_gpu_extra():
    assert not any(d.startswith("nvidia-ml-py") for d in PYPROJECT["project"]["dependencies"])
    assert any(d.startswith("nvidia-ml-py") for d in PYPROJECT["project"]["optional-dependencies"]["gpu"])


def test_dev_includes_the_gates_extra_instead_of_repeating_it():
    extras = PYPROJECT["project"]["optional-dependencies"]
    own = [d for d in extras["dev"] if d.startswith("agent-agency-cli[")]
    assert own and "gates" in own[0].split("[")[1].rstrip("]").split(","), extras["dev"]
    gate_tools = {d.split(">")[0] for d in extras["gates"]}
    assert not gate_tools & {d.split(">")[0] for d in extras["dev"]}
    # the installed metadata says the same (so `pip install -e '.[dev]'` brings ruff and bandit)
    assert any("gates" in r for r in requires("agent-agency-cli") or [])


def test_without_nvml_the_machine_simply_has_no_gpus(monkeypatch: pytest.MonkeyPatch):
    from agent_agency_cli.engine.metrics import _Nvml
    from agent_agency_cli.workers import detect_gpus, local_worker

    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    assert detect_gpus() == []
    worker = local_worker()
    assert worker.gpus == 0 and not {"gpu", "cuda"} & worker.capabilities
    assert _Nvml().available() is False
