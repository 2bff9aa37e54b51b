"""`task create` through the running daemon's submit socket answers as the local path does.

A real daemon (subprocess) serves a real Unix socket in the test's data home; its one
task slot is taken by a latched step, so the tasks created here stay queued and their
rows can be compared. Each argv shape runs twice in the same home: through the daemon
(the client in-process, the daemon over the socket) and through the local path (the
client's daemon attempt switched off). Stdout, stderr, exit code and the stored rows must
be the same but for the task ids and creation times. Shapes the daemon must decline (bad
input, dry runs, Python steps) must store nothing there and answer from the local path.
Then the faults: a daemon killed mid-request, a stale socket file, another config.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import stat
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agent_agency_cli.cli import daemon_submit, fast
from agent_agency_cli.orchestrator import TaskOrchestrator
from tests.conftest import pid_alive, wait_for, wait_status
from tests.quiet_http import QuietHTTPServer

_TRY_DAEMON = daemon_submit.try_daemon  # the real one (tests wrap it)
ONE = "steps:\n  - name: only\n    run: \"true\"\n"
SLOW = "steps:\n  - name: long\n    run: \"true\"\n    estimate: 120\n"
RISKY = "steps:\n  - name: fetch\n    run: curl -s https://example.invalid/x | sh\n"
BROKEN = "steps:\n  - name: a\n    run: true\n"
PYTHON = "steps:\n  - name: py\n    python: helper:main\n"
CONFIG = "task_execution:\n  max_concurrent_tasks: 1\n"
ALT_CONFIG = "task_execution:\n  max_concurrent_tasks: 1\n  default_mode: strict\n"


@pytest.fixture
def work(home: Path, tmp_path: Path, latch: Any) -> Iterator[Path]:
    """The config, plans in a work folder (with a sub folder), and the daemon with its
    one slot taken. Yields the work folder (the cwd of every command); afterwards the
    blocker ends, so that the daemon stops at once."""
    (home / "config.yaml").write_text(CONFIG)
    work = tmp_path / "work"
    (work / "plans").mkdir(parents=True)
    (work / "sub").mkdir()
    for name, text in (("one.yaml", ONE), ("slow.yaml", SLOW), ("risky.yaml", RISKY),
                       ("broken.yaml", BROKEN), ("py.yaml", PYTHON)):
        (work / name).write_text(text)
    (work / "helper.py").write_text("def main():\n    return 1\n")
    (work / "plans" / "a.yaml").write_text(ONE)
    (work / "plans" / "b.yaml").write_text(SLOW)
    (work / "alt.yaml").write_text(ALT_CONFIG)
    (work / "hooked.yaml").write_text(CONFIG + "notifications:\n  hooks:\n    - events: ['*']\n"
                                      "      command: \"true\"\n")
    (work / "bad-config.yaml").write_text("task_execution:\n  max_concurent_tasks: 1\n")
    gate = latch("blocker")
    with TaskOrchestrator(home=home) as orch:
        blocker = orch.submit_task({"description": "blocker", "plan": {"steps": [
            {"name": "hold", "run": gate.cmd}]}})
        wait_status(orch, blocker, "running")
    assert (home / "daemon.sock").exists()
    yield work
    gate.open()


def _run(argv: list[str], local: bool, monkeypatch: pytest.MonkeyPatch, served: list[int | None]
         ) -> tuple[int | None, str, str]:
    real = _TRY_DAEMON

    def attempt(*args: Any, **kwargs: Any) -> int | None:
        code = None if local else real(*args, **kwargs)
        served.append(code)
        return code

    monkeypatch.setattr(daemon_submit, "try_daemon", attempt)
    runner = CliRunner()
    with runner.isolation() as (out, err, _):
        code = fast.run(argv)
        sys.stdout.flush()
        sys.stderr.flush()
        return code, out.getvalue().decode(), err.getvalue().decode()


def _task_ids(home: Path) -> list[str]:
    conn = sqlite3.connect(home / "agency.db")
    try:
        return [r[0] for r in conn.execute("SELECT id FROM tasks ORDER BY rowid")]
    finally:
        conn.close()


_TIMING = re.compile(r"leaves \d+s")
_VOLATILE = {"id", "task_id", "created_at", "updated_at", "ts", "deadline", "plan_path", "started_at", "finished_at",
             "duration", "elapsed"}


def _rows(home: Path, tid: str) -> dict[str, Any]:
    """What was stored for a task, without its id and the creation times."""
    conn = sqlite3.connect(home / "agency.db")
    conn.row_factory = sqlite3.Row
    try:
        def clean(row: sqlite3.Row) -> dict[str, Any]:
            return {k: _TIMING.sub("leaves Ns", str(row[k])).replace(tid, "<ID>")
                    for k in row.keys() if k not in _VOLATILE}

        task = conn.execute("SELECT * FROM tasks WHERE id = ?", (tid,)).fetchone()
        return {
            "task": clean(task),
            "plan_path": task["plan_path"],
            "steps": [clean(r) for r in conn.execute("SELECT * FROM steps WHERE task_id = ? ORDER BY idx", (tid,))],
            "events": [clean(r) for r in conn.execute("SELECT kind, payload FROM events WHERE task_id = ? "
                                                       "ORDER BY id", (tid,))],
            "reviews": [clean(r) for r in conn.execute("SELECT kind, verdict, data FROM reviews WHERE task_id = ?",
                                                        (tid,))],
        }
    finally:
        conn.close()


def _normal(text: str, ids: list[str]) -> str:
    for tid in ids:
        text = text.replace(tid, "<ID>")
    text = _TIMING.sub("leaves Ns", text)
    return re.sub(r'"(created_at|deadline)": "[^"]*"', r'"\1": "<T>"', text)


def _once(argv: list[str], local: bool, home: Path, monkeypatch: pytest.MonkeyPatch
          ) -> tuple[tuple[int | None, str, str], list[dict[str, Any]], list[int | None]]:
    before = set(_task_ids(home))
    served: list[int | None] = []
    code, out, err = _run(argv, local, monkeypatch, served)
    new = [t for t in _task_ids(home) if t not in before]
    return (code, _normal(out, new), _normal(err, new)), [_rows(home, t) for t in new], served


# argv shapes (cwd: the work folder) the daemon serves; {ALT}: another config file.
SERVED = [
    "task|create|--plan|one.yaml",
    "task|create|-p|one.yaml|--json",
    "task|create|--plan|./sub/../one.yaml|-d|two words|--priority|urgent|--requirements|a,b",
    "task|create|--plan|one.yaml|--workdir|sub|--concurrency|2|--complexity|simple|--mode|strict",
    "task|create|--plan|one.yaml|--stakeholders|security_team,ops|--json",
    "task|create|--plan|risky.yaml",
    "task|create|--plan|risky.yaml|--json",
    "task|create|--plan|slow.yaml|--deadline|1m",
    "task|create|--plan|one.yaml|--no-start",
    "--config|alt.yaml|task|create|--plan|one.yaml|--json",
    "task|create|--plan|one.yaml|--plan|slow.yaml|--deadline|1m",
    "task|create|--plan|plans|--json",
    "task|create|--plan|plans|--plan|risky.yaml",
]
# Shapes the daemon declines (nothing stored by it): the local path answers.
DECLINED = [
    "task|create|--plan|broken.yaml",
    "task|create|--plan|missing.yaml",
    "task|create|--plan|one.yaml|--priority|asap",
    "task|create|--plan|one.yaml|--workdir|nowhere",
    "task|create|--plan|one.yaml|--mode|dry-run",
    "task|create|--plan|py.yaml|--json",
    "task|create|--plan|one.yaml|--plan|broken.yaml|--plan|slow.yaml",
    "--config|bad-config.yaml|task|create|--plan|one.yaml",
    "--config|hooked.yaml|task|create|--plan|risky.yaml",  # a command hook runs in the caller's env
]


def test_the_daemon_path_answers_as_the_local_path(home, work, monkeypatch):
    monkeypatch.chdir(work)
    for shape in SERVED + DECLINED:
        argv = shape.split("|")
        via_daemon, rows_daemon, served = _once(argv, False, home, monkeypatch)
        local, rows_local, _ = _once(argv, True, home, monkeypatch)
        assert via_daemon == local, shape
        assert rows_daemon == rows_local, shape
        if shape in SERVED:
            assert served == [via_daemon[0] or 0], f"{shape}: the daemon did not serve it"
            assert rows_daemon, shape
            assert all(r["task"]["status"] in ("queued", "awaiting_review") for r in rows_daemon), shape
        else:
            assert served == [None], f"{shape}: the daemon should have declined it"
    # Not vacuous: relative paths were resolved against the caller's cwd, the other config
    # was the caller's, and a daemon-served batch stored one task per plan.
    with TaskOrchestrator(home=home) as orch:
        tasks = [orch.get_status(t["id"]) for t in orch.list_tasks(None, None)]
    by_desc = {t["description"]: t for t in tasks}
    assert by_desc["two words"]["priority"] == "urgent"
    wd = [t for t in tasks if t.get("workdir")]
    assert wd and all(t["workdir"] == str((work / "sub").resolve()) for t in wd)
    assert sum(t["mode"] == "strict" for t in tasks) >= 4  # --mode strict and --config alt.yaml, twice each


def test_the_daemon_path_imports_nothing_heavy(home, work):
    import subprocess

    script = ("import json, sys\nsys.argv = ['agent-agency-cli', 'task', 'create', '--plan', 'one.yaml']\n"
              "from agent_agency_cli.cli.fast import main\ncode = 0\ntry:\n    main()\n"
              "except SystemExit as exc:\n    code = exc.code\n"
              "heavy = sorted(m for m in ('pydantic', 'yaml', 'typer', 'rich', 'agent_agency_cli.orchestrator',"
              " 'agent_agency_cli.config') if m in sys.modules)\n"
              "print('@@' + json.dumps([code, heavy]), file=sys.stderr)\n")
    res = subprocess.run([sys.executable, "-c", script], cwd=work, capture_output=True, text=True, timeout=60)
    line = next(ln for ln in res.stderr.splitlines() if ln.startswith("@@"))
    assert json.loads(line[2:]) == [0, []]
    tid = res.stdout.strip()
    with TaskOrchestrator(home=home) as orch:
        assert orch.get_status(tid)["plan_path"] == str(work / "one.yaml")


def test_the_socket_is_private_and_gone_after_stop(home, work, cli, latch):
    mode = os.stat(home / "daemon.sock").st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    latch("blocker").open()
    assert cli("daemon", "stop").returncode == 0
    assert not (home / "daemon.sock").exists()


def test_a_daemon_killed_mid_request_stores_the_task_once(home, work, monkeypatch):
    # The webhook is POSTed by the daemon after the commit and before its answer; the
    # server that receives it SIGKILLs the daemon. The client gets no answer, retries
    # locally with the same request id, finds the stored task and prints its id; nothing
    # is stored twice.
    monkeypatch.chdir(work)
    pid = json.loads((home / "daemon.json").read_text())["pid"]
    posts: list[dict[str, Any]] = []

    class Killer(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            os.kill(pid, signal.SIGKILL)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = QuietHTTPServer(("127.0.0.1", 0), Killer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        (home / "config.yaml").write_text(
            CONFIG + "notifications:\n  hooks:\n    - events: [awaiting_review]\n"
            f"      webhook: http://127.0.0.1:{server.server_port}/hook\n      retries: 0\n")
        before = _task_ids(home)
        served: list[int | None] = []
        code, out, err = _run(["task", "create", "--plan", "risky.yaml"], False, monkeypatch, served)
    finally:
        server.shutdown()
    wait_for(lambda: not pid_alive(pid))  # its exit closed the socket; the zombie state may lag
    assert served == [None]  # no answer came: the local path answered
    new = [t for t in _task_ids(home) if t not in before]
    assert len(new) == 1, new
    assert len(posts) == 1 and new[0] in json.dumps(posts[0])  # the retry did not notify again
    assert code == 0 and out == f"{new[0]}\n"
    assert err.startswith(f"task {new[0]} awaits a council review")
    with TaskOrchestrator(home=home) as orch:
        assert orch.get_status(new[0])["status"] == "awaiting_review"


def test_a_stale_socket_falls_back_and_a_new_daemon_serves(home, work, monkeypatch):
    monkeypatch.chdir(work)
    pid = json.loads((home / "daemon.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(pid))
    assert (home / "daemon.sock").exists()  # left behind: nobody listens on it
    served: list[int | None] = []
    before = _task_ids(home)
    code, out, err = _run(["task", "create", "--plan", "one.yaml"], False, monkeypatch, served)
    new = [t for t in _task_ids(home) if t not in before]
    assert (code, served, len(new)) == (0, [None], 1) and out == f"{new[0]}\n", err
    # The local path started a daemon (it recovers the blocker); its socket serves again.
    new_pid = json.loads((home / "daemon.json").read_text())["pid"]
    assert new_pid != pid and pid_alive(new_pid)
    code, out, _ = _run(["task", "create", "--plan", "one.yaml"], False, monkeypatch, served)
    assert code == 0 and served[-1] == 0
    assert len(_task_ids(home)) == len(before) + 2


RACED_IDLE_EXIT = r"""
import sys
from agent_agency_cli.engine import daemon, engine
from agent_agency_cli.orchestrator import TaskOrchestrator

async def decide_to_exit(self, tg, *, claim):
    # The engine found nothing to do and exits idle; just then a submit commits a task.
    with TaskOrchestrator(home=self.paths.home) as orch:
        orch.submit_task({"description": "raced the idle exit", "plan": {"steps": [
            {"name": "only", "run": "true"}]}}, start_daemon=False)

engine.Engine._control_loop = decide_to_exit
daemon.run_process()
"""


def test_a_task_stored_as_the_daemon_exits_idle_gets_a_new_daemon(home):
    import subprocess

    res = subprocess.run([sys.executable, "-c", RACED_IDLE_EXIT, "--home", str(home)], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    with TaskOrchestrator(home=home) as orch:
        tid = orch.list_tasks(None, None)[0]["id"]
        # Nobody else starts a daemon here: the exiting one handed over to a successor.
        assert orch.wait(tid, timeout=60)["status"] == "completed"
        assert orch.daemon_status() is not None


@pytest.mark.parametrize("message", [
    {"v": 99, "requests": [{"plan": "/x.yaml"}], "request_ids": ["a"]},
    {"v": 1, "requests": [{"plan": "/x.yaml", "shell": "rm -rf /"}], "request_ids": ["a"]},
    {"v": 1, "requests": [{"plan": "/x.yaml"}], "request_ids": []},
    {"v": 1, "config": "relative.yaml", "requests": [{"plan": "/x.yaml"}], "request_ids": ["a"]},
])
def test_the_daemon_declines_what_it_does_not_understand(home, work, message):
    from agent_agency_cli.orchestration import submit_protocol

    before = _task_ids(home)
    message = {**message, "requests": [{**r, "plan": str(work / "one.yaml")} for r in message["requests"]]}
    answer = daemon_submit._exchange(str(home / "daemon.sock"), message)
    assert answer is not None and set(answer) == {"fallback"}
    assert _task_ids(home) == before
    # Not a line of JSON at all: the daemon closes the connection without an answer.
    import socket

    with socket.socket(socket.AF_UNIX) as sock, submit_protocol.address(str(home / "daemon.sock")) as addr:
        sock.connect(addr)
        sock.sendall(b"not json\n")
        assert submit_protocol.receive(sock) is None
