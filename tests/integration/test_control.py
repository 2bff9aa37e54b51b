"""Live control from other processes: pause, resume, cancel, modify, escalate, override."""

from __future__ import annotations

import json
import time

import psutil
import pytest

from tests.conftest import all_stopped, wait_for

LONG = """
steps:
  - name: work
    run: for i in $(seq 1 400); do echo tick $i; sleep 0.05; done
    estimate: 20s
  - name: after
    needs: [work]
    run: echo after
"""


def _step(cli, tid, name):
    return cli.step(tid, name)


def _named(status, name):
    return next(s for s in status["steps"] if s["name"] == name)


def _running_pid(cli, tid, name="work"):
    return wait_for(lambda: _step(cli, tid, name)["pid"], timeout=10)


def _group_states(pgid):
    states = []
    for p in psutil.process_iter(["pid", "status"]):
        try:
            import os

            if os.getpgid(p.pid) == pgid:
                states.append(p.info["status"])
        except (ProcessLookupError, psutil.Error):
            continue
    return states


def _alive(states):
    return [s for s in states if s != psutil.STATUS_ZOMBIE]


def test_pause_stops_processes_and_resume_continues(cli, write_plan):
    tid = cli("task", "create", "--plan", str(write_plan(LONG))).stdout.strip()
    pid = _running_pid(cli, tid)
    res = cli("task", "pause", tid)
    assert res.returncode == 0, res.stderr
    states = _alive(_group_states(pid))
    assert states and all_stopped(states), states
    status = cli.json("task", "status", tid)
    assert status["status"] == "paused"
    assert _step(cli, tid, "work")["status"] == "paused"
    # paused time is not counted as step time (the sleep is the paused time under test,
    # not a wait for something to happen)
    d1 = _step(cli, tid, "work")["duration"]
    time.sleep(0.6)
    d2 = _step(cli, tid, "work")["duration"]
    assert abs(d2 - d1) < 0.2
    # a second pause is a conflict
    again = cli("task", "pause", tid)
    assert again.returncode == 5 and "already paused" in again.stderr
    assert cli("task", "resume", tid).returncode == 0
    states = _alive(_group_states(pid))
    assert states and all(s != psutil.STATUS_STOPPED for s in states), states
    assert cli.json("task", "status", tid)["status"] == "running"
    assert cli("task", "cancel", tid).returncode == 0


def test_cancel_kills_everything_and_wait_exits_4(cli, write_plan, tmp_path):
    marker = tmp_path / "child.pid"
    plan = write_plan(f"""
steps:
  - name: work
    run: sleep 300 & echo $! > {marker}; trap '' TERM; sleep 300
  - name: other
    run: sleep 300
  - name: later
    needs: [work]
    run: echo never
""")
    cfg = write_plan("task_execution: {cancel_grace_period: 0.3s}", "c.yaml")
    cli("--config", str(cfg), "daemon", "start")
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip()
    follower = cli.popen("task", "watch", tid, "--plain")
    pid = _running_pid(cli, tid)
    wait_for(marker.exists)
    child = int(marker.read_text())
    res = cli("task", "cancel", tid, "--reason", "wrong branch")
    assert res.returncode == 0, res.stderr
    # the command returns once nothing is left
    assert _alive(_group_states(pid)) == []
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == "zombie"
    status = cli.json("task", "status", tid)
    assert status["status"] == "cancelled"
    assert status["reason"] == "wrong branch"
    assert {s["status"] for s in status["steps"]} == {"cancelled"}
    out, _ = follower.communicate(timeout=10)
    assert follower.returncode == 4
    assert "cancelled" in out


def test_cancel_queued_task_without_daemon(cli, write_plan):
    tid = cli("task", "create", "--plan", str(write_plan(LONG)), "--no-start").stdout.strip()
    assert cli("task", "cancel", tid, "--reason", "not needed").returncode == 0
    status = cli.json("task", "status", tid)
    assert status["status"] == "cancelled"
    assert not (cli.home / "daemon.json").exists()


def test_wrong_state_interventions_exit_5(cli, write_plan):
    tid = cli("task", "create", "--plan", str(write_plan("steps: [{name: a, run: 'true'}]")),
              "--foreground").stdout.strip()
    for args in (("pause", tid), ("resume", tid), ("cancel", tid),
                 ("escalate", tid, "--reason", "x"), ("modify", tid, "--priority", "high")):
        res = cli("task", *args)
        assert res.returncode == 5, (args, res.stderr)
        assert f"task {tid} is completed" in res.stderr
    res = cli("task", "retry", tid)
    assert res.returncode == 5


def test_modify_reorders_the_queue_and_is_audited(cli, write_plan):
    plan = write_plan("steps: [{name: a, run: 'true'}]")
    first = cli("task", "create", "--plan", str(plan), "--no-start").stdout.strip()
    second = cli("task", "create", "--plan", str(plan), "--no-start").stdout.strip()
    res = cli("task", "modify", second, "--priority", "urgent", "--deadline", "3h",
              "--requirements", "fast,safe")
    assert res.returncode == 0, res.stderr
    cfg = write_plan("task_execution: {max_concurrent_tasks: 1}", "c.yaml")
    cli("--config", str(cfg), "daemon", "start")
    wait_for(lambda: cli.json("task", "status", first)["status"] == "completed", timeout=20)
    s1, s2 = cli.json("task", "status", first), cli.json("task", "status", second)
    assert s2["started_at"] < s1["started_at"]
    assert s2["priority"] == "urgent" and s2["requirements"] == ["fast", "safe"]
    events = [json.loads(x) for x in cli("task", "events", second, "--json").stdout.splitlines()]
    mod = next(e for e in events if e["kind"] == "task_modified")
    assert mod["payload"]["old"]["priority"] == "normal"
    assert mod["payload"]["new"]["priority"] == "urgent"
    trail = cli("task", "status", second, "--verbose").stdout
    assert "audit trail" in trail and "modify" in trail


def test_modify_running_task_limits_apply_to_next_steps(cli, write_plan, latch):
    gate = latch()
    probe = "python3 -c 'import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0])'"
    plan = write_plan(f"""
steps:
  - {{name: first, run: "{gate.cmd}"}}
  - {{name: probe, needs: [first], run: "{probe}"}}
""")
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip()
    _running_pid(cli, tid, "first")
    # modify returns once the engine applied it; only then may `first` end
    assert cli("task", "modify", tid, "--max-memory", "512M").returncode == 0
    gate.open()
    cli.wait_status(tid, lambda s: s["finished"])
    out = cli("task", "logs", tid, "--step", "probe").stdout
    assert str(512 * 1024 * 1024) in out


def test_escalate_then_resume(cli, write_plan, latch):
    gate = latch()
    plan = write_plan(f"""
steps:
  - {{name: a, run: "{gate.cmd}"}}
  - {{name: b, needs: [a], run: echo b}}
""")
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip()
    _running_pid(cli, tid, "a")
    res = cli("task", "escalate", tid, "--reason", "needs a human look")
    assert res.returncode == 0, res.stderr
    status = cli.status(tid)
    assert status["status"] == "escalated" and status["reason"] == "needs a human look"
    gate.open()
    # a running step finishes while escalated, but b waits for a person
    cli.wait_status(tid, lambda s: _named(s, "a")["status"] == "completed")
    assert _named(cli.status(tid), "b")["status"] == "pending"
    assert cli("task", "resume", tid).returncode == 0
    cli.wait_status(tid, lambda s: s["status"] == "completed")
    events = [json.loads(x) for x in cli("task", "events", tid, "--json").stdout.splitlines()]
    kinds = [(e["kind"], e["step"]) for e in events]
    # b started only after the resume: it never ran while the task was escalated
    assert kinds.index(("step_started", "b")) > kinds.index(("task_resumed", None)), kinds


def test_override_skip_unblocks_a_failed_task_and_retry_continues(cli, write_plan, tmp_path):
    plan = write_plan("""
steps:
  - {name: flaky, run: exit 1}
  - {name: after, needs: [flaky], run: echo after > after.txt}
""")
    tid = cli("task", "create", "--plan", str(plan), "--foreground").stdout.strip()
    assert cli.json("task", "status", tid)["status"] == "failed"
    res = cli("task", "override", tid, "--step", "flaky", "--action", "skip",
              "--reason", "known flaky; not needed")
    assert res.returncode == 0, res.stderr
    assert "task retry" in res.stderr
    assert cli("task", "override", tid, "--step", "nope", "--action", "skip",
               "--reason", "x").returncode == 3
    assert cli("task", "override", tid, "--step", "flaky", "--action", "explode",
               "--reason", "x").returncode == 2
    assert cli("task", "retry", tid).returncode == 0
    # a skipped step is a gap: the task ends partially completed, saying which
    wait_for(lambda: cli.json("task", "status", tid)["status"] == "partially_completed", timeout=20)
    steps = {s["name"]: s for s in cli.json("task", "status", tid)["steps"]}
    assert steps["flaky"]["status"] == "skipped" and steps["flaky"]["overridden"]
    assert steps["after"]["status"] == "completed"
    res = cli("task", "result", tid, "--json")
    assert res.returncode == 1  # the exit code of a partially completed task
    assert any("flaky" in gap for gap in json.loads(res.stdout)["gaps"])


def test_retry_reruns_only_failed_steps(cli, write_plan, tmp_path):
    counter = tmp_path / "count"
    flag = tmp_path / "ok"
    plan = write_plan(f"""
steps:
  - {{name: once, run: "echo x >> {counter}"}}
  - {{name: gate, needs: [once], run: "test -e {flag}"}}
""")
    tid = cli("task", "create", "--plan", str(plan), "--foreground").stdout.strip()
    assert cli.json("task", "status", tid)["status"] == "failed"
    flag.write_text("")
    assert cli("task", "retry", tid).returncode == 0
    wait_for(lambda: cli.json("task", "status", tid)["status"] == "completed", timeout=20)
    assert counter.read_text() == "x\n", "a finished step ran again"
    gate = _step(cli, tid, "gate")
    assert gate["attempt"] == 2


def test_events_follow_json_streams_until_done(cli, write_plan):
    plan = write_plan("steps: [{name: a, run: 'sleep 0.3'}, {name: b, needs: [a], run: 'true'}]")
    tid = cli("task", "create", "--plan", str(plan), "--no-start").stdout.strip()
    follower = cli.popen("task", "events", tid, "--follow", "--json")
    cli("daemon", "start")
    out, err = follower.communicate(timeout=20)
    assert follower.returncode == 0, err
    kinds = [json.loads(line)["kind"] for line in out.splitlines()]
    assert kinds[0] == "task_created"
    assert kinds[-1] == "task_completed"
    assert kinds.count("step_started") == 2 and kinds.count("step_completed") == 2
    ids = [json.loads(line)["id"] for line in out.splitlines()]
    assert ids == sorted(ids)


@pytest.mark.parametrize("python_step", [False, True])
def test_daemon_stop_hands_running_tasks_to_the_next_daemon(cli, write_plan, tmp_path, latch,
                                                           python_step):
    gate = latch()
    (tmp_path / "slow.py").write_text(
        "import os, time\n"
        "def work(ctx):\n"
        f"    while not os.path.exists({str(gate.path)!r}):\n"
        "        ctx.checkpoint()\n"
        "        time.sleep(0.02)\n"
    )
    step = ('{name: long, python: "slow:work", idempotent: true}' if python_step
            else f'{{name: long, run: "{gate.cmd}", idempotent: true}}')
    plan = write_plan(f"steps: [{step}, {{name: tail, needs: [long], run: 'true'}}]")
    cfg = write_plan("daemon: {stop_timeout: 0.3s}\ntask_execution: {cancel_grace_period: 0.3s}",
                     "c.yaml")
    cli("--config", str(cfg), "daemon", "start")
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip()
    cli.wait_status(tid, lambda s: _named(s, "long")["status"] == "running")
    stop = cli("daemon", "stop")
    assert stop.returncode == 0
    # it says what it waits for (issue 11 defect 6)
    assert f"waiting for the running steps of task {tid} to finish" in stop.stderr
    status = cli.status(tid)
    assert status["status"] == "queued"
    assert _named(status, "long")["status"] == "pending"  # requeued, not interrupted
    gate.open()
    cli("--config", str(cfg), "daemon", "start")
    cli.wait_status(tid, lambda s: s["status"] == "completed")
    assert _step(cli, tid, "long")["attempt"] == 2


def test_modify_mode_to_strict_asks_before_the_next_step(cli, write_plan, latch):
    gate = latch()
    plan = write_plan(f"""
steps:
  - {{name: first, run: "{gate.cmd}"}}
  - {{name: second, needs: [first], run: echo second}}
""")
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip()
    _running_pid(cli, tid, "first")
    assert cli("task", "modify", tid, "--mode", "strict").returncode == 0
    gate.open()
    status = cli.wait_status(tid, lambda s: (s["approval"] or {}).get("step") == "second")
    assert _named(status, "first")["status"] == "completed"
    assert _named(status, "second")["status"] == "awaiting_approval"
    assert cli("task", "approve", tid).returncode == 0
    cli.wait_status(tid, lambda s: s["status"] == "completed")
