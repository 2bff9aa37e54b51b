"""Strict mode: `task approve ID --group` approves a whole parallel group at once (issue 11)."""

from __future__ import annotations

import json

from tests.conftest import wait_for


def _approval_step(cli, tid):
    approval = cli.status(tid).get("approval")
    return approval and approval.get("step")


def test_approve_group_runs_the_rest_of_the_group_without_asking(cli, write_plan, tmp_path, latch):
    ledger = tmp_path / "ledger"
    gate = latch()
    plan = write_plan(f"""
steps:
  - {{name: setup, run: "echo setup >> {ledger}"}}
  - {{name: lint, needs: [setup], run: "{gate.cmd}; echo lint >> {ledger}"}}
  - {{name: test, needs: [setup], run: "{gate.cmd}; echo test >> {ledger}"}}
  - {{name: docs, needs: [setup], run: "{gate.cmd}; echo docs >> {ledger}"}}
  - {{name: ship, needs: [lint, test, docs], run: "echo ship >> {ledger}"}}
""")
    tid = cli("task", "create", "--plan", str(plan), "--mode", "strict").stdout.strip()
    wait_for(lambda: _approval_step(cli, tid) == "setup", timeout=20)
    assert cli("task", "approve", tid).returncode == 0
    first = wait_for(lambda: _approval_step(cli, tid) in ("lint", "test", "docs") and _approval_step(cli, tid),
                     timeout=20)
    res = cli("task", "approve", tid, "--group")
    assert res.returncode == 0, res.stderr
    assert "parallel group" in res.stderr and all(n in res.stderr for n in ("lint", "test", "docs"))
    # the whole group runs at once (they wait on the latch together), nobody is asked
    wait_for(lambda: all(cli.step(tid, n)["status"] == "running" for n in ("lint", "test", "docs")), timeout=20)
    gate.open()
    wait_for(lambda: _approval_step(cli, tid) == "ship", timeout=20)  # the next group asks again
    assert sorted(ledger.read_text().split()) == ["docs", "lint", "setup", "test"]
    assert cli("task", "approve", tid).returncode == 0
    cli.wait_status(tid, lambda s: s["status"] == "completed")
    events = [json.loads(x) for x in cli("task", "events", tid, "--json").stdout.splitlines()]
    asked = [e["step"] for e in events if e["kind"] == "approval_requested"]
    assert asked == ["setup", first, "ship"]


def test_approve_group_and_all_remaining_together_is_bad_input(cli, write_plan):
    tid = cli("task", "create", "--plan", str(write_plan("steps: [{name: a, run: 'true'}]")), "--mode", "strict",
              "--no-start").stdout.strip()
    res = cli("task", "approve", tid, "--group", "--all-remaining")
    assert res.returncode == 2 and "--group" in res.stderr


def test_a_group_approval_survives_a_daemon_killed_and_restarted(cli, home, write_plan, tmp_path, latch):
    import os
    import signal

    from tests.conftest import pid_alive

    ledger = tmp_path / "ledger"
    gate = latch()
    # One step at a time: the group's other steps still wait when the daemon dies.
    plan = write_plan(f"""
concurrency: 1
steps:
  - {{name: setup, run: "echo setup >> {ledger}"}}
  - {{name: lint, needs: [setup], idempotent: true, run: "{gate.cmd}; echo lint >> {ledger}"}}
  - {{name: test, needs: [setup], idempotent: true, run: "{gate.cmd}; echo test >> {ledger}"}}
  - {{name: docs, needs: [setup], idempotent: true, run: "{gate.cmd}; echo docs >> {ledger}"}}
  - {{name: ship, needs: [lint, test, docs], run: "echo ship >> {ledger}"}}
""")
    tid = cli("task", "create", "--plan", str(plan), "--mode", "strict").stdout.strip()
    wait_for(lambda: _approval_step(cli, tid) == "setup", timeout=20)
    assert cli("task", "approve", tid).returncode == 0
    first = wait_for(lambda: _approval_step(cli, tid) in ("lint", "test", "docs") and _approval_step(cli, tid),
                     timeout=20)
    assert cli("task", "approve", tid, "--group").returncode == 0
    running = cli.wait_status(tid, lambda s: any(x["status"] == "running" and x["pid"] for x in s["steps"]))
    cut = next(x["name"] for x in running["steps"] if x["status"] == "running")
    pid = json.loads((home / "daemon.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(pid), timeout=30)

    assert cli("daemon", "start").returncode == 0
    # the new engine killed the cut step's processes and re-runs it (idempotent), unasked
    cli.wait_status(tid, lambda s: cli.step(tid, cut)["attempt"] == 2 and cli.step(tid, cut)["pid"])
    gate.open()
    # Nobody is asked about the group again: the task runs on to `ship`, the next group.
    wait_for(lambda: _approval_step(cli, tid) == "ship", timeout=30)
    assert sorted(ledger.read_text().split()) == ["docs", "lint", "setup", "test"]
    assert cli("task", "approve", tid).returncode == 0
    cli.wait_status(tid, lambda s: s["status"] == "completed")
    events = [json.loads(x) for x in cli("task", "events", tid, "--json").stdout.splitlines()]
    asked = [e["step"] for e in events if e["kind"] == "approval_requested"]
    assert asked == ["setup", first, "ship"]


def test_a_group_approval_does_not_outlive_a_retry(orch, write_plan):
    from agent_agency_cli.event_kinds import EventKind

    tid = orch.submit_task({"plan": {"steps": [{"name": "a", "run": "true"}, {"name": "b", "run": "true"}]},
                            "mode": "strict"}, start_daemon=False)
    orch.store.add_event(tid, EventKind.STEP_APPROVED, {"who": "ana", "group": ["b"]}, step="a")
    orch.store.add_event(tid, EventKind.STEP_APPROVED, {"who": "ana"}, step="a")
    assert orch.store.group_approved_steps(tid) == {"a", "b"}
    orch.store.add_event(tid, EventKind.TASK_RETRIED, {"status": "queued"})
    assert orch.store.group_approved_steps(tid) == set()
