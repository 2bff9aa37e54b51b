"""The agent loop end to end: a model step with `tools:` against the local OpenAI-compatible
test server (scripted tool calls), the tests' MCP server over stdio and the built-in
workspace tools — through the real CLI, daemon and SQLite."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import psutil
import pytest

from tests.conftest import wait_for
from tests.openai_server import OpenAIServer, Reply, write_config

SERVER = Path(__file__).resolve().parent / "mcp_fixtures" / "server.py"


def calls(*items: tuple[str, dict]) -> list[dict]:
    return [{"name": name, "arguments": args, "id": f"c{i}"} for i, (name, args) in enumerate(items)]


def config(tmp_path: Path, srv: OpenAIServer, tag: str) -> Path:
    extra = (f"mcp_servers:\n  own:\n    command: {json.dumps(sys.executable)}\n"
             f"    args: [{json.dumps(str(SERVER))}, --stdio, --tag, {tag}]\n")
    return write_config(tmp_path / "config.yaml", srv, extra=extra)


def events(cli, tid: str, kind: str) -> list[dict]:
    res = cli("task", "events", tid, "--json")
    return [e for e in map(json.loads, res.stdout.splitlines()) if e["kind"] == kind]


def tool_messages(req) -> list[str]:
    return [m["content"] for m in req.messages if m.get("role") == "tool"]


AGENT = """\
steps:
  - name: agent
    model: m1
    prompt: "Do the work: {{ description }}"
    tools: [own/*, workspace]
    max_turns: 5
"""


def test_agent_calls_tools_under_governance_and_answers(cli, openai_server, tmp_path, write_plan):
    srv = openai_server
    tag = f"agent-{uuid.uuid4().hex[:8]}"
    cfg = config(tmp_path, srv, tag)
    srv.script(
        Reply(content=None, finish_reason="tool_calls", tool_calls=calls(
            ("workspace__write_file", {"path": "notes.txt", "content": "hello"}),
            ("own__add", {"a": 2, "b": 3}))),
        Reply(content=None, finish_reason="tool_calls", tool_calls=calls(
            ("workspace__read_file", {"path": "../../escape.txt"}),
            ("workspace__run_command", {"command": "touch ran; rm -rf /etc"}),
            ("workspace__run_command", {"command": "cat notes.txt"}))),
        Reply(content="all done"),
    )
    res = cli("--config", str(cfg), "task", "create", "--plan", str(write_plan(AGENT)), "-d", "notes",
              "--foreground")
    assert res.returncode == 0, res.stderr
    tid = res.stdout.split()[0]
    status = cli.json("task", "status", tid)
    ws = Path(status["workspace"])
    assert (ws / "notes.txt").read_text() == "hello" and not (ws / "ran").exists()
    first, second, third = srv.requests[-3:]
    assert {t["function"]["name"] for t in first.body["tools"]} >= {"own__add", "workspace__run_command"}
    assert tool_messages(second)[1] == '{"sum": 5}'
    escape, critical, cat = tool_messages(third)[2:]
    assert "leaves the workspace" in escape
    assert "refused by the security scanner" in critical
    assert cat.startswith("exit code 0") and "hello" in cat
    seen = [(e["payload"]["tool"], e["payload"]["status"]) for e in events(cli, tid, "tool_call")]
    assert seen == [("workspace/write_file", "ok"), ("own/add", "ok"), ("workspace/read_file", "refused"),
                    ("workspace/run_command", "refused"), ("workspace/run_command", "ok")]
    assert all(e["payload"]["duration"] >= 0 and e["payload"]["result_size"] > 0
               for e in events(cli, tid, "tool_call"))
    log = cli("task", "logs", tid, "--step", "agent").stdout
    assert "tool own/add" in log and "all done" in log
    result = {s["name"]: s for s in json.loads(cli("task", "result", tid, "--json").stdout)["steps"]}
    assert result["agent"]["result"]["turns"] == 3
    wait_for(lambda: not [p for p in psutil.process_iter(["cmdline"]) if tag in " ".join(p.info["cmdline"] or [])
                          and p.status() != psutil.STATUS_ZOMBIE], timeout=15)


def test_strict_agent_asks_for_each_call_not_read_only(cli, openai_server, tmp_path, write_plan):
    srv = openai_server
    cfg = config(tmp_path, srv, f"strict-{uuid.uuid4().hex[:8]}")
    srv.script(
        Reply(content=None, finish_reason="tool_calls", tool_calls=calls(
            ("own__add", {"a": 1, "b": 1}),
            ("workspace__write_file", {"path": "a.txt", "content": "a"}),
            ("workspace__write_file", {"path": "b.txt", "content": "b"}))),
        Reply(content="done"),
    )
    tid = cli("--config", str(cfg), "task", "create", "--plan", str(write_plan(AGENT)), "-d", "strict agent",
              "--mode", "strict").stdout.strip()

    def approval():
        s = cli.json("task", "status", tid)
        return s["status"] == "awaiting_approval" and s["approval"]

    first = wait_for(approval, timeout=30)
    assert first["kind"] == "start"  # the step itself
    assert cli("task", "approve", tid).returncode == 0
    ask = wait_for(lambda: (a := approval()) and a.get("kind") == "tool_call" and a, timeout=30)
    assert ask["tool"] == "workspace/write_file" and ask["arguments"] == {"content": "a", "path": "a.txt"}
    assert cli("task", "approve", tid).returncode == 0
    ask = wait_for(lambda: (a := approval()) and a.get("arguments", {}).get("path") == "b.txt" and a, timeout=30)
    assert cli("task", "reject", tid, "--reason", "not b").returncode == 0
    wait_for(lambda: cli.json("task", "status", tid)["status"] == "completed", timeout=30)
    ws = Path(cli.json("task", "status", tid)["workspace"])
    assert (ws / "a.txt").exists() and not (ws / "b.txt").exists()
    assert "rejected by a person: not b" in tool_messages(srv.requests[-1])[2]
    assert [e["payload"].get("kind") for e in events(cli, tid, "approval_requested")] == [
        "start", "tool_call", "tool_call"]  # own/add is read-only: not asked


def test_pause_stops_a_running_command_and_cancel_ends_the_loop(cli, openai_server, tmp_path, write_plan):
    srv = openai_server
    cfg = config(tmp_path, srv, f"pause-{uuid.uuid4().hex[:8]}")
    srv.script(Reply(content=None, finish_reason="tool_calls", tool_calls=calls(
        ("workspace__run_command", {"command": "echo $$ > cmd.pid; sleep 60"})),))
    tid = cli("--config", str(cfg), "task", "create", "--plan", str(write_plan(AGENT)), "-d", "pause agent"
              ).stdout.strip()
    ws = Path(wait_for(lambda: cli.json("task", "status", tid)["workspace"], timeout=30))
    pid = int(wait_for(lambda: (ws / "cmd.pid").exists() and (ws / "cmd.pid").read_text().strip(), timeout=30))
    assert cli("task", "pause", tid).returncode == 0
    wait_for(lambda: psutil.Process(pid).status() == psutil.STATUS_STOPPED, timeout=10)
    assert cli("task", "resume", tid).returncode == 0
    wait_for(lambda: psutil.Process(pid).status() != psutil.STATUS_STOPPED, timeout=10)
    assert cli("task", "cancel", tid, "--reason", "enough").returncode == 0
    wait_for(lambda: cli.json("task", "status", tid)["status"] == "cancelled", timeout=30)

    def gone() -> bool:
        try:
            return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    wait_for(gone, timeout=15)
    assert len(srv.requests) == 1  # the loop ended: no further turn


@pytest.mark.parametrize("unused", [None])
def test_hot_swap_takes_effect_at_the_next_turn(cli, openai_server, tmp_path, write_plan, unused):
    srv = openai_server
    cfg = config(tmp_path, srv, f"swap-{uuid.uuid4().hex[:8]}")
    gate = tmp_path / "go"
    srv.script(Reply(content=None, finish_reason="tool_calls", tool_calls=calls(
        ("workspace__run_command", {"command": f"while [ ! -e {gate} ]; do sleep 0.02; done"}),)), model="m1")
    srv.script(Reply(content="from m2"), model="m2")
    tid = cli("--config", str(cfg), "task", "create", "--plan", str(write_plan(AGENT)), "-d", "swap"
              ).stdout.strip()
    wait_for(lambda: events(cli, tid, "tool_call") == [] and len(srv.requests) == 1, timeout=30)
    res = cli("--config", str(cfg), "task", "modify", tid, "--model", "agent=m2")
    assert res.returncode == 0, res.stderr
    gate.write_text("")
    wait_for(lambda: cli.json("task", "status", tid)["status"] == "completed", timeout=30)
    assert [r.model for r in srv.requests] == ["m1", "m2"]


def test_agent_step_example_runs(cli, openai_server, tmp_path):
    from tests.conftest import EXAMPLES

    srv = openai_server
    cfg = write_config(tmp_path / "c.yaml", srv)
    srv.script(
        Reply(content=None, finish_reason="tool_calls", tool_calls=calls(
            ("workspace__write_file", {"path": "hello.sh", "content": "echo hello from the agent\n"}))),
        Reply(content=None, finish_reason="tool_calls", tool_calls=calls(
            ("workspace__run_command", {"command": "sh hello.sh"}))),
        Reply(content="It printed: hello from the agent"),
    )
    res = cli("--config", str(cfg), "task", "create", "--plan", str(EXAMPLES / "agent-step.yaml"),
              "--description", "a greeting script", "--foreground", timeout=120)
    assert res.returncode == 0, res.stderr
    tid = res.stdout.split()[0]
    assert "hello from the agent" in tool_messages(srv.requests[-1])[-1]
    assert srv.requests[0].messages[0]["content"] == "You work in a project directory through tools. Be brief."
    result = json.loads(cli("task", "result", tid, "--json").stdout)
    assert [o["exists"] for o in result["outputs"]] == [True]
    assert result["steps"][0]["result"]["turns"] == 3


@pytest.mark.parametrize(("limits", "expected"), [
    ("max_turns: 2", "no answer after max_turns=2 turns"),
    ("token_budget: 1", "token budget exceeded"),
])
def test_the_loop_is_bounded(cli, openai_server, tmp_path, write_plan, limits, expected):
    srv = openai_server
    cfg = write_config(tmp_path / "c.yaml", srv)
    listing = Reply(content=None, finish_reason="tool_calls", tool_calls=calls(("workspace__list_files", {})))
    srv.script(*[listing] * 3)
    plan = write_plan(f"steps:\n  - {{name: a, model: m1, prompt: go, tools: [workspace], {limits}}}\n")
    res = cli("--config", str(cfg), "task", "create", "--plan", str(plan), "-d", "bounded", "--foreground")
    assert res.returncode == 1
    [step] = cli.json("task", "status", res.stdout.split()[0])["steps"]
    assert expected in step["reason"]
