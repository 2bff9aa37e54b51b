"""The one process-group API (agent_agency_cli.procgroup), with real processes and real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from agent_agency_cli import procgroup
from agent_agency_cli.procgroup import (
    group_alive,
    kill_marked,
    kill_orphan_group,
    spawn,
    stop_process,
    terminate_group,
    wait_group_gone,
)

# A leader that ignores SIGTERM and leaves a background child that ignores it too;
# it writes READY once both traps are set, so the test never races the shell.
STUBBORN = "trap '' TERM; (trap '' TERM; sleep 60) & echo $! > {child}; touch {ready}; wait; sleep 60"
POLITE = "(sleep 60) & echo $! > {child}; touch {ready}; wait"


def wait_for(path: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.01)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for p in started:  # never leave a process behind, whatever the test did
        procgroup.kill_group(p.pid)
        p.wait(timeout=10)


def start(procs: list[subprocess.Popen[bytes]], tmp_path: Path, script: str,
          env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], int]:
    child, ready = tmp_path / "child.pid", tmp_path / "ready"
    proc = spawn(["/bin/sh", "-c", script.format(child=child, ready=ready)], env=env)
    procs.append(proc)
    wait_for(ready)
    wait_for(child)
    return proc, int(child.read_text())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") if sys.platform.startswith("linux") else open(os.devnull) as fh:
        stat = fh.read()
    return not stat or stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_spawn_makes_the_child_lead_its_own_group(procs, tmp_path: Path):
    proc, child = start(procs, tmp_path, POLITE)
    assert os.getpgid(proc.pid) == proc.pid != os.getpgid(0)
    assert os.getpgid(child) == proc.pid  # what it starts is in the group too
    assert group_alive(proc.pid)


def test_sigterm_is_enough_for_a_polite_group(procs, tmp_path: Path):
    proc, child = start(procs, tmp_path, POLITE)
    rc = stop_process(proc, grace=5.0)
    assert rc == -signal.SIGTERM
    assert not group_alive(proc.pid) and not alive(child)


def test_a_stubborn_group_is_killed_after_the_grace_period(procs, tmp_path: Path):
    proc, child = start(procs, tmp_path, STUBBORN)
    started = time.monotonic()
    rc = stop_process(proc, grace=0.3)
    assert rc == -signal.SIGKILL
    assert time.monotonic() - started >= 0.3  # it was given the grace period first
    assert not group_alive(proc.pid) and not alive(child)  # the background child went too


def test_a_paused_group_is_woken_to_receive_sigterm(procs, tmp_path: Path):
    proc, _ = start(procs, tmp_path, POLITE)
    assert procgroup.signal_group(proc.pid, signal.SIGSTOP)
    assert stop_process(proc, grace=5.0) == -signal.SIGTERM


def test_signal_and_wait_on_a_gone_group(procs, tmp_path: Path):
    proc, _ = start(procs, tmp_path, POLITE)
    procgroup.kill_group(proc.pid)
    proc.wait(timeout=10)
    assert wait_group_gone(proc.pid, 10.0)  # zombies waiting for a reaper do not count
    assert not group_alive(proc.pid)
    assert procgroup.signal_group(2**22 + 7, signal.SIGTERM) is False  # no such group


def test_group_alive_without_proc_uses_psutil(procs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # The macOS path: no /proc. The answer must be the same.
    monkeypatch.setattr(procgroup, "_HAS_PROC", False)
    proc, _ = start(procs, tmp_path, POLITE)
    assert group_alive(proc.pid)
    stop_process(proc, grace=5.0)
    assert not group_alive(proc.pid)


def test_terminate_group_escalates_and_says_so(procs, tmp_path: Path):
    proc, child = start(procs, tmp_path, STUBBORN)
    said: list[str] = []

    async def leader_exited() -> None:
        while proc.poll() is None:
            await anyio.sleep(0.01)

    gentle = anyio.run(terminate_group, proc.pid, leader_exited, 0.3, lambda: said.append("SIGKILL"))
    assert gentle is False and said == ["SIGKILL"]
    assert proc.wait(timeout=10) == -signal.SIGKILL
    assert anyio.run(procgroup.wait_group_gone_async, proc.pid, 10.0)
    assert not alive(child)


def test_orphan_group_is_killed_but_not_an_older_process(procs, tmp_path: Path):
    proc, child = start(procs, tmp_path, POLITE)
    # A step "started" after these processes cannot own them (a recycled group id).
    assert kill_orphan_group(proc.pid, time.time() + 60) == 0
    assert group_alive(proc.pid)
    assert kill_orphan_group(proc.pid, time.time() - 60) >= 2  # the shell and its sleep (and a subshell)
    assert wait_group_gone(proc.pid, 10.0) and not alive(child)
    assert kill_orphan_group(None, None) == 0


@pytest.mark.parametrize("readable_proc", [True, False])
def test_marked_processes_are_found_by_their_environment(procs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         readable_proc: bool):
    monkeypatch.setattr(procgroup, "_HAS_PROC", readable_proc and procgroup._HAS_PROC)
    marker = {"AGENT_AGENCY_TASK_ID": f"t{os.getpid()}", "AGENT_AGENCY_STEP": "build"}
    other = {"AGENT_AGENCY_TASK_ID": f"t{os.getpid()}", "AGENT_AGENCY_STEP": "test"}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    marked, _ = start(procs, tmp_path / "a", POLITE, env={**os.environ, **marker})
    unmarked, _ = start(procs, tmp_path / "b", POLITE, env={**os.environ, **other})
    assert kill_marked(marker) >= 2  # the shell and its sleep: the environment is inherited
    assert wait_group_gone(marked.pid, 10.0)
    assert group_alive(unmarked.pid)
