"""Shared fixtures and helpers for every test.

- `home` (autouse): an isolated data home ($AGENT_AGENCY_HOME) per test; daemons the
  test started are stopped afterwards.
- `cli`: the real CLI. `cli(...)` runs it in-process with Typer's CliRunner (fast: no
  interpreter start) and returns a CompletedProcess-like result (returncode, stdout,
  stderr); `cli.run(...)` runs the real executable as a subprocess, for what needs a
  process of its own (signals, TTYs, import checks); `cli.popen(...)` starts one.
- `orch`: a TaskOrchestrator (the SDK) on the test's home; `wait_status` waits for a
  task's state through it instead of spawning `task status --json` in a loop.
- `latch`: a file a step waits for (`latch("go").cmd` in a plan, `.open()` in the
  test), so a test decides when a step ends instead of racing a `sleep`.
- `wait_for(predicate)`: poll until truthy, with a generous timeout.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shlex
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Every event the code under test writes (in this process, and in the daemons and CLI
# processes it starts, which inherit the environment) is checked against its payload model:
# a payload drifting from event_payloads.py fails the test that wrote it.
os.environ["AGENT_AGENCY_CHECK_EVENTS"] = "1"

# Cache the rewritten test modules (and the package's bytecode) in __pycache__ even where
# PYTHONDONTWRITEBYTECODE is set: without the cache every xdist worker parses, rewrites and
# compiles every test module again at collection, each run (~2.5 CPU-s per worker).
# Writes are atomic (pytest and importlib rename a complete file into place).
sys.dont_write_bytecode = False

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def skip_module_unless_installed(module: str, reason: str) -> None:
    """Skip the calling test module when `module` (an optional extra) is not installed.

    Unlike a module-level `pytest.importorskip`, this does not import it: every xdist worker
    collects every module, so a heavy import there (fastapi, mcp, ray) costs each worker its
    import time before the first test. The tests import what they use themselves."""
    if importlib.util.find_spec(module) is None:
        pytest.skip(reason, allow_module_level=True)


def cli_path() -> list[str]:
    script = Path(sys.executable).parent / "agent-agency-cli"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "agent_agency_cli.cli.main"]


def _cache_typer_commands() -> None:
    """Typer's CliRunner builds the whole click command tree from the app on every invoke
    (~25 ms: signatures and type hints of every command); the tests invoke the same app
    thousands of times. Build it once per app object. A click command holds no state
    between invocations (a CLI process builds it once and so does this)."""
    import typer.testing

    build = typer.testing._get_command
    built: dict[int, tuple[Any, Any]] = {}

    def get_command(app: Any) -> Any:
        hit = built.get(id(app))
        if hit is None or hit[0] is not app:
            hit = built[id(app)] = (app, build(app))
        return hit[1]

    typer.testing._get_command = get_command


_cache_typer_commands()


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: two workers per core, at most four more than the cores. Most integration
    tests wait on a daemon or a step's process rather than use a core, so one worker per
    core leaves a small machine's cores idle half the time (2 cores: 300 s with 2 workers,
    about 250 s with 4); a big machine needs only a few extra."""
    cores = len(os.sched_getaffinity(0))
    return min(2 * cores, cores + 4)


@pytest.hookimpl(tryfirst=True)  # before xdist reads the xdist_group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist with `--dist loadgroup`, the Ray tests all go to one worker, so
    one Ray cluster serves them all (tests/ray/conftest.py starts one per session).

    Long tests first, short ones last: xdist hands out work in collection order, so a long
    test collected late (the Ray group, ~40 s on one worker; the fuzz tests) would run
    alone at the end while the other workers idle. Modules stay whole (a stable sort by
    module)."""
    for item in items:
        if item.get_closest_marker("ray"):
            item.add_marker(pytest.mark.xdist_group("ray"))
    items.sort(key=_run_order)


# Modules that take longest (worker-seconds in a full run), run first; then the rest by folder.
_LONG_FIRST = ("tests/ray/", "tests/property/", "tests/integration/test_planner.py",
               "tests/integration/test_tool_steps.py", "tests/integration/test_agent_loop.py",
               "tests/integration/test_engine_loop_faults.py", "tests/integration/test_storage_faults.py",
               "tests/integration/test_concurrency.py", "tests/integration/test_recovery.py",
               "tests/api/test_openapi.py", "tests/api/test_web_monitor.py", "tests/unit/test_gates_examples.py")
_FOLDER_ORDER = ("tests/integration/", "tests/api/", "tests/tui/", "tests/unit/")


def _run_order(item: pytest.Item) -> int:
    path = item.nodeid
    for i, prefix in enumerate(_LONG_FIRST):
        if path.startswith(prefix):
            return i
    for i, prefix in enumerate(_FOLDER_ORDER):
        if path.startswith(prefix):
            return len(_LONG_FIRST) + i
    return len(_LONG_FIRST) + len(_FOLDER_ORDER)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An isolated data home ($AGENT_AGENCY_HOME) for every test."""
    h = tmp_path / "home"
    h.mkdir(mode=0o700)  # a data home must be private (paths.ensure_private_home)
    monkeypatch.setenv("AGENT_AGENCY_HOME", str(h))
    monkeypatch.delenv("AGENT_AGENCY_CONFIG", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    yield h
    stop_daemon(h)


def _is_daemon_of(pid: object, home: Path) -> bool:
    """Whether `pid` runs a daemon of this home (its command line names the home)."""
    if not isinstance(pid, int) or pid <= 1:
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    homes = {str(home).encode(), os.path.realpath(home).encode()}
    return any(a in homes for a in argv)


def stop_daemon(home: Path, timeout: float = 10.0) -> None:
    """SIGTERM the home's daemon and wait until its process is gone (so that, under
    coverage, it has saved its data); SIGKILL it if it is still there after `timeout`."""
    try:
        pid = json.loads((home / "daemon.json").read_text())["pid"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    if not _is_daemon_of(pid, home):
        return  # a planted or stale daemon.json: never signal a process that is not ours
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def all_stopped(states: list[str]) -> bool:
    """Every process of a paused step's group stopped (psutil statuses). A shell step
    vfork()s its commands: a shell caught waiting for its stopped vfork child shows
    disk-sleep (D) until resumed, and runs nothing meanwhile."""
    import psutil

    return (psutil.STATUS_STOPPED in states
            and all(s in (psutil.STATUS_STOPPED, psutil.STATUS_DISK_SLEEP) for s in states))


def pid_alive(pid: int) -> bool:
    """Running and not a zombie (this machine's init does not reap orphans)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Result(subprocess.CompletedProcess):
    """What `cli(...)` returns: the same fields as a finished subprocess."""


class CLI:
    """Runs the real `agent-agency-cli` against the test's home.

    `cli(*args)` runs in-process (CliRunner) with the working directory at the repository
    root, like the subprocess would; an unexpected exception is a traceback on stderr and
    exit code 1, as it would be for the executable. `cli.run(*args)` is the subprocess.
    """

    def __init__(self, home: Path):
        self.home = home
        self.base = cli_path()

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env["AGENT_AGENCY_HOME"] = str(self.home)
        env.update(extra)
        return env

    def __call__(self, *args: str, timeout: float = 60, input: str | None = None, **env: str) -> Result:
        from typer.testing import CliRunner

        from agent_agency_cli.cli.main import app

        del timeout  # in-process: pytest-timeout bounds the test
        runner = CliRunner()
        with contextlib.chdir(ROOT):
            res = runner.invoke(app, list(args), input=input, prog_name="agent-agency-cli",
                                env={"AGENT_AGENCY_HOME": str(self.home), **env})
        stderr = res.stderr
        if res.exception is not None and not isinstance(res.exception, SystemExit):
            stderr += "".join(traceback.format_exception(res.exception))
        return Result([*self.base, *args], res.exit_code, res.stdout, stderr)

    def run(self, *args: str, timeout: float = 60, input: str | None = None,
            **env: str) -> subprocess.CompletedProcess[str]:
        """The real executable in a subprocess."""
        return subprocess.run(
            [*self.base, *args], capture_output=True, text=True, timeout=timeout,
            env=self.env(**env), input=input, cwd=str(ROOT),
        )

    def popen(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*self.base, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=self.env(**env), cwd=str(ROOT),
        )

    def json(self, *args: str) -> Any:
        res = self(*args, "--json")
        assert res.returncode == 0, res.stderr
        return json.loads(res.stdout)

    def status(self, task_id: str) -> dict[str, Any]:
        """`task status --json` through the SDK (what the CLI prints), without a CLI run."""
        from agent_agency_cli.orchestrator import TaskOrchestrator

        with TaskOrchestrator(home=self.home) as orch:
            return orch.get_status(task_id)

    def step(self, task_id: str, name: str) -> dict[str, Any]:
        return next(s for s in self.status(task_id)["steps"] if s["name"] == name)

    def wait_status(self, task_id: str, predicate: Callable[[dict[str, Any]], object],
                    timeout: float = 30.0) -> dict[str, Any]:
        """Wait until predicate(status) holds; returns that status."""
        return wait_status_of(self.status, task_id, predicate, timeout)


@pytest.fixture
def cli(home: Path) -> CLI:
    return CLI(home)


def wait_status_of(get: Callable[[str], dict[str, Any]], task_id: str,
                   predicate: Callable[[dict[str, Any]], object], timeout: float = 30.0) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    def check() -> dict[str, Any] | None:
        status = get(task_id)
        seen[:] = [status]
        return status if predicate(status) else None

    try:
        return wait_for(check, timeout=timeout)  # type: ignore[return-value]
    except AssertionError:
        last = seen[0] if seen else {}
        steps = {s["name"]: s["status"] for s in last.get("steps", [])}
        raise AssertionError(f"task {task_id} did not reach the state within {timeout}s; "
                             f"last: {last.get('status')} {steps}") from None


def wait_status(orch: Any, task_id: str, predicate: Callable[[dict[str, Any]], object] | str,
                timeout: float = 30.0) -> dict[str, Any]:
    """Wait (through the SDK) until the task's status dict satisfies predicate, or until its
    status is the given string; returns that status."""
    if isinstance(predicate, str):
        want = predicate
        predicate = lambda s: s["status"] == want  # noqa: E731
    return wait_status_of(orch.get_status, task_id, predicate, timeout)


class Latch:
    """A file a step waits for. Put `latch.cmd` in a step's `run:`; the step blocks until
    the test calls `latch.open()` (it polls for the file every 20 ms)."""

    def __init__(self, path: Path):
        self.path = path

    @property
    def cmd(self) -> str:
        return f"while [ ! -e {shlex.quote(str(self.path))} ]; do sleep 0.02; done"

    def open(self) -> None:
        self.path.touch()


@pytest.fixture
def latch(tmp_path: Path) -> Callable[[str], Latch]:
    """latch("name") -> a Latch whose file lives in the test's tmp dir."""
    folder = tmp_path / "latches"
    folder.mkdir(exist_ok=True)
    return lambda name="go": Latch(folder / name)


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


@pytest.fixture
def orch(home: Path) -> Iterator[Any]:
    """A TaskOrchestrator (the SDK) on the test's data home."""
    from agent_agency_cli.orchestrator import TaskOrchestrator

    o = TaskOrchestrator(home=home)
    yield o
    o.close()


@pytest.fixture
def openai_server() -> Iterator[object]:
    """A local OpenAI-compatible server on 127.0.0.1 (tests/openai_server.py): script answers
    with `.script(Reply(...), model=...)`, read `.requests`; `write_config(path, server)` writes
    a config whose `models:` section points at it."""
    from tests.openai_server import OpenAIServer

    with OpenAIServer() as server:
        yield server
