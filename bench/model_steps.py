"""Model steps against a local OpenAI-compatible server (tests/openai_server.py).

1. Overhead: 200 model steps (4 tasks of 50, concurrency 1, each a streamed call
   answering 20 words) vs 200 direct streamed calls with the `openai` client to the same
   server, interleaved in 4 rounds so both see the same load.
   Figures: median step attempt time / median direct call (target <= 1.2x), and the
   whole task's wall time / the direct calls' total (engine commits, events and
   model_calls rows included).
2. Streaming latency: a step whose answer arrives as 40 lines, one every 25 ms; for each
   line, its timestamp in the step log minus the moment the server sent it.
   Figure: median (target <= 50 ms).

    .venv/bin/python bench/model_steps.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

from _common import machine, met, temp_home

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.openai_server import OpenAIServer, Reply, write_config

N = 200
ROUNDS = 4
ANSWER = " ".join(f"word{i}" for i in range(20))
LINES = 40


async def _direct(base_url: str, n: int) -> list[float]:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key="x", max_retries=0)
    times = []
    for i in range(n):
        t0 = time.perf_counter()
        stream = await client.chat.completions.create(
            model="m1", messages=[{"role": "user", "content": f"call {i}"}], stream=True,
            stream_options={"include_usage": True})
        parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        assert "".join(parts) == ANSWER
        times.append(time.perf_counter() - t0)
    await client.close()
    return times


def _run(home: Path, config: Path, steps: list[dict]) -> tuple[str, float]:
    from agent_agency_cli.orchestrator import TaskOrchestrator

    orch = TaskOrchestrator(home=home, config=config)
    try:
        tid = orch.submit_task({"plan": {"steps": steps}, "description": "bench", "concurrency": 1},
                               start_daemon=False)
        t0 = time.perf_counter()
        status = orch.run_foreground(tid)
        wall = time.perf_counter() - t0
        if str(status) != "completed":
            sys.exit(f"benchmark task ended {status}")
        return tid, wall
    finally:
        orch.close()


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main() -> None:
    print(machine())
    with temp_home() as home, OpenAIServer(default=lambda req: Reply(content=ANSWER)) as srv:
        config = write_config(home / "config.yaml", srv, models=("m1",), fallbacks=())
        from agent_agency_cli.orchestrator import TaskOrchestrator

        # Interleaved rounds, so both sides see the same load on a shared machine.
        direct: list[float] = []
        durations: list[float] = []
        wall = 0.0
        for _ in range(ROUNDS):
            direct += asyncio.run(_direct(srv.base_url, N // ROUNDS))
            steps = [{"name": f"s{i}", "model": "m1", "prompt": f"call {i}"} for i in range(N // ROUNDS)]
            tid, took = _run(home, config, steps)
            wall += took
            with TaskOrchestrator(home=home, config=config) as orch:
                durations += [s["duration"] for s in orch.get_status(tid)["steps"]]
        med_direct, med_step = statistics.median(direct), statistics.median(durations)
        ratio = med_step / med_direct
        print(f"direct openai call: median {med_direct * 1000:.2f} ms, total {sum(direct):.2f} s ({N} calls)")
        print(f"model step attempt: median {med_step * 1000:.2f} ms; task wall {wall:.2f} s "
              f"({wall / sum(direct):.2f}x the direct total)")
        print(f"overhead ratio (median step / median call): {ratio:.2f}x (target <= 1.2x) {met(ratio <= 1.2)}")

        stamps: list[float] = []
        srv.script(Reply(pieces=[f"line {i}\n" for i in range(LINES)], chunk_delay=0.025, stamps=stamps))
        tid, _ = _run(home, config, [{"name": "stream", "model": "m1", "prompt": "lines"}])
        log = home / "tasks" / tid / "logs" / "stream.log"
        written = {}
        for line in log.read_text().splitlines():
            ts, _, rest = line.partition(" ")
            if rest.startswith("out| line "):
                written[int(rest.removeprefix("out| line "))] = _ts(ts)
        lags = [written[i] - stamps[i] for i in range(LINES) if i in written]
        med = statistics.median(lags)
        print(f"streamed line -> step log: median {med * 1000:.1f} ms, max {max(lags) * 1000:.1f} ms "
              f"over {len(lags)} lines (target <= 50 ms) {met(med <= 0.05)}")


if __name__ == "__main__":
    main()
