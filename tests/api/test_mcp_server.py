"""`agent-agency-cli mcp-server` driven by the MCP SDK's own client over stdio."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import anyio

from tests.conftest import cli_path, skip_module_unless_installed

skip_module_unless_installed("mcp", "the MCP server needs the 'ai' extra: pip install -e '.[dev,ai]'")

PLAN = {"steps": [{"name": "first", "run": "echo one"}, {"name": "second", "run": "echo two", "needs": ["first"]}]}


def _field(obj: Any, snake: str, camel: str) -> Any:
    """mcp 2 names fields in snake_case, mcp 1 in camelCase."""
    return getattr(obj, snake, None) if hasattr(obj, snake) else getattr(obj, camel, None)


def _payload(result: Any) -> Any:
    structured = _field(result, "structured_content", "structuredContent")
    if structured is not None:
        return structured.get("result", structured) if set(structured) == {"result"} else structured
    text = result.content[0].text
    try:
        return json.loads(text)
    except ValueError:
        return text


async def _session_run(home: str, body: Any) -> Any:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    cmd = cli_path()
    params = StdioServerParameters(command=cmd[0], args=[*cmd[1:], "mcp-server"],
                                   env={**os.environ, "AGENT_AGENCY_HOME": home})
    # errlog given: its default is whatever sys.stderr was when mcp.client.stdio was first
    # imported (in another test's CliRunner, a buffer that has no fileno)
    async with stdio_client(params, errlog=sys.stderr) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        return await body(session)


def test_an_mcp_client_creates_reads_and_approves_a_strict_task(home):
    async def body(session: Any) -> dict[str, Any]:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        out: dict[str, Any] = {"tools": tools}
        created = await session.call_tool("create_task", {"task": {
            "description": "Strict work over MCP", "execution_mode": "strict", "priority": "high", "plan": PLAN}})
        assert not _field(created, "is_error", "isError"), created.content
        tid = _payload(created)["id"]
        for _ in range(2):
            with anyio.fail_after(30):
                while True:
                    st = _payload(await session.call_tool("task_status", {"task_id": tid}))
                    if st["status"] == "awaiting_approval" and st["approval"]:
                        break
                    await anyio.sleep(0.05)
            approved = await session.call_tool("approve_task", {"task_id": tid})
            assert "approved" in _payload(approved)
        with anyio.fail_after(30):
            while (st := _payload(await session.call_tool("task_status", {"task_id": tid})))["finished"] is False:
                await anyio.sleep(0.05)
        out["final"] = st
        out["list"] = _payload(await session.call_tool("list_tasks", {"status": ["completed"]}))
        out["logs"] = _payload(await session.call_tool("task_logs", {"task_id": tid[:4], "step": "second"}))
        # Without a plan, the planner plans it, exactly like `task create --description ...`.
        planned = await session.call_tool("create_task", {"task": {
            "description": "Planned over MCP", "requirements": ["tested"], "stakeholders": ["qa_team"]}})
        assert not _field(planned, "is_error", "isError"), planned.content
        with anyio.fail_after(30):
            while not (p := _payload(await session.call_tool("task_status", {"task_id": _payload(planned)["id"]})))[
                    "finished"]:
                await anyio.sleep(0.05)
        out["planned"] = p
        out["bad"] = await session.call_tool("create_task", {"task": {"description": "bad names",
                                                                      "stakeholders": ["ops", " "]}})
        out["missing"] = await session.call_tool("pause_task", {"task_id": "nosuch"})
        out["done_pause"] = await session.call_tool("pause_task", {"task_id": tid})
        return out

    out = anyio.run(_session_run, str(home), body)
    tools = out["tools"]
    assert set(tools) == {"create_task", "task_status", "list_tasks", "task_logs", "pause_task", "resume_task",
                          "cancel_task", "approve_task", "reject_task", "release_task"}
    for name, tool in tools.items():
        read_only = _field(tool.annotations, "read_only_hint", "readOnlyHint")
        assert read_only is (name in ("task_status", "list_tasks", "task_logs")), name
    # The create tool's input schema is the API's TaskCreate model.
    schema = _field(tools["create_task"], "input_schema", "inputSchema")
    from agent_agency_cli.api.schemas import TaskCreate

    model = TaskCreate.model_json_schema()
    task_schema = schema["properties"]["task"]
    if "$ref" in task_schema:
        task_schema = schema["$defs"][task_schema["$ref"].rsplit("/", 1)[-1]]
    assert set(task_schema["properties"]) == set(model["properties"])

    final = out["final"]
    assert final["status"] == "completed" and final["priority"] == "high"
    assert [t["id"] for t in out["list"]["tasks"]] == [final["id"]]
    planned = out["planned"]
    assert planned["plan"]["source"] == "builtin" and planned["stakeholders"] == ["qa_team"]
    assert [(s["name"], s["status"]) for s in planned["steps"]] == [("brief", "completed")]
    assert "two" in [line["text"] for line in out["logs"]["lines"]]
    for key, needle in (("bad", "stakeholders: empty name"), ("missing", "no task"),
                        ("done_pause", "nothing to pause")):
        res = out[key]
        assert _field(res, "is_error", "isError") is True, key
        assert needle in res.content[0].text, key
    from agent_agency_cli.orchestrator import TaskOrchestrator

    with TaskOrchestrator(home=home) as orch:
        whos = {i["who"] for i in orch.get_status(final["id"], interventions=True)["interventions"]}
    assert len(whos) == 1 and whos.pop().startswith("mcp:")


GROUP_PLAN = {"steps": [{"name": "setup", "run": "true"},
                        {"name": "lint", "run": "echo lint", "needs": ["setup"]},
                        {"name": "test", "run": "echo test", "needs": ["setup"]}]}


def test_an_mcp_client_holds_releases_and_approves_a_group(home):
    async def wait_approval(session: Any, tid: str, steps: tuple[str, ...]) -> str:
        with anyio.fail_after(30):
            while True:
                st = _payload(await session.call_tool("task_status", {"task_id": tid}))
                if st["status"] == "awaiting_approval" and (st["approval"] or {}).get("step") in steps:
                    return st["approval"]["step"]
                await anyio.sleep(0.05)

    async def body(session: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        held = _payload(await session.call_tool("create_task", {"task": {
            "description": "held dry run", "execution_mode": "dry-run", "hold": True, "plan": PLAN}}))
        out["held"] = held
        out["release"] = _payload(await session.call_tool("release_task", {"task_id": held["id"]}))
        out["released"] = _payload(await session.call_tool("task_status", {"task_id": held["id"]}))
        out["again"] = await session.call_tool("release_task", {"task_id": held["id"]})
        tid = _payload(await session.call_tool("create_task", {"task": {
            "execution_mode": "strict", "plan": GROUP_PLAN}}))["id"]
        await wait_approval(session, tid, ("setup",))
        await session.call_tool("approve_task", {"task_id": tid})
        out["first"] = await wait_approval(session, tid, ("lint", "test"))
        out["group"] = _payload(await session.call_tool("approve_task", {"task_id": tid,
                                                                         "approval": {"group": True}}))
        with anyio.fail_after(30):
            while not (st := _payload(await session.call_tool("task_status", {"task_id": tid})))["finished"]:
                await anyio.sleep(0.05)
        out["final"] = st
        return out

    out = anyio.run(_session_run, str(home), body)
    assert (out["held"]["status"], out["held"]["held"]) == ("queued", True)
    assert [s["status"] for s in out["held"]["steps"]] == ["pending", "pending"]  # not simulated yet
    assert "simulated (dry run)" in out["release"] and out["released"]["status"] == "completed"
    assert _field(out["again"], "is_error", "isError") is True and "not held" in out["again"].content[0].text
    assert "parallel group" in out["group"]
    assert out["final"]["status"] == "completed"  # the group's other step was never asked about
    from agent_agency_cli.orchestrator import TaskOrchestrator

    with TaskOrchestrator(home=home) as orch:
        asked = [e["step"] for e in orch.events(out["final"]["id"]) if e["kind"] == "approval_requested"]
    assert asked == ["setup", out["first"]]
