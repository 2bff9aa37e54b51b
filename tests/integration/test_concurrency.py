"""Many processes using one database at once lose nothing and never see 'database is locked'."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path

from tests.conftest import wait_for

PLAN = {"steps": [{"name": "a", "run": "true"}, {"name": "b", "run": "true", "needs": ["a"]}]}


def _submit(home: str, n: int, queue: mp.Queue) -> None:
    from agent_agency_cli.orchestrator import TaskOrchestrator

    ids, errors = [], []
    orch = TaskOrchestrator(home=home)
    for i in range(n):
        try:
            ids.append(orch.submit_task({"plan": PLAN, "description": f"p{os.getpid()}-{i}"},
                                        start_daemon=False))
        except Exception as exc:  # collected and asserted on by the parent
            errors.append(repr(exc))
    queue.put((ids, errors))


def test_eight_processes_submit_fifty_tasks_each_while_the_daemon_runs(cli, home: Path):
    cfg = home / "config.yaml"
    cfg.write_text("task_execution: {max_concurrent_tasks: 4}\n")
    assert cli("daemon", "start").returncode == 0
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_submit, args=(str(home), 50, queue)) for _ in range(8)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    ids = [i for r, _ in results for i in r]
    errors = [e for _, e in results for e in e]
    assert errors == []
    assert len(ids) == 400 and len(set(ids)) == 400
    listed = cli.json("task", "list", "--limit", "0")
    assert {t["id"] for t in listed} == set(ids)
    wait_for(lambda: all(t["status"] == "completed"
                         for t in cli.json("task", "list", "--limit", "0")), timeout=180,
             interval=0.5)
    log = (home / "daemon.log").read_text()
    assert "database is locked" not in log
    assert "Traceback" not in log
