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
