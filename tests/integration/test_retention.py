"""metrics_retention: the daemon's archive sweep drops old archived tasks' metric samples and events.

Real tasks run by the real engine (in-process, foreground) into a real SQLite file,
archived for real; then the sweep the daemon runs every few minutes is called.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import anyio
import pytest

from agent_agency_cli.config import Settings
from agent_agency_cli.engine.engine import Engine
from agent_agency_cli.engine.task_archive import sweep
from agent_agency_cli.models import TaskStatus
from agent_agency_cli.orchestrator import TaskOrchestrator

DAY = 86400.0
# A step that lives long enough to be sampled a few times at the 50 ms interval below.
STEP = {"name": "work", "run": ["python3", "-c", "import time; time.sleep(0.4)"]}


def settings(metrics_retention: float = 30 * DAY, archive_retention: float = 0.0) -> Settings:
    return Settings.model_validate({
        "task_execution": {"monitoring": {"metrics_interval": 0.05, "metrics_retention": metrics_retention}},
        "archive": {"retention": archive_retention},
    })


@pytest.fixture
def orch(home: Path):
    o = TaskOrchestrator(home=home, settings=settings())
    yield o
    o.close()


def finished_task(orch: TaskOrchestrator, description: str) -> str:
    tid = orch.submit_task({"description": description, "plan": {"steps": [STEP]}}, start_daemon=False)
    assert orch.run_foreground(tid) is TaskStatus.COMPLETED
    return tid


def history(orch: TaskOrchestrator, tid: str) -> tuple[int, int]:
    """(metric samples, events) stored for the task."""
    samples = len(orch.store.metric_samples(tid))
    events = len(orch.events(tid, limit=100_000))
    return samples, events


def test_old_archived_tasks_lose_samples_and_events_but_keep_their_rows(orch: TaskOrchestrator):
    archived = finished_task(orch, "archived and old")
    kept = finished_task(orch, "finished and old, never archived")
    orch.archive(archived)
    before = {tid: history(orch, tid) for tid in (archived, kept)}
    assert all(samples >= 1 and events >= 3 for samples, events in before.values())
    end = datetime.fromisoformat(orch.get_status(archived)["finished_at"].replace("Z", "+00:00")).timestamp()

    # Not old enough yet: nothing goes.
    out = sweep(orch.store, orch.paths, 0.0, 30 * DAY, now=end + 29 * DAY)
    assert out["pruned_tasks"] == 0
    assert history(orch, archived) == before[archived]

    out = sweep(orch.store, orch.paths, 0.0, 30 * DAY, now=end + 31 * DAY)
    assert out["pruned_tasks"] == 1
    assert (out["pruned_metric_samples"], out["pruned_events"]) == before[archived]
    assert history(orch, archived) == (0, 0)
    assert history(orch, kept) == before[kept]  # not archived: its history stays
    status = orch.get_status(archived)  # the task and step rows are still there
    assert status["status"] == "completed" and status["steps"][0]["status"] == "completed"
    assert status["steps"][0]["metrics"]  # the summary is kept, only the samples went

    # A second sweep finds nothing left to do.
    assert sweep(orch.store, orch.paths, 0.0, 30 * DAY, now=end + 31 * DAY)["pruned_tasks"] == 0


def test_zero_retention_keeps_history_forever(orch: TaskOrchestrator):
    tid = finished_task(orch, "kept forever")
    orch.archive(tid)
    before = history(orch, tid)
    out = sweep(orch.store, orch.paths, 0.0, 0.0, now=4_000_000_000.0)
    assert out["pruned_tasks"] == 0 and history(orch, tid) == before


def test_the_daemon_sweep_archives_then_prunes_with_the_configured_retention(home: Path):
    first = TaskOrchestrator(home=home, settings=settings())
    try:
        tid = finished_task(first, "swept by the engine")
        assert history(first, tid)[0] >= 1
    finally:
        first.close()

    async def one_sweep() -> None:
        # Everything finished "more than" a millisecond ago: archive it, then prune it.
        engine = Engine(home, settings(metrics_retention=0.001, archive_retention=0.001))
        try:
            engine._archive_sweep()
        finally:
            engine.conn.close()

    anyio.run(one_sweep)
    after = TaskOrchestrator(home=home, settings=settings())
    try:
        assert after.store.get_task(tid)["archived_at"] is not None
        assert history(after, tid) == (0, 0)
    finally:
        after.close()
