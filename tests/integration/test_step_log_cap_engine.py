"""A real shell step printing 20 MB without a newline, under a 1 MiB step log cap."""

from __future__ import annotations

from pathlib import Path

from agent_agency_cli.orchestrator import TaskOrchestrator


def test_a_flood_without_newlines_is_capped_and_the_step_completes(home: Path, tmp_path: Path):
    config = tmp_path / "config.yaml"
    config.write_text("task_execution:\n  monitoring:\n    step_log_max: 1M\n")
    plan = {"steps": [{"name": "flood", "run": "head -c 20000000 /dev/zero | tr '\\0' x; echo; echo done"}]}
    orch = TaskOrchestrator(home=home, config=str(config))
    try:
        tid = orch.submit_task({"plan": plan}, start_daemon=False)
        assert orch.run_foreground(tid).value == "completed"
    finally:
        orch.close()
    log = home / "tasks" / tid / "logs" / "flood.log"
    assert log.stat().st_size <= 1024 * 1024 + 4096
    text = log.read_text()
    assert "dropped from the middle" in text
    assert "out| done" in text.splitlines()[-2]  # the tail is kept (then the exit line)
