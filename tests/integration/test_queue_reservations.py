"""Queued tasks no daemon may take (a foreground run's own task), and the time a task spends
paused before it starts (issue 11: defects 2 and 4)."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from pathlib import Path

from agent_agency_cli.models import FOREGROUND_OWNER
from tests.conftest import wait_for


def test_a_task_kept_for_the_foreground_is_never_the_next_task_of_a_daemon(orch):
    tid = orch.submit_task({"plan": {"steps": [{"name": "a", "run": "true"}]}}, start_daemon=False,
                           reserve=FOREGROUND_OWNER)
    other = orch.submit_task({"plan": {"steps": [{"name": "a", "run": "true"}]}}, start_daemon=False)
    claimed = orch.store.claim_next_task("some-daemon")
    assert claimed is not None and claimed["id"] == other  # the plain queued task only
    assert orch.store.claim_next_task("some-daemon") is None
    assert orch.run_foreground(tid).value == "completed"  # its own process still runs it


def test_create_foreground_while_a_daemon_runs_runs_here_and_exits_0(cli, write_plan):
    assert cli("daemon", "start").returncode == 0
    daemon_identity = cli.json("daemon", "status")["identity"]
    plan = write_plan("steps:\n  - {name: a, run: echo hi}\n  - {name: b, needs: [a], run: echo there}\n")
    for _ in range(3):  # before the fix the daemon took the task now and then (exit 5)
        res = cli("task", "create", "--plan", str(plan), "--foreground")
        assert res.returncode == 0, res.stderr
        tid = res.stdout.strip()
        assert cli.json("task", "status", tid)["status"] == "completed"
        events = [json.loads(x) for x in cli("task", "events", tid, "--json").stdout.splitlines()]
        started = [e for e in events if e["kind"] == "task_started"]
        assert len(started) == 1 and started[0]["payload"]["owner"] != daemon_identity


def test_a_pause_while_queued_is_not_taken_off_the_run_time(orch, home: Path):
    # kept for this process: the resume starts a daemon, which must not take it first
    tid = orch.submit_task({"plan": {"steps": [{"name": "a", "run": "sleep 0.3"}]}}, start_daemon=False,
                           reserve=FOREGROUND_OWNER)
    orch.pause(tid)
    paused_at = time.time()
    wait_for(lambda: time.time() > paused_at + 1.0, timeout=5)  # a pause longer than the run
    orch.resume(tid)
    with sqlite3.connect(home / "agency.db") as db:
        assert db.execute("SELECT paused_total FROM tasks WHERE id = ?", (tid,)).fetchone()[0] == 0
    assert orch.run_foreground(tid).value == "completed"
    status = orch.get_status(tid)
    assert status["elapsed"] >= 0.3  # before the fix: 0.0 (the queued pause was subtracted)
    assert status["steps"][0]["duration"] >= 0.3


def test_daemon_stop_requeues_a_running_step_that_is_not_idempotent(cli, write_plan, latch, tmp_path):
    gate = latch()
    runs = tmp_path / "runs"
    plan = write_plan(f'steps: [{{name: long, run: "echo x >> {runs}; {gate.cmd}"}}, '
                      "{name: tail, needs: [long], run: 'true'}]")
    cfg = write_plan("daemon: {stop_timeout: 0.3s}\ntask_execution: {cancel_grace_period: 0.3s}", "c.yaml")
    assert cli("--config", str(cfg), "daemon", "start").returncode == 0
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip()
    cli.wait_status(tid, lambda s: s["steps"][0]["status"] == "running" and runs.exists())
    assert cli("daemon", "stop").returncode == 0
    status = cli.status(tid)
    assert status["status"] == "queued"
    long = status["steps"][0]
    assert long["status"] == "pending" and long["exit_code"] is None and long["reason"] is None
    gate.open()
    assert cli("--config", str(cfg), "daemon", "start").returncode == 0
    # before the fix: escalated, "interrupted by a crash and not idempotent"
    final = cli.wait_status(tid, lambda s: s["status"] in ("completed", "escalated", "failed"))
    assert final["status"] == "completed", final.get("reason")
    assert runs.read_text() == "x\nx\n"  # re-ran from the start
    events = [json.loads(x) for x in cli("task", "events", tid, "--json").stdout.splitlines()]
    kinds = [e["kind"] for e in events]
    assert "task_escalated" not in kinds and "step_requeued" in kinds


def test_an_ambiguous_prefix_lists_each_candidate_with_status_and_age(orch):
    from typer.testing import CliRunner

    from agent_agency_cli.cli.main import app

    plan = {"steps": [{"name": "a", "run": "true"}]}
    ids: list[str] = []
    while True:  # ids are random: submit until two share a first character
        ids.append(orch.submit_task({"plan": plan, "description": f"task number {len(ids)}"}, start_daemon=False))
        firsts = [i[0] for i in ids]
        shared = next((c for c in firsts if firsts.count(c) > 1), None)
        if shared:
            break
    paused = next(i for i in ids if i.startswith(shared))
    orch.pause(paused)
    res = CliRunner().invoke(app, ["task", "status", shared])
    assert res.exit_code == 3
    err = res.stderr if res.stderr_bytes is not None else res.output
    assert err.count("\n") == 1 and "ambiguous" in err and "type more of it" in err
    candidates = [i for i in ids if i.startswith(shared)]
    for tid in candidates:
        status = "paused" if tid == paused else "queued"
        assert re.search(rf"{tid} \({status}, \d+(\.\d)?s ago, task number \d+\)", err), err
    assert not [i for i in ids if i not in candidates and i in err]


def test_a_held_task_waits_for_release_even_while_a_daemon_runs(cli, write_plan, tmp_path):
    marker = tmp_path / "ran"
    plan = write_plan(f"steps: [{{name: a, run: 'touch {marker}'}}]")
    assert cli("daemon", "start").returncode == 0
    tid = cli("task", "create", "--plan", str(plan), "--hold").stdout.strip()
    other = cli("task", "create", "--plan", str(write_plan("steps: [{name: b, run: 'true'}]", "p2.yaml")))
    cli.wait_status(other.stdout.strip(), lambda s: s["status"] == "completed")  # the daemon went past it
    status = cli.status(tid)
    assert status["status"] == "queued" and status["held"] is True and not marker.exists()
    listed = {t["id"]: t for t in cli.json("task", "list")}
    assert listed[tid]["held"] is True
    plain = cli("task", "list").stdout
    assert any(tid in ln and "held" in ln for ln in plain.splitlines())
    assert "held" in cli("task", "status", tid).stdout
    res = cli("task", "release", tid)
    assert res.returncode == 0 and f"released task {tid}" in res.stderr
    cli.wait_status(tid, lambda s: s["status"] == "completed")
    assert marker.exists()
    again = cli("task", "release", tid)
    assert again.returncode == 5 and "not held" in again.stderr


def test_hold_with_foreground_is_bad_input_and_stores_nothing(cli, write_plan):
    plan = write_plan("steps: [{name: a, run: 'true'}]")
    res = cli("task", "create", "--plan", str(plan), "--hold", "--foreground")
    assert res.returncode == 2 and "--hold" in res.stderr
    assert cli.json("task", "list") == []


def test_a_held_task_paused_and_resumed_is_still_held(orch):
    from agent_agency_cli.models import HELD_OWNER

    tid = orch.submit_task({"plan": {"steps": [{"name": "a", "run": "true"}]}}, start_daemon=False,
                           reserve=HELD_OWNER)
    orch.pause(tid)
    assert orch.get_status(tid)["status"] == "paused"
    orch.resume(tid)  # before: waited for a daemon to "recover" it, and the hold was lost
    status = orch.get_status(tid)
    assert status["status"] == "queued" and status["held"] is True
    assert orch.store.claim_next_task("some-daemon") is None


def test_a_held_dry_run_is_simulated_only_at_release(cli, write_plan, tmp_path):
    # `--hold --mode dry-run` was simulated at once, the hold ignored
    marker = tmp_path / "ran"
    plan = write_plan(f"steps: [{{name: a, run: 'touch {marker}'}}, {{name: b, needs: [a], run: 'true'}}]")
    res = cli("task", "create", "--plan", str(plan), "--mode", "dry-run", "--hold", "--no-start")
    assert res.returncode == 0, res.stderr
    tid = res.stdout.strip()
    assert len(tid) == 6  # the id alone: no report yet
    assert f"agent-agency-cli task release {tid} simulates it" in res.stderr
    held = cli.status(tid)
    assert (held["status"], held["held"]) == ("queued", True)
    assert [s["status"] for s in held["steps"]] == ["pending", "pending"]
    assert "held" in cli("task", "status", tid).stdout
    released = cli("task", "release", tid, COLUMNS="200")
    assert released.returncode == 0, released.stderr
    assert "simulated (dry run)" in released.stderr and "touch" in released.stdout  # the impact report
    done = cli.status(tid)
    assert done["status"] == "completed" and done["held"] is False
    assert [s["status"] for s in done["steps"]] == ["completed", "completed"]
    assert not marker.exists()  # a dry run runs nothing, released or not
    assert cli("task", "release", tid).returncode == 5


def test_a_held_dry_run_released_as_json_is_one_document(cli, write_plan):
    plan = write_plan("steps: [{name: a, run: 'true'}]")
    created = cli("task", "create", "--plan", str(plan), "--mode", "dry-run", "--hold", "--json")
    doc = json.loads(created.stdout)
    assert doc["status"] == "queued" and doc["held"] is True
    released = json.loads(cli("task", "release", doc["id"], "--json").stdout)
    assert released["status"] == "completed" and released["mode"] == "dry-run"
