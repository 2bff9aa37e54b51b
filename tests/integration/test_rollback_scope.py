"""A rollback restores exactly what the failing step changed (issue 12, item 2): never a
parallel step's outputs nor a user's edit; one snapshot before the first attempt, undone
across all attempts; snapshots removed when the task ends."""

from __future__ import annotations

import os
from pathlib import Path

from agent_agency_cli.orchestrator import TaskOrchestrator


def _run(home: Path, plan: dict, workdir: Path) -> tuple[str, dict]:
    with TaskOrchestrator(home=home) as orch:
        tid = orch.submit_task({"plan": plan, "workdir": str(workdir)}, start_daemon=False)
        orch.run_foreground(tid)
        return tid, orch.get_status(tid)


def test_rollback_spares_a_parallel_steps_outputs_and_the_users_files(home: Path, tmp_path: Path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("mine\n")
    gate = tmp_path / "report-written"
    plan = {"steps": [
        # A parallel step finishes its declared output while the failing step runs.
        {"name": "report", "run": f"echo done > report.txt && touch {gate}", "outputs": ["report.txt"]},
        {"name": "migrate", "checkpoint": True, "on_failure": "rollback", "retries": 2,
         # each attempt leaves a file of its own, then fails once the parallel step is done
         "run": f"echo $AGENT_AGENCY_ATTEMPT > attempt-$AGENT_AGENCY_ATTEMPT.txt; "
                f"while [ ! -e {gate} ]; do sleep 0.02; done; exit 1"},
    ]}
    tid, status = _run(home, plan, project)
    steps = {s["name"]: s for s in status["steps"]}
    assert steps["migrate"]["status"] == "failed" and steps["migrate"]["attempt"] == 3
    assert (project / "report.txt").read_text() == "done\n", "a parallel step's output was rolled back"
    assert (project / "notes.txt").read_text() == "mine\n"
    leftover = sorted(p.name for p in project.glob("attempt-*.txt"))
    assert leftover == [], f"files of earlier attempts survived the rollback: {leftover}"
    assert not (home / "tasks" / tid / "checkpoints").exists(), "snapshots outlive the task"


def test_declared_touches_are_the_only_paths_put_back(home: Path, tmp_path: Path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "config.ini").write_text("version=1\n")
    (project / "other.ini").write_text("keep=1\n")
    plan = {"steps": [{
        "name": "migrate", "checkpoint": True, "on_failure": "rollback", "touches": ["config.ini", "build"],
        "run": "echo version=2 > config.ini; mkdir -p build && echo x > build/out; "
               "echo keep=2 > other.ini; exit 1",
    }]}
    tid, status = _run(home, plan, project)
    assert status["status"] == "failed"
    assert (project / "config.ini").read_text() == "version=1\n"
    assert not (project / "build").exists()
    # Not declared: the step said what it touches, so this one is not put back.
    assert (project / "other.ini").read_text() == "keep=2\n"
    assert not os.path.exists(home / "tasks" / tid / "checkpoints")
