"""The HTTP API's costs: submit throughput, SSE latency to 100 clients, idle CPU with 100 streams.

1. Submit: N tasks (one shell step each, queued only) through `POST /api/v1/tasks` on a
   keep-alive connection, against the same N through the SDK (`TaskOrchestrator.submit_task`)
   in this process. Target: API ≥ 0.5× the SDK's rate.
2. SSE latency: 100 clients stream one task's progress (`GET /api/v1/tasks/ID/progress`);
   this process commits E events (one every 40 ms) with their commit time in the payload;
   latency = arrival at a client − commit. Target: median ≤ 100 ms, p95 ≤ 250 ms.
3. Idle CPU: the server process's CPU over a window with those 100 streams open and
   nothing happening, as % of one core. Baseline, same window: a bare loop polling
   `PRAGMA data_version` every 20 ms on the same database (the hub's floor).

The server runs in its own process (uvicorn, as `serve` runs it, with start_engine=False).

    .venv/bin/python bench/api.py [--tasks 200] [--clients 100] [--events 50] [--window 10] [--submit-only]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
from _common import machine, met, temp_home

SERVER = """
import sys, uvicorn
from agent_agency_cli.api.app import create_app
uvicorn.run(create_app(home=sys.argv[1], start_engine=False), host="127.0.0.1", port=int(sys.argv[2]),
            log_level="warning")
"""
POLL_LOOP = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
while True:
    db.execute("PRAGMA data_version").fetchone()
    time.sleep(0.02)
"""
PLAN = {"steps": [{"name": "only", "run": "true"}]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def submit_sdk(home: Path, n: int) -> float:
    from agent_agency_cli.orchestrator import TaskOrchestrator

    with TaskOrchestrator(home=home) as orch:
        t0 = time.perf_counter()
        for i in range(n):
            orch.submit_task({"description": f"sdk task {i}", "plan": PLAN}, start_daemon=False)
        return n / (time.perf_counter() - t0)


def submit_api(base: str, headers: dict[str, str], n: int, connections: int = 1) -> float:
    """Tasks/s through POST /api/v1/tasks from `connections` keep-alive clients at once."""
    from concurrent.futures import ThreadPoolExecutor

    clients = [httpx.Client(base_url=base, headers=headers, timeout=60) for _ in range(connections)]

    def post(k: int) -> None:
        c = clients[k]
        for i in range(k, n, connections):
            r = c.post("/api/v1/tasks", json={"description": f"api task {i}", "plan": PLAN})
            if r.status_code != 201:
                sys.exit(f"submit failed: {r.status_code} {r.text}")

    try:
        for c in clients:
            c.get("/api/v1/health")
        t0 = time.perf_counter()
        with ThreadPoolExecutor(connections) as pool:
            list(pool.map(post, range(connections)))
        return n / (time.perf_counter() - t0)
    finally:
        for c in clients:
            c.close()


async def one_client(url: str, token: str, ready: asyncio.Event, counter: list[int], want: int,
                     latencies: list[float], stop: asyncio.Event) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=None) as c, c.stream("GET", url, headers=headers) as r:
        counter[0] += 1
        if counter[0] == want:
            ready.set()
        event = None
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "bench_tick":
                latencies.append(time.time() - json.loads(line[6:])["payload"]["t"])
            if stop.is_set():
                return


async def latency_phase(base: str, token: str, tid: str, home: Path, clients: int, events: int,
                        window: float, server_pid: int) -> tuple[list[float], float, float]:
    from agent_agency_cli.store import Store, connect

    url = f"{base}/api/v1/tasks/{tid}/progress"
    ready, stop = asyncio.Event(), asyncio.Event()
    latencies: list[float] = []
    counter = [0]
    tasks = [asyncio.create_task(one_client(url, token, ready, counter, clients, latencies, stop))
             for _ in range(clients)]
    await asyncio.wait_for(ready.wait(), 60)
    await asyncio.sleep(1.0)  # let the initial backlog and progress frames drain
    store = Store(connect(home / "agency.db"))
    for _ in range(events):
        store.add_event(tid, "bench_tick", {"t": time.time()})
        await asyncio.sleep(0.04)
    deadline = time.monotonic() + 30
    while len(latencies) < clients * events and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    # Idle: the same 100 streams stay open, nothing is committed.
    poller = subprocess.Popen([sys.executable, "-c", POLL_LOOP, str(home / "agency.db")])
    await asyncio.sleep(1.0)
    s0, p0, t0 = cpu_seconds(server_pid), cpu_seconds(poller.pid), time.monotonic()
    await asyncio.sleep(window)
    wall = time.monotonic() - t0
    idle = 100 * (cpu_seconds(server_pid) - s0) / wall
    floor = 100 * (cpu_seconds(poller.pid) - p0) / wall
    poller.kill()
    poller.wait()
    stop.set()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return latencies, idle, floor


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--events", type=int, default=50)
    ap.add_argument("--window", type=float, default=10.0)
    ap.add_argument("--submit-only", action="store_true", help="Only the submit figures (phase 1).")
    args = ap.parse_args()
    print(machine())
    with temp_home() as home:
        from agent_agency_cli.api.tokens import ensure_token

        _, token, _ = ensure_token(home)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-c", SERVER, str(home), str(port)])
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/api/v1/health").status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        sys.exit("the server did not start")
                    time.sleep(0.05)
            headers = {"Authorization": f"Bearer {token}"}
            submit_api(base, headers, 20)  # warm both paths up
            submit_sdk(home, 20)
            sdk_rate = submit_sdk(home, args.tasks)
            api_rate = submit_api(base, headers, args.tasks)
            api_par = submit_api(base, headers, args.tasks, connections=4)
            sdk_rate2 = submit_sdk(home, args.tasks)
            sdk = (sdk_rate + sdk_rate2) / 2  # before and after: the machine's load drifts
            print(f"submit: SDK {sdk:,.0f} tasks/s ({sdk_rate:,.0f} before, {sdk_rate2:,.0f} after); "
                  f"API, 1 connection: {api_rate:,.0f} tasks/s, ratio {api_rate / sdk:.2f}; "
                  f"API, 4 connections: {api_par:,.0f} tasks/s, ratio {api_par / sdk:.2f} "
                  f"(target ≥ 0.5: {met(max(api_rate, api_par) / sdk >= 0.5)})")
            if args.submit_only:
                return
            with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
                tid = client.post("/api/v1/tasks", json={"description": "the streamed task", "plan": PLAN}).json()["id"]
            lat, idle, floor = asyncio.run(latency_phase(base, token, tid, home, args.clients, args.events,
                                                         args.window, server.pid))
            expected = args.clients * args.events
            lat_ms = sorted(x * 1000 for x in lat)
            med = statistics.median(lat_ms)
            p95 = lat_ms[int(0.95 * (len(lat_ms) - 1))]
            print(f"SSE latency, commit → {args.clients} clients, {len(lat)}/{expected} deliveries: "
                  f"median {med:.1f} ms, p95 {p95:.1f} ms, max {lat_ms[-1]:.1f} ms "
                  f"(targets 100 / 250 ms: {met(med <= 100 and p95 <= 250 and len(lat) == expected)})")
            print(f"idle CPU with {args.clients} open streams over {args.window:g} s: server {idle:.2f}% of a core; "
                  f"baseline data_version poll loop (20 ms) {floor:.2f}%")
        finally:
            server.terminate()
            server.wait(timeout=15)


if __name__ == "__main__":
    main()
