"""OS-level helpers: process identity (pid + start time), group clean-up, resource limits."""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

import psutil


def engine_identity(pid: int | None = None) -> str:
    """"pid:start_time" — unlike a bare pid, it cannot be confused with a later process."""
    p = psutil.Process(pid or os.getpid())
    return f"{p.pid}:{p.create_time():.3f}"


def identity_alive(identity: str | None) -> bool:
    """Whether the process named by engine_identity() still runs."""
    if not identity:
        return False
    try:
        pid_s, created_s = identity.split(":", 1)
        p = psutil.Process(int(pid_s))
        return abs(p.create_time() - float(created_s)) < 0.01 and p.status() != psutil.STATUS_ZOMBIE
    except (ValueError, psutil.Error):
        return False


def kill_orphan_group(pgid: int | None, started_at: float | None) -> int:
    """SIGKILL the members of process group `pgid` that started no earlier than the step.

    The start-time check keeps a recycled group id from hitting an unrelated
    process. Returns how many processes were killed.
    """
    if not pgid:
        return 0
    killed = 0
    for proc in psutil.process_iter(["pid", "create_time"]):
        try:
            if os.getpgid(proc.pid) != pgid:
                continue
            if started_at is not None and proc.info["create_time"] < started_at - 1.0:
                continue
            os.kill(proc.pid, signal.SIGKILL)
            killed += 1
        except (ProcessLookupError, PermissionError, psutil.Error):
            continue
    return killed


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


def with_limits(argv: list[str], limits: dict[str, Any]) -> list[str]:
    """The argv that runs `argv` under a task's resource limits (max_cpu, max_memory_mb)."""
    wanted = {k: v for k, v in (limits or {}).items() if k in ("max_cpu", "max_memory_mb") and v}
    if not wanted:
        return argv
    return [sys.executable, "-S", "-c", _LAUNCHER, json.dumps(wanted), *argv]
