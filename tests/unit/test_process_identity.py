"""Recovery signals only processes that carry the step's markers, home included
(issue 12, item 4): a reused pid or group id, or another home's step, is left alone."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_agency_cli.engine.process import home_marker, kill_step_processes, step_markers


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen]]:
    started: list[subprocess.Popen] = []
    yield started
    for p in started:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=10)


def _sleeper(procs: list[subprocess.Popen], env: dict[str, str] | None = None) -> subprocess.Popen:
    p = subprocess.Popen(["sleep", "500"], start_new_session=True, env=env)
    procs.append(p)
    return p


def test_an_unrelated_process_on_a_reused_group_id_is_not_killed(procs, tmp_path: Path):
    attempt_started = time.time() - 5  # the attempt began before the unrelated process
    unrelated = _sleeper(procs)  # what `setsid sleep 500` by someone else looks like
    killed = kill_step_processes("abc123", "build", os.getpgid(unrelated.pid), attempt_started,
                                 home_marker(tmp_path))
    assert killed == 0
    assert unrelated.poll() is None, "recovery killed a process that was not the step's"


def test_a_step_of_another_home_is_not_killed_but_its_own_home_kills_it(procs, tmp_path: Path):
    home_a, home_b = tmp_path / "a", tmp_path / "b"
    home_a.mkdir()
    home_b.mkdir()
    assert home_marker(home_a) != home_marker(home_b)
    env = {**os.environ, **step_markers(home_marker(home_a), "abc123", "build")}
    started = time.time() - 1
    step_proc = _sleeper(procs, env)
    pgid = os.getpgid(step_proc.pid)
    # Home b has a task with the same 6-hex id and step name: its recovery must not touch it.
    assert kill_step_processes("abc123", "build", pgid, started, home_marker(home_b)) == 0
    assert step_proc.poll() is None
    assert kill_step_processes("abc123", "build", pgid, started, home_marker(home_a)) >= 1
    assert step_proc.wait(timeout=10) == -9
