"""LoopProcess: a shell step's process read by one callback, its exit seen through a pidfd.

Real processes on a real asyncio loop: both streams arrive whole and apart, large
output is read to the end, the exit status (and a signal) is reported, a grandchild
holding the pipes open does not hold the step, nothing leaks, and without pidfds the
exit is still seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import anyio
import pytest

from agent_agency_cli.executors.shell_process import LoopProcess
from agent_agency_cli.procgroup import LIVE_LEADERS, group_alive
from tests.conftest import wait_for


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


async def _run(argv: list[str], tmp_path: Path) -> tuple[int, dict[str, bytes], bool]:
    got: dict[str, bytes] = {"out": b"", "err": b""}
    ends: list[str] = []

    def output(stream: str, data: bytes) -> None:
        if data:
            got[stream] += data
        else:
            ends.append(stream)

    proc = LoopProcess(argv, cwd=str(tmp_path), env=dict(os.environ), on_output=output)
    assert proc.pid in LIVE_LEADERS  # a child of ours the escape check need not look into
    try:
        rc = await proc.wait()
        assert proc.pid not in LIVE_LEADERS  # reaped: its pid may be anyone's now
        drained = await proc.drained(5.0)
    finally:
        proc.close()
    if drained:
        assert sorted(ends) == ["err", "out"]  # each stream's end is told once
    return rc, got, drained


def test_both_streams_arrive_apart_with_the_exit_code(tmp_path: Path) -> None:
    script = "import sys; print('to out'); print('to err', file=sys.stderr); sys.exit(3)"
    rc, got, drained = asyncio.run(_run([sys.executable, "-c", script], tmp_path))
    assert rc == 3 and drained
    assert got == {"out": b"to out\n", "err": b"to err\n"}


def test_large_output_on_both_streams_is_read_to_the_end(tmp_path: Path) -> None:
    # 2 MiB on each stream: far more than a pipe holds, so the reads must keep up
    script = ("import sys\nfor i in range(32768):\n"
              "    sys.stdout.write('o' * 63 + '\\n'); sys.stderr.write('e' * 63 + '\\n')")
    rc, got, drained = asyncio.run(_run([sys.executable, "-c", script], tmp_path))
    assert rc == 0 and drained
    assert got["out"] == (b"o" * 63 + b"\n") * 32768
    assert got["err"] == (b"e" * 63 + b"\n") * 32768


def test_a_signal_is_a_negative_status(tmp_path: Path) -> None:
    rc, _, _ = asyncio.run(_run(["/bin/sh", "-c", "kill -KILL $$"], tmp_path))
    assert rc == -9


def test_a_grandchild_holding_the_pipes_does_not_hold_the_step(tmp_path: Path) -> None:
    """The leader exits while a process it left in another session keeps stdout open:
    drained() gives up after its timeout, and close() releases every descriptor."""
    said: list[bytes] = []

    async def main() -> tuple[int, bool, float]:
        before = _fds()
        proc = LoopProcess(["/bin/sh", "-c", "setsid sleep 30 & echo $!"], cwd=str(tmp_path),
                           env=dict(os.environ), on_output=lambda s, d: said.append(d))
        rc = await proc.wait()
        t0 = time.monotonic()
        drained = await proc.drained(0.3)
        waited = time.monotonic() - t0
        proc.close()
        assert _fds() <= before  # nothing of ours left open (another thread may close its own)
        return rc, drained, waited

    try:
        rc, drained, waited = asyncio.run(main())
    finally:
        with contextlib.suppress(ValueError, ProcessLookupError):
            os.kill(int(b"".join(said).split()[0]), signal.SIGKILL)  # the sleep it left, by its pid
    assert rc == 0 and not drained and waited >= 0.3


def test_without_pidfds_the_exit_is_waited_for_in_a_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_pidfd(pid: int) -> int:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(os, "pidfd_open", no_pidfd)
    rc, got, drained = asyncio.run(_run(["/bin/sh", "-c", "echo hi; exit 7"], tmp_path))
    assert rc == 7 and drained and got["out"] == b"hi\n"


def test_cancelled_wait_kills_the_group_and_leaks_nothing(tmp_path: Path) -> None:
    async def main() -> int:
        before = _fds()
        proc = LoopProcess(["/bin/sh", "-c", "sleep 30 & sleep 30"], cwd=str(tmp_path), env=dict(os.environ),
                           on_output=lambda s, d: None)
        with anyio.move_on_after(0.2):
            await proc.wait()
        proc.close()
        assert _fds() <= before and proc.pid not in LIVE_LEADERS
        return proc.pid

    pgid = asyncio.run(main())
    wait_for(lambda: not group_alive(pgid), timeout=10)  # close() killed the whole group


def test_an_error_while_taking_output_is_raised_by_wait(tmp_path: Path) -> None:
    def output(stream: str, data: bytes) -> None:
        if data:
            raise OSError(5, "Input/output error")

    async def main() -> None:
        proc = LoopProcess(["/bin/sh", "-c", "echo hi"], cwd=str(tmp_path), env=dict(os.environ),
                           on_output=output)
        try:
            await proc.drained(5.0)
        finally:
            proc.close()

    with pytest.raises(OSError, match="Input/output error"):
        asyncio.run(main())


def test_a_missing_program_raises_at_once(tmp_path: Path) -> None:
    async def main() -> None:
        LoopProcess(["/no/such/program"], cwd=str(tmp_path), env=dict(os.environ), on_output=lambda s, d: None)

    with pytest.raises(FileNotFoundError):
        asyncio.run(main())
