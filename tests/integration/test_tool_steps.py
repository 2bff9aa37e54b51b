"""Tool steps against real MCP servers: mcp-server-time and mcp-server-git from PyPI over
stdio, and the tests' own MCPServer (tests/integration/mcp_fixtures/server.py) over stdio and
streamable HTTP on 127.0.0.1 — through the real CLI, daemon and SQLite."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import yaml
from typer.testing import CliRunner

from agent_agency_cli.cli.main import app
from tests.conftest import wait_for

SERVER = Path(__file__).resolve().parent / "mcp_fixtures" / "server.py"
PY = sys.executable


def server_processes(tag: str) -> list[psutil.Process]:
    """Live (not zombie) processes whose command line (--tag) or $AGENCY_TEST_MARK carries `tag`."""
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        try:
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if tag in " ".join(p.info["cmdline"] or []) or p.environ().get("AGENCY_TEST_MARK") == tag:
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def write_config(home: Path, servers: dict, **extra: object) -> None:
    (home / "config.yaml").write_text(yaml.safe_dump({"mcp_servers": servers, **extra}))


def own_server(tag: str, **extra: object) -> dict:
    return {"command": PY, "args": [str(SERVER), "--stdio", "--tag", tag], **extra}


def result(cli, tid: str) -> dict:
    """Steps of `task result` by name (it exits with the task's exit code)."""
    return {s["name"]: s for s in json.loads(cli("task", "result", tid, "--json").stdout)["steps"]}


def status(cli, tid: str) -> dict:
    return cli.json("task", "status", tid)


@pytest.fixture
def mark() -> str:
    return f"agency-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=Test", "-c", "user.email=test@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "README").write_text("hello\n")
    subprocess.run([*git, "add", "README"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first commit made by the test"], check=True)
    return repo


@pytest.fixture
def http_server() -> Iterator[tuple[str, str]]:
    """The tests' MCP server over streamable HTTP, requiring a bearer token: (url, token)."""
    token = uuid.uuid4().hex
    proc = subprocess.Popen([PY, str(SERVER)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "MCP_TEST_TOKEN": token})
    try:
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}/mcp", token
    finally:
        proc.terminate()
        proc.wait(10)


# -- PyPI servers over stdio -----------------------------------------------------------------


def test_time_and_git_steps_chain_outputs_and_leave_no_server_running(cli, home, write_plan, git_repo, mark):
    env = {"AGENCY_TEST_MARK": "MARK"}  # each server's environment carries the test's mark
    write_config(home, {
        "time": {"command": PY, "args": ["-m", "mcp_server_time", "--local-timezone", "UTC"], "env": env},
        "git": {"command": PY, "args": ["-m", "mcp_server_git", "--repository", str(git_repo)], "env": env},
    })
    plan = write_plan(f"""
steps:
  - name: now
    tool: time/get_current_time
    arguments: {{timezone: Europe/Paris}}
  - name: convert
    needs: [now]
    tool: time/convert_time
    arguments:
      source_timezone: "{{{{ steps.now.output.timezone }}}}"
      time: "12:00"
      target_timezone: Asia/Tokyo
  - name: history
    tool: git/git_log
    arguments: {{repo_path: "{git_repo}", max_count: 5}}
  - name: status
    needs: [history]
    tool: git/git_status
    arguments: {{repo_path: "{git_repo}"}}
""")
    res = cli("task", "create", "--plan", str(plan), "-d", "time and git", "--wait", MARK=mark, timeout=120)
    assert res.returncode == 0, res.stderr
    tid = cli.json("task", "list")[0]["id"]
    steps = result(cli, tid)
    assert steps["now"]["result"]["timezone"] == "Europe/Paris"
    assert steps["convert"]["result"]["source"]["timezone"] == "Europe/Paris"  # the templated argument
    assert steps["convert"]["result"]["target"]["timezone"] == "Asia/Tokyo"
    assert "first commit made by the test" in json.dumps(steps["history"]["result"])
    assert "working tree clean" in json.dumps(steps["status"]["result"])
    log = cli("task", "logs", tid, "--step", "now").stdout
    assert "Europe/Paris" in log and "tool time/get_current_time" in log
    # The daemon is still running: the task's sessions are closed and their servers gone.
    assert cli("daemon", "status").returncode == 0
    wait_for(lambda: not server_processes(mark), timeout=15)
    with sqlite3.connect(home / "agency.db") as conn:
        rows = conn.execute("SELECT kind, target, executor, success FROM learning_records ORDER BY target").fetchall()
    assert rows == [("tool", "git/git_log", "git", 1), ("tool", "git/git_status", "git", 1),
                    ("tool", "time/convert_time", "time", 1), ("tool", "time/get_current_time", "time", 1)]


# -- sessions: reuse, idle close while paused, cancel --------------------------------------


def test_one_session_per_task_closed_while_paused_and_reopened(cli, home, write_plan, tmp_path, mark):
    write_config(home, {"own": own_server(mark, idle_close="300ms")})
    go = tmp_path / "go"
    plan = write_plan(f"""
steps:
  - {{name: c1, tool: own/count}}
  - {{name: c2, tool: own/count, needs: [c1]}}
  - {{name: hold, needs: [c2], run: "while [ ! -e {go} ]; do sleep 0.02; done"}}
  - {{name: c3, tool: own/count, needs: [hold]}}
""")
    tid = cli("task", "create", "--plan", str(plan), "-d", "sessions").stdout.strip()
    wait_for(lambda: {s["name"]: s["status"] for s in status(cli, tid)["steps"]}["hold"] == "running", timeout=30)
    assert cli("task", "pause", tid).returncode == 0
    # Paused for longer than idle_close: the session is closed, its server process gone.
    wait_for(lambda: not server_processes(mark), timeout=15)
    assert cli("task", "resume", tid).returncode == 0
    go.write_text("")
    wait_for(lambda: status(cli, tid)["status"] == "completed", timeout=30)
    steps = result(cli, tid)
    c1, c2, c3 = (steps[n]["result"] for n in ("c1", "c2", "c3"))
    assert (c1["calls"], c2["calls"]) == (1, 2) and c1["pid"] == c2["pid"]  # one session for both
    assert c3["calls"] == 1 and c3["pid"] != c1["pid"]  # reopened after the pause
    wait_for(lambda: not server_processes(mark), timeout=15)


def test_cancel_during_a_call_stops_the_server(cli, home, write_plan, mark):
    write_config(home, {"own": own_server(mark)})
    plan = write_plan("steps:\n  - {name: wait, tool: own/slow, arguments: {seconds: 120}}\n")
    tid = cli("task", "create", "--plan", str(plan), "-d", "cancel me").stdout.strip()
    wait_for(lambda: server_processes(mark) and status(cli, tid)["steps"][0]["status"] == "running", timeout=30)
    assert cli("task", "cancel", tid, "--reason", "enough").returncode == 0
    wait_for(lambda: status(cli, tid)["status"] == "cancelled", timeout=20)
    wait_for(lambda: not server_processes(mark), timeout=15)


# -- streamable HTTP, headers from the environment, failures, timeouts, breakers ------------


def test_http_server_tools_list_reads_headers_from_the_environment(home, http_server, monkeypatch):
    url, token = http_server
    write_config(home, {"web": {"url": url, "headers": {"Authorization": "WEB_AUTH"}}})
    runner = CliRunner()
    monkeypatch.delenv("WEB_AUTH", raising=False)
    res = runner.invoke(app, ["tools", "list"])
    assert res.exit_code == 1
    assert "error: MCP server 'web': header Authorization reads $WEB_AUTH, which is not set" in res.output
    assert "Traceback" not in res.output
    monkeypatch.setenv("WEB_AUTH", "Bearer wrong")
    res = runner.invoke(app, ["tools", "list", "--server", "web"])
    assert res.exit_code == 1 and "MCP server 'web' did not start" in res.output
    assert len([ln for ln in res.output.splitlines() if ln.startswith("error:")]) == 2  # why, and the summary
    monkeypatch.setenv("WEB_AUTH", f"Bearer {token}")
    res = runner.invoke(app, ["tools", "list", "--json"])
    assert res.exit_code == 0, res.output
    [web] = json.loads(res.stdout)
    tools = {t["name"]: t for t in web["tools"]}
    assert web["ok"] and set(tools) == {"add", "count", "slow", "fail"}
    assert tools["add"]["annotations"]["read_only_hint"] is True
    assert tools["add"]["input_schema"]["required"] == ["a", "b"]
    res = runner.invoke(app, ["tools", "list"])
    assert "web/add\tread-only\ta:integer* b:integer*\tAdd two numbers." in res.stdout.splitlines()


def test_http_tool_steps_fail_retry_time_out_and_trip_the_breaker(cli, home, write_plan, http_server):
    url, token = http_server
    write_config(home, {"web": {"url": url, "headers": {"Authorization": "WEB_AUTH"}}},
                 recovery={"breakers": {"failure_threshold": 3, "recovery_timeout": "1h"}})
    env = {"WEB_AUTH": f"Bearer {token}"}
    plan = write_plan("""
steps:
  - {name: add, tool: web/add, arguments: {a: 2, b: 3}}
  - name: boom
    needs: [add]
    tool: web/fail
    arguments: {message: "boom from {{ steps.add.output.sum }}"}
    retries: {attempts: 1, initial: 10ms}
""")
    res = cli("task", "create", "--plan", str(plan), "-d", "fails", "--foreground", **env)
    assert res.returncode == 1
    tid = cli.json("task", "list")[0]["id"]
    steps = result(cli, tid)
    assert steps["add"]["result"] == {"sum": 5}, (steps["add"].get("status"), steps["add"].get("reason"))
    assert steps["boom"]["status"] == "failed" and steps["boom"]["attempt"] == 2  # the retry ladder applied
    assert "boom from 5" in steps["boom"]["reason"]
    slow = write_plan("steps:\n  - {name: slow, tool: web/slow, arguments: {seconds: 60}, timeout: 300ms}\n",
                      "slow.yaml")
    res = cli("task", "create", "--plan", str(slow), "-d", "slow", "--foreground", **env)
    assert res.returncode == 1
    [slow_step] = status(cli, cli.json("task", "list")[0]["id"])["steps"]
    assert "0.3s" in slow_step["reason"]
    breakers = {b["name"]: b for b in cli.json("breakers", "list")}
    assert breakers["mcp:web"]["state"] == "open"  # 3 failures of the server's calls
    res = cli("task", "create", "--plan", str(slow), "-d", "slow", "--foreground", **env)
    assert res.returncode == 1
    [step] = status(cli, cli.json("task", "list")[0]["id"])["steps"]
    assert "circuit" in step["reason"]


# -- governance and bad input ----------------------------------------------------------------


def test_strict_mode_shows_the_tool_and_its_arguments(cli, home, write_plan, mark):
    write_config(home, {"own": own_server(mark)})
    plan = write_plan("steps:\n  - {name: sum, tool: own/add, arguments: {a: 20, b: 22}}\n")
    tid = cli("task", "create", "--plan", str(plan), "-d", "strict tool", "--mode", "strict").stdout.strip()
    wait_for(lambda: status(cli, tid)["status"] == "awaiting_approval", timeout=20)
    assert status(cli, tid)["approval"]["command"] == 'own/add {"a": 20, "b": 22}'
    assert not server_processes(mark), "the server started before the call was approved"
    assert cli("task", "approve", tid).returncode == 0
    wait_for(lambda: status(cli, tid)["status"] == "completed", timeout=30)
    assert result(cli, tid)["sum"]["result"] == {"sum": 42}


def test_bad_tool_input_is_one_line_and_stores_nothing(home, write_plan):
    write_config(home, {"time": {"command": PY, "args": ["-m", "mcp_server_time"]},
                        "broken": {"command": str(home / "no-such-server")}})
    runner = CliRunner()
    cases = [
        ("steps:\n  - {name: a, tool: nowhere/x}\n", "unknown MCP server 'nowhere' (configured: broken, time)"),
        ('steps:\n  - {name: a, tool: time/t, arguments: {zone: "UTC; rm -rf /etc"}}\n',
         "recursive delete of a top-level system directory"),
        ("steps:\n  - {name: a, tool: time/t, arguments: {zone: '{{ steps.b.output }}'}}\n", "names no step"),
    ]
    for text, expected in cases:
        res = runner.invoke(app, ["task", "create", "--plan", str(write_plan(text)), "-d", "bad", "--no-start"])
        assert res.exit_code == 2, res.output
        assert expected in res.output and "Traceback" not in res.output
        assert len(res.output.strip().splitlines()) == 1
    assert json.loads(runner.invoke(app, ["task", "list", "--json"]).stdout) == []
    res = runner.invoke(app, ["tools", "list", "--server", "broken"])
    assert res.exit_code == 1
    assert f"error: MCP server 'broken' did not start: command not found: {home / 'no-such-server'}" in res.output
    res = runner.invoke(app, ["tools", "list", "--server", "nope"])
    assert res.exit_code == 3 and "no MCP server named 'nope' (configured: broken, time)" in res.output


# -- the shipped example ------------------------------------------------------------------------


def test_tool_steps_example_runs(cli):
    from tests.conftest import EXAMPLES

    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # mcp-server-time
    res = cli("--config", str(EXAMPLES / "mcp-servers.yaml"), "task", "create", "--plan",
              str(EXAMPLES / "tool-steps.yaml"), "--wait", PATH=path, timeout=120)
    assert res.returncode == 0, res.stderr
    tid = cli.json("task", "list")[0]["id"]
    steps = result(cli, tid)
    assert steps["tokyo"]["result"]["source"]["timezone"] == "Europe/Paris"
    assert steps["tokyo"]["result"]["target"]["datetime"].endswith("+09:00")
