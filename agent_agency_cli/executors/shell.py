"""Shell steps: a real process in its own process group (start_new_session).

Pause is SIGSTOP of the group, resume SIGCONT, stop is SIGTERM then SIGKILL
after a grace period. When the leader exits, what is left of its group is
killed so no step leaves processes behind.
"""

from __future__ import annotations

import codecs
import functools
import os
import re
import shlex
import signal
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agent_agency_cli.executors.base import StepLog, StepOutcome
from agent_agency_cli.executors.shell_process import LoopProcess
from agent_agency_cli.procgroup import signal_group, terminate_group, wait_group_gone_async
from agent_agency_cli.rows import StepSpec

if TYPE_CHECKING:
    from agent_agency_cli.executors.registry import AttemptContext

# A command made only of these characters means the same with or without a
# shell, so we exec it directly and save a /bin/sh per step.
_PLAIN_COMMAND = re.compile(r"^[\w \t./,:=@%+\-'\"]+$")
# Words only a shell understands: such commands always go through /bin/sh.
_SHELL_WORDS = frozenset(
    "exit cd set export unset source . eval exec alias unalias read trap ulimit umask wait "
    "shift return break continue if then else elif fi for while until do done case esac "
    "function select time local readonly declare typeset let getopts hash type command".split()
)


def command_argv(run: str | Sequence[str]) -> list[str]:
    """The argv for a plan's `run:` (a list is used as is; a string through /bin/sh if needed)."""
    if not isinstance(run, str):
        return list(run)
    return list(_string_argv(run))


@functools.lru_cache(maxsize=512)
def _string_argv(run: str) -> tuple[str, ...]:
    # every attempt asks, and the same command runs again and again (retries, a plan
    # submitted many times): split it once
    text = run.strip()
    if _PLAIN_COMMAND.match(text):
        try:
            argv = shlex.split(text)
        except ValueError:
            argv = []
        if argv and "=" not in argv[0] and argv[0] not in _SHELL_WORDS:
            return tuple(argv)
    return ("/bin/sh", "-c", run)


class ShellHandle:
    """One attempt of a shell step."""

    def __init__(
        self,
        argv: list[str],
        *,
        cwd: str,
        env: Mapping[str, str],
        log: StepLog,
        on_spawn: Callable[[int], None],
        shown: list[str] | None = None,
        display: str | None = None,
    ):
        self.argv = argv
        self.shown = shown or argv
        self.display = display
        self.cwd = cwd
        self.env = dict(env)
        self.log = log
        self.on_spawn = on_spawn
        self.pid: int | None = None
        self.proc: LoopProcess | None = None
        self._stopping = False

    async def run(self) -> StepOutcome:
        argv = self.shown
        shown = self.display or (argv[2] if argv[:2] == ["/bin/sh", "-c"] else shlex.join(argv))
        for i, text in enumerate(shown.rstrip("\n").split("\n")):
            self.log.line("sys", f"{'$' if i == 0 else '>'} {text}")
        self.log.line("sys", f"cwd {self.cwd}")
        if self._stopping:
            return StepOutcome(ok=False, reason="stopped before it started")
        decoders: dict[str, codecs.IncrementalDecoder] = {}

        def output(stream: str, data: bytes) -> None:
            decoder = decoders.get(stream)
            if decoder is None:
                decoder = decoders[stream] = codecs.getincrementaldecoder("utf-8")(errors="replace")
            text = decoder.decode(data, final=not data)
            if text:
                self.log.feed(stream, text)

        try:
            proc = LoopProcess(self.argv, cwd=self.cwd, env=self.env, on_output=output)
        except FileNotFoundError:
            # The same errno for a missing working directory as for a missing program.
            if not os.path.isdir(self.cwd):
                msg = (f"working directory {self.cwd} does not exist (deleted or moved?); "
                       "recreate it, then `task retry`")
            else:
                msg = f"command not found: {self.shown[0]}"
            self.log.line("sys", msg)
            return StepOutcome(ok=False, exit_code=127, reason=msg)
        except PermissionError:
            msg = f"permission denied: {self.shown[0]}"
            self.log.line("sys", msg)
            return StepOutcome(ok=False, exit_code=126, reason=msg)
        except (NotADirectoryError, OSError) as exc:
            msg = f"cannot start {self.shown[0]}: {exc.strerror or exc}"
            self.log.line("sys", msg)
            return StepOutcome(ok=False, exit_code=127, reason=msg)
        self.proc = proc
        self.pid = proc.pid
        try:
            self.on_spawn(proc.pid)
            if self._stopping:  # stopped while it was being started
                signal_group(proc.pid, signal.SIGKILL)
            rc = await proc.wait()
            # The leader is gone; kill what is left of its group so that no
            # child outlives the step or holds our pipes open.
            signal_group(proc.pid, signal.SIGKILL)
            if self._stopping:
                # Cancel and timeout promise that nothing is left: wait for it.
                await wait_group_gone_async(proc.pid, 2.0)
            await proc.drained(2.0)
        finally:
            proc.close()
        if rc < 0:
            reason = f"killed by {signal.Signals(-rc).name}"
        elif rc:
            reason = f"exit code {rc}"
        else:
            reason = None
        self.log.line("sys", f"exit {rc}" if rc >= 0 else reason or "")
        # The command ran and chose its exit code: a failure of the step, not of the
        # command as a dependency (126/127: the shell could not run it, which is).
        own = rc > 0 and rc not in (126, 127)
        return StepOutcome(ok=rc == 0, exit_code=rc, reason=reason, extra={"own_failure": True} if own else {})

    def pause(self) -> None:
        if self.pid is not None:
            signal_group(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.pid is not None:
            signal_group(self.pid, signal.SIGCONT)

    async def stop(self, grace: float) -> None:
        """SIGTERM the group (woken first if stopped), then SIGKILL after `grace` seconds."""
        self._stopping = True
        if self.pid is None or self.proc is None:
            return  # run() sees the flag and does not start (or kills at once)
        await terminate_group(self.pid, self.proc.exited, grace, on_kill=lambda: self.log.line(
            "sys", f"still running {grace:g}s after SIGTERM; sending SIGKILL"))


class ShellExecutor:
    """`run:` steps: a command in its own process group, under the step's limits."""

    kind = "shell"
    plan_key = "run"
    samples_processes = True

    def make_handle(self, ctx: AttemptContext) -> ShellHandle:
        argv = command_argv(ctx.spec.run or "")
        return ShellHandle(ctx.wrap_argv(argv), cwd=str(ctx.cwd), env=ctx.env, log=ctx.log,
                           on_spawn=ctx.on_spawn, shown=argv, display=ctx.display)

    def breaker_target(self, spec: StepSpec) -> tuple[str, Any]:
        return "shell", spec.run

    def describe(self, spec: StepSpec) -> str:
        run = spec.run or ""
        return run if isinstance(run, str) else " ".join(run)


EXECUTOR = ShellExecutor()
