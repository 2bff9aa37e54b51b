"""A shell step's process on the event loop, with as few hand-offs as possible.

`anyio.open_process` builds, per process, a transport, a protocol and a stream per pipe,
and the step read each pipe in its own task: about a dozen callbacks and task switches
per step before any work (issue 13: shell steps cost 1.7x a bare asyncio spawn on a
quiet machine). Here the process is a plain `Popen` in its own session; one reader
callback serves both pipes (`loop.add_reader`) and the exit is one more readable fd
(a pidfd, Linux 5.3+), so a step that prints nothing costs three callbacks: two EOFs
and the exit. Without pidfds the exit is waited for in a worker thread.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence

import anyio

from agent_agency_cli.procgroup import LIVE_LEADERS, NEW_SESSION, signal_group

READ_SIZE = 65536


class LoopProcess:
    """One child process, its stdout and stderr fed to `on_output(stream, data)` as they
    arrive ("out" / "err"; `data == b""` once that pipe is at its end)."""

    def __init__(self, argv: Sequence[str], *, cwd: str, env: Mapping[str, str],
                 on_output: Callable[[str, bytes], None]):
        # Raises what Popen raises (FileNotFoundError, PermissionError, OSError): nothing to
        # clean up then.
        self.proc = subprocess.Popen(
            list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, bufsize=0, close_fds=True, **NEW_SESSION,
        )
        self.pid = self.proc.pid
        LIVE_LEADERS.add(self.pid)
        self._loop = asyncio.get_running_loop()
        self._on_output = on_output
        self._error: BaseException | None = None  # raised by on_output: re-raised by wait()
        # asyncio's events: anyio's cost a backend lookup each, and this runs on asyncio only
        self._exited = asyncio.Event()
        self._drained = asyncio.Event()
        self._pipes: dict[int, tuple[str, object]] = {}
        for name, fh in (("out", self.proc.stdout), ("err", self.proc.stderr)):
            assert fh is not None
            fd = fh.fileno()
            os.set_blocking(fd, False)
            self._pipes[fd] = (name, fh)
            self._loop.add_reader(fd, self._readable, fd)
        self._pidfd: int | None = None
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # no pidfds here: a thread waits (see wait)
            pass
        else:
            self._loop.add_reader(self._pidfd, self._reap)

    # -- loop callbacks -------------------------------------------------------

    def _readable(self, fd: int) -> None:
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        name = self._pipes[fd][0]
        if data:
            try:
                self._on_output(name, data)
            except BaseException as exc:  # e.g. the log's disk failed in a way it cannot absorb
                self._error = self._error or exc
                self._close_pipe(fd)
            return
        self._close_pipe(fd)
        try:
            self._on_output(name, b"")
        except BaseException as exc:
            self._error = self._error or exc

    def _close_pipe(self, fd: int) -> None:
        entry = self._pipes.pop(fd, None)
        if entry is None:
            return
        self._loop.remove_reader(fd)
        entry[1].close()  # type: ignore[attr-defined]
        if not self._pipes:
            self._drained.set()

    def _reap(self) -> None:
        if self.proc.poll() is None:
            return  # not yet (a pidfd is readable only once the process has exited)
        LIVE_LEADERS.discard(self.pid)
        self._close_pidfd()
        self._exited.set()

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    # -- awaiting -------------------------------------------------------------

    async def exited(self) -> None:
        """Return once the leader has exited (and been reaped)."""
        if self._pidfd is None and self.proc.returncode is None:
            await anyio.to_thread.run_sync(self.proc.wait, abandon_on_cancel=True)
            LIVE_LEADERS.discard(self.pid)
            self._exited.set()
        await self._exited.wait()

    async def wait(self) -> int:
        """The leader's exit status (negative: killed by that signal); raises what reading
        its output raised."""
        await self.exited()
        self._raise_error()
        rc = self.proc.returncode
        assert rc is not None
        return rc

    async def drained(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for both pipes to reach their end; True if they did."""
        with anyio.move_on_after(timeout):
            await self._drained.wait()
        self._raise_error()
        return self._drained.is_set()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Stop reading and release the fds; a leader still running (the wait was cancelled)
        is killed with its group, and reaped by subprocess when it exits."""
        for fd in list(self._pipes):
            self._close_pipe(fd)
        if self.proc.returncode is None and self.proc.poll() is None:
            signal_group(self.pid, signal.SIGKILL)
        LIVE_LEADERS.discard(self.pid)  # reaped, or killed: never a process to look into
        self._close_pidfd()
