"""OS-level helpers: process identity (pid + start time), a dead engine's step clean-up, resource limits."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import psutil

# identity_alive lives in procgroup (from /proc, without psutil); re-exported for the engine.
from agent_agency_cli.procgroup import (
    identity_alive,  # noqa: F401
    kill_marked,
    kill_orphan_group,
)


def engine_identity(pid: int | None = None) -> str:
    """"pid:start_time" — unlike a bare pid, it cannot be confused with a later process."""
    p = psutil.Process(pid or os.getpid())
    return f"{p.pid}:{p.create_time():.3f}"


HOME_MARKER = "AGENT_AGENCY_HOME_ID"


@functools.cache
def home_marker(home: str | Path) -> str:
    """A short identity of a data home (its resolved path, hashed): the environment marker
    that keeps two homes (whose 6-hex task ids may collide) off each other's processes."""
    return _home_marker(str(home))


@functools.lru_cache(maxsize=64)  # asked for every attempt: resolving the path costs a stat per component
def _home_marker(home: str) -> str:
    return hashlib.sha256(str(Path(home).resolve()).encode()).hexdigest()[:16]


def step_markers(home_id: str, task_id: str, step: str) -> dict[str, str]:
    """The environment every process of a step carries (set at spawn, inherited)."""
    return {HOME_MARKER: home_id, "AGENT_AGENCY_TASK_ID": task_id, "AGENT_AGENCY_STEP": step}


def kill_step_processes(task_id: str, step: str, pgid: int | None, started_at: float | None,
                        home_id: str) -> int:
    """SIGKILL every process left by a step of a dead engine; returns how many.

    Two nets: the step's stored process group, and — for a crash between the
    spawn and the commit of its pid, or a child that left the group — every
    process whose environment carries the step's markers. Either way a process is
    killed only if it carries the markers (home, task, step): a pid or group id reused
    by an unrelated process is never signalled.
    """
    markers = step_markers(home_id, task_id, step)
    killed = kill_orphan_group(pgid, started_at, markers)
    return killed + kill_marked(markers)


# Run before exec in the step's own process, so the limits hold from the first
# instruction and are inherited by everything it starts (unlike setting them
# from outside after the spawn, which races with the child's own forks).
_LAUNCHER = """
import json, os, resource, sys
limits = json.loads(sys.argv[1])
mem = limits.get("max_memory_mb")
if mem:
    n = int(mem) * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (n, n))
cpu_time = limits.get("cpu_time")
if cpu_time:
    s = max(1, int(cpu_time))
    resource.setrlimit(resource.RLIMIT_CPU, (s, s + 5))
files = limits.get("open_files")
if files:
    resource.setrlimit(resource.RLIMIT_NOFILE, (int(files), int(files)))
cpus = limits.get("max_cpu")
if cpus and hasattr(os, "sched_setaffinity"):
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, cores[: max(1, min(int(cpus), len(cores)))])
try:
    os.execvp(sys.argv[2], sys.argv[2:])
except FileNotFoundError:
    sys.stderr.write("command not found: %s\\n" % sys.argv[2])
    sys.exit(127)
"""
LIMIT_KEYS = ("max_cpu", "max_memory_mb", "cpu_time", "open_files")


def with_limits(argv: list[str], limits: dict[str, Any]) -> list[str]:
    """The argv that runs `argv` under resource limits: max_cpu (cores), max_memory_mb
    (RLIMIT_AS), cpu_time (seconds, RLIMIT_CPU), open_files (RLIMIT_NOFILE)."""
    wanted = {k: v for k, v in (limits or {}).items() if k in LIMIT_KEYS and v}
    if not wanted:
        return argv
    return [sys.executable, "-S", "-c", _LAUNCHER, json.dumps(wanted), *argv]


_OOM_MARKERS = ("MemoryError", "Cannot allocate memory", "std::bad_alloc", "out of memory",
                "failed to allocate", "memory exhausted")


def explain_limit_failure(limits: dict[str, Any], exit_code: int | None, log_tail: str) -> str | None:
    """Why a limited step failed, when a limit is the likely cause (None otherwise)."""
    if exit_code is not None and exit_code in (-24, 128 + 24) and limits.get("cpu_time"):
        return f"CPU time limit {limits['cpu_time']:g}s exceeded"
    mem = limits.get("max_memory_mb")
    if mem and any(m in log_tail for m in _OOM_MARKERS):
        return f"memory limit {int(mem)}MiB exceeded"
    files = limits.get("open_files")
    if files and "Too many open files" in log_tail:
        return f"open files limit {int(files)} exceeded"
    return None
