"""A step that tries again carries nothing of its previous attempt (issue 11, defect 11).

`task status --json` and the plain table alike: a step back to pending, awaiting_approval or
running after `task retry`, a reject -> retry or a crash recovery shows no exit code, reason,
finish time or duration of the attempt before; that attempt stays in `attempts` (history).
"""

from __future__ import annotations

import json
import os
import signal

from tests.conftest import pid_alive, wait_for

STALE = ("exit_code", "reason", "finished_at", "duration", "started_at")


def _row(cli, tid: str, name: str) -> str:
    """The step's row of the plain table."""
    rows = cli("task", "status", tid, COLUMNS="200").stdout.splitlines()
    return next(r for r in rows if r.split() and r.split()[0] == name)


def _attempts(cli, tid: str) -> list[dict]:
    return json.loads(cli("task", "status", tid, "--verbose", "--json").stdout)["attempts"]


def test_cancelled_then_retried_step_awaits_approval_without_the_cancelled_attempt(cli, write_plan):
    plan = write_plan("steps:\n  - {name: a, run: 'sleep 60'}\n  - {name: b, needs: [a], run: 'true'}\n")
    tid = cli("task", "create", "--plan", str(plan), "--mode", "strict").stdout.strip()
    cli.wait_status(tid, lambda s: s["steps"][0]["status"] == "awaiting_approval")
    assert cli("task", "approve", tid).returncode == 0
    cli.wait_status(tid, lambda s: s["steps"][0]["status"] == "running" and s["steps"][0]["pid"])
    assert cli("task", "cancel", tid, "--reason", "testing cancel").returncode == 0
    cancelled = cli.wait_status(tid, lambda s: s["status"] == "cancelled")
    assert cancelled["steps"][0]["exit_code"] == -15  # the finished attempt shows its exit

    assert cli("task", "retry", tid).returncode == 0
    status = cli.wait_status(tid, lambda s: s["steps"][0]["status"] == "awaiting_approval")
    a, b = status["steps"]
    assert (a["attempt"], a["max_attempts"]) == (1, 2)
    assert {k: a[k] for k in STALE} == dict.fromkeys(STALE)
    assert b["status"] == "pending" and b["reason"] is None  # not "testing cancel"
    row = _row(cli, tid, "a")
    assert "-15" not in row and "cancelled" not in row and "1.5s" not in row, row
    assert row.split()[1:4] == ["awaiting_approval", "1/2", "-"], row  # no time of the cut attempt
    history = _attempts(cli, tid)
    assert [(h["step"], h["attempt"], h["exit_code"]) for h in history] == [("a", 1, -15)]
    assert history[0]["status"] == "cancelled" or "cancel" in (history[0]["reason"] or "")
    assert cli("task", "cancel", tid).returncode == 0
    cli.wait_status(tid, lambda s: s["status"] == "cancelled")


def test_rejected_then_retried_task_has_no_dependency_failed_reasons(cli, write_plan):
    plan = write_plan("steps:\n  - {name: a, run: 'true'}\n  - {name: b, needs: [a], run: 'true'}\n"
                      "  - {name: c, needs: [b], run: 'true'}\n")
    tid = cli("task", "create", "--plan", str(plan), "--mode", "strict").stdout.strip()
    cli.wait_status(tid, lambda s: s["steps"][0]["status"] == "awaiting_approval")
    assert cli("task", "reject", tid, "--reason", "not now").returncode == 0
    failed = cli.wait_status(tid, lambda s: s["status"] == "failed")
    assert failed["steps"][1]["status"] == "skipped" and failed["steps"][1]["reason"]

    assert cli("task", "retry", tid).returncode == 0
    status = cli.wait_status(tid, lambda s: s["steps"][0]["status"] == "awaiting_approval")
    for step in status["steps"]:
        assert {k: step[k] for k in STALE} == dict.fromkeys(STALE), step
    for name in ("b", "c"):
        row = _row(cli, tid, name)
        assert "dependency" not in row and "not now" not in row, row
    assert cli("task", "approve", tid, "--all-remaining").returncode == 0
    done = cli.wait_status(tid, lambda s: s["status"] == "completed")
    assert [s["status"] for s in done["steps"]] == ["completed"] * 3


def test_a_step_re_run_after_a_crash_is_one_more_try_and_starts_clean(cli, home, write_plan, latch):
    gate = latch("go")
    plan = write_plan(f'steps:\n  - name: long\n    run: "{gate.cmd}"\n    idempotent: true\n')
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip()
    first = cli.wait_status(tid, lambda s: s["steps"][0]["status"] == "running" and s["steps"][0]["pid"])
    first_start = first["steps"][0]["started_at"]
    pid = json.loads((home / "daemon.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(pid), timeout=30)
    assert cli("task", "status", tid).returncode == 0  # starts a daemon, which recovers the task

    status = cli.wait_status(tid, lambda s: s["steps"][0]["attempt"] == 2 and s["steps"][0]["status"] == "running")
    step = status["steps"][0]
    assert step["max_attempts"] >= 2  # never `2/1`
    assert step["exit_code"] is None and step["reason"] is None and step["finished_at"] is None
    assert step["started_at"] != first_start
    assert _row(cli, tid, "long").split()[2] == "2/2"
    history = _attempts(cli, tid)
    assert [(h["attempt"], h["status"]) for h in history] == [(1, "interrupted")]
    assert history[0]["reason"].startswith("interrupted") and history[0]["started_at"] == first_start
    gate.open()
    done = cli.wait_status(tid, lambda s: s["status"] == "completed")
    assert [(h["attempt"], h["status"]) for h in _attempts(cli, tid)] == [(1, "interrupted"), (2, "completed")]
    assert done["steps"][0]["exit_code"] == 0


def test_a_step_waiting_to_retry_keeps_only_why_and_when(cli, write_plan, tmp_path):
    flag = tmp_path / "second-try"
    # fails once (exit 3), then waits a long backoff: long enough to look at the row
    plan = write_plan(f"steps:\n  - name: flaky\n    run: test -e {flag} || {{ touch {flag}; exit 3; }}\n"
                      "    retries: {attempts: 2, initial: 60s, max: 60s, jitter: false}\n")
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip()
    status = cli.wait_status(tid, lambda s: s["steps"][0]["next_retry_at"] is not None)
    step = status["steps"][0]
    assert step["status"] == "pending" and step["reason"] == "exit code 3"
    assert step["exit_code"] is None and step["finished_at"] is None and step["duration"] is None
    history = _attempts(cli, tid)
    assert [(h["attempt"], h["status"], h["exit_code"]) for h in history] == [(1, "failed", 3)]
    assert cli("task", "cancel", tid).returncode == 0
    cli.wait_status(tid, lambda s: s["status"] == "cancelled")
