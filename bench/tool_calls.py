"""Tool steps against direct MCP SDK calls to the same server (mcp-server-time over stdio).

Figure: the median time of a tool step's attempt (from its RUNNING row to its result:
the commit before it runs, argument templating, the task's session, the call, logging,
the result: ToolHandle.run) over 200 steps of one task, against the median of 200
direct `Client.call_tool` calls to the same server in this run. Target: <= 1.2x.
Also printed: the attempt's time as the step row records it (it also holds the
engine's commit of the RUNNING row before the call) and end-to-end wall time per
step (scheduling, commits, the server's start amortised), which the target does
not cover.

Then one agent step of 50 turns against the local OpenAI-compatible test server
(tests/openai_server.py), each turn a model call and a read-only workspace tool:
the engine's overhead per turn is the step's time minus the model calls' latency
(model_calls) and the tools' own time (tool_call events). Target: <= 10 ms median.

    .venv/bin/python bench/tool_calls.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import anyio
from _common import machine, met, run_plan, temp_home

N = 200
ROUNDS = 3
TARGET = 1.2
ARGS = {"timezone": "Europe/Paris"}
SERVER_ARGS = ["-m", "mcp_server_time", "--local-timezone", "UTC"]


async def direct_calls(n: int) -> list[float]:
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=SERVER_ARGS)
    times = []
    async with Client(params, cache=None) as client:
        for _ in range(5):  # warm-up
            await client.call_tool("get_current_time", ARGS)
        for _ in range(n):
            t0 = time.perf_counter()
            result = await client.call_tool("get_current_time", ARGS)
            times.append(time.perf_counter() - t0)
            assert not result.is_error
    return times


HANDLE_TIMES: list[float] = []


def _time_handles() -> None:
    """Time each ToolHandle.run (the executor: templating, the task's session, the call,
    logging, the result) without changing it."""
    from agent_agency_cli.executors import tool

    run = tool.ToolHandle.run

    async def timed(self):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        try:
            return await run(self)
        finally:
            HANDLE_TIMES.append(time.perf_counter() - t0)

    tool.ToolHandle.run = timed  # type: ignore[method-assign]


def tool_steps(n: int) -> tuple[list[float], float]:
    import yaml

    with temp_home() as home:
        (home / "config.yaml").write_text(yaml.safe_dump(
            {"mcp_servers": {"time": {"command": sys.executable, "args": SERVER_ARGS}}}))
        steps = [{"name": "s0", "tool": "time/get_current_time", "arguments": ARGS}]
        steps += [{"name": f"s{i}", "tool": "time/get_current_time", "arguments": ARGS, "needs": [f"s{i - 1}"]}
                  for i in range(1, n)]
        run_plan(home, steps[:5], 1)  # warm-up: imports, schema
        wall, _ = run_plan(home, steps, 1)
        from agent_agency_cli.orchestrator import TaskOrchestrator

        orch = TaskOrchestrator(home=home)
        try:
            tid = orch.list_tasks()[0]["id"]
            durations = [s["duration"] for s in orch.get_status(tid)["steps"]]
        finally:
            orch.close()
    return durations[5:], wall  # the first steps include the server's start


TURNS = 50
TURN_TARGET_MS = 10.0


def agent_turns(turns: int) -> tuple[float, float, float, float]:
    """An agent step of `turns` turns, each calling the read-only workspace list_files, against
    the local OpenAI-compatible test server: (per-turn engine overhead, step duration, model
    time, tool time), the overhead being the step's time minus the model's and the tools' own."""
    import json
    import sqlite3

    root = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(root))
    from tests.openai_server import OpenAIServer, Reply, write_config

    with OpenAIServer() as srv, temp_home() as home:
        write_config(home / "config.yaml", srv, models=("m1",), fallbacks=())
        call = {"name": "workspace__list_files", "arguments": {"path": "."}}
        srv.script(Reply(content="warm"))  # warm-up task first: imports (openai), schema, client
        run_plan(home, [{"name": "warm", "model": "m1", "prompt": "go", "tools": ["workspace"]}], 1)
        srv.script(*[Reply(content=None, finish_reason="tool_calls", tool_calls=[{**call, "id": f"c{i}"}])
                     for i in range(turns - 1)], Reply(content="done"))
        steps = [{"name": "agent", "model": "m1", "prompt": "go", "tools": ["workspace"], "max_turns": turns}]
        run_plan(home, steps, 1)
        conn = sqlite3.connect(home / "agency.db")
        duration = conn.execute("SELECT duration FROM steps WHERE name = 'agent'").fetchone()[0]
        model = conn.execute("SELECT TOTAL(latency) FROM model_calls WHERE step = 'agent'").fetchone()[0]
        tools = sum(json.loads(p)["duration"] for (p,) in conn.execute(
            "SELECT payload FROM events WHERE kind = 'tool_call' AND step = 'agent'"))
        conn.close()
    return (duration - model - tools) / turns, duration, model, tools


def main() -> None:
    print(f"machine: {machine()}")
    _time_handles()
    ratios = []
    for r in range(ROUNDS):  # alternated: the load of a shared machine moves minute to minute
        direct = anyio.run(direct_calls, N)
        d_med = statistics.median(direct)
        HANDLE_TIMES.clear()
        steps, wall = tool_steps(N)
        handles = HANDLE_TIMES[5:]  # the first steps include the server's start
        h_med, s_med = statistics.median(handles), statistics.median(steps)
        ratios.append((h_med / d_med, s_med / d_med, h_med, d_med))
        print(f"round {r + 1}: {N} direct Client.call_tool calls: median {d_med * 1000:.3f} ms; {N} tool steps in "
              f"one task: executor (ToolHandle.run) median {h_med * 1000:.3f} ms ({h_med / d_med:.2f}x), attempt "
              f"(with the engine's commit of its RUNNING row) median {s_med * 1000:.3f} ms ({s_med / d_med:.2f}x); "
              f"end to end {wall / N * 1000:.3f} ms per step, the server's start included")
    best = sorted(ratios)[len(ratios) // 2]  # the median round: one lucky round proves nothing
    print(f"RESULT tool_calls: tool step (executor) median {best[2] * 1000:.3f} ms; direct call median "
          f"{best[3] * 1000:.3f} ms; ratio {best[0]:.2f}x (rounds: {', '.join(f'{x[0]:.2f}' for x in ratios)}); "
          f"target <= {TARGET}x: {met(best[0] <= TARGET)}; attempt ratio {best[1]:.2f}x")
    overhead, duration, model, tools = agent_turns(TURNS)
    print(f"agent loop: {TURNS} turns (each a model call and a read-only workspace tool) in {duration:.3f} s; "
          f"model calls {model:.3f} s, tools {tools:.3f} s")
    print(f"RESULT agent_turn: engine overhead per turn {overhead * 1000:.3f} ms (the step's time minus the "
          f"model's and the tools' own); target <= {TURN_TARGET_MS:g} ms: {met(overhead * 1000 <= TURN_TARGET_MS)}")


if __name__ == "__main__":
    main()
