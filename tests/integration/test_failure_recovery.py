"""The failure-recovery ladder with real processes: retries with backoff, fallback,
rollback, escalation to a person, abort, and circuit breakers that survive restarts."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime
from pathlib import Path

from tests.conftest import wait_for


def _ts(s: str) -> float:
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def _events(cli, tid):
    return [json.loads(x) for x in cli("task", "events", tid, "--json").stdout.splitlines()]


def _steps(cli, tid):
    return {s["name"]: s for s in cli.json("task", "status", tid)["steps"]}


def test_retries_with_exponential_backoff_are_recorded(cli, write_plan, tmp_path):
    counter = tmp_path / "n"
    plan = write_plan(f"""
steps:
  - name: flaky
    # fails twice, then succeeds
    run: n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; test $n -ge 3
    retries: {{attempts: 3, backoff: exponential, initial: 0.3s, max: 5s, jitter: 0}}
""")
    res = cli("task", "create", "--plan", str(plan), "--foreground")
    assert res.returncode == 0, res.stderr
    tid = res.stdout.strip()
    step = _steps(cli, tid)["flaky"]
    assert step["attempt"] == 3 and step["max_attempts"] == 4
    retries = [e for e in _events(cli, tid) if e["kind"] == "step_retry"]
    assert [round(e["payload"]["delay"], 2) for e in retries] == [0.3, 0.6]
    assert all(e["payload"]["reason"] == "exit code 1" for e in retries)
    starts = [_ts(e["ts"]) for e in _events(cli, tid) if e["kind"] == "step_started"]
    assert starts[1] - starts[0] >= 0.3 and starts[2] - starts[1] >= 0.6
    attempts = cli.json("task", "result", tid)
    assert attempts["metrics"]["retry_count"] == 2


def test_fallback_runs_after_retries_are_exhausted(cli, write_plan, tmp_path):
    plan = write_plan("""
steps:
  - name: fetch
    run: exit 7
    retries: {attempts: 1, initial: 0.1s, jitter: 0}
    fallback:
      run: echo from-cache > data.txt
  - {name: use, needs: [fetch], run: cat data.txt}
""")
    res = cli("task", "create", "--plan", str(plan), "--foreground")
    assert res.returncode == 0, res.stderr
    tid = res.stdout.strip()
    kinds = [e["kind"] for e in _events(cli, tid) if e["step"] == "fetch"]
    assert kinds.count("step_started") == 3
    assert "step_fallback" in kinds
    started = [e for e in _events(cli, tid) if e["kind"] == "step_started" and e["step"] == "fetch"]
    assert [e["payload"]["fallback"] for e in started] == [False, False, True]
    assert "from-cache" in cli("task", "logs", tid, "--step", "use").stdout


def test_rollback_restores_the_workspace(cli, write_plan, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "config.ini").write_text("version=1\n")
    plan = write_plan("""
steps:
  - name: migrate
    checkpoint: true
    on_failure: rollback
    run: |
      echo version=2 > config.ini
      echo junk > new-file.txt
      mkdir -p cache && echo x > cache/blob
      exit 1
""")
    res = cli("task", "create", "--plan", str(plan), "--workdir", str(project), "--foreground")
    assert res.returncode == 1
    assert (project / "config.ini").read_text() == "version=1\n"
    assert not (project / "new-file.txt").exists()
    assert not (project / "cache").exists()
    rolled = [e for e in _events(cli, res.stdout.strip()) if e["kind"] == "step_rolled_back"]
    assert rolled and "new-file.txt" in rolled[0]["payload"]["removed"]


def test_on_failure_human_escalates_and_override_retry_goes_on(cli, write_plan, tmp_path):
    flag = tmp_path / "fixed"
    plan = write_plan(f"""
steps:
  - {{name: deploy, run: "test -e {flag}", on_failure: human}}
  - {{name: announce, needs: [deploy], run: echo done}}
""")
    tid = cli("task", "create", "--plan", str(plan)).stdout.strip()
    wait_for(lambda: cli.json("task", "status", tid)["status"] == "escalated", timeout=20)
    status = cli.json("task", "status", tid)
    assert "deploy" in status["reason"] and "override" in status["reason"]
    flag.write_text("")
    res = cli("task", "override", tid, "--step", "deploy", "--action", "retry", "--reason", "fixed it")
    assert res.returncode == 0, res.stderr
    wait_for(lambda: cli.json("task", "status", tid)["status"] == "completed", timeout=20)
    assert _steps(cli, tid)["deploy"]["attempt"] == 2


def test_on_failure_abort_stops_the_other_branches(cli, write_plan):
    plan = write_plan("""
steps:
  - {name: broken, run: "sleep 0.3; exit 2", on_failure: abort}
  - {name: long, run: sleep 30}
  - {name: later, needs: [long], run: echo later}
""")
    res = cli("task", "create", "--plan", str(plan), "--foreground", timeout=30)
    assert res.returncode == 1
    steps = _steps(cli, res.stdout.strip())
    assert steps["broken"]["status"] == "failed"
    assert steps["long"]["status"] == "cancelled"
    assert steps["later"]["status"] == "skipped"
    assert steps["long"]["duration"] < 10


def test_default_fail_lets_independent_running_branch_finish(cli, write_plan):
    plan = write_plan("""
steps:
  - {name: broken, run: "exit 2"}
  - {name: slow, run: "sleep 0.5"}
""")
    res = cli("task", "create", "--plan", str(plan), "--foreground")
    assert res.returncode == 1
    assert _steps(cli, res.stdout.strip())["slow"]["status"] == "completed"


def test_circuit_breaker_opens_half_opens_closes_and_survives_restarts(cli, write_plan, home, tmp_path):
    cfg = home / "config.yaml"
    # recovery_timeout: far longer than the test; the cool-down's end is brought about below by
    # moving the stored opening time back (no waiting on the clock)
    cfg.write_text("recovery:\n  breakers: {failure_threshold: 2, window: 60s, recovery_timeout: 10m}\n")
    # A dependency that cannot start (not executable: exit 126) trips the breaker; a
    # command's own non-zero exit does not (issue 11 defect 5).
    tool = tmp_path / "mytool"
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(0o644)
    plan = write_plan(f"steps: [{{name: call, run: [{tool}]}}]")
    for _ in range(2):
        assert cli("task", "create", "--plan", str(plan), "--foreground").returncode == 1
    breakers = {b["name"]: b for b in cli.json("breakers", "list")}
    assert breakers["mytool"]["state"] == "open"
    # open: rejected at once without running the command (a new process, i.e. after a restart)
    res = cli("task", "create", "--plan", str(plan), "--foreground")
    tid = res.stdout.strip()
    assert res.returncode == 1
    reason = _steps(cli, tid)["call"]["reason"]
    assert "circuit 'mytool' is open" in reason
    assert "$ " not in cli("task", "logs", tid).stdout  # the command never started
    # after the cool-down one trial goes through; it succeeds and closes the breaker
    tool.chmod(0o755)
    with sqlite3.connect(home / "agency.db") as db:  # ten minutes and a second later
        db.execute("UPDATE breakers SET opened_at = opened_at - 601 WHERE name = 'mytool'")
    retry_at = cli.json("breakers", "list")[0]["retry_at"]
    assert retry_at is None or _ts(retry_at) < time.time()
    assert cli("task", "create", "--plan", str(plan), "--foreground").returncode == 0
    assert {b["name"]: b for b in cli.json("breakers", "list")}["mytool"]["state"] == "closed"
    # reset by hand
    assert cli("breakers", "reset", "mytool").returncode == 0
    assert cli("breakers", "reset", "nope").returncode == 3
    reset = cli.json("breakers", "reset", "mytool")
    assert reset["breaker"] == "mytool" and reset["state"] == "closed" and reset["message"]


def test_memory_limit_fails_the_step_with_a_clear_reason(cli, write_plan):
    plan = write_plan("""
steps:
  - name: hog
    run: python3 -c "x = bytearray(800 * 1024 * 1024)"
    resources: {memory: 256M}
""")
    res = cli("task", "create", "--plan", str(plan), "--foreground")
    assert res.returncode == 1
    assert _steps(cli, res.stdout.strip())["hog"]["reason"] == "memory limit 256MiB exceeded"


def test_cpu_time_limit_kills_a_spinning_step(cli, write_plan):
    plan = write_plan("""
steps:
  - name: spin
    run: |
      python3 -c "
      while True: pass
      "
    resources: {cpu_time: 1s}
    timeout: 30s
""")
    res = cli("task", "create", "--plan", str(plan), "--foreground", timeout=40)
    assert res.returncode == 1
    assert _steps(cli, res.stdout.strip())["spin"]["reason"] == "CPU time limit 1s exceeded"


def test_metrics_recorded_for_cpu_and_memory_steps(cli, write_plan, home):
    (home / "config.yaml").write_text("task_execution:\n  monitoring: {metrics_interval: 0.2s}\n")
    plan = write_plan("""
steps:
  - name: burn
    run: |
      python3 -c "
      import time
      t = time.process_time()
      while time.process_time() - t < 1.2: pass
      "
  - name: alloc
    run: |
      python3 -c "
      import time
      x = bytearray(150 * 1024 * 1024)
      for i in range(0, len(x), 4096): x[i] = 1
      time.sleep(1.0)
      "
""")
    res = cli("task", "create", "--plan", str(plan), "--foreground", "--concurrency", "1")
    assert res.returncode == 0, res.stderr
    data = cli.json("task", "metrics", res.stdout.strip())
    steps = {s["name"]: s for s in data["steps"]}
    burn = steps["burn"]["summary"]
    # The step burns 1.2 s of CPU: however busy the machine (it may get less than a core),
    # the samples' CPU percentages over the step's duration add up to about that.
    samples = [s for s in steps["burn"]["samples"] if s["cpu_percent"] is not None]
    assert len(samples) >= 4, steps["burn"]["samples"]
    cpu_seconds = burn["cpu_percent_mean"] / 100 * burn["duration"]
    assert 0.6 <= cpu_seconds <= 1.8, burn
    assert burn["cpu_percent_max"] > 100 * 1.2 / burn["duration"] * 0.8, burn
    peak_mb = steps["alloc"]["summary"]["rss_peak_bytes"] / 1048576
    assert 140 < peak_mb < 220, peak_mb
    assert data["task"]["memory_usage_mb"] >= 140


def test_capability_mismatch_is_rejected_at_create(cli, write_plan, home):
    plan = write_plan("steps: [{name: train, run: 'true', requires: [cuda-gpu-9000]}]")
    res = cli("task", "create", "--plan", str(plan))
    assert res.returncode == 2
    assert "train" in res.stderr and "cuda-gpu-9000" in res.stderr
    big = write_plan("steps: [{name: huge, run: 'true', resources: {memory: 100000G}}]", "big.yaml")
    res = cli("task", "create", "--plan", str(big))
    assert res.returncode == 2 and "huge" in res.stderr


def test_steps_wait_for_resources_and_use_both_workers(cli, write_plan, home):
    (home / "config.yaml").write_text(
        "workers:\n"
        "  - {id: w1, capabilities: [shell], resources: {cpu_cores: 1, memory_mb: 1000}}\n"
        "  - {id: w2, capabilities: [shell], resources: {cpu_cores: 1, memory_mb: 1000}}\n"
    )
    plan = write_plan("""
steps:
  - {name: a, run: sleep 0.6, resources: {cpu: 1}}
  - {name: b, run: sleep 0.6, resources: {cpu: 1}}
  - {name: c, run: sleep 0.6, resources: {cpu: 1}}
""")
    res = cli("task", "create", "--plan", str(plan), "--foreground")
    assert res.returncode == 0, res.stderr
    tid = res.stdout.strip()
    events = _events(cli, tid)
    waited = [e["step"] for e in events if e["kind"] == "step_waiting_resources"]
    assert len(waited) == 1
    workers = {s["name"]: s["worker"] for s in cli.json("task", "status", tid)["steps"]}
    assert set(workers.values()) == {"w1", "w2"}
    # the waiting step started only after one of the first two finished
    steps = _steps(cli, tid)
    first_end = min(_ts(steps[n]["finished_at"]) for n in "abc" if n != waited[0])
    assert _ts(steps[waited[0]]["started_at"]) >= first_end - 0.05


def test_workers_list_without_gpu(cli):
    workers = cli.json("workers", "list")
    assert workers[0]["id"] == "local"
    assert workers[0]["total"]["cpu_cores"] >= 1
    assert workers[0]["total"]["gpus"] == len(workers[0]["gpu_devices"])


def test_learned_durations_feed_the_next_estimate(cli, write_plan):
    plan = write_plan("steps: [{name: nap, run: sleep 0.4}]")
    first = cli("task", "create", "--plan", str(plan), "--foreground").stdout.strip()
    assert cli.json("task", "status", first)["plan"]["estimated_duration"] == 0.0
    second = cli("task", "create", "--plan", str(plan), "--no-start").stdout.strip()
    status = cli.json("task", "status", second)
    assert 0.35 < status["plan"]["estimated_duration"] < 1.5
    assert status["plan"]["learned"] == {"nap": 1}
    assert Path(status["workspace"]).parent.name == second


def test_alert_thresholds_raise_events_and_notifications(cli, write_plan, home, tmp_path):
    hook_out = tmp_path / "alerts.jsonl"
    (home / "config.yaml").write_text(
        "task_execution:\n"
        "  monitoring:\n"
        "    metrics_interval: 0.1s\n"
        "    alert_thresholds: {duration_warning: 0.5s, memory_warning: 50%, error_rate_warning: 10%,\n"
        "                       error_rate_min_attempts: 2}\n"
        f"notifications:\n  hooks:\n    - events: [alert]\n      command: cat >> {hook_out}\n"
    )
    plan = write_plan("""
steps:
  - name: big
    run: |
      python3 -c "
      import time
      x = bytearray(120 * 1024 * 1024)
      for i in range(0, len(x), 4096): x[i] = 1
      time.sleep(0.8)
      "
    resources: {memory: 200M}
  - {name: flaky, run: "exit 1", retries: {attempts: 1, initial: 0.1s, jitter: 0}}
""")
    res = cli("task", "create", "--plan", str(plan), "--wait")
    assert res.returncode == 1
    tid = res.stdout.strip()
    alerts = [json.loads(x) for x in cli("task", "events", tid, "--json").stdout.splitlines()
              if json.loads(x)["kind"] == "alert"]
    causes = {a["payload"]["cause"] for a in alerts}
    assert {"duration", "memory", "error_rate"} <= causes, alerts
    memory = next(a for a in alerts if a["payload"]["cause"] == "memory")
    assert memory["step"] == "big" and memory["payload"]["percent"] >= 50
    assert "ALERT" in res.stderr
    wait_for(lambda: (hook_out.exists() and hook_out.read_text().count('"event": "alert"') >= 3)
             or (hook_out.exists() and hook_out.read_text().count('"event":"alert"') >= 3), timeout=10)


def test_status_lists_every_attempt_with_its_error(cli, write_plan):
    plan = write_plan("steps: [{name: f, run: 'exit 3', retries: {attempts: 2, initial: 0.05s, jitter: 0}}]")
    tid = cli("task", "create", "--plan", str(plan), "--foreground").stdout.strip()
    attempts = cli.json("task", "status", tid)["attempts"]
    assert [(a["attempt"], a["status"], a["exit_code"]) for a in attempts] == [(1, "failed", 3), (2, "failed", 3),
                                                                               (3, "failed", 3)]
    assert "failed attempts" in cli("task", "status", tid, "--verbose").stdout
