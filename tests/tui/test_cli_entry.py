"""`task watch` and `dashboard` from the real CLI: the TUI opens on a terminal (a pty
here), `q` quits with exit 0 and leaves the task alone; without a terminal there is a
clear error (and `--plain` is unchanged)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

from tests.conftest import cli_path

ANSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()=>][0-9A-Za-z]?")


def _controlling_tty() -> None:
    """In the child: the pty becomes its terminal, so closing it hangs the TUI up (SIGHUP).
    SIGHUP gets its default action back, as in a login shell: a test run under `nohup` (or
    by a runner that ignores SIGHUP) would otherwise pass SIG_IGN on to the TUI."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _in_pty(args: list[str], home, cols: int = 80, rows: int = 24):
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = {**os.environ, "AGENT_AGENCY_HOME": str(home), "TERM": "xterm-256color"}
    proc = subprocess.Popen([*cli_path(), *args], stdin=slave, stdout=slave, stderr=slave,
                            env=env, start_new_session=True, close_fds=True,
                            preexec_fn=_controlling_tty)
    os.close(slave)
    return proc, master


class Terminal:
    """The test's side of the pty: `fd` to read and write, `hang_up()` to close it."""

    def __init__(self, fd: int):
        self.fd = fd

    def hang_up(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1  # never close the number twice: another thread may reuse it


@contextlib.contextmanager
def in_pty(args: list[str], home, cols: int = 80, rows: int = 24):
    proc, fd = _in_pty(args, home, cols, rows)
    term = Terminal(fd)
    try:
        yield proc, term
    finally:
        if proc.poll() is None:  # a failed test must not leave a TUI behind
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        term.hang_up()


def _read_until(fd: int, proc, text: str, timeout: float = 20.0) -> str:
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            seen += data
            plain = ANSI.sub(b"", seen).decode("utf-8", "replace")
            if text in plain:
                return plain
        elif proc.poll() is not None:
            break
    raise AssertionError(f"{text!r} not on the terminal; got: "
                         f"{ANSI.sub(b'', seen).decode('utf-8', 'replace')[-500:]!r}")


def _quit(fd: int, proc) -> int:
    os.write(fd, b"q")
    deadline = time.monotonic() + 15
    while proc.poll() is None and time.monotonic() < deadline:
        select.select([fd], [], [], 0.1)
        try:
            os.read(fd, 65536)
        except OSError:
            pass
    return proc.wait(timeout=5)


def test_task_watch_opens_the_tui_on_a_terminal_and_q_quits(cli, home, write_plan):
    tid = cli("task", "create", "--no-start", "--plan",
              str(write_plan("steps:\n  - name: hello\n    run: echo hi\n"))).stdout.strip()
    with in_pty(["task", "watch", tid[:4]], home) as (proc, term):
        screen = _read_until(term.fd, proc, f"{tid}  plan")  # the header: id and description
        assert "Steps" in screen and "hello" in screen and "following" in screen
        assert _quit(term.fd, proc) == 0
    assert cli.json("task", "status", tid)["status"] == "queued"  # quitting changed nothing


def test_dashboard_and_watch_without_id_open_the_overview(cli, home, write_plan):
    tid = cli("task", "create", "--no-start", "--plan",
              str(write_plan("steps:\n  - name: hello\n    run: echo hi\n"))).stdout.strip()
    for args in (["dashboard"], ["task", "watch"]):
        with in_pty(args, home) as (proc, term):
            screen = _read_until(term.fd, proc, "1 tasks")
            assert tid in screen
            assert _quit(term.fd, proc) == 0


def test_a_closed_terminal_ends_the_tui(cli, home, write_plan):
    """Like an SSH connection that drops: the TUI goes, the task stays."""
    tid = cli("task", "create", "--no-start", "--plan",
              str(write_plan("steps:\n  - name: hello\n    run: echo hi\n"))).stdout.strip()
    with in_pty(["task", "watch", tid], home) as (proc, term):
        _read_until(term.fd, proc, "following")
        term.hang_up()
        proc.wait(timeout=10)
    assert cli.json("task", "status", tid)["status"] == "queued"


def test_without_a_terminal(cli, write_plan):
    res = cli("task", "watch")
    assert res.returncode == 2 and "needs a terminal" in res.stderr
    res = cli("dashboard")
    assert res.returncode == 2 and "needs a terminal" in res.stderr
    # with an id and no terminal: one line per event until it ends (as --plain)
    tid = cli("task", "create", "--plan",
              str(write_plan("steps:\n  - name: hello\n    run: echo hi\n"))).stdout.strip()
    res = cli("task", "watch", tid, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "hello" in res.stdout and "completed" in res.stdout


def test_importing_the_cli_does_not_import_textual():
    code = ("import sys, agent_agency_cli.cli.main, agent_agency_cli.cli.task_cmd, "
            "agent_agency_cli.tui; print('textual' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
