"""Metrics sampling starts with its first sample (issue 13): a shell step shorter than one
interval is never sampled, and a longer one has a CPU figure from its very first sample
(the baseline is the spawn: a new process has used no CPU)."""

from __future__ import annotations

import sys
from pathlib import Path


def test_a_short_step_is_not_sampled_and_a_long_one_is_from_its_first_sample(home: Path) -> None:
    (home / "config.yaml").write_text("task_execution:\n  monitoring: {metrics_interval: 0.3s}\n")
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5: pass\n"
    from agent_agency_cli.orchestrator import TaskOrchestrator

    fresh = TaskOrchestrator(home=home)  # reads the config written above
    try:
        tid = fresh.submit_task({"plan": {"steps": [
            {"name": "quick", "run": "true"},
            {"name": "burn", "run": [sys.executable, "-c", burn], "needs": ["quick"]},
        ]}, "description": "sampling"}, start_daemon=False)
        assert str(fresh.run_foreground(tid)) == "completed"
        quick = fresh.step_metrics(tid, "quick")["steps"][0]
        burned = fresh.step_metrics(tid, "burn")["steps"][0]
    finally:
        fresh.close()
    assert quick["samples"] == []
    assert burned["samples"], burned
    first = burned["samples"][0]
    # 0.5 s of CPU takes at least 0.5 s: the first sample comes one interval after the spawn
    # and already reads the CPU used since then
    assert first["cpu_percent"] is not None and first["cpu_percent"] > 0, first
