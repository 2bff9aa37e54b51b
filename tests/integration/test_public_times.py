"""Times in event payloads, reviews, gate results and metric samples are UTC ISO-8601, and
internal fields (`priority_rank`) never reach a user (issue 10)."""

from __future__ import annotations

import json
import re

from tests.conftest import wait_for, wait_status

ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _events(cli, tid: str) -> list[dict]:
    res = cli("task", "events", tid, "--json")
    assert res.returncode == 0, res.stderr
    return [json.loads(line) for line in res.stdout.splitlines()]


def test_deadline_and_retry_times_in_events_are_iso(cli, orch, write_plan, latch):
    go = latch("go")
    plan = write_plan(f"""\
steps:
  - name: flaky
    run: "if [ -e tried ]; then echo ok; else touch tried; exit 3; fi"
    retries: {{attempts: 1, initial: 0.01s, max: 0.01s, jitter: 0}}
    gates:
      - {{type: functional_test, command: "true"}}
  - name: wait
    needs: [flaky]
    run: "{go.cmd}"
""")
    cfg = write_plan("task_execution: {monitoring: {metrics_interval: 0.05s}}", "fast-metrics.yaml")
    res = cli("--config", str(cfg), "task", "create", "--plan", str(plan), "--deadline", "1s")
    assert res.returncode == 0, res.stderr
    tid = res.stdout.strip()
    wait_for(lambda: any(e["kind"] == "deadline_passed" for e in orch.events(tid)), timeout=30)
    wait_for(lambda: orch.step_metrics(tid, "wait")["steps"][0]["samples"], timeout=30)
    go.open()
    wait_status(orch, tid, "completed")

    events = {e["kind"]: e for e in _events(cli, tid)}
    assert ISO.match(events["deadline_passed"]["payload"]["deadline"])
    assert ISO.match(events["step_retry"]["payload"]["next_retry_at"])
    result = json.loads(cli("task", "result", tid, "--json").stdout)
    assert result["reviews"] and all(ISO.match(r["created_at"]) for r in result["reviews"])
    assert result["gates"] and all(ISO.match(g["started_at"]) and ISO.match(g["finished_at"])
                                   for g in result["gates"])
    metrics = cli.json("task", "metrics", tid, "--step", "wait")
    samples = metrics["steps"][0]["samples"]
    assert samples and all(ISO.match(s["ts"]) for s in samples)
    summary = cli.json("task", "status", tid)["steps"][1]["metrics"]
    assert ISO.match(summary["first_ts"]) and ISO.match(summary["last_ts"])


def test_task_modified_payload_has_no_internal_fields(cli, write_plan):
    plan = write_plan("steps: [{name: a, run: 'true'}]")
    tid = cli("task", "create", "--plan", str(plan), "--no-start").stdout.strip()
    res = cli("task", "modify", tid, "--priority", "urgent", "--deadline", "3h")
    assert res.returncode == 0, res.stderr
    mod = next(e for e in _events(cli, tid) if e["kind"] == "task_modified")
    assert mod["payload"]["new"]["priority"] == "urgent"
    assert "priority_rank" not in json.dumps(mod)
    assert ISO.match(mod["payload"]["new"]["deadline"])
