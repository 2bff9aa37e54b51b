"""Shared fixtures: every test gets its own data home; daemons it starts are stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def cli_path() -> list[str]:
    script = Path(sys.executable).parent / "agent-agency-cli"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "agent_agency_cli.cli.main"]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An isolated data home ($AGENT_AGENCY_HOME) for every test."""
    h = tmp_path / "home"
    h.mkdir(mode=0o700)  # a data home must be private (paths.ensure_private_home)
    monkeypatch.setenv("AGENT_AGENCY_HOME", str(h))
    monkeypatch.delenv("AGENT_AGENCY_CONFIG", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    yield h
    _kill_daemon(h)


def _kill_daemon(home: Path) -> None:
    info_path = home / "daemon.json"
    try:
        info = json.loads(info_path.read_text())
    except (OSError, ValueError):
        return
    pid = info.get("pid")
    if not pid:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    """Running and not a zombie (this machine's init does not reap orphans)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class CLI:
    """Runs the real `agent-agency-cli` executable against the test's home."""

    def __init__(self, home: Path):
        self.home = home
        self.base = cli_path()

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env["AGENT_AGENCY_HOME"] = str(self.home)
        env.update(extra)
        return env

    def __call__(
        self, *args: str, timeout: float = 60, input: str | None = None, **env: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.base, *args], capture_output=True, text=True, timeout=timeout,
            env=self.env(**env), input=input, cwd=str(ROOT),
        )

    def popen(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*self.base, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=self.env(**env), cwd=str(ROOT),
        )

    def json(self, *args: str) -> object:
        res = self(*args, "--json")
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)


@pytest.fixture
def cli(home: Path) -> CLI:
    return CLI(home)


@pytest.fixture
def write_plan(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a plan YAML (and optionally helper modules) into tmp_path."""

    def write(text: str, name: str = "plan.yaml") -> Path:
        p = tmp_path / name
        p.write_text(text)
        return p

    return write


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.02) -> object:
    """Poll until predicate() is truthy; fail the test with a clear message otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")
